"""The audit log: one CloudTrail event per request, in ``DATA_DIR/audit.sqlite3`` (or the tables of its own in
the metadata's PostgreSQL database: storeroom/store/pg_schema.py), searchable by LookupEvents.

Why this shape:

- **The request path only queues.**  A request appends one flat tuple (``events.capture``: values and
  references to the request's own headers and arguments) to a list: well under a microsecond
  (``bench/audit.py``).  Nothing is formatted, hashed or written there.
- **A thread does the work.**  Every second (sooner past :data:`FLUSH_AT` entries) the queue is handed to the
  database's writer thread (``store/sqlite.py``), which builds the events (``audit/events.py``), inserts them
  with their lookup columns and indexes in one transaction, and feeds the optional exports
  (``audit/export.py``) and S3 server access logging.  SQLite releases the GIL while it works, so that runs
  beside the event loop.  On PostgreSQL the records are built and exported on a worker thread
  (``asyncio.to_thread``), then inserted in one READ COMMITTED transaction: appends need no isolation.
- **S3 events are stored as their parts**, the values their CloudTrail record is made of; the record is made
  when the event is read (:meth:`AuditLog._stored`), through the same code as the exports' records.  Thousands
  of S3 requests a second are logged and a handful read back: this cuts the writer's work per event by a third
  and stores a third of the bytes (bench/RESULTS.md "The audit trail's records stored as their parts").  When
  an export is on, or a bucket's access log wants the record, the whole record is made and stored at once.
- **One row per event, and lookup rows per batch**: an event's row has its record and the columns LookupEvents
  answers with; each batch adds one "posting" per (attribute, value) listing its events (``audit/postings.py``:
  a handful of rows per batch instead of twelve index entries per event), so the first page of any lookup reads
  a few rows whatever the table holds.  An event's ``eventID`` is derived from its row id (and a per-data-dir
  salt), so a lookup by EventId is a primary-key read, without an index of its own.
- **Several workers share the file**: WAL mode; each worker writes its own batches (SQLite serializes
  writers), row ids come from the table's AUTOINCREMENT sequence inside the writing transaction.  On
  PostgreSQL every worker of every node takes its ids from the sequence ``events_id_seq``.
- **Retention**: events older than ``--audit-retention-days`` are deleted about 1,000 at a time (whole lookup
  rows: up to a minute late), one transaction each, by a background task — never a long lock.
- **Durability** (see README "Audit trail"): a queued event is in memory until its batch commits, so a crash
  (kill -9, power loss) loses at most the last :data:`FLUSH_INTERVAL` second of events, never a request's data.
  A batch the database refuses (PostgreSQL unreachable) goes back in the queue and is written when it
  returns (up to :data:`MAX_QUEUED` events; a batch whose commit was cut off may then be stored twice).
  ``--audit-sync`` commits each event (group-committed with concurrent ones) before the response is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from storeroom.audit import events, postings
from storeroom.audit.events import Entry, Event, valid_text
from storeroom.audit.export import CloudTrailFiles, StdoutLines
from storeroom.store.space import FailureReport
from storeroom.store.sql import Conn, Database
from storeroom.store.sqlite import SqliteDatabase, run_script

log = logging.getLogger("storeroom")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,               -- eventTime, epoch seconds
    name TEXT NOT NULL,               -- eventName
    source TEXT NOT NULL,             -- eventSource
    read_only INTEGER NOT NULL,
    management INTEGER NOT NULL,
    username TEXT,
    access_key_id TEXT,
    record TEXT NOT NULL,             -- the CloudTrail record, JSON
    resources TEXT                    -- JSON [[ResourceType, ResourceName], ...] as LookupEvents shows them
);
CREATE TABLE IF NOT EXISTS access_log_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a delivered object's key is made from its first id
    bucket TEXT NOT NULL,             -- the logged (source) bucket
    time REAL NOT NULL,
    line TEXT NOT NULL                -- one record of S3's server access log format
);
CREATE INDEX IF NOT EXISTS access_log_by_bucket ON access_log_lines(bucket, id);
CREATE TABLE IF NOT EXISTS audit_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
""" + postings.SCHEMA_SQLITE

