"""Encryption at rest with the object data on an S3 backend (SeaweedFS, ``--blobs s3://…``): the same headers and
ranges (a multipart object is one backend object whose encrypted parts the layer addresses by their stored
sizes), and no object byte in clear in any backend object (read back through the backend's own S3 API)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StoreroomServer, make_client
from tests.e2e.blob_backends import SeaweedFS, s3_blobs_server
from tests.e2e.helpers import MiB
from tests.e2e.test_encryption import files_containing, pattern
from tests.e2e.test_encryption import test_ranges_across_segments_and_parts as _ranges
from tests.e2e.test_encryption import test_writes_and_reads_answer_aes256 as _headers


@pytest.fixture(scope="module")
def server(s3_blobs_session_server: StoreroomServer) -> StoreroomServer:
    return s3_blobs_session_server


@pytest.fixture(scope="module")
def endpoint(server: StoreroomServer) -> str:
    return server.endpoint


@pytest.fixture(scope="module")
def s3(endpoint: str) -> Any:
    return make_client(endpoint)


def test_headers_on_the_s3_backend(s3: Any, bucket: str) -> None:
    _headers(s3, bucket)


def test_ranges_on_the_s3_backend(s3: Any, bucket: str) -> None:
    _ranges(s3, bucket)


def test_no_object_byte_in_clear_on_the_backend(tmp_path: Path, seaweedfs: SeaweedFS) -> None:
    backend_bucket = seaweedfs.create_bucket(f"clear-{uuid.uuid4().hex[:8]}")
    srv = s3_blobs_server(tmp_path / "data", seaweedfs, backend_bucket)
    srv.start()
    marker = b"S3-BACKEND-MARKER-" + os.urandom(6).hex().encode()
    try:
        s3 = make_client(srv.endpoint)
        s3.create_bucket(Bucket="secret")
        s3.put_object(Bucket="secret", Key="small", Body=pattern(4096, marker))
        upload = s3.create_multipart_upload(Bucket="secret", Key="multi")["UploadId"]
        parts = [pattern(5 * MiB, marker), pattern(MiB, marker)]
        done = [{"PartNumber": n, "ETag": s3.upload_part(Bucket="secret", Key="multi", UploadId=upload,
                                                         PartNumber=n, Body=p)["ETag"]}
                for n, p in enumerate(parts, 1)]
        s3.complete_multipart_upload(Bucket="secret", Key="multi", UploadId=upload, MultipartUpload={"Parts": done})
        assert s3.get_object(Bucket="secret", Key="multi")["Body"].read() == b"".join(parts)
        # a copy is the backend's own copy of the sealed object; its key row outlives the source and a restart
        big = pattern(2 * MiB + 3, marker)
        s3.put_object(Bucket="secret", Key="big", Body=big)
        s3.copy_object(Bucket="secret", Key="big-copy", CopySource={"Bucket": "secret", "Key": "big"})
        s3.delete_object(Bucket="secret", Key="big")
        srv.stop()
        srv.start()
        s3 = make_client(srv.endpoint)
        assert s3.get_object(Bucket="secret", Key="big-copy")["Body"].read() == big
        backend = seaweedfs.client()
        stored = backend.list_objects_v2(Bucket=backend_bucket)["Contents"]
        assert [o["Size"] for o in stored if o["Size"] > 5 * MiB]  # the one backend object of the multipart
        # every byte the backend holds, as the backend itself serves it: no marker.  (SeaweedFS compresses what it
        # stores, so a grep of its own files would find nothing even in clear: the objects are what to check.)
        for listed in stored:
            body = backend.get_object(Bucket=backend_bucket, Key=listed["Key"])["Body"].read()
            assert marker not in body, listed["Key"]
    finally:
        srv.stop()
    assert files_containing(tmp_path / "data", marker) == []
