"""Large bodies, which the writers process a chunk at a time on two lanes (the MD5 on one, the other checksums,
the sealing and the write on another: storeroom/store/lanes.py), and read back with read-ahead: every digest
is still checked before the blob is durable, and a body that fails one leaves nothing behind; with encryption
on (the default) and off."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, make_client
from tests.e2e.helpers import MiB

SIZE = 3 * MiB + 12345  # several whole chunks and a tail


def body(seed: int, size: int = SIZE) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture(scope="module")
def clear_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreroomServer]:
    srv = StoreroomServer(Path(tmp_path_factory.mktemp("clear")) / "data", extra_args=["--encryption", "off"])
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(params=["encrypted", "clear"])
def client(request: pytest.FixtureRequest, server: StoreroomServer):  # type: ignore[no-untyped-def]
    srv = server if request.param == "encrypted" else request.getfixturevalue("clear_server")
    s3 = make_client(srv.endpoint)
    name = f"large-{request.param}"
    try:
        s3.create_bucket(Bucket=name)
    except ClientError:
        pass  # created by an earlier test
    return s3, name


def test_large_put_digests_and_read_back(client) -> None:  # type: ignore[no-untyped-def]
    s3, bucket = client
    data = body(1)
    md5 = hashlib.md5(data)
    resp = s3.put_object(Bucket=bucket, Key="ok", Body=data, ContentMD5=base64.b64encode(md5.digest()).decode(),
                         ChecksumAlgorithm="SHA256")
    assert resp["ETag"] == f'"{md5.hexdigest()}"'
    assert resp["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    got = s3.get_object(Bucket=bucket, Key="ok", ChecksumMode="ENABLED")
    assert got["ChecksumSHA256"] == resp["ChecksumSHA256"]
    assert got["Body"].read() == data
    # ranges across the read chunks (1 MiB) and the encrypted segments (64 KiB)
    for start, end in ((0, 0), (MiB - 3, MiB + 70000), (SIZE - 5, SIZE - 1), (65530, 3 * MiB + 1)):
        part = s3.get_object(Bucket=bucket, Key="ok", Range=f"bytes={start}-{end}")["Body"].read()
        assert part == data[start:end + 1]


def test_large_put_wrong_content_md5_stores_nothing(client) -> None:  # type: ignore[no-untyped-def]
    s3, bucket = client
    data = body(2)
    wrong = base64.b64encode(hashlib.md5(data[:-1]).digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad-md5", Body=data, ContentMD5=wrong)
    assert exc.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="bad-md5")
    assert missing.value.response["Error"]["Code"] == "404"


def test_large_put_wrong_checksum_stores_nothing(client) -> None:  # type: ignore[no-untyped-def]
    s3, bucket = client
    data = body(3)
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad-sum", Body=data, ChecksumSHA256=wrong)
    assert exc.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad-sum")


def test_large_copy(client) -> None:  # type: ignore[no-untyped-def]
    """A single-part source's copy keeps its ETag (not hashed again); its checksum is computed from the bytes."""
    s3, bucket = client
    data = body(4)
    s3.put_object(Bucket=bucket, Key="source", Body=data)
    resp = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "source"},
                          ChecksumAlgorithm="SHA256")
    assert resp["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert resp["CopyObjectResult"]["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    got = s3.get_object(Bucket=bucket, Key="copy", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ChecksumSHA256"] == resp["CopyObjectResult"]["ChecksumSHA256"]


def test_large_copy_of_a_multipart_object_is_hashed(client) -> None:  # type: ignore[no-untyped-def]
    """A multipart source's ETag is not the MD5 of its bytes: the copy, one object, gets the MD5 of the bytes."""
    s3, bucket = client
    parts = [body(5, 5 * MiB), body(6, MiB + 7)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="parted")["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="parted", UploadId=upload, PartNumber=n, Body=part)["ETag"]
             for n, part in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="parted", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]})
    assert s3.head_object(Bucket=bucket, Key="parted")["ETag"].endswith('-2"')
    resp = s3.copy_object(Bucket=bucket, Key="parted-copy", CopySource={"Bucket": bucket, "Key": "parted"})
    assert resp["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"".join(parts)).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="parted-copy")["Body"].read() == b"".join(parts)
