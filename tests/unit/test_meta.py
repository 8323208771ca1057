"""The metadata store on each backend (a real SQLite file, a real PostgreSQL database): atomic conditional
writes and multipart completion.  (Schema versions: tests/unit/test_migrations.py.)"""

from __future__ import annotations

import asyncio
import time

from storeroom.store.meta import MetaStore, ObjectRecord, Part, Upload
from tests.unit.conftest import Harness


def _record(key: str, blobs: list[tuple[str, int]]) -> ObjectRecord:
    return ObjectRecord("b", key, sum(s for _, s in blobs), "etag", time.time(), blobs, {})


def test_complete_refuses_parts_replaced_since_they_were_listed(metadata: Harness) -> None:
    async def scenario(meta: MetaStore) -> None:
        await meta.create_bucket("b", "us-east-1")
        await meta.create_upload(Upload("u1", "b", "k", time.time(), {}, None))
        await meta.put_part("u1", Part(1, "blob-a", 10, "e1", time.time()))
        await meta.put_part("u1", Part(2, "blob-x", 10, "e2", time.time()))
        listed = await meta.list_parts("u1")
        # a concurrent UploadPart replaces part 1 before Complete commits
        ok, replaced = await meta.put_part("u1", Part(1, "blob-b", 10, "e3", time.time()))
        assert (ok, replaced) == (True, "blob-a")
        outcome, _ = await meta.put_object(_record("k", [(listed[0].blob_id, 10)]), discard_upload="u1")
        assert outcome == "parts-changed"
        assert await meta.get_upload("u1") is not None and await meta.get_object("b", "k") is None  # nothing written
        # completing with the current part works, and frees the part left out
        outcome, freed = await meta.put_object(_record("k", [("blob-b", 10)]), discard_upload="u1")
        assert (outcome, freed) == ("ok", ["blob-x"])
        assert await meta.get_upload("u1") is None and await meta.list_parts("u1") == []

    metadata.run(scenario(metadata.meta))


def test_conditional_put_is_atomic_with_its_check(metadata: Harness) -> None:
    async def scenario(meta: MetaStore) -> None:
        await meta.create_bucket("b", "us-east-1")
        results = await asyncio.gather(*[
            meta.put_object(_record("once", [(f"blob-{i}", 1)]), if_none_match=True) for i in range(20)])
        assert sorted(r[0] for r in results).count("ok") == 1
        outcome, freed = await meta.put_object(_record("once", [("new", 1)]))
        assert outcome == "ok" and len(freed) == 1 and freed[0].startswith("blob-")

    metadata.run(scenario(metadata.meta))


def test_metadata_only_update_loses_to_a_concurrent_overwrite(metadata: Harness) -> None:
    async def scenario(meta: MetaStore) -> None:
        await meta.create_bucket("b", "us-east-1")
        await meta.put_object(_record("k", [("blob-a", 1)]))
        in_place = _record("k", [("blob-a", 1)])  # CopyObject onto itself, keeping blob-a
        outcome, freed = await meta.put_object(_record("k", [("blob-b", 1)]))  # a PUT wins the race
        assert (outcome, freed) == ("ok", ["blob-a"])
        outcome, _ = await meta.put_object(in_place, same_blobs=True)
        assert outcome == "changed"
        stored = await meta.get_object("b", "k")
        assert stored is not None and [b for b, _ in stored.blobs] == ["blob-b"]

    metadata.run(scenario(metadata.meta))


def test_a_completion_is_recorded_with_the_object_and_pruned_when_old(metadata: Harness) -> None:
    async def scenario(meta: MetaStore) -> None:
        await meta.create_bucket("b", "us-east-1")
        await meta.create_upload(Upload("u1", "b", "k", time.time(), {}, None))
        await meta.put_part("u1", Part(1, "blob-a", 10, "e1", time.time()))
        record = _record("k", [("blob-a", 10)])
        outcome, _ = await meta.put_object(record, discard_upload="u1", completed_request="digest")
        assert outcome == "ok"
        done = await meta.get_completion("u1", time.time() - 60)
        assert done is not None and done.request == "digest" and done.made(record)
        assert await meta.get_completion("u1", time.time() + 60) is None  # older than asked for
        # an overwrite is another object: the completion did not make it
        other = _record("k", [("blob-b", 10)])
        await meta.put_object(other)
        assert not done.made(other)
        meta.prune_completions(time.time() + 1, 10)  # not waited for
        deadline = time.monotonic() + 10
        while await meta.get_completion("u1", 0) is not None:
            assert time.monotonic() < deadline, "the prune never ran"
            await asyncio.sleep(0.01)

    metadata.run(scenario(metadata.meta))


def test_keys_with_nul_and_control_characters_keep_their_order(metadata: Harness) -> None:
    """PostgreSQL's text cannot hold U+0000: its escape (storeroom/store/postgres.py) must keep keys distinct,
    found by equality and listed in S3's order (UTF-8 bytes) as SQLite does."""
    keys = ["a", "a\x00", "a\x00b", "a\x01", "a\x01\x00", "a\x02", "a\U0010ffff", "b\x00"]

    async def scenario(meta: MetaStore) -> None:
        await meta.create_bucket("b", "us-east-1")
        for key in reversed(keys):
            assert (await meta.put_object(_record(key, [(f"blob-{keys.index(key)}", 1)])))[0] == "ok"
        listed = [r[0] for r in await meta.list_objects("b", "", inclusive=True, limit=100)]
        assert listed == sorted(keys, key=lambda k: k.encode()) == keys
        after = [r[0] for r in await meta.list_objects("b", "a\x00", inclusive=False, limit=100)]
        assert after == keys[2:]
        for i, key in enumerate(keys):
            found = await meta.get_object("b", key)
            assert found is not None and found.key == key and found.blobs[0][0] == f"blob-{i}"

    metadata.run(scenario(metadata.meta))


def test_object_documents_round_trip_whatever_their_encoder() -> None:
    """Documents are written by orjson (non-ASCII as is); older ones by the standard library (escaped), some
    with an escaped lone surrogate that orjson refuses to read: all read back the same."""
    import json

    from storeroom.store.meta import object_doc, object_from_row
    record = ObjectRecord("b", "k", 3, '"e"', 1.5, [("i1", 3)], {"x-amz-meta-name": "caf\u00e9"}, None)
    doc = object_doc(record)
    assert "caf\u00e9" in doc
    old_docs = [json.dumps({"b": [["i1", 3]], "h": {"x-amz-meta-name": "caf\u00e9"}, "c": None}),
                json.dumps({"b": [["i1", 3]], "h": {"x-amz-meta-name": "caf\ud800"}, "c": None})]
    for text, name in [(doc, "caf\u00e9"), (old_docs[0], "caf\u00e9"), (old_docs[1], "caf\ud800")]:
        read = object_from_row("b", ("k", 3, '"e"', 1.5, text, None, "null", 1))
        assert [tuple(b) for b in read.blobs] == [("i1", 3)] and read.headers == {"x-amz-meta-name": name}
