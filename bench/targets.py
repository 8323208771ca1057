"""Start and stop the S3 servers under test: Storeroom and its peers (rclone, SeaweedFS, moto).

Each target runs as its own process group (``start_new_session``) in a temporary directory, on free loopback
ports, so that it can be measured (CPU time and RSS of its whole process tree, with psutil) and killed as a
whole, even when the benchmark is interrupted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import sysconfig
import time
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.config import Config

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
BUCKET = "bench"
HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


class TargetUnavailable(Exception):
    """A target could not be installed or started; the benchmark reports it as skipped with this reason."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all sockets are held until every port is chosen)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def find_binary(name: str) -> str:
    """The real executable for ``name``: the one pip put next to this Python first (not a pyenv shim)."""
    local = Path(sysconfig.get_path("scripts")) / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if not found:
        raise TargetUnavailable(f"`{name}` not found (pip install -e '.[bench]')")
    return found


def s3_client(endpoint: str, max_pool: int = 32, verify: str | None = None) -> Any:
    """A path-style SigV4 boto3 client for ``endpoint`` with the benchmark's credentials (``verify``: the CA
    file of an https endpoint)."""
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        max_pool_connections=max_pool,
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
    )
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, config=config, verify=verify,
    )


class Target(ABC):
    """One S3 server process (tree) started by the benchmark."""

    name: str = "?"
    ca_file: Path | None = None  # serving https: the CA certificate clients trust

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir / self.name
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "server.log"
        self.port = free_ports(1)[0]
        self.proc: subprocess.Popen[bytes] | None = None
        self._client: Any = None
        self.version = "?"

    # -- to be provided by each kind of server ------------------------------------------------------------
    @abstractmethod
    def command(self) -> list[str]:
        """The argv that starts the server."""

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def cwd(self) -> Path:
        return self.workdir

    def is_ready(self) -> bool:
        """Whether the server answers S3 requests; the default is a ListBuckets that succeeds."""
        try:
            self.client.list_buckets()
            return True
        except Exception:
            return False

    def detect_version(self) -> str:
        return "?"

    # -- common ---------------------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"{'https' if self.ca_file else 'http'}://{HOST}:{self.port}"

    @property
    def verify(self) -> str | None:
        return str(self.ca_file) if self.ca_file else None

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client(self.endpoint, verify=self.verify)
        return self._client

    def start(self) -> None:
        """Start the server, wait until it answers, and create the benchmark bucket."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        self.version = self.detect_version()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.cwd(), env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self._wait_ready(time.monotonic() + START_TIMEOUT_S)
        self._create_bucket(time.monotonic() + START_TIMEOUT_S)

    def _wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_alive()
            if self.is_ready():
                return
            time.sleep(0.2)
        raise TargetUnavailable(f"{self.name} did not become ready in {START_TIMEOUT_S:.0f}s: {self.log_tail()}")

    def _create_bucket(self, deadline: float) -> None:
        """Create the bucket and write a probe object, retrying while the server settles (SeaweedFS does)."""
        last: Exception | None = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                try:
                    self.client.create_bucket(Bucket=BUCKET)
                except self.client.exceptions.BucketAlreadyOwnedByYou:
                    pass
                self.client.put_object(Bucket=BUCKET, Key="probe", Body=b"probe")
                if self.client.get_object(Bucket=BUCKET, Key="probe")["Body"].read() == b"probe":
                    return
            except Exception as exc:  # noqa: BLE001 - retried, then reported
                last = exc
            time.sleep(0.5)
        raise TargetUnavailable(f"{self.name}: could not create bucket / write a probe object: {last}")

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise TargetUnavailable(f"{self.name} exited with code {self.proc.returncode}: {self.log_tail()}")

    def log_tail(self, chars: int = 600) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " ".join(text[-chars:].split())

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL it if it is still there after a while."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc.pid, signal.SIGKILL)  # also reaps workers that outlived their parent
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        self.cleanup()

    def cleanup(self) -> None:  # noqa: B027 - optional hook
        """Remove files the server left outside its work dir (none by default)."""

    # -- measurements ---------------------------------------------------------------------------------------
    def processes(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """user + system CPU time of the server's whole process tree so far."""
        return _cpu(self.processes())

    def storage_write_bytes(self) -> int:
        """Bytes the server's process tree has caused to be written to storage so far (Linux counts them when a
        page is dirtied, so the figure does not wait for writeback; socket writes are not in it)."""
        return _written(self.processes())

    def database_cpu_seconds(self) -> float:
        """The part of :meth:`cpu_seconds` spent by a database server of the target's own (none by default)."""
        return 0.0

    def rss_bytes(self) -> int:
        """Resident set size summed over the server's process tree."""
        total = 0
        for p in self.processes():
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total