FLUSH_INTERVAL = 1.0
FLUSH_AT = 5000
MAX_QUEUED = 200_000                 # entries kept while the database cannot be written (then the oldest go)
PRUNE_EVERY = 60.0
PRUNE_BATCH = 1000
MAX_RESOURCES = 8                    # per event, as LookupEvents shows them
_CACHE_PAGES = -65536                # 64 MiB of page cache for the writer: the lookup rows' pages stay hot


@dataclass(frozen=True, slots=True)
class AuditOptions:
    retention_days: int = 90
    sync: bool = False
    export_dir: Path | None = None
    stdout: bool = False
    region: str = "us-east-1"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    time: float
    name: str
    source: str
    read_only: bool
    management: bool
    username: str | None
    access_key_id: str | None
    record: str
    event_id: str
    resources: list[tuple[str, str]]    # (ResourceType, ResourceName)


class AuditLog:
    """One worker's audit log.  ``db``: the audit database (``store/backend.py:open_audit_db``); ``owns_db``:
    close it with the log (SQLite's own file; PostgreSQL's database is the metadata's)."""

    def __init__(self, db: Database, salt: bytes, account_id: str = "", host_id: str = "",
                 options: AuditOptions | None = None, *, owns_db: bool = True, export_lock: Path | None = None) -> None:
        self.account_id = account_id
        self.host_id = host_id
        self.options = options or AuditOptions()
        self.sync = self.options.sync
        self.db = db
        self._owns_db = owns_db
        self._salt = salt
        self._pending: list[tuple[Any, ...]] = []  # events.capture() tuples
        self._pending_built: list[Event] = []      # events that are not API calls (ConsoleLogin), built already
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        # S3 server access logging (s3/access_log.py) hooks in here: which of a batch's buckets are logged
        # (asked on the loop thread, where the bucket configuration is cached), and the access-log line of
        # one request (made on the writer thread, with the event)
        self.logged_buckets: Callable[[Sequence[tuple[Any, ...]]], Awaitable[frozenset[str]]] | None = None
        self.access_line: Callable[[Entry, Event], str] | None = None
        self._files = (CloudTrailFiles(self.options.export_dir, account_id, self.options.region)
                       if self.options.export_dir is not None else None)
        self._stdout = (StdoutLines(export_lock or Path("audit-stdout.lock")) if self.options.stdout else None)

    @classmethod
    def sqlite(cls, path: Path, account_id: str = "", host_id: str = "",
               options: AuditOptions | None = None) -> AuditLog:
        """The log in its own SQLite file (made or converted at open)."""
        db = SqliteDatabase(path)
        salt = db.write_raw_sync(_prepare)
        return cls(db, salt, account_id, host_id, options, export_lock=path.with_name("audit-stdout.lock"))

    @classmethod
    async def open(cls, db: Database, data_dir: Path, account_id: str = "", host_id: str = "",
                   options: AuditOptions | None = None) -> AuditLog:
        """The log in ``db`` (``store/backend.py:open_audit_db``): SQLite's file, or PostgreSQL's tables (made
        by the migrations), whose event-id salt the first node to start chooses for all."""
        if isinstance(db, SqliteDatabase):
            salt = db.write_raw_sync(_prepare)
            return cls(db, salt, account_id, host_id, options, export_lock=data_dir / "audit-stdout.lock")

        async def job(conn: Conn) -> str:
            await conn.run("INSERT INTO audit_settings(name, value) VALUES ('event_id_salt', ?) "
                           "ON CONFLICT(name) DO NOTHING", (os.urandom(10).hex(),))
            return str(await conn.value("SELECT value FROM audit_settings WHERE name = 'event_id_salt'"))
        salt = bytes.fromhex(await db.write(job))
        return cls(db, salt, account_id, host_id, options, owns_db=False,
                   export_lock=data_dir / "audit-stdout.lock")

    # -- the request path ----------------------------------------------------------------------------------

    def record(self, entry: tuple[Any, ...]) -> None:
        """Queue one request's entry (``events.capture``). Never blocks, never raises into the request."""
        self._pending.append(entry)
        if len(self._pending) >= FLUSH_AT and self._wake is not None:
            self._wake.set()

    def record_event(self, event: Event) -> None:
        """Queue an event built by its maker (sign-in: storeroom/signin.py), not from a request's entry."""
        self._pending_built.append(event)
        if self._wake is not None:
            self._wake.set()

    async def commit(self, entry: tuple[Any, ...]) -> None:
        """``--audit-sync``: store the entry's event now (group-committed with concurrent ones)."""
        logged = await self.logged_buckets((entry,)) if self.logged_buckets is not None else frozenset()
        await self._write((entry,), logged, ())

    # -- background ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self._wake is not None
        next_prune = time.monotonic() + random.uniform(2.0, 10.0)  # soon after start, workers not in step
        report = FailureReport(log, "audit log: writing a batch")  # (its events wait in memory: requeued)
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
                await self._tick_export()
                if time.monotonic() >= next_prune:
                    deleted = await self.prune()
                    next_prune = time.monotonic() + (1.0 if deleted >= PRUNE_BATCH else PRUNE_EVERY)
                report.succeeded()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the log must keep going; the failure is reported
                report.failed(exc)

    async def _tick_export(self) -> None:
        files = self._files
        if files is not None:
            await self._off_loop(lambda: files.tick(time.time()))

    async def _off_loop(self, fn: Callable[[], Any]) -> None:
        """File work of the exports: on SQLite's writer thread (in order with the batches), else a thread."""
        if isinstance(self.db, SqliteDatabase):
            async def job(conn: Conn) -> None:
                fn()
            await self.db.write(job)
        else:
            await asyncio.to_thread(fn)

    async def flush(self) -> None:
        entries, self._pending = self._pending, []
        prebuilt, self._pending_built = self._pending_built, []
        if not entries and not prebuilt:
            return
        try:
            logged = (await self.logged_buckets(entries) if self.logged_buckets is not None and entries
                      else frozenset())
            await self._write(entries, logged, prebuilt)
        except Exception:
            self._requeue(entries, prebuilt)  # the database is away (PostgreSQL down): the next flush retries
            raise

    def _requeue(self, entries: list[tuple[Any, ...]], prebuilt: list[Event]) -> None:
        """Puts a batch that could not be stored back in front of the queue, keeping at most
        :data:`MAX_QUEUED` entries (the oldest go first, reported) so an outage cannot exhaust memory."""
        self._pending[:0] = entries
        self._pending_built[:0] = prebuilt
        excess = len(self._pending) - MAX_QUEUED
        if excess > 0:
            del self._pending[:excess]
            log.error("audit log: %d events dropped: the database has been unreachable too long", excess)

    async def _write(self, entries: Sequence[tuple[Any, ...]], logged: frozenset[str],
                     prebuilt: Sequence[Event]) -> None:
        """Builds the batch's events and stores them.  SQLite: all of it on the writer thread, in one job (ids
        are read inside the transaction).  PostgreSQL: ids from the sequence first, the records built and
        encoded on a thread (not on the event loop), then one insert transaction; exported once committed."""
        if isinstance(self.db, SqliteDatabase):
            async def job(conn: Conn) -> None:
                row = await conn.one("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
                first = (row[0] if row else 0) + 1
                rows = self._rows(self._build(entries, prebuilt, logged), itertools.count(first), logged)
                await _store(conn, rows)
                self._export(rows.texts)
            await self.db.write(job)
            return
        async def take_ids(conn: Conn) -> list[int]:  # a batch that then fails leaves a gap, as sequences do
            return [int(r[0]) for r in await conn.all(
                "SELECT nextval('events_id_seq') FROM generate_series(1, ?)", (len(entries) + len(prebuilt),))]
        ids = await self.db.write(take_ids, serializable=False)

        def prepare() -> _Rows | None:
            rows = self._rows(self._build(entries, prebuilt, logged), ids, logged)  # an entry that cannot be
            return rows if rows.events else None                                     # built leaves its id unused
        rows = await asyncio.to_thread(prepare)
        if rows is not None:
            await self.db.write(lambda conn: _store(conn, rows), serializable=False)
            await asyncio.to_thread(self._export, rows.texts)

    async def prune(self, now: float | None = None) -> int:
        """Delete up to PRUNE_BATCH events older than the retention period; returns how many."""
        cutoff = (now or time.time()) - self.options.retention_days * 86400
        return await self.db.write(lambda conn: _prune(conn, cutoff, PRUNE_BATCH), serializable=False)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        try:
            await self.flush()
        except Exception as exc:  # the store is full or away: the events waiting are lost, and said to be
            lost = len(self._pending) + len(self._pending_built)
            self._pending, self._pending_built = [], []
            log.error("audit log: %d events not stored at shutdown: %s", lost, exc)
        if self._files is not None:
            files = self._files
            await self._off_loop(lambda: files.close(time.time()))
        if self._owns_db:
            await self.db.close()

    # -- off the event loop ----------------------------------------------------------------------------------

    def _build(self, entries: Iterable[tuple[Any, ...]], prebuilt: Sequence[Event],
               logged: frozenset[str]) -> Iterator[tuple[Entry | None, Event]]:
        """The batch's events, one at a time: each is made into its rows (:meth:`_rows`) and let go before the
        next is built, so that a batch's events never pile up for the garbage collector to traverse.  S3 events
        are stored as their parts (audit/events.py), unless their records are exported or their bucket's access
        log wants the record now."""
        for event in prebuilt:
            yield None, event
        parts = self._files is None and self._stdout is None
        for raw in entries:
            entry = Entry._make(raw)
            try:
                event = events.build(entry, self.account_id, self.host_id,
                                     as_parts=parts and entry.bucket not in logged)
            except Exception:  # noqa: BLE001 - one odd request must not lose the batch
                log.exception("audit log: cannot build the event of request %s", entry.request_id)
                continue
            yield entry, event

    def _rows(self, built: Iterable[tuple[Entry | None, Event]], ids: Iterable[int], logged: frozenset[str]
              ) -> _Rows:
        """The rows of the events, under ``ids`` in turn (as many as there are events, or more): records encoded,
        lookup rows and access-log lines made."""
        rows, keyed, texts, lines = [], [], [], []
        line = self.access_line
        for event_id_row, (entry, event) in zip(ids, built, strict=False):  # ids may outnumber the events
            if event.parts is not None:  # its record is made when it is read (_stored)
                text = events.dumps(event.parts)
            else:
                event.record["eventID"] = make_event_id(self._salt, event_id_row)
                # a request's record is built in CloudTrail's order (events.build); other makers' may not be
                text = events.dumps(event.record if entry is not None else _ordered(event.record))
                texts.append(text)
            name, username, key_id = valid_text(event.name), _valid(event.username), _valid(event.access_key_id)
            resources = [(kind, valid_text(resource)) for kind, resource in event.lookup_resources[:MAX_RESOURCES]]
            rows.append((event_id_row, event.time, name, event.source, int(event.read_only), int(event.management),
                         username, key_id, text, orjson.dumps(resources).decode() if resources else None))
            keyed.append((event_id_row, event.time, event.management,
                          postings.keys_of(name, event.source, event.read_only, username, key_id, resources)))
            if entry is not None and line is not None and event.bucket in logged:
                lines.append((event.bucket, event.time, valid_text(line(entry, event))))
            elif entry is None and event.access_line is not None and event.bucket is not None:
                lines.append((event.bucket, event.time, valid_text(event.access_line)))
        return _Rows(rows, postings.build(keyed), lines, texts)

    def _export(self, texts: list[str]) -> None:
        if not texts:  # a batch of entries none of which could be built, or stored as parts
            return
        try:
            if self._files is not None:
                self._files.add(texts, time.time())
            if self._stdout is not None:
                self._stdout.write(texts)
        except Exception:  # noqa: BLE001 - an export problem must not lose the stored events
            log.exception("audit log: export failed")

    # -- reading (LookupEvents, tests) -----------------------------------------------------------------------

    async def lookup(self, attribute: str | None, value: str | None, *, start: float, end: float,
                     management_only: bool, after: tuple[float, int] | None, limit: int) -> list[StoredEvent]:
        """Newest first: events in [start, end] matching one LookupEvents attribute, after ``after`` (the last
        (time, id) of the previous page)."""
        if attribute == "EventId":
            event_id = parse_event_id(self._salt, value or "")
            rows = await self._events([event_id] if event_id is not None else [])
            return [e for e in rows if start <= e.time <= end and (e.management or not management_only)
                    and (after is None or (e.time, e.id) < after)][:limit]
        if attribute == "ReadOnly":
            value = "true" if value == "true" else "false"
        key = postings.EVERY if attribute is None else (attribute, value or "")
        want = limit
        while True:
            found = await postings.newest(self.db.read, key, int(management_only), start=start, end=end,
                                          after=after, limit=want)
            stored = await self._events([event_id for _, event_id in found])
            # an event pruned since its rows were read: ask for as many more (pruning goes oldest first)
            if len(stored) == len(found) or len(found) < want:
                return stored[:limit]
            want += len(found) - len(stored)

    async def _events(self, ids: list[int]) -> list[StoredEvent]:
        """The stored events of ``ids``, in that order (those pruned meanwhile left out)."""
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        found = {r[0]: r for r in await self.db.read.all(f"SELECT {_COLUMNS} FROM events WHERE id IN ({marks})", ids)}
        return [self._stored(r) for r in (found.get(i) for i in ids) if r is not None]

    def _stored(self, r: Sequence[Any]) -> StoredEvent:
        event_id = make_event_id(self._salt, r[0])
        return StoredEvent(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), r[6], r[7],
                           events.expand(r[8], self.account_id, event_id), event_id,
                           [(kind, name) for kind, name in orjson.loads(r[9])] if r[9] else [])

    async def records(self) -> list[dict[str, Any]]:
        """Every stored record, newest first (for tests and small data dirs)."""
        rows = await self.db.read.all(f"SELECT {_COLUMNS} FROM events ORDER BY time DESC, id DESC")
        return [json.loads(self._stored(r).record) for r in rows]


