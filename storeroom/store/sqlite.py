"""SQLite, the embedded metadata backend: synchronous reads on the caller's thread, writes group-committed on
one writer thread.

Why this shape:
- Reads (a primary-key lookup is ~20 µs) run directly on the event loop thread: a thread hop would cost more
  than the read.  WAL mode lets them proceed while another process writes.  :class:`SqliteConn`'s methods are
  coroutines that never suspend, so the code above (written for both engines: ``storeroom/store/sql.py``)
  pays one coroutine call per query, not a hop.
- Writes must be durable before a request is acknowledged (``synchronous=FULL``: the WAL is fsynced at each
  commit), and an fsync must never block the event loop.  So every write is a job for one writer thread per
  process; the thread runs all jobs waiting in its queue inside ONE transaction and fsyncs once for the
  batch: group commit.  One failing job must not undo the others: each job runs in its own savepoint -- or,
  for jobs that may run twice (the metadata's), the batch runs without them and is run again with them only
  when a job fails (savepoints are two statements per job, each a GIL round trip on a busy worker).  A job is a
  coroutine function; the writer thread drives its coroutine to the end in one step (it awaits only its
  connection, whose methods complete at once).
- Several worker processes share the file; SQLite's locks serialize their writers.  The writer threads take
  turns through an ``flock`` on ``<file>.writer-lock`` first: the kernel wakes a waiting writer the moment the
  other commits, where SQLite's busy handler sleeps 1, 2, 5, 10 … ms between tries (measured with two workers
  under 4 KiB PUTs: 2.8 ms of waiting per batch against a 1.2 ms holder).  Other processes (the admin
  commands) need not take it: ``busy_timeout`` still serializes them.
- The WAL is copied back into the database file (checkpointed) by a thread of its own, a tenth of a second
  after commits, not by the writer that happens to commit past SQLite's 1,000 pages: that one would do it while
  it holds the write turn, and every writer of the file, and every request waiting for a commit, would wait for
  its copy and fsync (4 KiB PUTs, whose bodies are in the metadata's rows, filled 1,000 pages every ~0.1 s).
  The writers' own checkpoint stays as the fallback, at 64 MiB of WAL.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from storeroom.store.generation import Generations
from storeroom.store.sql import SQLITE, Job, Params, Row

T = TypeVar("T")

_MAX_BATCH = 512
_BUSY_TIMEOUT_MS = 30_000
CHECKPOINT_EVERY = 0.1          # seconds between the checkpointer's passes while commits come
_FALLBACK_CHECKPOINT_PAGES = 16384   # a writer checkpoints itself past this (64 MiB of 4 KiB pages)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=256)
    conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    if not readonly:
        _use_wal(conn)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    # deleted rows' bytes are overwritten, not left in free pages: small objects live in rows (inline_blobs)
    conn.execute("PRAGMA secure_delete=ON")
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """WAL mode.  Switching a new file to it needs the file to itself, and SQLite answers "database is locked" at
    once, without its busy handler, while another connection has it open: the workers and the console opening a
    fresh audit file together failed to start one time in three (tests/unit/test_sqlite_open.py).  So the switch
    is tried again for up to the busy timeout; a file in WAL mode already is not switched at all."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Like ``executescript`` but inside the current transaction (executescript would COMMIT it)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


class SqliteConn:
    """:class:`storeroom.store.sql.Conn` over a sqlite3 connection: every method completes without suspending."""

    __slots__ = ("raw",)
    dialect = SQLITE

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        return self.raw.execute(sql, params).fetchone()  # type: ignore[no-any-return]

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        return self.raw.execute(sql, params).fetchall()

    async def value(self, sql: str, params: Params = ()) -> Any:
        return self.raw.execute(sql, params).fetchone()[0]

    async def run(self, sql: str, params: Params = ()) -> int:
        return self.raw.execute(sql, params).rowcount

    async def many(self, sql: str, rows: Iterable[Params]) -> None:
        self.raw.executemany(sql, rows)


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a job's coroutine to its end in one step (it awaits nothing that suspends)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a SQLite job awaited something other than its connection")