def _cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _written(processes: list[psutil.Process]) -> int:
    total = 0
    for p in processes:
        try:
            total += p.io_counters().write_bytes
        except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):  # gone, not ours, not Linux
            pass
    return total


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    return lines[0] if lines else "?"


class StoreroomTarget(Target):
    name = "storeroom"

    def __init__(self, workdir: Path, workers: int = 2) -> None:
        super().__init__(workdir)
        self.workers = workers

    def command(self) -> list[str]:
        return [sys.executable, "-m", "storeroom", "serve", "--listen", f"{HOST}:{self.port}",
                "--data-dir", str(self.data_dir), "--workers", str(self.workers)]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["STOREROOM_ROOT_ACCESS_KEY_ID"] = ACCESS_KEY
        env["STOREROOM_ROOT_SECRET_ACCESS_KEY"] = SECRET_KEY
        # the API is measured; STOREROOM_CONSOLE_LISTEN=HOST:PORT measures it with the console running beside it
        env.setdefault("STOREROOM_CONSOLE_LISTEN", "off")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        return env

    def cwd(self) -> Path:
        return REPO_ROOT

    def is_ready(self) -> bool:
        try:  # (the CA file of storeroom-tls appears when the server has made it: OSError until then)
            with urllib.request.urlopen(f"{self.endpoint}/_storeroom/ready", timeout=2,
                                        context=self.ssl_context()) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def detect_version(self) -> str:
        commit = _first_line(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"])
        return f"git {commit}, {self.workers} worker(s)"


class StoreroomStockHttpTarget(StoreroomTarget):
    """Storeroom on uvicorn's stock httptools protocol (bench/stock_http.py): what the edge's connection limits
    (storeroom/http/edge.py) cost, against the ``storeroom`` target in the same run."""

    name = "storeroom-stock-http"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.stock_http", *super().command()[3:]]


class StoreroomGranianTarget(StoreroomTarget):
    """Storeroom's app on Granian's ASGI interface (bench/granian_http.py) instead of uvicorn and the edge
    protocol: is the HTTP layer the ceiling of small requests (issue 14)?  Against ``storeroom`` in the same run."""

    name = "storeroom-granian"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.granian_http", *super().command()[3:]]

    def detect_version(self) -> str:
        import granian

        return f"{super().detect_version()}, granian {granian.__version__}"


class StoreroomTlsTarget(StoreroomTarget):
    """Storeroom serving HTTPS (``--tls-self-signed``: an ECDSA P-256 certificate, TLS 1.3): what TLS costs,
    against the ``storeroom`` target in the same run.  wrk and http.client keep their connections alive, so the
    figures are the cost of encryption, not of handshakes.  Not for ``head4k`` (bench.loadgen speaks plain
    HTTP)."""

    name = "storeroom-tls"

    def __init__(self, workdir: Path, workers: int = 2) -> None:
        super().__init__(workdir, workers)
        self.ca_file = self.data_dir / "tls" / "ca.pem"

    def command(self) -> list[str]:
        return [*super().command(), "--tls-self-signed"]


class StoreroomClearTarget(StoreroomTarget):
    """Storeroom with encryption at rest off (``--encryption off``): what encrypting object data costs, against
    the ``storeroom`` target (encrypted, the default) in the same run."""

    name = "storeroom-clear"

    def command(self) -> list[str]:
        return [*super().command(), "--encryption", "off"]


class StoreroomBaseTarget(StoreroomTarget):
    """Storeroom from another checkout (``--baseline PATH``: a git worktree of an earlier commit, or the same tree
    for an A/A run): what a change costs, measured in the same run as the ``storeroom`` target, in alternating
    rounds, so the machine's noise falls on both."""

    name = "storeroom-base"

    def __init__(self, workdir: Path, workers: int = 2) -> None:
        super().__init__(workdir, workers)
        tree = os.environ.get("STOREROOM_BENCH_BASELINE")
        if not tree or not (Path(tree) / "storeroom" / "__init__.py").is_file():
            raise TargetUnavailable("no --baseline checkout (a directory holding storeroom/)")
        self.tree = Path(tree).resolve()

    def env(self) -> dict[str, str]:
        env = super().env()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.tree), os.environ.get("PYTHONPATH", "")) if p)
        return env

    def cwd(self) -> Path:
        return self.tree

    def detect_version(self) -> str:
        commit = _first_line(["git", "-C", str(self.tree), "describe", "--always", "--dirty"])
        return f"git {commit} (baseline), {self.workers} worker(s)"


