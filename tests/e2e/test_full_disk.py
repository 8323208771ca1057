"""A full disk: uploads are refused with 507 InsufficientStorage, never 500, and the server can still be emptied.

The server runs in a mount namespace of its own with its data dir on a small tmpfs (``unshare -rm``), so the
disk that fills is real and nobody else's.  Found by filling a server: every write then answered 500
InternalError, deletes included — a full server could not be emptied through its own API.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, make_client

MIB = 1 << 20


def _small_disk(data_dir: Path, size_mib: int) -> list[str]:
    """The command prefix that runs the server with ``data_dir`` on a tmpfs of ``size_mib``."""
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("this machine cannot make a mount namespace (unshare -rm)")
    data_dir.mkdir(mode=0o700)
    return ["unshare", "-rm", "sh", "-c",
            f'mount -t tmpfs -o size={size_mib}m,mode=0700 tmpfs "$0" && exec "$@"', str(data_dir)]


def _server(tmp_path: Path, *extra: str) -> Iterator[StoreroomServer]:
    data_dir = tmp_path / "data"
    srv = StoreroomServer(data_dir, workers=1, extra_args=list(extra), prefix=_small_disk(data_dir, 16))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[StoreroomServer]:
    yield from _server(tmp_path)


@pytest.fixture
def no_reserve_server(tmp_path: Path) -> Iterator[StoreroomServer]:
    yield from _server(tmp_path, "--min-free", "0")


def _fill(s3, bucket: str, size: int) -> tuple[list[str], ClientError]:  # type: ignore[no-untyped-def]
    """PUTs objects of ``size`` bytes until one is refused: (the stored keys, the refusal)."""
    stored: list[str] = []
    for i in range(200):
        try:
            s3.put_object(Bucket=bucket, Key=f"fill-{size}-{i}", Body=os.urandom(size))
        except ClientError as err:
            return stored, err
        stored.append(f"fill-{size}-{i}")
    raise AssertionError("the disk never filled")


def _insufficient(err: ClientError) -> None:
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 507, err.response
    assert err.response["Error"]["Code"] == "InsufficientStorage"
    assert "storage is full" in err.response["Error"]["Message"]


def test_uploads_are_refused_before_the_disk_is_full_and_deleting_makes_room(small_server: StoreroomServer) -> None:
    s3 = make_client(small_server.endpoint)
    s3.create_bucket(Bucket="full")
    stored, err = _fill(s3, "full", MIB)
    _insufficient(err)
    assert len(stored) >= 8
    for size in (100_000, 1_000):  # up to the brim, small objects (kept in the metadata database) too
        _, err = _fill(s3, "full", size)
        _insufficient(err)
    upload = s3.create_multipart_upload(Bucket="full", Key="parts")["UploadId"]
    with pytest.raises(ClientError) as part:
        s3.upload_part(Bucket="full", Key="parts", UploadId=upload, PartNumber=1, Body=os.urandom(5 * MIB))
    _insufficient(part.value)
    # what was stored is whole and readable; metadata and deletes still work, and free space again
    assert s3.get_object(Bucket="full", Key=stored[0])["ContentLength"] == MIB
    s3.put_object_tagging(Bucket="full", Key=stored[0], Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    s3.abort_multipart_upload(Bucket="full", Key="parts", UploadId=upload)
    s3.delete_objects(Bucket="full", Delete={"Objects": [{"Key": k} for k in stored[:4]]})
    deadline = time.monotonic() + 10
    while True:  # freed blobs are removed just after their rows
        try:
            s3.put_object(Bucket="full", Key="after", Body=os.urandom(MIB))
            break
        except ClientError as err:
            _insufficient(err)
            assert time.monotonic() < deadline, "deleting objects did not make room"
            time.sleep(0.2)
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket="full")["Contents"]}
    assert set(stored[4:]) | {"after"} <= listed and not set(stored[:4]) & listed
    assert "Traceback" not in small_server.log_path.read_text()


def test_a_disk_filled_past_the_reserve_is_answered_507_never_500(no_reserve_server: StoreroomServer) -> None:
    s3 = make_client(no_reserve_server.endpoint)
    s3.create_bucket(Bucket="full")
    _, err = _fill(s3, "full", MIB)
    _insufficient(err)
    for size in (40_000, 1_000):  # the metadata database's commit meets the full disk
        try:
            _, err = _fill(s3, "full", size)
        except AssertionError:
            continue
        _insufficient(err)
    log = no_reserve_server.log_path.read_text()
    assert "InternalError" not in log
    assert "failed:\nTraceback" not in log  # said in one line, not as a crash


def test_min_free_is_checked_at_start(tmp_path: Path) -> None:
    result = subprocess.run(["storeroom", "serve", "--data-dir", str(tmp_path / "d"), "--min-free", "lots"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--min-free must be auto, a size" in result.stderr


def test_a_clean_stop_on_a_full_disk_closes_everything_and_says_what_it_could_not_store(
        no_reserve_server: StoreroomServer) -> None:
    """A stop (SIGTERM) while the disk is full: each part of the worker is closed although an earlier one failed
    (the metrics' or the audit trail's last write), and the audit events that could not be stored are counted in
    one line, not dropped under a traceback (chaos probe, finding 2)."""
    s3 = make_client(no_reserve_server.endpoint)
    s3.create_bucket(Bucket="full")
    for size in (MIB, 40_000, 1_000, 1):
        try:
            _fill(s3, "full", size)
        except AssertionError:
            pass
    for i in range(50):  # refusals, each an audit event the full disk keeps waiting in memory
        try:
            s3.put_object(Bucket="full", Key=f"refused-{i}", Body=b"x" * 2000, Tagging=f"n={i}")
        except ClientError:
            pass
    # reading the trail needs no room: it answers what is stored (the waiting events stay queued)
    trail = make_client(no_reserve_server.endpoint, service="cloudtrail")
    assert trail.lookup_events(MaxResults=5)["ResponseMetadata"]["HTTPStatusCode"] == 200
    no_reserve_server.stop()
    log = no_reserve_server.log_path.read_text()
    assert "shutdown failed" not in log and "Traceback" not in log, log[-3000:]
    assert "closing the " in log or "events not stored at shutdown" in log, log[-3000:]  # the stop met the full disk
