"""The SQLite writer thread's group commit (storeroom/store/sqlite.py), on a real file: in a batch, a job that
fails leaves nothing and undoes nothing of the others, with savepoints per job or (jobs that may run twice)
without them, the batch run again guarded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from storeroom.store.sql import Conn
from storeroom.store.sqlite import SqliteDatabase


@pytest.mark.parametrize("rerunnable", [False, True])
def test_a_failing_job_in_a_batch_undoes_only_itself(tmp_path: Path, rerunnable: bool) -> None:
    db = SqliteDatabase(tmp_path / "t.sqlite3", rerunnable=rerunnable)
    db.write_raw_sync(lambda conn: conn.execute("CREATE TABLE t (name TEXT PRIMARY KEY)"))
    runs: dict[str, int] = {}

    def inserting(name: str, fail: bool = False, hold: float = 0.0):  # type: ignore[no-untyped-def]
        async def job(conn: Conn) -> str:
            runs[name] = runs.get(name, 0) + 1
            await conn.run("INSERT INTO t(name) VALUES (?)", (name,))
            time.sleep(hold)  # keeps the writer thread busy while the next jobs queue up behind it
            if fail:
                raise ValueError(name)
            return name
        return job

    async def scenario() -> list[object]:
        first = asyncio.ensure_future(db.write(inserting("first", hold=0.3)))
        await asyncio.sleep(0.1)  # the writer is inside "first": the next three form one batch
        batch = asyncio.gather(db.write(inserting("a")), db.write(inserting("bad", fail=True)),
                               db.write(inserting("b")), return_exceptions=True)
        return [await first, *await batch]

    try:
        first, a, bad, b = asyncio.run(scenario())
        assert (first, a, b) == ("first", "a", "b")
        assert isinstance(bad, ValueError)
        names = {r[0] for r in db.raw_read.execute("SELECT name FROM t").fetchall()}
        assert names == {"first", "a", "b"}
        # guarded from the start: each job ran once; unguarded first: stopped at "bad", then all run again guarded
        assert runs == ({"first": 1, "a": 1, "bad": 1, "b": 1} if not rerunnable
                        else {"first": 1, "a": 2, "bad": 2, "b": 1})
    finally:
        db.close_sync()


def test_writers_of_one_file_take_turns_through_its_writer_lock(tmp_path: Path) -> None:
    """Two processes' writers (here two databases on one file) wait on ``<file>.writer-lock`` rather than in
    SQLite's sleeping busy handler; whoever holds the lock writes, and the other goes the moment it is free."""
    import fcntl
    import os
    import threading

    path = tmp_path / "t.sqlite3"
    one, two = SqliteDatabase(path), SqliteDatabase(path)
    one.write_raw_sync(lambda conn: conn.execute("CREATE TABLE t (name TEXT PRIMARY KEY)"))
    held = os.open(tmp_path / "t.sqlite3.writer-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    released = 0.0

    def release_later() -> None:
        nonlocal released
        time.sleep(0.3)
        released = time.monotonic()
        fcntl.flock(held, fcntl.LOCK_UN)

    async def scenario() -> list[float]:
        async def insert(db: SqliteDatabase, name: str) -> float:
            async def job(conn: Conn) -> None:
                await conn.run("INSERT INTO t(name) VALUES (?)", (name,))
            await db.write(job)
            return time.monotonic()
        return list(await asyncio.gather(*(insert(db, f"{n}-{i}") for i in range(20)
                                           for n, db in enumerate((one, two)))))

    try:
        threading.Thread(target=release_later).start()
        done = asyncio.run(scenario())
        assert min(done) >= released > 0          # no writer wrote while the lock was held elsewhere
        assert max(done) - released < 5.0          # and went once it was free (bounded: a busy CI machine)
        assert one.raw_read.execute("SELECT count(*) FROM t").fetchone()[0] == 40
    finally:
        os.close(held)
        one.close_sync()
        two.close_sync()


def test_commits_reach_the_database_file_through_the_checkpointer(tmp_path: Path) -> None:
    """A commit's pages are copied from the WAL into the database file by the checkpointer thread within a few
    tenths of a second, though far fewer than SQLite's own checkpoint threshold (1,000 pages) were written."""
    import sqlite3

    path = tmp_path / "t.sqlite3"
    db = SqliteDatabase(path)
    try:
        db.write_raw_sync(lambda conn: conn.execute("CREATE TABLE t (x INTEGER)"))

        async def job(conn: Conn) -> None:
            await conn.run("INSERT INTO t VALUES (42)")

        async def write() -> None:
            await db.write(job)
        asyncio.run(write())
        deadline = time.monotonic() + 5
        while True:
            file_only = sqlite3.connect(f"{path.as_uri()}?immutable=1", uri=True)  # the WAL unread
            try:
                rows = file_only.execute("SELECT x FROM t").fetchall()
            except sqlite3.DatabaseError:  # the table still only in the WAL, or the file read mid-checkpoint
                rows = []                  # (an immutable read takes no lock: "database disk image is malformed")
            finally:
                file_only.close()
            if rows == [(42,)]:
                break
            assert time.monotonic() < deadline, "the commit stayed in the WAL"
            time.sleep(0.05)
    finally:
        db.close_sync()
