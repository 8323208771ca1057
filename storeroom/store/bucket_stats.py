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

from storeroom.store.sql import Conn

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


async def per_bucket(conn: Conn) -> list[tuple[str, int, int]]:
    """(bucket, objects, bytes) of every bucket, by name."""
    rows = await conn.all(
        "SELECT b.name, coalesce(s.objects, 0), coalesce(s.bytes, 0) FROM buckets b "
        "LEFT JOIN bucket_stats s ON s.bucket = b.name ORDER BY b.name")
    return [(str(name), int(objects), int(size)) for name, objects, size in rows]
