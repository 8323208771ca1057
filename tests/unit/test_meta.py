"""The metadata store on a real SQLite file: atomic conditional writes and multipart completion."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from storeroom.store.meta import MetaStore, ObjectRecord, Part, Upload


def _record(key: str, blobs: list[tuple[str, int]]) -> ObjectRecord:
    return ObjectRecord("b", key, sum(s for _, s in blobs), "etag", time.time(), blobs, {})


def test_complete_refuses_parts_replaced_since_they_were_listed(tmp_path: Path) -> None:
    async def scenario() -> None:
        meta = MetaStore(tmp_path / "meta.sqlite3")
        try:
            await meta.create_bucket("b", "us-east-1")
            await meta.create_upload(Upload("u1", "b", "k", time.time(), {}, None))
            await meta.put_part("u1", Part(1, "blob-a", 10, "e1", time.time()))
            await meta.put_part("u1", Part(2, "blob-x", 10, "e2", time.time()))
            listed = meta.list_parts("u1")
            # a concurrent UploadPart replaces part 1 before Complete commits
            ok, replaced = await meta.put_part("u1", Part(1, "blob-b", 10, "e3", time.time()))
            assert (ok, replaced) == (True, "blob-a")
            outcome, _ = await meta.put_object(_record("k", [(listed[0].blob_id, 10)]), discard_upload="u1")
            assert outcome == "parts-changed"
            assert meta.get_upload("u1") is not None and meta.get_object("b", "k") is None  # nothing written
            # completing with the current part works, and frees the part left out
            outcome, freed = await meta.put_object(_record("k", [("blob-b", 10)]), discard_upload="u1")
            assert (outcome, freed) == ("ok", ["blob-x"])
            assert meta.get_upload("u1") is None and meta.list_parts("u1") == []
        finally:
            meta.close()

    asyncio.run(scenario())


def test_conditional_put_is_atomic_with_its_check(tmp_path: Path) -> None:
    async def scenario() -> None:
        meta = MetaStore(tmp_path / "meta.sqlite3")
        try:
            await meta.create_bucket("b", "us-east-1")
            results = await asyncio.gather(*[
                meta.put_object(_record("once", [(f"blob-{i}", 1)]), if_none_match=True) for i in range(20)])
            assert sorted(r[0] for r in results).count("ok") == 1
            outcome, freed = await meta.put_object(_record("once", [("new", 1)]))
            assert outcome == "ok" and len(freed) == 1 and freed[0].startswith("blob-")
        finally:
            meta.close()

    asyncio.run(scenario())


def test_metadata_only_update_loses_to_a_concurrent_overwrite(tmp_path: Path) -> None:
    async def scenario() -> None:
        meta = MetaStore(tmp_path / "meta.sqlite3")
        try:
            await meta.create_bucket("b", "us-east-1")
            await meta.put_object(_record("k", [("blob-a", 1)]))
            in_place = _record("k", [("blob-a", 1)])  # CopyObject onto itself, keeping blob-a
            outcome, freed = await meta.put_object(_record("k", [("blob-b", 1)]))  # a PUT wins the race
            assert (outcome, freed) == ("ok", ["blob-a"])
            outcome, _ = await meta.put_object(in_place, same_blobs=True)
            assert outcome == "changed"
            stored = meta.get_object("b", "k")
            assert stored is not None and [b for b, _ in stored.blobs] == ["blob-b"]
        finally:
            meta.close()

    asyncio.run(scenario())


def test_a_schema_1_data_dir_gains_the_iam_tables(tmp_path: Path) -> None:
    """Data dirs written before IAM existed (schema 1) open with their data and the IAM tables added."""
    import sqlite3

    from storeroom.store import meta as meta_module

    path = tmp_path / "meta.sqlite3"
    conn = sqlite3.connect(path)
    for statement in meta_module._SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO buckets(name, region, created) VALUES ('old-bucket', 'us-east-1', 0)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = MetaStore(path)
    try:
        assert store.db.read.execute("PRAGMA user_version").fetchone()[0] == meta_module.SCHEMA_VERSION == 4
        assert store.get_bucket("old-bucket") is not None
        tables = {r[0] for r in store.db.read.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"iam_users", "iam_groups", "iam_policies", "iam_attachments", "bucket_policies"} <= tables
        # schema 3: console sign-in
        assert {"iam_login_profiles", "iam_password_history", "iam_mfa_devices", "signin_throttle"} <= tables
    finally:
        store.close()


def test_a_schema_2_data_dir_gains_the_completed_uploads_table(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "meta.sqlite3"
    MetaStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE completed_uploads")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    store = MetaStore(path)
    try:
        assert store.get_completion("nothing", 0) is None
    finally:
        store.close()


def test_a_completion_is_recorded_with_the_object_and_pruned_when_old(tmp_path: Path) -> None:
    async def scenario() -> None:
        meta = MetaStore(tmp_path / "meta.sqlite3")
        try:
            await meta.create_bucket("b", "us-east-1")
            await meta.create_upload(Upload("u1", "b", "k", time.time(), {}, None))
            await meta.put_part("u1", Part(1, "blob-a", 10, "e1", time.time()))
            record = _record("k", [("blob-a", 10)])
            outcome, _ = await meta.put_object(record, discard_upload="u1", completed_request="digest")
            assert outcome == "ok"
            done = meta.get_completion("u1", time.time() - 60)
            assert done is not None and done.request == "digest" and done.made(record)
            assert meta.get_completion("u1", time.time() + 60) is None  # older than asked for
            # an overwrite is another object: the completion did not make it
            other = _record("k", [("blob-b", 10)])
            await meta.put_object(other)
            assert not done.made(other)
            meta.prune_completions(time.time() + 1, 10)
            await meta.create_bucket("after-the-prune", "us-east-1")  # the writer thread has run the prune
            assert meta.get_completion("u1", 0) is None
        finally:
            meta.close()

    asyncio.run(scenario())
