"""Which metadata backend a process uses, and opening it: ``--meta`` / ``STOREROOM_META_URL``.

No URL (the default): SQLite files in the data dir (``meta.sqlite3``, ``audit.sqlite3``).  A
``postgresql://…`` (or ``postgres://…``) URL: that database holds the metadata and the audit trail of every
node that names it.  PostgreSQL-compatible distributed databases (CockroachDB, YugabyteDB) speak the same
protocol, but Storeroom is only tested on PostgreSQL itself (see docs/architecture.md).
"""

from __future__ import annotations

from pathlib import Path

from storeroom.store.generation import Generations
from storeroom.store.meta import MetaStore
from storeroom.store.sql import Database

SCHEMES = ("postgresql://", "postgres://")


def check_url(url: str | None) -> str | None:
    """The URL, or ValueError if it names no backend Storeroom has (an empty one means SQLite)."""
    if not url:
        return None
    if not url.startswith(SCHEMES):
        raise ValueError(f"--meta must be a postgresql:// URL (or be left out for SQLite), got {url.split(':')[0]}:…")
    return url


async def open_meta(data_dir: Path, url: str | None, *, migrate: bool) -> MetaStore:
    """The metadata store of this process.  ``migrate``: bring the schema to this version first (``serve``
    before its workers start, the CLI); SQLite files are always migrated when opened."""
    if url is None:
        return MetaStore.sqlite(data_dir / "meta.sqlite3")
    from storeroom.store.migrations import migrate_postgres
    from storeroom.store.postgres import PostgresDatabase

    if migrate:
        await migrate_postgres(url)
    generations = Generations(data_dir / "generations")
    db = PostgresDatabase(url, generations)
    try:
        await db.open()
    except BaseException:
        generations.close()
        raise
    return MetaStore(db, generations)


def open_audit_db(data_dir: Path, meta: MetaStore) -> Database:
    """The audit trail's database: SQLite's own file beside the metadata, or the metadata's PostgreSQL (its
    tables of its own there)."""
    if meta.db.dialect == "sqlite":
        from storeroom.store.sqlite import SqliteDatabase

        return SqliteDatabase(data_dir / "audit.sqlite3")
    return meta.db
