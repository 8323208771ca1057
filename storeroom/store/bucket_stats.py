"""Objects and bytes per bucket, kept by triggers as objects come and go, so that reading them (the metrics
endpoint, at every scrape) costs one row per bucket instead of a scan of every object.

The triggers follow the only ways the store changes ``objects``: ``INSERT … ON CONFLICT (bucket, key) DO
UPDATE`` (a new object: the insert trigger; one replacing the key's previous version: the update trigger,
which takes the old size out and puts the new one in) and ``DELETE``.  Both engines fire exactly these
(PostgreSQL's are in storeroom/store/pg_schema.py).  Schema 4 wrote objects with ``INSERT OR REPLACE``, whose
replaced row SQLite removes without a delete trigger, and counted it in a BEFORE INSERT trigger: schema 5
drops that one (storeroom/store/migrations.py), which an upsert would otherwise count twice.

A data dir made before these counts existed gets them computed once, when the table is created.
"""

from __future__ import annotations

import sqlite3

from storeroom.store.sql import POSTGRESQL, SQLITE, Conn

# One statement each (run_script splits at ';', which trigger bodies contain).
_SCHEMA = (
    """
CREATE TABLE bucket_stats (
    bucket TEXT PRIMARY KEY,
    objects INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID
""",
    """
CREATE TRIGGER bucket_stats_inserted AFTER INSERT ON objects
BEGIN
    INSERT INTO bucket_stats(bucket, objects, bytes) VALUES (new.bucket, 1, new.size)
    ON CONFLICT(bucket) DO UPDATE SET objects = objects + 1, bytes = bytes + excluded.bytes;
END
""",
    """
CREATE TRIGGER bucket_stats_deleted AFTER DELETE ON objects
BEGIN
    UPDATE bucket_stats SET objects = objects - 1, bytes = bytes - old.size WHERE bucket = old.bucket;
END
""",
    """
CREATE TRIGGER bucket_stats_updated AFTER UPDATE OF bucket, size ON objects
BEGIN
    UPDATE bucket_stats SET objects = objects - 1, bytes = bytes - old.size WHERE bucket = old.bucket;
    INSERT INTO bucket_stats(bucket, objects, bytes) VALUES (new.bucket, 1, new.size)
    ON CONFLICT(bucket) DO UPDATE SET objects = objects + 1, bytes = bytes + excluded.bytes;
END
""",
    """
CREATE TRIGGER bucket_stats_bucket_gone AFTER DELETE ON buckets
BEGIN
    DELETE FROM bucket_stats WHERE bucket = old.name;
END
""",
)


REPLACED_TRIGGER = "bucket_stats_replaced"  # schema 4's, for INSERT OR REPLACE


def ensure(conn: sqlite3.Connection) -> None:
    """Creates the table and its triggers if missing, counting the objects already stored (in the caller's
    transaction: the migration's)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bucket_stats'").fetchone():
        return
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.execute("INSERT INTO bucket_stats(bucket, objects, bytes) "
                  "SELECT bucket, count(*), coalesce(sum(size), 0) FROM objects GROUP BY bucket")


# PostgreSQL's triggers append deltas (store/pg_schema.py): the counts are the folded row plus the deltas since.
_PER_BUCKET = {
    SQLITE: "SELECT b.name, coalesce(s.objects, 0), coalesce(s.bytes, 0) FROM buckets b "
            "LEFT JOIN bucket_stats s ON s.bucket = b.name ORDER BY b.name",
    POSTGRESQL: "SELECT b.name, coalesce(s.objects, 0) + coalesce(d.objects, 0), coalesce(s.bytes, 0) + "
                "coalesce(d.bytes, 0) FROM buckets b LEFT JOIN bucket_stats s ON s.bucket = b.name "
                "LEFT JOIN (SELECT bucket, sum(objects) AS objects, sum(bytes) AS bytes FROM bucket_stats_delta "
                "GROUP BY bucket) d ON d.bucket = b.name ORDER BY b.name",
}
FOLD_EVERY = 5.0      # seconds between two folds of PostgreSQL's deltas
FOLD_BATCH = 10_000   # deltas per fold


async def per_bucket(conn: Conn) -> list[tuple[str, int, int]]:
    """(bucket, objects, bytes) of every bucket, by name."""
    rows = await conn.all(_PER_BUCKET[conn.dialect])
    return [(str(name), int(objects), int(size)) for name, objects, size in rows]


async def fold(conn: Conn) -> int:
    """PostgreSQL: adds up to FOLD_BATCH deltas into their buckets' rows and deletes them, in one transaction
    (run by one process at a time: store/meta.py); returns how many were folded."""
    return int(await conn.value(
        "WITH moved AS (DELETE FROM bucket_stats_delta WHERE id IN (SELECT id FROM bucket_stats_delta ORDER BY id "
        "LIMIT ?) RETURNING bucket, objects, bytes), "
        "summed AS (SELECT bucket, sum(objects) AS objects, sum(bytes) AS bytes, count(*) AS n FROM moved "
        "GROUP BY bucket), "
        "folded AS (INSERT INTO bucket_stats(bucket, objects, bytes) SELECT bucket, objects, bytes FROM summed "
        "ON CONFLICT (bucket) DO UPDATE SET objects = bucket_stats.objects + excluded.objects, "
        "bytes = bucket_stats.bytes + excluded.bytes) "
        "SELECT coalesce(sum(n), 0) FROM summed", (FOLD_BATCH,)))
