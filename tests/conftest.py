"""Test fixtures: a real Storeroom server on a free loopback port, and real boto3 clients against it.

``StoreroomServer`` starts ``python -m storeroom serve`` as a subprocess with a temporary data dir and fixed root
credentials, waits for ``/_storeroom/ready``, and can be killed with SIGKILL and restarted on the same data dir
(for the durability tests).

Both metadata backends: every test that uses the session ``server`` (directly, or through ``endpoint``, ``s3``,
``iam``…) or ``fresh_server`` runs once per backend of ``--meta-backends`` (default ``sqlite,postgresql``; also
``STOREROOM_TEST_META_BACKENDS``), with ``[sqlite]`` / ``[postgresql]`` in its id.  PostgreSQL is a throwaway
cluster (tests/pg.py) started once per test session (per xdist worker), each server on a database of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.pg import PostgresCluster, find_bin_dir

# Console scripts installed with the test extras (aws, s3cmd, rclone) live beside the interpreter; put them
# first on PATH for the subprocesses tests start, whatever shims (pyenv) or venv activation the shell has.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

ROOT_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
ROOT_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"


BACKENDS = ("sqlite", "postgresql")
# fixtures that reach a server of the session: tests using any of them run on every backend
_SERVER_FIXTURES = {"server", "endpoint", "s3", "iam", "bucket", "fresh_server", "client_factory", "new_bucket",
                    "new_user", "new_group", "track_bucket", "two_workers", "new_role"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--meta-backends", default=os.environ.get("STOREROOM_TEST_META_BACKENDS", ",".join(BACKENDS)),
                     help="metadata backends the server tests run on (comma-separated: sqlite,postgresql)")


def selected_backends(config: pytest.Config) -> list[str]:
    chosen = [b.strip() for b in str(config.getoption("--meta-backends")).split(",") if b.strip()]
    unknown = set(chosen) - set(BACKENDS)
    if unknown or not chosen:
        raise pytest.UsageError(f"--meta-backends: choose among {', '.join(BACKENDS)}")
    return chosen


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "meta_backend" in metafunc.fixturenames or _SERVER_FIXTURES & set(metafunc.fixturenames):
        if "meta_backend" not in metafunc.fixturenames:
            metafunc.fixturenames.append("meta_backend")
        only = metafunc.definition.get_closest_marker("meta_backends")
        backends = [b for b in selected_backends(metafunc.config) if only is None or b in only.args]
        metafunc.parametrize("meta_backend", backends, indirect=True, scope="session")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "meta_backends(*names): run only on these metadata backends")
    if not hasattr(config, "workerinput"):  # once, in pytest-xdist's controller (or a run without it)
        _compile_storeroom()


def _compile_storeroom() -> None:
    """Byte-compile Storeroom's sources once for the whole run.  The suite starts several hundred server and CLI
    processes; with ``PYTHONDONTWRITEBYTECODE`` set (as on CI machines) and an editable install, which pip does
    not compile, each of them compiled every module it imports again: ~0.3 s of every server's start.
    ``compileall`` writes the caches whatever that variable says; the interpreter reads them either way."""
    import compileall

    import storeroom

    compileall.compile_dir(os.path.dirname(storeroom.__file__), quiet=1)


@pytest.fixture(scope="session")
def meta_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> Iterator[PostgresCluster]:
    """The session's PostgreSQL cluster (started on first use)."""
    if "postgresql" not in selected_backends(request.config):
        pytest.skip("PostgreSQL is not among --meta-backends")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.fail("PostgreSQL's binaries are not installed (apt-get install postgresql), and the tests run on "
                    "PostgreSQL too: install them, or choose --meta-backends sqlite")
    cluster = PostgresCluster(bin_dir)
    cluster.init()
    cluster.start()
    yield cluster
    cluster.destroy()


