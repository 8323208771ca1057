"""Schema versions (storeroom/store/migrations.py): a data dir of every earlier SQLite schema opens with its data
and ends at the current version; PostgreSQL's versions apply once, also when nodes start at the same moment.

The SQLite files are made from the DDL each earlier version wrote (tests/unit/schemas/meta-v*.sql, dumped from
those commits' own code), with rows written as those versions wrote them (through their own triggers)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import psycopg
import pytest

from storeroom.store import bucket_stats, migrations
from storeroom.store.backend import open_meta
from storeroom.store.meta import MetaStore, ObjectRecord
from storeroom.store.migrations import POSTGRES_VERSIONS, SQLITE_META_VERSION, NewerSchema
from tests.pg import PostgresCluster

SCHEMAS = Path(__file__).with_name("schemas")
EARLIER = sorted(p.name for p in SCHEMAS.glob("meta-v*.sql"))


def _version(schema: str) -> int:
    return int(schema.removeprefix("meta-v").partition("-")[0].partition(".")[0])


def _old_data_dir(path: Path, schema: str) -> None:
    """A data dir as that version left it: its tables, a bucket with two objects (one overwritten)."""
    conn = sqlite3.connect(path)
    for statement in (SCHEMAS / schema).read_text().split(";;"):
        if statement.strip():
            conn.execute(statement)
    # a dump that forgot its version would be migrated as a new data dir, not from that version
    assert conn.execute("PRAGMA user_version").fetchone()[0] == _version(schema)
    conn.execute("INSERT INTO buckets(name, region, created) VALUES ('old-bucket', 'us-east-1', 0)")
    doc = json.dumps({"b": [["blob-1", 5]], "h": {}, "c": None})
    # the second write replaces the first, as that version wrote: INSERT OR REPLACE before schema 5, an upsert since
    write = ("INSERT INTO objects(bucket, key, size, etag, mtime, doc, parts) VALUES ('old-bucket', ?, ?, 'e', 0, ?, "
             "0) ON CONFLICT(bucket, key) DO UPDATE SET size = excluded.size, doc = excluded.doc"
             if _version(schema) >= 5 else
             "INSERT OR REPLACE INTO objects(bucket, key, size, etag, mtime, doc, parts) "
             "VALUES ('old-bucket', ?, ?, 'e', 0, ?, 0)")
    for key, size in (("a", 3), ("a", 5), ("b", 7)):
        conn.execute(write, (key, size, doc))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("schema", EARLIER)
def test_every_earlier_sqlite_schema_opens_with_its_data(tmp_path: Path, schema: str) -> None:
    path = tmp_path / "meta.sqlite3"
    _old_data_dir(path, schema)

    async def scenario() -> None:
        meta = MetaStore.sqlite(path)
        try:
            raw = meta.db.read
            assert await raw.value("PRAGMA user_version") == SQLITE_META_VERSION == 10
            assert await meta.get_bucket("old-bucket") is not None
            found = await meta.get_object("old-bucket", "a")
            assert found is not None and found.size == 5 and found.blobs == [["blob-1", 5]]
            assert (found.version_id, found.seq) == ("null", 0)  # schema 8's columns on an older row
            assert (await meta.get_bucket("old-bucket")).public_block is None  # no Block Public Access was set
            tables = {r[0] for r in await raw.all("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert {"iam_users", "iam_groups", "iam_policies", "iam_attachments", "bucket_policies",
                    "completed_uploads", "iam_login_profiles", "iam_mfa_devices", "signin_throttle",
                    "bucket_stats", "bucket_logging", "bucket_cors", "iam_roles", "iam_instance_profiles",
                    "iam_instance_profile_roles", "iam_oidc_providers", "object_versions", "bucket_config",
                    "blob_keys", "inline_blobs"} <= tables
            triggers = {r[0] for r in await raw.all("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
            assert bucket_stats.REPLACED_TRIGGER not in triggers
            assert await bucket_stats.per_bucket(raw) == [("old-bucket", 2, 12)]
            # written the current way (an upsert) the counts stay right
            record = ObjectRecord("old-bucket", "a", 11, "e2", time.time(), [("blob-2", 11)], {})
            assert (await meta.put_object(record))[0] == "ok"
            assert await bucket_stats.per_bucket(raw) == [("old-bucket", 2, 18)]
            await meta.create_bucket("new-bucket", "us-east-1")
            assert await meta.get_completion("nothing", 0) is None
        finally:
            await meta.close()

    asyncio.run(scenario())
    MetaStore.sqlite(path).db.close_sync()  # opening again changes nothing


def test_a_data_dir_of_a_newer_storeroom_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "meta.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SQLITE_META_VERSION + 1}")
    with pytest.raises(NewerSchema):
        MetaStore.sqlite(path)


@pytest.fixture
def pg_url(postgres: PostgresCluster) -> str:
    return postgres.database("mig")


def _versions(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT component, version FROM storeroom_schema").fetchall())


def test_postgres_versions_apply_once_even_from_nodes_starting_together(pg_url: str) -> None:
    async def five_nodes_at_once() -> list[dict[str, int]]:
        return list(await asyncio.gather(*[migrations.migrate_postgres(pg_url) for _ in range(5)]))

    results = asyncio.run(five_nodes_at_once())
    newest = {component: len(scripts) for component, scripts in POSTGRES_VERSIONS.items()}
    assert results == [newest] * 5 and _versions(pg_url) == newest
    assert asyncio.run(migrations.migrate_postgres(pg_url)) == newest  # again: nothing to do
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM generations").fetchone() == (8,)


@pytest.mark.parametrize("version", range(1, len(POSTGRES_VERSIONS["meta"])))
def test_every_earlier_postgres_meta_version_migrates_with_its_data(tmp_path: Path, postgres: PostgresCluster,
                                                                    version: int) -> None:
    """A database a node of that version left (its scripts applied, a bucket with an object) reaches the newest
    version with its rows: meta 2's CORS rules and meta 4's version columns on an older row."""
    url = postgres.database("old")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE storeroom_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        for script in POSTGRES_VERSIONS["meta"][:version]:
            conn.execute(script.encode())
        conn.execute("INSERT INTO storeroom_schema(component, version) VALUES ('meta', %s)", (version,))
        conn.execute("INSERT INTO buckets(name, region, created) VALUES ('old-bucket', 'us-east-1', 0)")
        conn.execute("INSERT INTO objects(bucket, key, size, etag, mtime, doc, parts) VALUES ('old-bucket', 'a', 5, "
                     "'e', 0, %s, 0)", (json.dumps({"b": [["blob-1", 5]], "h": {}, "c": None}),))
        if version >= 2:
            conn.execute("INSERT INTO bucket_cors(bucket, rules) VALUES ('old-bucket', '[]')")

    async def scenario() -> None:
        meta = await open_meta(tmp_path, url, migrate=True)
        try:
            found = await meta.get_object("old-bucket", "a")
            assert found is not None and found.size == 5 and found.blobs == [["blob-1", 5]]
            assert (found.version_id, found.seq) == ("null", 0)
            bucket = await meta.get_bucket("old-bucket")
            assert bucket is not None and bucket.public_block is None and bucket.versioning is None
            record = ObjectRecord("old-bucket", "b", 7, "e2", time.time(), [("blob-2", 7)], {})
            assert (await meta.put_object(record))[0] == "ok"
            await meta.create_bucket("new-bucket", "us-east-1")
        finally:
            await meta.close()

    asyncio.run(scenario())
    assert _versions(url)["meta"] == len(POSTGRES_VERSIONS["meta"])
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM bucket_cors").fetchone() == (1 if version >= 2 else 0,)


def test_a_postgres_schema_of_a_newer_storeroom_is_refused(pg_url: str) -> None:
    asyncio.run(migrations.migrate_postgres(pg_url))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE storeroom_schema SET version = version + 1 WHERE component = 'meta'")
    with pytest.raises(NewerSchema):
        asyncio.run(migrations.migrate_postgres(pg_url))
