"""Objects and bytes per bucket, kept by triggers (storeroom/store/bucket_stats.py; PostgreSQL's in
store/pg_schema.py), on each backend through the metadata store's own writes: they always equal a scan of the
objects."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path

from storeroom.store import bucket_stats
from storeroom.store.meta import MetaStore, ObjectRecord, Part, Upload
from storeroom.store.sql import Conn
from tests.unit.conftest import Harness


def _object(bucket: str, key: str, size: int) -> ObjectRecord:
    return ObjectRecord(bucket, key, size, "etag", time.time(), [(f"blob-{key}-{size}", size)], {})


async def _scan(conn: Conn) -> list[tuple[str, int, int]]:
    rows = await conn.all("SELECT b.name, count(o.key), coalesce(sum(o.size), 0) FROM buckets b "
                          "LEFT JOIN objects o ON o.bucket = b.name GROUP BY b.name ORDER BY b.name")
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def test_counts_follow_puts_replacements_deletes_and_multipart(metadata: Harness) -> None:
    async def scenario(meta: MetaStore) -> None:
        rng = random.Random(7)
        read = meta.db.read
        for name in ("a", "b", "empty"):
            await meta.create_bucket(name, "us-east-1")
        assert await bucket_stats.per_bucket(read) == [("a", 0, 0), ("b", 0, 0), ("empty", 0, 0)]
        for _ in range(300):
            bucket, key = rng.choice("ab"), f"k{rng.randrange(40)}"
            if rng.random() < 0.7:
                await meta.put_object(_object(bucket, key, rng.randrange(1000)))  # new or replacing
            else:
                await meta.delete_objects(bucket, [key, "never-there"])
        await meta.create_upload(Upload("u1", "a", "multi", time.time(), {}, None))
        await meta.put_part("u1", Part(1, "p1", 5, "e", time.time()))
        outcome, _ = await meta.put_object(
            ObjectRecord("a", "multi", 5, "e-1", time.time(), [("p1", 5)], {}, parts=1), discard_upload="u1")
        assert outcome == "ok"
        assert await bucket_stats.per_bucket(read) == await _scan(read)
        if meta.db.dialect == "postgresql":  # the deltas folded into the buckets' rows: the same counts
            assert await meta.db.write(bucket_stats.fold, serializable=False) > 0
            assert await read.value("SELECT count(*) FROM bucket_stats_delta") == 0
            assert await bucket_stats.per_bucket(read) == await _scan(read)
        await meta.delete_objects("b", [f"k{i}" for i in range(40)])
        assert await meta.delete_bucket("b") == ("deleted", [])
        assert await read.value("SELECT count(*) FROM bucket_stats WHERE bucket = 'b'") == 0
        assert await bucket_stats.per_bucket(read) == await _scan(read)

    metadata.run(scenario(metadata.meta))


def test_a_data_dir_from_before_gets_its_counts_at_start(tmp_path: Path) -> None:
    async def fill() -> None:
        meta = MetaStore.sqlite(tmp_path / "meta.sqlite3")
        try:
            await meta.create_bucket("old", "us-east-1")
            for i in range(10):
                await meta.put_object(_object("old", f"k{i}", i))
        finally:
            await meta.close()

    async def counts() -> list[tuple[str, int, int]]:
        meta = MetaStore.sqlite(tmp_path / "meta.sqlite3")
        try:
            return await bucket_stats.per_bucket(meta.db.read)
        finally:
            await meta.close()

    asyncio.run(fill())
    with sqlite3.connect(tmp_path / "meta.sqlite3") as conn:  # as a data dir written before bucket_stats
        for name in ("bucket_stats_inserted", "bucket_stats_deleted", "bucket_stats_updated",
                     "bucket_stats_bucket_gone"):
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE bucket_stats")
    assert asyncio.run(counts()) == [("old", 10, 45)]
