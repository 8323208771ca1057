"""Small objects kept in the metadata database (storeroom/store/inline_blobs.py), against a real server on both
metadata backends: no file for a small object, its bytes sealed in its row, freed when overwritten or deleted,
a refused write leaves nothing, an orphan row is swept at start, larger objects stay files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, make_client
from tests.e2e.helpers import meta_rows, meta_write, wait_for

SMALL = 4096
LARGE = 64 * 1024 + 1  # above the inline limit once sealed


def _inline_ids(srv: StoreroomServer) -> set[str]:
    return {r[0] for r in meta_rows(srv, "SELECT blob_id FROM inline_blobs")}


def _blob_files(srv: StoreroomServer) -> list[Path]:
    return [p for p in (srv.data_dir / "blobs").rglob("*") if p.is_file()]


def test_a_small_object_lives_in_its_row_and_is_freed_with_it(fresh_server: StoreroomServer) -> None:
    s3 = make_client(fresh_server.endpoint)
    s3.create_bucket(Bucket="small")
    files_before = set(_blob_files(fresh_server))
    marker = b"INLINE-MARKER-" + os.urandom(6).hex().encode()
    body = (marker * (SMALL // len(marker) + 1))[:SMALL]
    s3.put_object(Bucket="small", Key="a", Body=body)
    assert set(_blob_files(fresh_server)) == files_before  # no file for a small object
    [(blob_id, data)] = meta_rows(fresh_server, "SELECT blob_id, data FROM inline_blobs")
    assert blob_id.startswith("i") and marker not in bytes(data)  # sealed: encryption at rest is on
    assert s3.get_object(Bucket="small", Key="a")["Body"].read() == body
    assert s3.get_object(Bucket="small", Key="a", Range="bytes=100-199")["Body"].read() == body[100:200]
    assert s3.head_object(Bucket="small", Key="a")["ContentLength"] == SMALL
    s3.copy_object(Bucket="small", Key="b", CopySource={"Bucket": "small", "Key": "a"})
    assert s3.get_object(Bucket="small", Key="b")["Body"].read() == body
    assert len(_inline_ids(fresh_server)) == 2

    s3.put_object(Bucket="small", Key="a", Body=b"second")  # the first blob is freed
    assert wait_for(lambda: blob_id not in _inline_ids(fresh_server))
    assert s3.get_object(Bucket="small", Key="a")["Body"].read() == b"second"
    s3.delete_object(Bucket="small", Key="b")
    assert wait_for(lambda: len(_inline_ids(fresh_server)) == 1)

    large = os.urandom(LARGE)
    s3.put_object(Bucket="small", Key="large", Body=large)  # a file, as before
    assert len(_blob_files(fresh_server)) == len(files_before) + 1
    assert len(_inline_ids(fresh_server)) == 1
    assert s3.get_object(Bucket="small", Key="large")["Body"].read() == large


def test_versions_keep_their_rows_and_a_refused_write_leaves_none(fresh_server: StoreroomServer) -> None:
    s3 = make_client(fresh_server.endpoint)
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="versioned", Key="k", Body=b"one")["VersionId"]
    s3.put_object(Bucket="versioned", Key="k", Body=b"two")
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket="versioned", Key="k", Body=b"three", IfNoneMatch="*")
    assert info.value.response["Error"]["Code"] == "PreconditionFailed"
    time.sleep(1.5)  # past the batched deletion of freed rows
    assert len(_inline_ids(fresh_server)) == 2  # both versions; nothing of the refused write
    assert s3.get_object(Bucket="versioned", Key="k", VersionId=first)["Body"].read() == b"one"
    s3.delete_object(Bucket="versioned", Key="k", VersionId=first)
    assert wait_for(lambda: len(_inline_ids(fresh_server)) == 1)
    assert s3.get_object(Bucket="versioned", Key="k")["Body"].read() == b"two"


def test_an_orphan_row_is_swept_at_start_and_acknowledged_ones_survive_kill9(
        fresh_server: StoreroomServer) -> None:
    s3 = make_client(fresh_server.endpoint)
    s3.create_bucket(Bucket="crash")
    bodies = {f"k{i}": os.urandom(100 + i) for i in range(20)}
    for key, body in bodies.items():
        s3.put_object(Bucket="crash", Key=key, Body=body)
    fresh_server.kill9()
    # what a crash between an overwrite's commit and its freed row's deletion leaves: a row nothing refers to
    meta_write(fresh_server, "INSERT INTO inline_blobs(blob_id, data, created) VALUES (?, ?, ?)",
                ("i-orphan", b"x" * 10, 0.0))
    fresh_server.start()
    assert "i-orphan" not in _inline_ids(fresh_server)
    s3 = make_client(fresh_server.endpoint)
    for key, body in bodies.items():
        assert s3.get_object(Bucket="crash", Key=key)["Body"].read() == body


@pytest.mark.meta_backends("sqlite")
def test_encryption_off_stores_small_objects_inline_in_clear(tmp_path: Path) -> None:
    srv = StoreroomServer(tmp_path / "data", extra_args=["--encryption", "off"])
    srv.start()
    try:
        s3 = make_client(srv.endpoint)
        s3.create_bucket(Bucket="clear")
        s3.put_object(Bucket="clear", Key="a", Body=b"plain bytes", ContentMD5="M2PsPK1l2X05YWz4bf8w5A==")
        assert [bytes(r[0]) for r in meta_rows(srv, "SELECT data FROM inline_blobs")] == [b"plain bytes"]
        with pytest.raises(ClientError) as info:  # checked before anything is kept
            s3.put_object(Bucket="clear", Key="b", Body=b"other bytes", ContentMD5="M2PsPK1l2X05YWz4bf8w5A==")
        assert info.value.response["Error"]["Code"] == "BadDigest"
        assert len(_inline_ids(srv)) == 1
        assert s3.get_object(Bucket="clear", Key="a")["Body"].read() == b"plain bytes"
    finally:
        srv.stop()