def meta_url_for(request: pytest.FixtureRequest, backend: str) -> str | None:
    """A fresh database's URL on PostgreSQL (None: SQLite in the data dir)."""
    if backend == "sqlite":
        return None
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.database("srv")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StoreroomServer:
    """A real ``storeroom serve`` process on a loopback port."""

    def __init__(self, data_dir: Path, workers: int = 1, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None, console: bool = False, tls_ca: Path | None = None,
                 meta_url: str | None = None, prefix: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.prefix = prefix or []  # a command the server runs under (tests/e2e/test_full_disk.py: unshare)
        # serving HTTPS (--tls-cert / --tls-self-signed in extra_args): the CA certificate to trust
        self.tls_ca = tls_ca
        self.workers = workers
        self.meta_url = meta_url  # PostgreSQL's URL: --meta at every start (whatever extra_args become)
        self.extra_args = extra_args or []
        self.port = free_port()
        # the web console on a port of its own when asked for (tests/e2e/test_console_*.py), else off
        self.console_port = free_port() if console else None
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def scheme(self) -> str:
        return "https" if self.tls_ca is not None else "http"

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def console_url(self) -> str:
        assert self.console_port is not None
        return f"{self.scheme}://127.0.0.1:{self.console_port}"

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.tls_ca is None:
            return None
        return ssl.create_default_context(cafile=str(self.tls_ca))  # raises OSError until the CA file exists

    def start(self) -> None:
        env = dict(os.environ)
        env.setdefault("STOREROOM_ROOT_ACCESS_KEY_ID", ROOT_ACCESS_KEY_ID)
        env.setdefault("STOREROOM_ROOT_SECRET_ACCESS_KEY", ROOT_SECRET_ACCESS_KEY)
        if self.env:
            env.update(self.env)
        cmd = [*self.prefix, sys.executable, "-m", "storeroom", "serve", "--listen", f"127.0.0.1:{self.port}",
               "--data-dir", str(self.data_dir), "--workers", str(self.workers), "--console-listen",
               f"127.0.0.1:{self.console_port}" if self.console_port else "off", *self.extra_args,
               *(["--meta", self.meta_url] if self.meta_url else [])]
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_path.read_text()}")
            try:
                tls = self._ssl_context()
                with urllib.request.urlopen(f"{self.endpoint}/_storeroom/ready", timeout=1, context=tls) as r:
                    ready = r.status == 200
                if ready and self.console_port:
                    with urllib.request.urlopen(f"{self.console_url}/signin", timeout=1, context=tls) as r:
                        ready = r.status == 200
                if ready:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not become ready: {self.log_path.read_text()}")

    def kill9(self) -> None:
        """SIGKILL the whole process group (master and workers), as a crash would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def make_client(endpoint: str, service: str = "s3", access_key: str = ROOT_ACCESS_KEY_ID,
                secret_key: str = ROOT_SECRET_ACCESS_KEY, **config: object):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}, **config),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
           meta_backend: str) -> Iterator[StoreroomServer]:
    srv = StoreroomServer(tmp_path_factory.mktemp(f"storeroom-{meta_backend}") / "data", workers=2,
                          meta_url=meta_url_for(request, meta_backend))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path: Path, request: pytest.FixtureRequest, meta_backend: str) -> Iterator[StoreroomServer]:
    """A server of the test's own (for kill -9 and restart tests)."""
    srv = StoreroomServer(tmp_path / "data", workers=1, meta_url=meta_url_for(request, meta_backend))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def endpoint(server: StoreroomServer) -> str:
    return server.endpoint


@pytest.fixture(scope="session")
def s3(endpoint: str):
    return make_client(endpoint)


@pytest.fixture
def bucket(s3) -> Iterator[str]:
    """A fresh, empty bucket; emptied and deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3, name)


def empty_bucket(s3, name: str) -> None:  # type: ignore[no-untyped-def]
    """Best-effort: delete every object (every version of it) and upload, then the bucket (the test's own
    assertions matter)."""
    try:
        entries = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                   for page in s3.get_paginator("list_object_versions").paginate(Bucket=name)
                   for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for i in range(0, len(entries), 1000):
            s3.delete_objects(Bucket=name, Delete={"Objects": entries[i:i + 1000], "Quiet": True})
        for up in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
        s3.delete_bucket(Bucket=name)
    except Exception:  # noqa: BLE001 - cleanup only
        pass
