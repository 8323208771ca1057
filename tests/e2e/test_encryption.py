"""Encryption at rest (SSE-S3) against a real server: S3's headers and errors, the bucket encryption API, ranges
across segment and part boundaries, no object byte stored in clear, encryption off and encrypt-existing, master
key rotation (also killed mid-way), kill -9 during encrypted writes."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, make_client
from tests.e2e.cli import REPO, cli_env, storeroom
from tests.e2e.helpers import MiB

SEGMENT = 64 * 1024
SSE = "x-amz-server-side-encryption"


def pattern(size: int, marker: bytes) -> bytes:
    """Recognisable bytes: the marker again and again, each copy numbered (no two 64-byte windows alike)."""
    out = bytearray()
    n = 0
    while len(out) < size:
        out += marker + b"%08d|" % n
        n += 1
    return bytes(out[:size])


def files_containing(root: Path, needle: bytes) -> list[str]:
    found = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            try:
                if needle in path.read_bytes():
                    found.append(str(path))
            except OSError:
                pass
    return found


def fails(call) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"].get("Message", "")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[StoreroomServer]:
    srv = StoreroomServer(tmp_path / "data")
    srv.start()
    yield srv
    srv.stop()


def test_writes_and_reads_answer_aes256(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    assert put["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    assert s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ServerSideEncryption="AES256")[
        "ServerSideEncryption"] == "AES256"
    copy = s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"})
    assert copy["ServerSideEncryption"] == "AES256"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert upload["ServerSideEncryption"] == "AES256"
    part = s3.upload_part(Bucket=bucket, Key="m", UploadId=upload["UploadId"], PartNumber=1, Body=b"p")
    assert part["ServerSideEncryption"] == "AES256"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=upload["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert done["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"p"


def test_kms_and_customer_keys_are_refused_as_s3_refuses_them(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms")) == (
        400, "KMS.NotFoundException", "Invalid keyId aws/s3")
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                                       SSEKMSKeyId="alias/mine")) == (
        400, "KMS.NotFoundException", "Invalid keyId alias/mine")
    assert fails(lambda: s3.create_multipart_upload(Bucket=bucket, Key="k", ServerSideEncryption="aws:kms"))[:2] \
        == (400, "KMS.NotFoundException")
    key = os.urandom(32)
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", SSECustomerAlgorithm="AES256",
                                       SSECustomerKey=key))[:2] == (403, "AccessDenied")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    assert fails(lambda: s3.get_object(Bucket=bucket, Key="plain", SSECustomerAlgorithm="AES256",
                                       SSECustomerKey=key)) == (
        400, "InvalidRequest", "The encryption parameters are not applicable to this object.")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")  # nothing was stored


def test_bucket_encryption_api(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    default = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                          "BucketKeyEnabled": False, "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]}}]}
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"] == default
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0][
        "BucketKeyEnabled"] is True
    assert fails(lambda: s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                "KMSMasterKeyID": "arn:aws:kms:us-east-1:123456789012:key/x"}}]})) \
        == (400, "KMS.NotFoundException", "Invalid keyId arn:aws:kms:us-east-1:123456789012:key/x")
    s3.delete_bucket_encryption(Bucket=bucket)
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"] == default
    assert fails(lambda: s3.get_bucket_encryption(Bucket=bucket + "-none"))[:2] == (404, "NoSuchBucket")


def _check_ranges(s3, bucket: str, key: str, data: bytes, boundaries: list[int]) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    size = len(data)
    cases = [(0, size - 1), (0, 0), (size - 1, size - 1)]
    for b in boundaries:
        for lo, hi in ((b - 1, b), (b - 10, b + 10), (b, b), (b - SEGMENT - 3, b + SEGMENT + 5)):
            cases.append((max(lo, 0), min(hi, size - 1)))
    cases += [tuple(sorted((rng.randrange(size), rng.randrange(size)))) for _ in range(20)]  # type: ignore[misc]
    for lo, hi in cases:
        got = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={lo}-{hi}")["Body"].read()
        assert got == data[lo:hi + 1], (lo, hi)
    assert s3.get_object(Bucket=bucket, Key=key, Range="bytes=-1000")["Body"].read() == data[-1000:]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data


def test_ranges_across_segments_and_parts(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    data = pattern(3 * SEGMENT + 123, b"RANGES")
    s3.put_object(Bucket=bucket, Key="single", Body=data)
    _check_ranges(s3, bucket, "single", data, [SEGMENT, 2 * SEGMENT, 3 * SEGMENT])
    parts = [pattern(5 * MiB + 7, b"PART-ONE"), pattern(5 * MiB + SEGMENT, b"PART-TWO"), pattern(1000, b"LAST")]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi")["UploadId"]
    done = [{"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="multi", UploadId=upload, PartNumber=n,
                                                     Body=p)["ETag"]} for n, p in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=upload, MultipartUpload={"Parts": done})
    whole = b"".join(parts)
    first, second = len(parts[0]), len(parts[0]) + len(parts[1])
    _check_ranges(s3, bucket, "multi", whole, [SEGMENT, first, first + SEGMENT, second])
    assert s3.get_object(Bucket=bucket, Key="multi", PartNumber=2)["Body"].read() == parts[1]
    # copies read through the layer and write anew
    s3.upload_part_copy  # noqa: B018 - (UploadPartCopy is covered by test_multipart's copies, now encrypted)
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "multi"})
    assert s3.get_object(Bucket=bucket, Key="copy", Range=f"bytes={first - 5}-{first + 5}")["Body"].read() == \
        whole[first - 5:first + 6]


def test_no_object_byte_is_stored_in_clear(node: StoreroomServer) -> None:
    s3 = make_client(node.endpoint)
    s3.create_bucket(Bucket="secret")
    marker = b"CLEAR-TEXT-MARKER-" + os.urandom(6).hex().encode()
    s3.put_object(Bucket="secret", Key="small", Body=pattern(4096, marker))
    s3.put_object(Bucket="secret", Key="big", Body=pattern(3 * MiB, marker))
    upload = s3.create_multipart_upload(Bucket="secret", Key="multi")["UploadId"]
    etag = s3.upload_part(Bucket="secret", Key="multi", UploadId=upload, PartNumber=1,
                          Body=pattern(5 * MiB, marker))["ETag"]
    s3.complete_multipart_upload(Bucket="secret", Key="multi", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    s3.copy_object(Bucket="secret", Key="copied", CopySource={"Bucket": "secret", "Key": "small"})
    node.stop()  # everything flushed, the WAL checkpointed
    assert files_containing(node.data_dir, marker) == []
    node.start()
    assert make_client(node.endpoint).get_object(Bucket="secret", Key="big")["Body"].read() == pattern(3 * MiB, marker)


def test_encryption_off_then_encrypt_existing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    marker = b"LEGACY-" + os.urandom(6).hex().encode()
    srv = StoreroomServer(data_dir, extra_args=["--encryption", "off"])
    srv.start()
    s3 = make_client(srv.endpoint)
    s3.create_bucket(Bucket="old")
    small, big = pattern(5000, marker), pattern(2 * MiB + 5, marker)
    assert "ServerSideEncryption" not in s3.put_object(Bucket="old", Key="small", Body=small)
    s3.put_object(Bucket="old", Key="big", Body=big)
    assert "ServerSideEncryption" not in s3.head_object(Bucket="old", Key="small")
    # a versioned overwrite: the first write becomes a noncurrent version, in clear too
    s3.put_bucket_versioning(Bucket="old", VersioningConfiguration={"Status": "Enabled"})
    small2 = pattern(7000, marker + b"-v2")
    s3.put_object(Bucket="old", Key="small", Body=small2)
    srv.stop()
    assert files_containing(data_dir / "blobs", marker)  # the comparison's baseline: in clear

    srv = StoreroomServer(data_dir)  # encryption on again: what was written stays readable as it is
    srv.start()
    s3 = make_client(srv.endpoint)
    assert s3.get_object(Bucket="old", Key="big", Range="bytes=100-70000")["Body"].read() == big[100:70001]
    s3.put_object(Bucket="old", Key="new", Body=pattern(100, marker))
    result = storeroom(None, "encrypt-existing", "--data-dir", data_dir)
    assert result.returncode == 2 and "stop `storeroom serve` before" in result.stderr  # not while a server runs
    srv.stop()
    result = storeroom(None, "encrypt-existing", "--data-dir", data_dir)
    assert result.returncode == 0, result.stderr
    assert "encrypted 3 object(s)" in result.stdout  # two current versions, one noncurrent
    assert files_containing(data_dir, marker) == []
    again = storeroom(None, "encrypt-existing", "--data-dir", data_dir)
    assert "encrypted 0 object(s)" in again.stdout
    srv.start()
    try:
        s3 = make_client(srv.endpoint)
        assert s3.get_object(Bucket="old", Key="small")["Body"].read() == small2
        assert s3.get_object(Bucket="old", Key="small", VersionId="null")["Body"].read() == small
        assert s3.get_object(Bucket="old", Key="big")["ServerSideEncryption"] == "AES256"
        assert s3.get_object(Bucket="old", Key="big", Range="bytes=65530-65540")["Body"].read() == big[65530:65541]
    finally:
        srv.stop()


def test_copying_a_clear_object_onto_itself_encrypts_it(tmp_path: Path) -> None:
    """S3's way to encrypt an existing object: copy it onto itself (here written with encryption off)."""
    data_dir = tmp_path / "data"
    marker = b"IN-PLACE-" + os.urandom(6).hex().encode()
    srv = StoreroomServer(data_dir, extra_args=["--encryption", "off"])
    srv.start()
    s3 = make_client(srv.endpoint)
    s3.create_bucket(Bucket="old")
    body = pattern(70_000, marker)
    s3.put_object(Bucket="old", Key="doc", Body=body, Metadata={"a": "1"})
    srv.stop()
    srv = StoreroomServer(data_dir)
    srv.start()
    try:
        s3 = make_client(srv.endpoint)
        assert "ServerSideEncryption" not in s3.head_object(Bucket="old", Key="doc")
        copied = s3.copy_object(Bucket="old", Key="doc", CopySource={"Bucket": "old", "Key": "doc"},
                                ServerSideEncryption="AES256")
        assert copied["ServerSideEncryption"] == "AES256"
        head = s3.head_object(Bucket="old", Key="doc")
        assert head["ServerSideEncryption"] == "AES256" and head["Metadata"] == {"a": "1"}
        assert s3.get_object(Bucket="old", Key="doc")["Body"].read() == body
        deadline = time.monotonic() + 15  # the old blob is freed once the copy commits
        while files_containing(data_dir / "blobs", marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert files_containing(data_dir / "blobs", marker) == []
    finally:
        srv.stop()


def _key_ids(data_dir: Path) -> dict[str, int]:
    with sqlite3.connect(data_dir / "meta.sqlite3") as conn:
        return dict(conn.execute("SELECT key_id, count(*) FROM blob_keys GROUP BY key_id").fetchall())


def test_rotate_rewraps_without_rewriting_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = StoreroomServer(data_dir)
    srv.start()
    s3 = make_client(srv.endpoint)
    s3.create_bucket(Bucket="rot")
    objects = {f"o{i}": pattern(1000 + i * 5000, b"ROT%d" % i) for i in range(20)}
    for key, data in objects.items():
        s3.put_object(Bucket="rot", Key=key, Body=data)
    srv.stop()
    old_key = (data_dir / "master.key").read_bytes()
    blobs_before = {p: p.stat().st_mtime_ns for p in (data_dir / "blobs").rglob("*") if p.is_file()}
    result = storeroom(None, "master-key", "rotate", "--data-dir", data_dir)
    assert result.returncode == 0, result.stderr
    assert "re-wrapped 20 data key(s)" in result.stdout and "re-sealed" in result.stdout
    assert (data_dir / "master.key").read_bytes() != old_key
    assert not (data_dir / "master.key.next").exists()
    assert len(_key_ids(data_dir)) == 1
    assert {p: p.stat().st_mtime_ns for p in (data_dir / "blobs").rglob("*") if p.is_file()} == blobs_before
    srv.start()
    try:
        s3 = make_client(srv.endpoint)  # the root key's secret, re-sealed, still signs
        for key, data in objects.items():
            assert s3.get_object(Bucket="rot", Key=key)["Body"].read() == data
    finally:
        srv.stop()


def test_kill9_mid_rotation_leaves_everything_readable(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = StoreroomServer(data_dir)
    srv.start()
    s3 = make_client(srv.endpoint)
    s3.create_bucket(Bucket="rot")
    objects = {f"o{i:03d}": pattern(100 + i, b"K9-%d" % i) for i in range(300)}
    for key, data in objects.items():
        s3.put_object(Bucket="rot", Key=key, Body=data)
    srv.stop()
    env = cli_env(None, STOREROOM_ROTATE_BATCH="3")
    proc = subprocess.Popen([sys.executable, "-m", "storeroom", "master-key", "rotate", "--data-dir", str(data_dir)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ids = _key_ids(data_dir) if (data_dir / "master.key.next").exists() else {}
        if len(ids) == 2:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(_key_ids(data_dir)) == 2, "the rotation was not caught half-way"
    assert (data_dir / "master.key.next").exists()
    srv.start()  # both keys are loaded: every object reads, and new writes work
    s3 = make_client(srv.endpoint)
    for key, data in objects.items():
        assert s3.get_object(Bucket="rot", Key=key)["Body"].read() == data
    s3.put_object(Bucket="rot", Key="during", Body=b"written between the two runs")
    srv.stop()
    result = storeroom(None, "master-key", "rotate", "--data-dir", data_dir)
    assert result.returncode == 0, result.stderr
    assert len(_key_ids(data_dir)) == 1 and not (data_dir / "master.key.next").exists()
    srv.start()
    try:
        s3 = make_client(srv.endpoint)
        for key, data in objects.items():
            assert s3.get_object(Bucket="rot", Key=key)["Body"].read() == data
        assert s3.get_object(Bucket="rot", Key="during")["Body"].read() == b"written between the two runs"
    finally:
        srv.stop()


def test_kill9_during_encrypted_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """Uploads (single and multipart) run while the server is killed: every acknowledged object reads back, and
    after the restart's sweep every blob file has its key row and every key row its blob (no blob without a key,
    none left in clear)."""
    import threading

    srv = StoreroomServer(tmp_path / "data", workers=2)
    srv.start()
    s3 = make_client(srv.endpoint)
    s3.create_bucket(Bucket="crash")
    acked: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def uploader(t: int) -> None:
        c = make_client(srv.endpoint)
        n = 0
        while not stop.is_set():
            key = f"t{t}/{n:04d}"
            data = pattern(200_000 + t * 1000 + n, b"K9W%d-%d" % (t, n))
            try:
                if n % 4 == 3:
                    upload = c.create_multipart_upload(Bucket="crash", Key=key)["UploadId"]
                    etag = c.upload_part(Bucket="crash", Key=key, UploadId=upload, PartNumber=1, Body=data)["ETag"]
                    c.complete_multipart_upload(Bucket="crash", Key=key, UploadId=upload, MultipartUpload={
                        "Parts": [{"PartNumber": 1, "ETag": etag}]})
                else:
                    c.put_object(Bucket="crash", Key=key, Body=data)
            except Exception:  # noqa: BLE001 - the server is being killed
                return
            with lock:
                acked[key] = data
            n += 1

    threads = [threading.Thread(target=uploader, args=(t,), daemon=True) for t in range(4)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 30
    while len(acked) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(acked) >= 20, "uploads did not progress"
    srv.kill9()
    stop.set()
    for th in threads:
        th.join(timeout=30)
    srv.start()
    try:
        s3 = make_client(srv.endpoint)
        for key, data in acked.items():
            assert s3.get_object(Bucket="crash", Key=key)["Body"].read() == data, key
    finally:
        srv.stop()
    files = {p.name for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file()}
    with sqlite3.connect(tmp_path / "data" / "meta.sqlite3") as conn:
        keyed = {r[0] for r in conn.execute("SELECT blob_id FROM blob_keys")}
    assert files <= keyed  # no blob in clear, none unreadable
    assert len(files) >= len(acked)


def test_rotate_with_the_key_in_the_environment(tmp_path: Path) -> None:
    import base64

    data_dir = tmp_path / "data"
    old, new = base64.b64encode(os.urandom(32)).decode(), base64.b64encode(os.urandom(32)).decode()
    srv = StoreroomServer(data_dir, env={"STOREROOM_MASTER_KEY": old})
    srv.start()
    s3 = make_client(srv.endpoint)
    s3.create_bucket(Bucket="envkey")
    s3.put_object(Bucket="envkey", Key="k", Body=b"under the environment's key")
    srv.stop()
    refused = storeroom(None, "master-key", "rotate", "--data-dir", data_dir,
                        env=cli_env(None, STOREROOM_MASTER_KEY=old))
    assert refused.returncode != 0 and "STOREROOM_MASTER_KEY_NEXT" in refused.stderr
    done = storeroom(None, "master-key", "rotate", "--data-dir", data_dir,
                     env=cli_env(None, STOREROOM_MASTER_KEY=old, STOREROOM_MASTER_KEY_NEXT=new))
    assert done.returncode == 0, done.stderr
    assert "re-wrapped 1 data key(s)" in done.stdout
    srv = StoreroomServer(data_dir, env={"STOREROOM_MASTER_KEY": new})
    srv.start()
    try:
        assert make_client(srv.endpoint).get_object(Bucket="envkey", Key="k")["Body"].read() == \
            b"under the environment's key"
    finally:
        srv.stop()
    stale = StoreroomServer(data_dir, env={"STOREROOM_MASTER_KEY": old})  # the old key alone is refused
    with pytest.raises(Exception):  # noqa: B017, PT011 - the server exits at start
        stale.start()
    stale.stop()


@pytest.mark.parametrize("encryption", ["on", "off"])
def test_a_large_copy_is_the_same_stored_bytes_and_outlives_its_source(tmp_path: Path, encryption: str) -> None:
    """CopyObject of a one-blob object copies the stored file as it is (still sealed, under the same data key,
    whose row is stored for the new blob): the two files are byte for byte alike, no plaintext reaches the
    disk, and the copy reads back after its source is deleted and the server restarted (no key cache)."""
    data_dir = tmp_path / "data"
    marker = b"COPIED-" + os.urandom(6).hex().encode()
    srv = StoreroomServer(data_dir, extra_args=["--encryption", encryption])
    srv.start()
    try:
        s3 = make_client(srv.endpoint)
        s3.create_bucket(Bucket="copies")
        data = pattern(3 * MiB + 777, marker)
        put = s3.put_object(Bucket="copies", Key="source", Body=data)
        copied = s3.copy_object(Bucket="copies", Key="copy",
                                CopySource={"Bucket": "copies", "Key": "source"})["CopyObjectResult"]
        assert copied["ETag"] == put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        algorithm = next(k for k in put if k.startswith("Checksum") and k != "ChecksumType")  # the SDK's CRC
        assert copied[algorithm] == put[algorithm]
        stored = sorted(p.read_bytes() for p in (data_dir / "blobs").rglob("*") if p.is_file()
                        and p.stat().st_size >= len(data))
        assert len(stored) == 2 and stored[0] == stored[1]
        assert (files_containing(data_dir / "blobs", marker) == []) == (encryption == "on")
        s3.delete_object(Bucket="copies", Key="source")
        srv.stop()
        srv.start()
        s3 = make_client(srv.endpoint)
        got = s3.get_object(Bucket="copies", Key="copy", ChecksumMode="ENABLED")
        assert got["Body"].read() == data
        assert got["ETag"] == put["ETag"] and got[algorithm] == put[algorithm]
        assert s3.get_object(Bucket="copies", Key="copy", Range="bytes=65530-65545")["Body"].read() == data[65530:65546]
    finally:
        srv.stop()


def _with_headers(client, operation: str, headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """Headers boto3 has no parameter for, on one operation's requests (signed with them)."""
    def add(request, **_):  # type: ignore[no-untyped-def]
        for name, value in headers.items():
            request.headers[name] = value
    client.meta.events.register(f"before-sign.s3.{operation}", add)


def test_encryption_headers_s3_never_ignores(endpoint, bucket) -> None:  # type: ignore[no-untyped-def]
    """Refused as S3 refuses them, never ignored (the object stored or served as if they were not there): SSE-C
    key headers without their algorithm; a KMS key id without SSE-KMS; x-amz-server-side-encryption where S3
    does not take it; a form's encryption fields (PostObject checked them not at all). SSE-C headers on a read of
    a key that does not exist answer 404 (sync tools HEAD with their key), not "not applicable"."""
    import base64
    import hashlib as hl

    import requests

    s3 = make_client(endpoint)
    key = os.urandom(32)
    keyed = {"x-amz-server-side-encryption-customer-key": base64.b64encode(key).decode(),
             "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(hl.md5(key).digest()).decode()}
    no_algorithm = make_client(endpoint)
    _with_headers(no_algorithm, "PutObject", keyed)
    assert fails(lambda: no_algorithm.put_object(Bucket=bucket, Key="keyed", Body=b"x"))[:2] == (403, "AccessDenied")
    assert fails(lambda: s3.head_object(Bucket=bucket, Key="keyed"))[0] == 404
    assert fails(lambda: s3.head_object(Bucket=bucket, Key="missing", SSECustomerAlgorithm="AES256",
                                        SSECustomerKey=key))[0] == 404
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="kms", Body=b"x", SSEKMSKeyId="alias/mine"))[:2] == (
        400, "InvalidArgument")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    with_sse = make_client(endpoint)
    _with_headers(with_sse, "GetObject", {SSE: "AES256"})
    assert fails(lambda: with_sse.get_object(Bucket=bucket, Key="plain")) == (
        400, "InvalidArgument", "x-amz-server-side-encryption header is not supported for this operation.")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    _with_headers(with_sse, "UploadPart", {SSE: "AES256"})
    assert fails(lambda: with_sse.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1,
                                              Body=b"x"))[:2] == (400, "InvalidArgument")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)
    for fields, expected in (({SSE: "aws:kms"}, "KMS.NotFoundException"),
                             ({"x-amz-server-side-encryption-customer-algorithm": "AES256", **keyed},
                              "AccessDenied")):
        form = s3.generate_presigned_post(bucket, "posted", Fields=fields, Conditions=[{k: v} for k, v in
                                                                                          fields.items()])
        answer = requests.post(form["url"], data=form["fields"], files={"file": ("f.txt", b"body")}, timeout=10)
        assert answer.status_code in (400, 403) and f"<Code>{expected}</Code>" in answer.text, answer.text
    assert fails(lambda: s3.head_object(Bucket=bucket, Key="posted"))[0] == 404