class _Checkpointer:
    """Checkpoints the file's WAL (PASSIVE: never waits for, nor blocks, readers and writers) at most every
    :data:`CHECKPOINT_EVERY` seconds while commits come.  The workers' checkpointers share the work: one that
    finds another one checkpointing skips its pass."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"sqlite-checkpoint:{path.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stopping:
                self.wake.wait()
                if self._stopping:
                    return
                time.sleep(CHECKPOINT_EVERY)  # the commits of the next tenth of a second join this pass
                self.wake.clear()
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    pass  # another process is checkpointing, or the file is busy: the next pass tries again
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        self._stopping = True
        self.wake.set()
        self._thread.join(timeout=30)


@dataclass(slots=True)
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None
    done: threading.Event | None = None
    bump: Sequence[int] = ()
    result: Any = None
    error: BaseException | None = None


class SqliteDatabase:
    """One SQLite file: ``read`` for the loop thread, ``write(job)`` for the writer thread.

    ``generations`` (this machine's shared counters) are bumped after a write's commit, for its ``bump``, and
    ``every_commit`` after each commit that changed anything."""

    dialect = SQLITE

    def __init__(self, path: Path, generations: Generations | None = None, *, rerunnable: bool = False,
                 every_commit: int | None = None) -> None:
        self.path = path
        self.generations = generations
        self.every_commit = every_commit
        # jobs may run twice (the metadata's: PostgreSQL retries them too): a batch runs without a savepoint per
        # job, and is run again with them only when one of its jobs fails
        self.rerunnable = rerunnable
        self.raw_read = connect(path)
        self.read = SqliteConn(self.raw_read)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._checkpointer = _Checkpointer(path)
        self._thread = threading.Thread(target=self._run, name=f"sqlite-writer:{path.name}", daemon=True)
        self._thread.start()

    async def write(self, job: Job[T], *, bump: Sequence[int] = (), serializable: bool = True) -> T:
        """Runs ``job`` in a committed transaction on the writer thread (SQLite serializes every writer, so
        ``serializable`` is always so); returns its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(lambda conn: drive(job(SqliteConn(conn))), loop, future, bump=bump))
        return await future

    def submit(self, job: Job[Any]) -> None:
        """Queues ``job`` for the writer thread without waiting for it (bookkeeping that may be lost)."""
        self._queue.put(_Job(lambda conn: drive(job(SqliteConn(conn))), None, None))

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """A lock file beside the database (every process sharing the file shares the folder)."""
        fd = os.open(self.path.with_name(f"{name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    async def start(self) -> None:
        return None

    async def ping(self) -> str | None:
        return None  # an open file

    def write_raw_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A synchronous function of the raw connection in a committed transaction on the writer thread:
        schema migrations (which are SQLite's own DDL) and tests."""
        job = _Job(fn, None, None, threading.Event())
        self._queue.put(job)
        assert job.done is not None
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[no-any-return]

    async def close(self) -> None:
        self.close_sync()

    def close_sync(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._checkpointer.close()
        self.raw_read.close()

    # -- writer thread ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        conn = connect(self.path)
        conn.execute(f"PRAGMA wal_autocheckpoint={_FALLBACK_CHECKPOINT_PAGES}")
        turn = os.open(self.path.with_name(f"{self.path.name}.writer-lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                job = self._queue.get()
                if job is None:
                    return
                batch = [job]
                while len(batch) < _MAX_BATCH:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        self._queue.put(None)  # finish this batch, then stop
                        break
                    batch.append(nxt)
                fcntl.flock(turn, fcntl.LOCK_EX)  # our turn to write (see the module docstring)
                try:
                    self._commit_batch(conn, batch)
                finally:
                    fcntl.flock(turn, fcntl.LOCK_UN)
        finally:
            os.close(turn)
            conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            if not (self.rerunnable and self._run_unguarded(conn, batch)):
                self._run_guarded(conn, batch)
            conn.execute("COMMIT")
            self._bump(batch)
            self._checkpointer.wake.set()
        except BaseException as exc:  # noqa: BLE001 - the whole batch failed: every caller learns it
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in batch:
                job.error, job.result = exc, None
        for job in batch:
            _deliver(job)

    @staticmethod
    def _run_unguarded(conn: sqlite3.Connection, batch: list[_Job]) -> bool:
        """The batch's jobs one after the other, without a savepoint each (two statements, and two GIL round
        trips, fewer per job: measured ~10 % of a small PUT).  False, with the transaction rolled back and begun
        again, when a job raised: its partial writes cannot be undone alone, so the batch is run again, guarded."""
        try:
            for job in batch:
                job.result = job.fn(conn)
            return True
        except BaseException:  # noqa: BLE001 - the guarded run hands each job its own outcome
            conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                job.result = None
            return False

    @staticmethod
    def _run_guarded(conn: sqlite3.Connection, batch: list[_Job]) -> None:
        """Each job in a savepoint of its own, so that one failing job does not undo the others."""
        for job in batch:
            conn.execute("SAVEPOINT job")
            try:
                job.result = job.fn(conn)
                conn.execute("RELEASE job")
            except BaseException as exc:  # noqa: BLE001 - handed to the job's caller
                job.error = exc
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")

    def _bump(self, batch: list[_Job]) -> None:
        """After the commit, before anyone learns of it (even a caller that went away): caches reload."""
        if self.generations is None:
            return
        slots = {slot for job in batch if job.error is None for slot in job.bump}
        if self.every_commit is not None and any(job.error is None for job in batch):
            slots.add(self.every_commit)
        for slot in slots:
            self.generations.bump(slot)


def _deliver(job: _Job) -> None:
    if job.done is not None:
        job.done.set()
        return
    if job.future is None:  # submitted without a waiter
        return
    assert job.loop is not None and job.future is not None
    job.loop.call_soon_threadsafe(_settle, job.future, job.result, job.error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the request was cancelled (client went away); the write still happened
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