@dataclass(frozen=True, slots=True)
class _Rows:
    """A batch's rows, made before the transaction that inserts them."""

    events: list[tuple[Any, ...]]
    postings: list[postings.Row]
    access_lines: list[tuple[str, float, str]]
    texts: list[str]                   # the records, for the exports


async def _store(conn: Conn, rows: _Rows) -> None:
    await conn.many(_INSERT_EVENT, rows.events)
    await postings.insert(conn, rows.postings)
    if rows.access_lines:
        await conn.many("INSERT INTO access_log_lines(bucket, time, line) VALUES (?, ?, ?)", rows.access_lines)


_COLUMNS = "id, time, name, source, read_only, management, username, access_key_id, record, resources"
_INSERT_EVENT = ("INSERT INTO events(id, time, name, source, read_only, management, username, access_key_id, "
                 "record, resources) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")

# The order of CloudTrail's own records: eventID goes after requestID.
_ORDER = ("eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
          "sourceIPAddress", "userAgent", "errorCode", "errorMessage", "requestParameters", "responseElements",
          "additionalEventData", "requestID", "eventID", "readOnly", "resources", "eventType", "managementEvent",
          "recipientAccountId", "eventCategory")


def _ordered(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in _ORDER if k in record}


def _prepare(conn: sqlite3.Connection) -> bytes:
    """Schema, the writer's cache size, the event-id salt; converts records of the old batch format."""
    conn.execute(f"PRAGMA cache_size = {_CACHE_PAGES}")
    run_script(conn, _SCHEMA)
    row = conn.execute("SELECT value FROM audit_settings WHERE name = 'event_id_salt'").fetchone()
    if row is None:
        salt = os.urandom(10).hex()
        conn.execute("INSERT INTO audit_settings(name, value) VALUES ('event_id_salt', ?)", (salt,))
    else:
        salt = row[0]
    _convert_lookup_rows(conn)
    _convert_old_batches(conn, bytes.fromhex(salt))
    return bytes.fromhex(salt)


