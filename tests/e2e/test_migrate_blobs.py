"""``storeroom migrate-blobs``: a data dir's object data moves to an S3 backend (SeaweedFS) or a shared folder,
resumably and verified by checksum, and the server then serves every object -- and the upload left in progress
-- from there."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.conftest import StoreroomServer, make_client
from tests.e2e.blob_backends import BACKEND_KEY_ID, BACKEND_SECRET, SeaweedFS, s3_blobs_server
from tests.e2e.helpers import MiB
from tests.e2e.test_durability import content_for


def populate(server: StoreroomServer) -> tuple[dict[str, bytes], str, dict[str, object]]:
    """Objects (one of them multipart), and an upload left in progress with its first part."""
    s3 = make_client(server.endpoint)
    s3.create_bucket(Bucket="moving")
    objects = {f"k{i}": content_for(f"k{i}", 1000 * i + 7) for i in range(6)}
    for key, data in objects.items():
        s3.put_object(Bucket="moving", Key=key, Body=data)
    parts = [content_for("p1", 5 * MiB), content_for("p2", 1234)]
    upload = s3.create_multipart_upload(Bucket="moving", Key="multi")["UploadId"]
    listed = [{"PartNumber": n, "ETag": s3.upload_part(Bucket="moving", Key="multi", UploadId=upload, PartNumber=n,
                                                      Body=data)["ETag"]} for n, data in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket="moving", Key="multi", UploadId=upload, MultipartUpload={"Parts": listed})
    objects["multi"] = b"".join(parts)
    pending = s3.create_multipart_upload(Bucket="moving", Key="pending")["UploadId"]
    first = content_for("pending1", 5 * MiB)
    etag = s3.upload_part(Bucket="moving", Key="pending", UploadId=pending, PartNumber=1, Body=first)["ETag"]
    return objects, pending, {"PartNumber": 1, "ETag": etag, "data": first}


def migrate(data_dir: Path, url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([sys.executable, "-m", "storeroom", "migrate-blobs", "--data-dir", str(data_dir),
                          "--blobs", url], env={**os.environ, **env}, capture_output=True, timeout=120)
    # decoded without text mode's newline translation, which would hide a "\r"
    return subprocess.CompletedProcess(run.args, run.returncode, run.stdout.decode(), run.stderr.decode())


def finish(server: StoreroomServer, objects: dict[str, bytes], pending: str, part: dict[str, object]) -> None:
    s3 = make_client(server.endpoint)
    for key, data in objects.items():
        assert s3.get_object(Bucket="moving", Key=key)["Body"].read() == data, key
    got = s3.get_object(Bucket="moving", Key="multi", Range="bytes=5242870-5242889")["Body"].read()
    assert got == objects["multi"][5242870:5242890]
    last = s3.upload_part(Bucket="moving", Key="pending", UploadId=pending, PartNumber=2, Body=b"end")["ETag"]
    s3.complete_multipart_upload(Bucket="moving", Key="pending", UploadId=pending, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": part["ETag"]}, {"PartNumber": 2, "ETag": last}]})
    assert s3.get_object(Bucket="moving", Key="pending")["Body"].read() == part["data"] + b"end"
    s3.put_object(Bucket="moving", Key="new", Body=b"written after the move")
    assert s3.get_object(Bucket="moving", Key="new")["Body"].read() == b"written after the move"


def test_migrate_to_an_s3_backend(tmp_path: Path, seaweedfs: SeaweedFS) -> None:
    server = StoreroomServer(tmp_path / "data")
    server.start()
    objects, pending, part = populate(server)
    server.stop()
    bucket = seaweedfs.create_bucket(f"moved-{uuid.uuid4().hex[:8]}")
    env = {"STOREROOM_BLOBS_ENDPOINT": seaweedfs.endpoint, "STOREROOM_BLOBS_ACCESS_KEY_ID": BACKEND_KEY_ID,
           "STOREROOM_BLOBS_SECRET_ACCESS_KEY": BACKEND_SECRET}
    url = f"s3://{bucket}/data"
    # the multipart object's parts, the pending upload's part; the six small objects stay in the metadata
    # database (storeroom/store/inline_blobs.py), and are read from there after the move (finish)
    blob_count = 2 + 1

    done = migrate(tmp_path / "data", url, env)
    assert done.returncode == 0, done.stderr
    assert f"{blob_count} blob(s)" in done.stdout and f"{blob_count} copied" in done.stdout
    keys = {k: v for k, v in seaweedfs.keys(bucket, "data/").items() if k != "data/storeroom-account"}
    assert len(keys) == blob_count

    # interrupted or damaged: one blob missing on the target, another replaced by other bytes of its size
    backend = seaweedfs.client()
    missing, damaged = sorted(keys)[:2]
    backend.delete_object(Bucket=bucket, Key=missing)
    backend.put_object(Bucket=bucket, Key=damaged, Body=b"\0" * keys[damaged])
    again = migrate(tmp_path / "data", url, env)
    assert again.returncode == 0, again.stderr
    assert f"2 copied, {blob_count - 2} already there" in again.stdout

    moved = s3_blobs_server(tmp_path / "data", seaweedfs, bucket, prefix="data")
    moved.start()
    try:
        finish(moved, objects, pending, part)
    finally:
        moved.stop()


def test_migrate_to_a_shared_folder_and_refusals(tmp_path: Path) -> None:
    server = StoreroomServer(tmp_path / "data")
    server.start()
    objects, pending, part = populate(server)
    # a running server holds its data dir
    busy = migrate(tmp_path / "data", f"file://{tmp_path / 'shared'}", {})
    assert busy.returncode == 2, busy.stderr  # an error, as the admin commands' (not 1, "needs attention")
    assert busy.stderr.strip() == (f"storeroom: a server is using {tmp_path / 'data'}: stop `storeroom serve` "
                                   "before `storeroom migrate-blobs`")
    server.stop()
    done = migrate(tmp_path / "data", f"file://{tmp_path / 'shared'}", {})
    assert done.returncode == 0, done.stderr
    assert "3 copied" in done.stdout  # the parts; the small objects stay in the metadata database
    assert "\r" not in done.stderr and "3/3 blobs" in done.stderr  # lines in a log, not a terminal's redraws
    again = migrate(tmp_path / "data", f"file://{tmp_path / 'shared'}", {})
    assert "0 copied, 3 already there" in again.stdout

    moved = StoreroomServer(tmp_path / "data", extra_args=["--blobs", f"file://{tmp_path / 'shared'}"])
    moved.start()
    try:
        finish(moved, objects, pending, part)
    finally:
        moved.stop()


def test_a_blobs_url_is_never_shown_with_its_secret(tmp_path: Path) -> None:
    """``--blobs s3://KEY:SECRET@…`` (a form the README offers): the start's error printed the secret key into
    the terminal, journald and CI logs (PostgreSQL's password in --meta was already left out)."""
    for url in ("s3://AKIAEXAMPLEBLOBS:Blob%2FSecret-Key-1234@backend/prefix?endpoint=http://127.0.0.1:1",
                "s3://AKIAEXAMPLEBLOBS:Blob/Secret-Key-1234@backend/prefix?endpoint=http://127.0.0.1:1",
                "S3://AKIAEXAMPLEBLOBS:Blob/Secret-Key-1234@backend/prefix"):
        started = subprocess.run([sys.executable, "-m", "storeroom", "serve", "--data-dir", str(tmp_path / "d"),
                                  "--listen", "127.0.0.1:0", "--console-listen", "off", "--blobs", url],
                                 capture_output=True, text=True, timeout=120)
        assert started.returncode != 0
        out = started.stdout + started.stderr
        assert "AKIAEXAMPLEBLOBS:****@backend/prefix" in out, out
        assert "Secret-Key-1234" not in out and "Blob%2FSecret" not in out, out
