"""The blob stores' pure parts: --blobs URLs, the S3 backend's ids (uploads, parts) and how a row's blobs map to
byte ranges of backend objects, deferred deletions."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from storeroom.config import Settings
from storeroom.store.blob_backend import open_blob_store
from storeroom.store.blobs import BlobStore, DeferredDeletes
from storeroom.store.s3_blobs import S3BlobStore, _multipart_etag, decode_upload_id, encode_upload_id
from storeroom.store.s3_client import S3Target, parse_s3_url

KEYS = {"STOREROOM_BLOBS_ACCESS_KEY_ID": "AK", "STOREROOM_BLOBS_SECRET_ACCESS_KEY": "SK"}


def test_s3_urls() -> None:
    target = parse_s3_url("s3://bucket/some/prefix/", {**KEYS, "STOREROOM_BLOBS_ENDPOINT": "http://h:8333/"})
    assert (target.endpoint, target.bucket, target.prefix, target.region, target.path_style) == (
        "http://h:8333", "bucket", "some/prefix/", "us-east-1", True)
    assert (target.access_key_id, target.secret_access_key) == ("AK", "SK")
    assert "SK" not in repr(target)
    in_url = parse_s3_url("s3://K%2F1:S%2B2@b?endpoint=https://h&region=garage&style=virtual", {})
    assert (in_url.access_key_id, in_url.secret_access_key, in_url.prefix, in_url.region, in_url.path_style) == (
        "K/1", "S+2", "", "garage", False)
    aws = parse_s3_url("s3://bucket/p", {**KEYS, "STOREROOM_BLOBS_REGION": "eu-west-1"})
    assert (aws.endpoint, aws.path_style) == ("https://s3.eu-west-1.amazonaws.com", False)
    assert parse_s3_url("s3://with.dots/p", KEYS).path_style  # TLS certificates do not cover dotted buckets
    for bad in ("s3:///prefix", "http://bucket/p"):
        with pytest.raises(ValueError):
            parse_s3_url(bad, KEYS)
    with pytest.raises(ValueError, match="keys"):
        parse_s3_url("s3://bucket", {})
    with pytest.raises(ValueError, match="http"):
        parse_s3_url("s3://bucket?endpoint=ftp://h", KEYS)


def test_blobs_settings(tmp_path: Path) -> None:
    assert isinstance(open_blob_store(Settings(data_dir=tmp_path)), BlobStore)
    shared = open_blob_store(Settings(data_dir=tmp_path, blobs=f"file://{tmp_path}/shared"))
    assert isinstance(shared, BlobStore) and shared.shared and shared.root == tmp_path / "shared"
    for bad in ("file://relative/path", "gs://bucket", "/plain/path"):
        with pytest.raises(ValueError):
            open_blob_store(Settings(data_dir=tmp_path, blobs=bad))


@pytest.mark.parametrize("backend_id", [
    "dee78d2e464cd0ce01dada5501a0446471b9b4ce_e50482b6d58844cba48214db984776fe",  # SeaweedFS
    "2~mFbs8dvMfwhzOINrkBsLFvw4eK2FsFm",  # Ceph RGW
    "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA",  # AWS
    "YzM2ZDM4ZGEtNTQ4Ni00ZTQ3LWFkZDQtNjQ3MGI0ZjQwMTIwLjA3YjM3YjhmLTQ0ZmItNDBiOC1hMjE3LTVmZjE5ZGFkZTUzNw==",
    "with/slash+and=equals",
])
def test_upload_ids_name_the_backend_upload(backend_id: str) -> None:
    base = "0" * 16 + "a" * 24
    upload_id = encode_upload_id(base, backend_id)
    assert decode_upload_id(upload_id) == (base, backend_id)
    assert all(c.isalnum() or c in "-._~" for c in upload_id)  # safe in a URL query unencoded
    assert decode_upload_id("018f2b1c9d3e4f5aAbC-_xyz") is None  # the local store's kind


def store() -> S3BlobStore:
    return S3BlobStore(S3Target("http://h", "b", "p/", "AK", "SK"))


def test_a_rows_blobs_are_ranges_of_backend_objects() -> None:
    base = "1" * 40
    parts = [(f"{base}.1.{'a' * 32}", 10), (f"{base}.2.{'b' * 32}", 10), (f"{base}.3.{'c' * 32}", 5)]
    spans = store()._spans(parts, 5, 22)
    assert [(s.key, s.start, s.end, s.lo, s.hi) for s in spans] == [
        ("p/" + base, 5, 10, 5, 10), ("p/" + base, 10, 20, 0, 10), ("p/" + base, 20, 22, 0, 2)]
    # blobs of their own (an upload begun on another store): one backend object each
    plain = [("e" * 32, 10), ("f" * 32, 10)]
    spans = store()._spans(plain, 0, 20)
    assert [(s.key, s.start, s.end, s.whole) for s in spans] == [("p/" + "e" * 32, 0, 10, 10),
                                                                 ("p/" + "f" * 32, 0, 10, 10)]


def test_freeing_keeps_what_the_new_row_still_uses() -> None:
    s = store()
    freed: list[list[str]] = []

    async def scenario() -> None:
        s._deferred = DeferredDeletes(0, lambda keys: _record(freed, keys))
        base, other = "1" * 40, "2" * 40
        # a completion frees the parts it leaves out: they are ranges of the object just made, kept
        s.delete([f"{base}.2.{'b' * 32}"], keep=[(f"{base}.1.{'a' * 32}", 5)])
        # an overwrite frees the old object's parts: its backend object goes, once
        s.delete([f"{other}.1.{'a' * 32}", f"{other}.2.{'b' * 32}", "c" * 32])
        # replaced parts are the backend upload's; they go with its completion or abort
        s.discard_parts([f"{base}.3.{'c' * 32}", "d" * 32])
        await asyncio.sleep(0.01)

    asyncio.run(scenario())
    assert freed == [["p/" + "2" * 40, "p/" + "c" * 32], ["p/" + "d" * 32]]


async def _record(freed: list[list[str]], keys: list[str]) -> None:
    freed.append(keys)


def test_deferred_deletes_wait_and_flush() -> None:
    done: list[list[str]] = []

    async def scenario() -> None:
        deferred = DeferredDeletes(1.0, lambda keys: _record(done, keys))
        deferred.add(["a"])
        await asyncio.sleep(0.5)
        deferred.add(["b"])  # due 0.5 s after "a"
        assert done == []
        await asyncio.sleep(0.7)
        assert done == [["a"]]
        deferred.add(["c"])
        await deferred.flush()  # at shutdown: everything still waiting, now
        assert sorted(k for keys in done for k in keys) == ["a", "b", "c"]

    asyncio.run(scenario())


def test_multipart_etag_as_s3_computes_it() -> None:
    md5s = [hashlib.md5(d).hexdigest() for d in (b"one", b"two")]
    expected = hashlib.md5(b"".join(bytes.fromhex(m) for m in md5s)).hexdigest() + "-2"
    assert _multipart_etag(md5s) == expected
    assert _multipart_etag([md5s[0], "not-an-md5"]) is None