def upgrade_file(path: Path) -> None:
    """Brings the audit file of a stopped data dir to this version's layout (``storeroom migrate`` reads it)."""
    db = SqliteDatabase(path)
    try:
        db.write_raw_sync(_prepare)
    finally:
        db.close_sync()


def make_event_id(salt: bytes, row_id: int) -> str:
    """A version-4-shaped UUID made from the row id: its last 48 bits are the id under a keyed permutation, its
    first 80 a keyed hash of those, so ids look random, cannot be made up, and map back to their row."""
    scrambled = _scramble(salt, row_id)
    head = bytearray(hashlib.blake2b(scrambled.to_bytes(6, "big"), key=salt, digest_size=10).digest())
    head[6] = (head[6] & 0x0F) | 0x40      # version 4
    head[8] = (head[8] & 0x3F) | 0x80      # RFC 4122 variant
    h = head.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{scrambled:012x}"


def parse_event_id(salt: bytes, text: str) -> int | None:
    try:
        value = uuid.UUID(text)
    except ValueError:
        return None
    row_id = _unscramble(salt, int.from_bytes(value.bytes[10:], "big"))
    return row_id if make_event_id(salt, row_id) == str(value) else None


_BITS48 = (1 << 48) - 1


def _keys(salt: bytes) -> tuple[int, int, int]:
    """Two 48-bit masks and an odd multiplier from the salt (a multiplication by an odd number is invertible
    modulo 2^48)."""
    digest = hashlib.blake2b(b"event-id", key=salt, digest_size=18).digest()
    return (int.from_bytes(digest[:6], "big"), int.from_bytes(digest[6:12], "big"),
            int.from_bytes(digest[12:], "big") | 1)


