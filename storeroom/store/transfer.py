"""Copying a SQLite data dir's metadata (and audit trail) into PostgreSQL: the metadata half of ``storeroom
migrate`` (storeroom/cli/migrate.py).

- **One table at a time, in primary-key order, in batches**: each batch is inserted in one transaction
  together with the progress row that says how far the table got (``storeroom_migration``), so a copy stopped
  at any moment (^C, a lost connection) resumes after the last committed batch, and a batch is never applied
  twice.  Tables are copied parents first (buckets before objects, users before memberships), so the foreign
  keys hold all along.  The per-bucket counts are not copied: the triggers count the objects as they arrive.
- **A consistent snapshot**: the SQLite side is read inside one read transaction per file (WAL mode keeps it
  stable while the source server still runs; stop it first all the same, so that nothing written after the
  snapshot is left behind).
- **Verified**: once copied, every table is read back on both sides in primary-key order and compared by row
  count and a SHA-256 over its rows (values in a canonical form: bytes as hex, floats by ``repr``).
- **Refused onto a database that already holds another account**: the destination must be empty, or be a copy
  this command started (it carries the same account id).

Both sides order keys the same way (SQLite's BINARY collation, PostgreSQL's "C"; NOCASE and citext both fold
ASCII only), so the keyset pagination and the checksums walk the rows in one order.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from storeroom.store.postgres import PgConn, conninfo

# (table, primary key columns): parents before children
META_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kv", ("name",)),
    ("buckets", ("name",)),
    ("bucket_policies", ("bucket",)),
    ("bucket_logging", ("bucket",)),
    ("bucket_cors", ("bucket",)),
    ("blob_keys", ("blob_id",)),
    ("inline_blobs", ("blob_id",)),
    ("objects", ("bucket", "key")),
    ("object_versions", ("bucket", "key", "seq")),
    ("bucket_config", ("bucket", "name")),
    ("lifecycle_outbox", ("id",)),
    ("uploads", ("upload_id",)),
    ("parts", ("upload_id", "part_number")),
    ("completed_uploads", ("upload_id",)),
    ("iam_users", ("user_id",)),
    ("access_keys", ("access_key_id",)),
    ("iam_groups", ("group_id",)),
    ("iam_group_members", ("group_id", "user_id")),
    ("iam_policies", ("policy_id",)),
    ("iam_policy_versions", ("policy_id", "version_id")),
    ("iam_attachments", ("entity_type", "entity_id", "policy_arn")),
    ("iam_inline_policies", ("entity_type", "entity_id", "name")),
    ("iam_login_profiles", ("principal",)),
    ("iam_password_history", ("principal", "changed")),
    ("iam_mfa_devices", ("serial",)),
    ("iam_roles", ("role_id",)),
    ("iam_instance_profiles", ("profile_id",)),
    ("iam_instance_profile_roles", ("profile_id", "role_id")),
    ("iam_oidc_providers", ("arn",)),
    ("signin_throttle", ("subject",)),
    ("console_spent", ("token_id",)),
)
AUDIT_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("audit_settings", ("name",)),
    ("events", ("id",)),
    ("event_postings", ("id",)),
    ("access_log_lines", ("id",)),
)
# sequences that must continue after the copied ids
_SEQUENCES = (("events", "events_id_seq"), ("event_postings", None), ("access_log_lines", None),
              ("lifecycle_outbox", None))
BATCH = 2000
# tables of large rows are copied in smaller batches (memory stays bounded: inline blobs are up to 64 KiB)
_LARGE_ROWS = {"inline_blobs": 100}

_PROGRESS = """
CREATE TABLE IF NOT EXISTS storeroom_migration (
    source TEXT NOT NULL,
    tbl TEXT NOT NULL,
    last_key TEXT,          -- JSON of the primary key of the last row copied
    rows BIGINT NOT NULL DEFAULT 0,
    done BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (source, tbl)
)
"""


class MigrationError(RuntimeError):
    """The copy cannot go on (a destination holding another account, a verification that failed)."""


@dataclass
class TableReport:
    table: str
    copied: int = 0          # rows copied by this run
    rows: int = 0            # rows on each side once verified
    checksum: str = ""
    verified: bool = False


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _canonical(row: Sequence[Any]) -> str:
    return json.dumps([v.hex() if isinstance(v, bytes | memoryview) else (repr(v) if isinstance(v, float) else v)
                       for v in (bytes(x) if isinstance(x, memoryview) else x for x in row)],
                      ensure_ascii=False, separators=(",", ":"))


def _after(key: tuple[str, ...], last: Sequence[Any] | None) -> tuple[str, list[Any]]:
    if last is None:
        return "", []
    marks = ", ".join("?" * len(key))
    return f"WHERE ({', '.join(key)}) > ({marks})", list(last)


class Transfer:
    """Copies ``source`` (a data dir) into ``url``; ``progress(table, copied_so_far)`` reports as it goes."""

    def __init__(self, data_dir: Path, url: str, *, batch: int = BATCH,
                 progress: Callable[[str, int], None] | None = None) -> None:
        self.data_dir = data_dir
        self.url = url
        self.batch = batch
        self.progress = progress or (lambda table, n: None)
        self.source = str(data_dir.resolve())

    def _batch(self, table: str) -> int:
        return min(self.batch, _LARGE_ROWS.get(table, self.batch))

    # -- the SQLite side ----------------------------------------------------------------------------------------

    def _open_source(self, name: str) -> sqlite3.Connection | None:
        path = self.data_dir / name
        if not path.exists():
            return None
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=30)
        conn.execute("BEGIN")  # one snapshot for the whole copy
        return conn

    def _source_rows(self, conn: sqlite3.Connection, table: str, key: tuple[str, ...],
                     last: Sequence[Any] | None, limit: int) -> list[tuple[Any, ...]]:
        where, args = _after(key, last)
        cols = ", ".join(_columns(conn, table))
        return conn.execute(f"SELECT {cols} FROM {table} {where} ORDER BY {', '.join(key)} LIMIT ?",
                            [*args, limit]).fetchall()

    # -- the copy -------------------------------------------------------------------------------------------------

    async def run(self, *, verify_only: bool = False) -> list[TableReport]:
        from storeroom.store.migrations import migrate_postgres

        meta = self._open_source("meta.sqlite3")
        if meta is None:
            raise MigrationError(f"no Storeroom metadata in {self.data_dir} (meta.sqlite3)")
        if (self.data_dir / "audit.sqlite3").exists():
            from storeroom.audit.log import upgrade_file
            upgrade_file(self.data_dir / "audit.sqlite3")  # an older version's layout: PostgreSQL has this one's
        audit = self._open_source("audit.sqlite3")
        await migrate_postgres(self.url)
        reports: list[TableReport] = []
        async with await psycopg.AsyncConnection.connect(conninfo(self.url, application_name="storeroom-migrate"),
                                                         autocommit=True) as pg:
            await pg.execute(_PROGRESS)
            await self._check_destination(meta, PgConn(pg))
            for conn, tables in ((meta, META_TABLES), (audit, AUDIT_TABLES)):
                if conn is None:
                    continue
                present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                for table, key in tables:
                    if table not in present:
                        continue
                    report = TableReport(table)
                    if not verify_only:
                        report.copied = await self._copy(conn, PgConn(pg), table, key)
                    await self._verify(conn, PgConn(pg), table, key, report)
                    reports.append(report)
            await self._continue_sequences(PgConn(pg))
        for conn in (meta, audit):
            if conn is not None:
                conn.close()
        return reports

    async def _check_destination(self, source: sqlite3.Connection, pg: PgConn) -> None:
        """The destination is empty, or holds this same account (a copy resumed)."""
        mine = source.execute("SELECT value FROM kv WHERE name = 'account_id'").fetchone()
        theirs = await pg.one("SELECT value FROM kv WHERE name = 'account_id'")
        if theirs is None:
            if await pg.one("SELECT 1 FROM access_keys LIMIT 1") or await pg.one("SELECT 1 FROM buckets LIMIT 1"):
                raise MigrationError("the destination database is not empty")
            return
        if mine is None or theirs[0] != mine[0]:
            raise MigrationError(f"the destination database holds another account ({theirs[0]}): "
                                 "migrate into an empty database")

    async def _copy(self, conn: sqlite3.Connection, pg: PgConn, table: str, key: tuple[str, ...]) -> int:
        row = await pg.one("SELECT last_key, rows, done FROM storeroom_migration WHERE source = ? AND tbl = ?",
                           (self.source, table))
        if row is not None and row[2]:
            return 0
        last = json.loads(row[0]) if row is not None and row[0] is not None else None
        total = int(row[1]) if row is not None else 0
        columns = _columns(conn, table)
        insert = (f"INSERT INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                  f"ON CONFLICT DO NOTHING")
        positions = [columns.index(k) for k in key]
        copied = 0
        while True:
            rows = self._source_rows(conn, table, key, last, self._batch(table))
            if not rows:
                break
            last = [rows[-1][i] for i in positions]
            total += len(rows)
            async with pg.raw.transaction():
                await pg.many(insert, rows)
                await pg.run("INSERT INTO storeroom_migration(source, tbl, last_key, rows) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT(source, tbl) DO UPDATE SET last_key = excluded.last_key, "
                             "rows = excluded.rows", (self.source, table, json.dumps(last), total))
            copied += len(rows)
            self.progress(table, total)
        await pg.run("INSERT INTO storeroom_migration(source, tbl, rows, done) VALUES (?, ?, ?, TRUE) "
                     "ON CONFLICT(source, tbl) DO UPDATE SET done = TRUE", (self.source, table, total))
        return copied

    async def _verify(self, conn: sqlite3.Connection, pg: PgConn, table: str, key: tuple[str, ...],
                      report: TableReport) -> None:
        columns = _columns(conn, table)
        order = ", ".join(key)
        mine, mine_rows = _digest(conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"))
        theirs, their_rows = await self._pg_digest(pg, table, columns, key)
        report.rows, report.checksum = mine_rows, mine
        if (mine, mine_rows) != (theirs, their_rows):
            raise MigrationError(f"{table}: {mine_rows} rows (sha256 {mine[:16]}) in SQLite, {their_rows} "
                                 f"(sha256 {theirs[:16]}) in PostgreSQL")
        report.verified = True

    async def _pg_digest(self, pg: PgConn, table: str, columns: list[str], key: tuple[str, ...]) -> tuple[str, int]:
        """The same digest over PostgreSQL's rows, read a page at a time in primary-key order."""
        digest, count, last = hashlib.sha256(), 0, None
        positions = [columns.index(k) for k in key]
        while True:
            where, args = _after(key, last)
            rows = await pg.all(f"SELECT {', '.join(columns)} FROM {table} {where} ORDER BY {', '.join(key)} "
                                f"LIMIT ?", [*args, self._batch(table) * 5])
            if not rows:
                return digest.hexdigest(), count
            for row in rows:
                digest.update(_canonical(row).encode("utf-8", "surrogatepass"))
                digest.update(b"\n")
            count += len(rows)
            last = [rows[-1][i] for i in positions]

    async def _continue_sequences(self, pg: PgConn) -> None:
        """Ids given by PostgreSQL from now on follow the copied ones."""
        for table, sequence in _SEQUENCES:
            name = sequence or str(await pg.value(f"SELECT pg_get_serial_sequence('{table}', 'id')"))
            highest = await pg.value(f"SELECT max(id) FROM {table}")
            if highest is not None:
                await pg.value("SELECT setval(?, ?)", (name, int(highest)))


def _digest(rows: Iterator[Sequence[Any]]) -> tuple[str, int]:
    digest, count = hashlib.sha256(), 0
    for row in rows:
        digest.update(_canonical(row).encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
        count += 1
    return digest.hexdigest(), count
