"""Schema versions of the metadata, on both engines, applied at start (``storeroom serve``, the CLI, tests).

SQLite (``meta.sqlite3``, ``PRAGMA user_version``):

1. buckets, objects, multipart uploads, access keys, kv
2. the IAM tables (storeroom/iam/schema.py)
3. completed_uploads (retried CompleteMultipartUpload)
4. login profiles, password history, MFA devices, sign-in throttle; per-bucket counts (bucket_stats), created
   with their triggers when missing
5. objects are written with ``INSERT … ON CONFLICT DO UPDATE`` (the statement PostgreSQL shares) instead of
   ``INSERT OR REPLACE``: the BEFORE INSERT trigger that counted the replaced row is dropped
6. bucket_cors (a bucket's CORS configuration)
7. roles, instance profiles, OpenID Connect providers (storeroom/iam/schema.py)
8. versions, tags, lifecycle, ownership and ACLs, Block Public Access: ``buckets`` gains ``versioning``,
   ``ownership``, ``public_block``; ``objects`` gains ``version_id`` and ``seq``, ``uploads`` ``extra``;
   ``object_versions`` (noncurrent versions and delete markers), ``bucket_config`` and ``lifecycle_outbox`` are
   new.  Existing buckets keep no Block Public Access setting (their public policies stay in force); new ones get
   it on, as AWS's since 2023.
9. blob_keys (encrypted blobs' data keys), bucket_encryption (buckets' default encryption)
10. inline_blobs (small blobs kept in the database: storeroom/store/inline_blobs.py)

Every table is created IF NOT EXISTS, so a data dir of any earlier version gains what it lacks in one
transaction; tests/unit/test_migrations.py opens a data dir of each earlier version (their DDL is kept in
tests/unit/schemas/).  A data dir written by a newer Storeroom is refused.

PostgreSQL (table ``storeroom_schema``: one version per component): ``meta`` 1 is SQLite's version 5, ``meta`` 2
its version 6, ``meta`` 3 its version 7, ``meta`` 4 its version 8, ``meta`` 5 its version 9, ``meta`` 6 its version 10;
``audit`` 1 is the audit trail's tables (SQLite keeps them in audit.sqlite3), ``audit`` 2 its lookup rows
(storeroom/audit/postings.py).  Each version is a script of storeroom/store/pg_schema.py; they run in one
transaction under an advisory lock, so nodes starting at once apply each version exactly once, and a failure
leaves the previous version intact (PostgreSQL's DDL is transactional).
"""

from __future__ import annotations

import sqlite3

from storeroom.iam.schema import IAM_SCHEMA
from storeroom.store import bucket_stats, pg_schema
from storeroom.store.sqlite import run_script

SQLITE_META_VERSION = 10

# component → the scripts of its versions 1, 2, …
POSTGRES_VERSIONS: dict[str, tuple[str, ...]] = {
    "meta": (pg_schema.META_V1, pg_schema.META_V2, pg_schema.META_V3, pg_schema.META_V4,
             pg_schema.META_V5, pg_schema.META_V6),
    "audit": (pg_schema.AUDIT_V1, pg_schema.AUDIT_V2),
}
_LOCK_KEY = 0x53_54_4F_52_45  # "STORE": the advisory lock of schema changes


class NewerSchema(RuntimeError):
    """The database was written by a newer Storeroom."""


def migrate_sqlite_meta(conn: sqlite3.Connection) -> None:
    from storeroom.store.meta import META_SCHEMA

    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SQLITE_META_VERSION:
        raise NewerSchema(f"data dir was written by a newer Storeroom (schema {version} > {SQLITE_META_VERSION})")
    _add_columns(conn, "buckets", ("versioning TEXT", "ownership TEXT", "public_block TEXT"))
    _add_columns(conn, "objects", ("version_id TEXT NOT NULL DEFAULT 'null'", "seq INTEGER NOT NULL DEFAULT 0"))
    _add_columns(conn, "uploads", ("extra TEXT",))
    run_script(conn, META_SCHEMA)
    run_script(conn, IAM_SCHEMA)
    bucket_stats.ensure(conn)  # objects and bytes per bucket, kept by triggers (metrics)
    if version < 5:
        conn.execute(f"DROP TRIGGER IF EXISTS {bucket_stats.REPLACED_TRIGGER}")
    conn.execute(f"PRAGMA user_version = {SQLITE_META_VERSION}")


def _add_columns(conn: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> None:
    """Schema 8's new columns on a table an earlier schema made (a new data dir gets them from CREATE TABLE)."""
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    if not have:
        return  # a new data dir: META_SCHEMA creates the table with them
    for column in columns:
        if column.split()[0] not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


async def migrate_postgres(url: str) -> dict[str, int]:
    """Brings every component to its newest version; returns {component: version}."""
    import psycopg  # here: a SQLite node never loads it (~0.15 s of every start)

    from storeroom.store.postgres import conninfo

    async with await psycopg.AsyncConnection.connect(conninfo(url, application_name="storeroom-migrate"),
                                                     autocommit=True) as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            await conn.execute("CREATE TABLE IF NOT EXISTS storeroom_schema (component TEXT PRIMARY KEY, "
                               "version INTEGER NOT NULL)")
            versions: dict[str, int] = {}
            for component, scripts in POSTGRES_VERSIONS.items():
                cur = await conn.execute("SELECT version FROM storeroom_schema WHERE component = %s", (component,))
                row = await cur.fetchone()
                current = 0 if row is None else int(row[0])
                if current > len(scripts):
                    raise NewerSchema(f"the {component} schema was written by a newer Storeroom "
                                      f"(version {current} > {len(scripts)})")
                for script in scripts[current:]:
                    await conn.execute(script.encode())  # bytes: no placeholders; several statements at once
                await conn.execute("INSERT INTO storeroom_schema(component, version) VALUES (%s, %s) "
                                   "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                                   (component, len(scripts)))
                versions[component] = len(scripts)
    return versions