def _scramble(salt: bytes, value: int) -> int:
    m1, m2, k = _keys_of(salt)
    return (((value ^ m1) * k) & _BITS48) ^ m2


def _unscramble(salt: bytes, value: int) -> int:
    m1, m2, k = _keys_of(salt)
    return (((value ^ m2) * pow(k, -1, 1 << 48)) & _BITS48) ^ m1


_KEYS: dict[bytes, tuple[int, int, int]] = {}


def _keys_of(salt: bytes) -> tuple[int, int, int]:
    keys = _KEYS.get(salt)
    if keys is None:
        keys = _KEYS[salt] = _keys(salt)
    return keys


async def _prune(conn: Conn, cutoff: float, limit: int) -> int:
    deleted = await postings.prune(conn, cutoff, limit)
    # access-log lines that could never be delivered (logging switched off meanwhile) go with their events
    await conn.run("DELETE FROM access_log_lines WHERE id IN (SELECT id FROM access_log_lines WHERE time < ? "
                   "LIMIT ?)", (cutoff, limit))
    return deleted


_OLD_INDEXES = ("events_by_time", "events_by_username", "events_by_key", "events_by_name", "events_by_source",
                "management_events")
_CONVERT_CHUNK = 5000


def _convert_lookup_rows(conn: sqlite3.Connection) -> None:
    """Data dirs written before the postings kept an index entry per event and attribute and the events'
    resources in rows of their own (``event_resources``): turn them into postings and a resources column."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'event_resources'").fetchone() is None:
        return
    if "resources" not in {row[1] for row in conn.execute("PRAGMA table_info(events)")}:
        conn.execute("ALTER TABLE events ADD COLUMN resources TEXT")
    for name in _OLD_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    last, converted = 0, 0
    while True:
        rows = conn.execute("SELECT id, time, name, source, read_only, management, username, access_key_id "
                            "FROM events WHERE id > ? ORDER BY id LIMIT ?", (last, _CONVERT_CHUNK)).fetchall()
        if not rows:
            break
        resources: dict[int, list[tuple[str, str]]] = {}
        for row_id, kind, name in conn.execute(
                "SELECT id, type, name FROM event_resources WHERE id >= ? AND id < ? ORDER BY id",
                (rows[0][0] * MAX_RESOURCES, (rows[-1][0] + 1) * MAX_RESOURCES)):
            resources.setdefault(row_id // MAX_RESOURCES, []).append((kind, name))
        conn.executemany("UPDATE events SET resources = ? WHERE id = ?",
                         [(json.dumps(listed), event) for event, listed in resources.items()])
        conn.executemany(postings.INSERT, postings.build(
            (r[0], r[1], bool(r[5]), postings.keys_of(r[2], r[3], bool(r[4]), r[6], r[7], resources.get(r[0], ())))
            for r in rows))
        last, converted = rows[-1][0], converted + len(rows)
    conn.execute("DROP TABLE event_resources")
    if converted:
        log.warning("audit log: %d events given the lookup rows of this version", converted)


def _convert_old_batches(conn: sqlite3.Connection, salt: bytes) -> None:
    """Data dirs written before LookupEvents kept flat record tuples in batches: turn them into events."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'batches'").fetchone() is None:
        return
    converted = 0
    for (blob,) in conn.execute("SELECT records FROM batches ORDER BY id").fetchall():
        for old in json.loads(blob):
            _insert_old(conn, salt, old)
            converted += 1
    conn.execute("DROP TABLE batches")
    if converted:
        log.warning("audit log: converted %d records of the previous format", converted)


