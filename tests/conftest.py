"""Test fixtures: a real Storeroom server on a free loopback port, and real boto3 clients against it.

``StoreroomServer`` starts ``python -m storeroom serve`` as a subprocess with a temporary data dir and fixed root
credentials, waits for ``/_storeroom/ready``, and can be killed with SIGKILL and restarted on the same data dir
(for the durability tests).
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

# Console scripts installed with the test extras (aws, s3cmd, rclone) live beside the interpreter; put them
# first on PATH for the subprocesses tests start, whatever shims (pyenv) or venv activation the shell has.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

ROOT_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
ROOT_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StoreroomServer:
    """A real ``storeroom serve`` process on a loopback port."""

    def __init__(self, data_dir: Path, workers: int = 1, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None, console: bool = False, tls_ca: Path | None = None) -> None:
        self.data_dir = data_dir
        # serving HTTPS (--tls-cert / --tls-self-signed in extra_args): the CA certificate to trust
        self.tls_ca = tls_ca
        self.workers = workers
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
        cmd = [sys.executable, "-m", "storeroom", "serve", "--listen", f"127.0.0.1:{self.port}",
               "--data-dir", str(self.data_dir), "--workers", str(self.workers), "--console-listen",
               f"127.0.0.1:{self.console_port}" if self.console_port else "off", *self.extra_args]
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
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreroomServer]:
    srv = StoreroomServer(tmp_path_factory.mktemp("storeroom") / "data", workers=2)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[StoreroomServer]:
    """A server of the test's own (for kill -9 and restart tests)."""
    srv = StoreroomServer(tmp_path / "data", workers=1)
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
    """Best-effort: delete every object and upload, then the bucket (the test's own assertions matter)."""
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        for up in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
        s3.delete_bucket(Bucket=name)
    except Exception:  # noqa: BLE001 - cleanup only
        pass