class StoreroomIamTarget(StoreroomTarget):
    """Storeroom again, but every request is signed by an IAM user with 10 managed policies of 10 statements
    each, the one statement that allows the benchmark's bucket last: the cost of authorization per request is
    this target's numbers against the ``storeroom`` (root) ones."""

    name = "storeroom-iam"
    POLICIES = 10
    STATEMENTS = 10

    def start(self) -> None:
        super().start()  # the bucket is created by root
        self._client = s3_client(self.endpoint)
        key_id, secret = self.user_key = self._make_user()
        self._client = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=key_id,
            aws_secret_access_key=secret, config=self.client.meta.config,
        )
        self._client.head_bucket(Bucket=BUCKET)  # the user's key works

    def _make_user(self) -> tuple[str, str]:
        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                           aws_secret_access_key=SECRET_KEY)
        iam.create_user(UserName="bench")
        for p in range(self.POLICIES):
            statements = [self._statement(p, s) for s in range(self.STATEMENTS)]
            arn = iam.create_policy(PolicyName=f"bench-{p}", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": statements}))["Policy"]["Arn"]
            iam.attach_user_policy(UserName="bench", PolicyArn=arn)
        key = iam.create_access_key(UserName="bench")["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def _statement(self, p: int, s: int) -> dict[str, Any]:
        """Realistic filler (other buckets, other actions, conditions, variables); the very last statement
        is the one that allows the benchmark."""
        if (p, s) == (self.POLICIES - 1, self.STATEMENTS - 1):
            return {"Effect": "Allow", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{BUCKET}",
                                                                      f"arn:aws:s3:::{BUCKET}/*"]}
        kind = s % 4
        if kind == 0:
            return {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                    "Resource": f"arn:aws:s3:::other-{p}-{s}/*"}
        if kind == 1:
            return {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::other-{p}-{s}",
                    "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}}
        if kind == 2:
            return {"Effect": "Allow", "Action": "s3:*",
                    "Resource": f"arn:aws:s3:::team-{p}-{s}/${{aws:username}}/*",
                    "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}}
        return {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": f"arn:aws:s3:::other-{p}-{s}"}

    def detect_version(self) -> str:
        return super().detect_version() + f", IAM user with {self.POLICIES}×{self.STATEMENTS} statements"


class StoreroomPgTarget(StoreroomTarget):
    """Storeroom with its metadata (and audit trail) in PostgreSQL: a throwaway cluster of Debian's PostgreSQL on
    this machine, started with the target (fsync on, as SQLite's synchronous=FULL).  Its processes count as the
    server's, so CPU per request is the whole cost of a request; ``database_cpu_us`` tells PostgreSQL's part."""

    name = "storeroom-pg"

    def __init__(self, workdir: Path, workers: int = 2) -> None:
        super().__init__(workdir, workers)
        self.cluster: Any = None
        self.url = ""

    def start(self) -> None:
        sys.path.insert(0, str(REPO_ROOT))
        from tests.pg import PostgresCluster, find_bin_dir

        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise TargetUnavailable("PostgreSQL is not installed (apt-get install postgresql)")
        self.cluster = PostgresCluster(bin_dir, fsync=True)
        self.cluster.init()
        self.cluster.start()
        self.url = self.cluster.database("bench")
        super().start()

    def command(self) -> list[str]:
        return [*super().command(), "--meta", self.url]

    def database_processes(self) -> list[psutil.Process]:
        pid = self.cluster.postmaster_pid() if self.cluster is not None else None
        if pid is None:
            return []
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def processes(self) -> list[psutil.Process]:
        return [*super().processes(), *self.database_processes()]

    def database_cpu_seconds(self) -> float:
        return _cpu(self.database_processes())

    def storage_write_bytes(self) -> int:
        """Storeroom's processes as Linux counts them, PostgreSQL's as PostgreSQL counts them: the WAL it wrote
        and the data pages its checkpointer, background writer and backends wrote.  Linux's count is no use for
        PostgreSQL: it charges every backend that dirties a page again, and each commit dirties the WAL's last
        page again after another backend's flush (~450 KB counted per 4 KiB PUT over ~20 backends, against 43-45
        KB the disk saw, with ``sync`` around the run).  PostgreSQL's own count (~20 KB) leaves out the WAL's last
        page rewritten at each flush, and its backends report their counts at most once a second, so this is low
        rather than high (very low for runs of a second, as ``--quick``'s)."""
        import psycopg  # the bench's PostgreSQL target only; psycopg is a test dependency

        with psycopg.connect(self.url, autocommit=True) as conn:
            wal = conn.execute("SELECT wal_bytes FROM pg_stat_wal").fetchone()
            pages = conn.execute("SELECT buffers_checkpoint + buffers_clean + buffers_backend, "
                                 "current_setting('block_size')::bigint FROM pg_stat_bgwriter").fetchone()
        assert wal is not None and pages is not None
        return _written(super().processes()) + int(wal[0]) + int(pages[0]) * int(pages[1])

    def cleanup(self) -> None:
        if self.cluster is not None:
            self.cluster.destroy()
            self.cluster = None

    def detect_version(self) -> str:
        return super().detect_version() + ", metadata in PostgreSQL " + _first_line(
            [str(self.cluster.bin_dir / "postgres"), "--version"]).rpartition(" ")[2]


class RcloneTarget(Target):
    name = "rclone"

    def command(self) -> list[str]:
        return [find_binary("rclone"), "serve", "s3", "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
                "--addr", f"{HOST}:{self.port}", str(self.data_dir)]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["RCLONE_CONFIG"] = str(self.workdir / "rclone.conf")  # keep away from ~/.config
        env["RCLONE_CACHE_DIR"] = str(self.workdir / "cache")
        return env

    def detect_version(self) -> str:
        return _first_line([find_binary("rclone"), "version"])


class SeaweedTarget(Target):
    """``weed server`` (master + volume + filer + S3 gateway in one process) with every port chosen free."""

    name = "seaweedfs"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.port, *self.ports = free_ports(8)  # S3 port first, then the other services' ports

    def command(self) -> list[str]:
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_grpc = self.ports
        config = self.workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "bench", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        return [
            find_binary("weed"), f"-logdir={self.workdir / 'logs'}", "server",
            f"-dir={self.data_dir}", f"-ip={HOST}", f"-ip.bind={HOST}",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}", "-master.telemetry=false",
            "-master.volumeSizeLimitMB=2048", "-volume.max=0",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.localSocket={self.workdir / 's3.sock'}",
        ]

    def detect_version(self) -> str:
        return _first_line([find_binary("weed"), "version"])

    def cleanup(self) -> None:
        """weed creates gRPC unix sockets in /tmp named after each gRPC port."""
        tmp = Path("/tmp")
        for port in self.ports:
            for sock in tmp.glob(f"seaweedfs-*-grpc-{port}.sock"):
                sock.unlink(missing_ok=True)


class MotoTarget(Target):
    name = "moto"

    def command(self) -> list[str]:
        try:
            import moto  # noqa: F401
            import werkzeug  # noqa: F401
        except ImportError as exc:
            raise TargetUnavailable(f"moto[server] not installed: {exc}") from exc
        return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)]

    def detect_version(self) -> str:
        try:
            import moto
            return f"moto {moto.__version__}"
        except ImportError:
            return "?"


class StoreroomS3Target(StoreroomTarget):
    """Storeroom as a gateway: its object data on a SeaweedFS of its own (``--blobs s3://``).  CPU and RSS are
    Storeroom's alone (SeaweedFS's are not counted): what the gateway costs; throughput is the pair's."""

    name = "storeroom-s3"
    BLOB_BUCKET = "storeroom-blobs"

    def __init__(self, workdir: Path, workers: int = 2) -> None:
        super().__init__(workdir, workers)
        self.backend = SeaweedTarget(self.workdir)

    def start(self) -> None:
        self.backend.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.backend.log_path, "ab") as log:
            self.backend.proc = subprocess.Popen(
                self.backend.command(), cwd=self.backend.cwd(), env=self.backend.env(), stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        self.backend._wait_ready(deadline)
        while True:
            try:
                self.backend.client.create_bucket(Bucket=self.BLOB_BUCKET)
                break
            except Exception:  # noqa: BLE001 - SeaweedFS settling after its start
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        super().start()

    def command(self) -> list[str]:
        return [*super().command(), "--blobs", f"s3://{self.BLOB_BUCKET}/objects"]

    def env(self) -> dict[str, str]:
        return {**super().env(), "STOREROOM_BLOBS_ENDPOINT": self.backend.endpoint,
                "STOREROOM_BLOBS_ACCESS_KEY_ID": ACCESS_KEY, "STOREROOM_BLOBS_SECRET_ACCESS_KEY": SECRET_KEY}

    def stop(self) -> None:
        super().stop()
        self.backend.stop()


TARGET_KINDS: dict[str, type[Target]] = {
    "storeroom": StoreroomTarget, "storeroom-iam": StoreroomIamTarget, "storeroom-pg": StoreroomPgTarget,
    "storeroom-stock-http": StoreroomStockHttpTarget, "storeroom-granian": StoreroomGranianTarget,
    "storeroom-s3": StoreroomS3Target,
    "storeroom-tls": StoreroomTlsTarget, "storeroom-clear": StoreroomClearTarget, "storeroom-base": StoreroomBaseTarget,
    "rclone": RcloneTarget,
    "seaweedfs": SeaweedTarget, "moto": MotoTarget,
}


def make_target(name: str, workdir: Path, storeroom_workers: int) -> Target:
    kind = TARGET_KINDS[name]
    if issubclass(kind, StoreroomTarget):
        return kind(workdir, workers=storeroom_workers)
    return kind(workdir)