def _insert_old(conn: sqlite3.Connection, salt: bytes, old: list[Any]) -> None:
    (t, service, operation, itype, principal_id, arn, account, user, key_id, region, ip, agent, bucket, key,
     request_id, _status, error) = old[:17]
    identity: dict[str, Any] = ({"type": "AWSAccount", "principalId": "", "accountId": events.ANONYMOUS}
                                if itype == "Anonymous" else
                                {"type": itype, "principalId": principal_id, "arn": arn, "accountId": account})
    if key_id and itype != "Anonymous":
        identity["accessKeyId"] = key_id
    if user:
        identity["userName"] = user
    management = not (service == "s3" and operation in events.S3_DATA_EVENTS)
    read_only = operation.startswith(("Get", "List", "Head"))
    record: dict[str, Any] = {
        "eventVersion": events.EVENT_VERSION, "userIdentity": identity, "eventTime": events.event_time(t),
        "eventSource": f"{service}.amazonaws.com", "eventName": operation, "awsRegion": region,
        "sourceIPAddress": ip, "userAgent": agent,
        "requestParameters": ({"bucketName": bucket, **({"key": key} if key is not None else {})}
                              if bucket is not None else None),
        "responseElements": None, "requestID": request_id, "readOnly": read_only, "eventType": "AwsApiCall",
        "managementEvent": management, "recipientAccountId": account,
        "eventCategory": "Management" if management else "Data",
    }
    if error:
        record["errorCode"] = error
    username = events.ANONYMOUS if itype == "Anonymous" else (user if itype == "IAMUser" else "root")
    source, key_id = f"{service}.amazonaws.com", (key_id if itype != "Anonymous" else None)
    resources = [("AWS::S3::Bucket", bucket)] if bucket is not None else []
    cur = conn.execute("INSERT INTO events(time, name, source, read_only, management, username, access_key_id, "
                       "record, resources) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?)",
                       (t, operation, source, int(read_only), int(management), username, key_id,
                        json.dumps(resources) if resources else None))
    row_id = int(cur.lastrowid or 0)
    record["eventID"] = make_event_id(salt, row_id)
    conn.execute("UPDATE events SET record = ? WHERE id = ?", (events.dumps(_ordered(record)), row_id))
    keys = postings.keys_of(operation, source, read_only, username, key_id, resources)
    conn.executemany(postings.INSERT, postings.build([(row_id, t, management, keys)]))


def _valid(text: str | None) -> str | None:
    return None if text is None else valid_text(text)
