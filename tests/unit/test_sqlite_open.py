"""Several processes opening one new SQLite file at once (a server's workers and its console opening a fresh
audit file): SQLite refuses the switch to WAL mode at once, without its busy handler, while another connection
has the file open; every opener must still succeed (storeroom/store/sqlite.py ``_use_wal``)."""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Barrier
from pathlib import Path

from storeroom.audit.log import AuditLog

OPENERS = 4
ROUNDS = 12  # before the fix about one round in three failed


def _open(path: str, barrier: Barrier, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    barrier.wait()
    try:
        log = AuditLog.sqlite(Path(path), "123456789012", "H")
        log.db.close_sync()
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        results.put(repr(exc))


def test_processes_opening_a_new_audit_file_together_all_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")  # no fork of a test process that may hold threads
    for round_ in range(ROUNDS):
        path = tmp_path / f"audit-{round_}.sqlite3"
        barrier = context.Barrier(OPENERS)
        results = context.Queue()
        processes = [context.Process(target=_open, args=(str(path), barrier, results)) for _ in range(OPENERS)]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        assert outcomes == ["ok"] * OPENERS, (round_, outcomes)
