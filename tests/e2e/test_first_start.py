"""First start (account + root keys), reuse on restart, and the audit record every request leaves."""

from __future__ import annotations

import asyncio
import csv
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from storeroom.audit.log import AuditLog
from storeroom.store.backend import open_audit_db, open_meta
from tests.conftest import StoreroomServer, make_client


def _no_root_env() -> dict[str, str]:
    return {"STOREROOM_ROOT_ACCESS_KEY_ID": "", "STOREROOM_ROOT_SECRET_ACCESS_KEY": ""}


def test_generated_root_keys_are_saved_once_as_aws_csv(tmp_path: Path) -> None:
    srv = StoreroomServer(tmp_path / "data", env=_no_root_env())
    srv.start()
    try:
        path = tmp_path / "data" / "root-credentials.csv"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        rows = list(csv.reader(path.open()))
        assert rows[0] == ["Access key ID", "Secret access key"]
        key_id, secret = rows[1]
        assert key_id.startswith("AKIA") and len(key_id) == 20 and len(secret) == 40
        assert secret in srv.log_path.read_text()  # printed once on the terminal
        s3 = make_client(srv.endpoint, access_key=key_id, secret_key=secret)
        s3.create_bucket(Bucket="first-start")
        account_before = (tmp_path / "data" / "meta.sqlite3").exists()
        srv.restart()  # later starts reuse the account and its keys
        assert account_before
        assert [b["Name"] for b in make_client(srv.endpoint, access_key=key_id,
                                               secret_key=secret).list_buckets()["Buckets"]] == ["first-start"]
        assert srv.log_path.read_text().count(secret) == 1
    finally:
        srv.stop()


def test_secrets_are_not_stored_in_plain_text(tmp_path: Path) -> None:
    srv = StoreroomServer(tmp_path / "data", env=_no_root_env())
    srv.start()
    srv.stop()
    secret = list(csv.reader((tmp_path / "data" / "root-credentials.csv").open()))[1][1]
    for name in os.listdir(tmp_path / "data"):
        p = tmp_path / "data" / name
        if p.is_file() and name != "root-credentials.csv":
            assert secret.encode() not in p.read_bytes(), name


def test_env_root_keys_replace_stored_ones(tmp_path: Path) -> None:
    srv = StoreroomServer(tmp_path / "data")
    srv.start()
    srv.stop()
    srv.env = {"STOREROOM_ROOT_ACCESS_KEY_ID": "AKIAROTATEDROOTKEY01",
               "STOREROOM_ROOT_SECRET_ACCESS_KEY": "r" * 40}
    srv.start()
    try:
        make_client(srv.endpoint, access_key="AKIAROTATEDROOTKEY01", secret_key="r" * 40).list_buckets()
        with pytest.raises(ClientError) as exc:
            make_client(srv.endpoint).list_buckets()
        assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    finally:
        srv.stop()


def _audit_events(server: StoreroomServer) -> list[dict]:
    """The server's stored audit records, oldest first (its audit.sqlite3, or its PostgreSQL database)."""
    async def read() -> list[dict]:
        meta = await open_meta(server.data_dir, server.meta_url, migrate=False)
        try:
            audit = await AuditLog.open(open_audit_db(server.data_dir, meta), server.data_dir)
            records = await audit.records()
            if audit.db is not meta.db:
                await audit.db.close()
            return list(reversed(records))
        finally:
            await meta.close()
    return asyncio.run(read())


def test_every_request_leaves_an_audit_record(fresh_server: StoreroomServer) -> None:
    s3 = make_client(fresh_server.endpoint)
    s3.create_bucket(Bucket="audited")
    s3.put_object(Bucket="audited", Key="k", Body=b"x")
    with pytest.raises(ClientError):
        s3.get_object(Bucket="audited", Key="missing")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = _audit_events(fresh_server)
        if len(events) >= 3:
            break
        time.sleep(0.2)
    by_op = {e["eventName"]: e for e in events}
    put = by_op["PutObject"]
    assert put["eventSource"] == "s3.amazonaws.com" and put["userIdentity"]["type"] == "Root"
    assert put["userIdentity"]["arn"].endswith(":root")
    assert put["userIdentity"]["accessKeyId"] == "AKIAIOSFODNN7EXAMPLE"
    assert put["requestParameters"]["bucketName"] == "audited" and put["requestParameters"]["key"] == "k"
    assert "errorCode" not in put
    assert by_op["GetObject"]["errorCode"] == "NoSuchKey"


def test_data_dir_is_owner_only(tmp_path: Path) -> None:
    srv = StoreroomServer(tmp_path / "data")
    srv.start()
    try:
        make_client(srv.endpoint).create_bucket(Bucket="private")
        make_client(srv.endpoint).put_object(Bucket="private", Key="k", Body=b"secret data")
    finally:
        srv.stop()
    for path in [tmp_path / "data", *(tmp_path / "data").rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


@pytest.mark.parametrize("workers", [1, 2])
def test_a_server_whose_workers_cannot_start_exits_non_zero(tmp_path: Path, workers: int) -> None:
    """A worker that fails before serving (here its audit file cannot be opened) stops the server, and the exit
    code says so, with several workers (the supervisor) as with one: systemd and scripts see a failed start."""
    data = tmp_path / "data"
    (data / "audit.sqlite3").mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "storeroom", "serve", "--data-dir", str(data), "--workers", str(workers),
         "--listen", "127.0.0.1:0", "--console-listen", "off"],
        capture_output=True, text=True, timeout=120, env={**os.environ, **_no_root_env()})
    assert result.returncode != 0, result.stderr[-2000:]
    assert "startup failed" in result.stderr


def test_a_start_on_a_full_disk_says_so_in_one_line(tmp_path: Path) -> None:
    """A data dir on a full file system (a small tmpfs, filled): one line naming the problem, not a traceback."""
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        with open(small / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError:
                pass
        done = subprocess.run([sys.executable, "-m", "storeroom", "serve", "--listen", "127.0.0.1:0",
                               "--data-dir", str(small / "data"), "--console-listen", "off"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr, done.stderr
        assert "storeroom: cannot open the metadata database in" in done.stderr and "full" in done.stderr
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_a_read_only_data_dir_is_said_in_one_line(tmp_path: Path) -> None:
    """A data dir on a read-only mount: one line naming it, not a traceback (chaos probe, finding 3)."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    subprocess.run(["mount", "--bind", str(data), str(data)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(data)], check=True)
        done = subprocess.run([sys.executable, "-m", "storeroom", "serve", "--listen", "127.0.0.1:0",
                               "--data-dir", str(data), "--console-listen", "off"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr, done.stderr
        assert f"storeroom: cannot write in {data}: Read-only file system" in done.stderr, done.stderr
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


@pytest.mark.parametrize("flag", ["--listen", "--console-listen"])
def test_a_taken_port_is_said_before_anything_is_made(tmp_path: Path, flag: str) -> None:
    """A first start on a port another process holds made the account and showed its one-time secrets, then
    failed to listen; now it says so at once and leaves the data dir empty."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        listen, console = (taken, "off") if flag == "--listen" else ("127.0.0.1:0", taken)
        done = subprocess.run([sys.executable, "-m", "storeroom", "serve", "--listen", listen, "--console-listen",
                               console, "--data-dir", str(tmp_path / "data")],
                              capture_output=True, text=True, timeout=60, env={**os.environ, **_no_root_env()})
    assert done.returncode == 1
    assert done.stderr.strip() == f"storeroom: cannot listen on {taken} ({flag}): Address already in use"
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["storeroom.lock"]
