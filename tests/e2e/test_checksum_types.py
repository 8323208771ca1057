"""Multipart checksums: COMPOSITE (checksum of part checksums, "-N") and FULL_OBJECT (CRC of the whole object,
combined from the parts' CRCs), as S3 computes them."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest
from botocore.exceptions import ClientError

PART = 5 * 1024 * 1024


def _upload(s3, bucket: str, key: str, data: bytes, algorithm: str, checksum_type: str | None = None,
            full_value: str | None = None) -> dict:
    extra = {"ChecksumType": checksum_type} if checksum_type else {}
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm,
                                           **extra)["UploadId"]
    parts = []
    for n, start in enumerate(range(0, len(data), PART), start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n,
                           Body=data[start:start + PART], ChecksumAlgorithm=algorithm)
        parts.append({"PartNumber": n, "ETag": r["ETag"], f"Checksum{algorithm}": r[f"Checksum{algorithm}"]})
    kwargs = {f"Checksum{algorithm}": full_value} if full_value else {}
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts}, **kwargs)


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_full_object_crc32(s3, bucket) -> None:
    data = os.urandom(PART * 2 + 1234)
    _upload(s3, bucket, "full", data, "CRC32", "FULL_OBJECT")
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == _crc32(data)
    assert head["ChecksumType"] == "FULL_OBJECT"
    # botocore validates a full-object checksum while reading: the whole body must agree with it
    assert s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")["Body"].read() == data


def test_full_object_value_sent_with_complete_must_match(s3, bucket) -> None:
    data = os.urandom(PART + 10)
    with pytest.raises(ClientError) as exc:
        _upload(s3, bucket, "bad", data, "CRC32", "FULL_OBJECT", full_value=_crc32(b"other"))
    assert exc.value.response["Error"]["Code"] == "BadDigest"
    _upload(s3, bucket, "good", data, "CRC32", "FULL_OBJECT", full_value=_crc32(data))


def test_composite_sha256(s3, bucket) -> None:
    data = os.urandom(PART + 10)
    _upload(s3, bucket, "comp", data, "SHA256")
    head = s3.head_object(Bucket=bucket, Key="comp", ChecksumMode="ENABLED")
    parts = [hashlib.sha256(data[i:i + PART]).digest() for i in range(0, len(data), PART)]
    expected = base64.b64encode(hashlib.sha256(b"".join(parts)).digest()).decode() + "-2"
    assert head["ChecksumSHA256"] == expected
    assert head["ChecksumType"] == "COMPOSITE"


def test_full_object_with_sha_is_refused(s3, bucket) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="x", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT")
    assert exc.value.response["Error"]["Code"] == "InvalidRequest"
