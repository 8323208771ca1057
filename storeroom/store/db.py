"""SQLite access: synchronous reads on the caller's thread, writes group-committed on one writer thread.

Why this shape:
- Reads (a primary-key lookup is ~20 µs) run directly on the event loop thread: a thread hop would cost more
  than the read.  WAL mode lets them proceed while another process writes.
- Writes must be durable before a request is acknowledged (``synchronous=FULL``: the WAL is fsynced at each
  commit), and an fsync must never block the event loop.  So every write is a job for one writer thread per
  process; the thread runs all jobs waiting in its queue inside ONE transaction (each in its own savepoint,
  so one failing job does not undo the others) and fsyncs once for the batch: group commit.
- Several worker processes share the file; SQLite's locks serialize their writers (``busy_timeout``).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_MAX_BATCH = 512
_BUSY_TIMEOUT_MS = 30_000


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=256)
    conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Like ``executescript`` but inside the current transaction (executescript would COMMIT it)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


@dataclass(slots=True)
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None
    done: threading.Event | None = None
    result: Any = None
    error: BaseException | None = None


class Database:
    """One SQLite file: ``read`` connection for the loop thread, ``write()`` jobs for the writer thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.read = connect(path)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"sqlite-writer:{path.name}", daemon=True)
        self._thread.start()

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in a committed transaction on the writer thread; returns its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, loop, future))
        return await future

    def submit(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        """Queue ``fn`` for the writer thread without waiting for it (bookkeeping that may be lost)."""
        self._queue.put(_Job(fn, None, None))

    def write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """The same, for code that is not on an event loop (startup, the CLI)."""
        job = _Job(fn, None, None, threading.Event())
        self._queue.put(job)
        assert job.done is not None
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[no-any-return]

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        self.read.close()

    # -- writer thread ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        conn = connect(self.path)
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
                self._commit_batch(conn, batch)
        finally:
            conn.close()

    @staticmethod
    def _commit_batch(conn: sqlite3.Connection, batch: list[_Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                conn.execute("SAVEPOINT job")
                try:
                    job.result = job.fn(conn)
                    conn.execute("RELEASE job")
                except BaseException as exc:  # noqa: BLE001 - handed to the job's caller
                    job.error = exc
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - the whole batch failed: every caller learns it
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in batch:
                job.error, job.result = exc, None
        for job in batch:
            _deliver(job)


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
