"""The audit log: one CloudTrail-shaped record per request, written in batches off the request path.

Records are appended to an in-memory queue by the request (microseconds) and written to
``DATA_DIR/audit.sqlite3`` by a background task every second (or sooner when many are waiting), through the
database's writer thread.  A crash loses at most the last second of records, never a request's data.
Record fields follow CloudTrail's event structure:
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from storeroom.store.db import Database, run_script

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    event_time REAL NOT NULL,
    event_source TEXT NOT NULL,
    event_name TEXT NOT NULL,
    user_name TEXT,
    access_key_id TEXT,
    error_code TEXT,
    record TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_time ON events(event_time);
CREATE INDEX IF NOT EXISTS events_by_user ON events(user_name, event_time);
"""

FLUSH_INTERVAL = 1.0
FLUSH_AT = 2000


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self.db.write_sync(lambda conn: run_script(conn, _SCHEMA))
        self._pending: list[tuple[Any, ...]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def record(self, event: dict[str, Any]) -> None:
        """Queue one record (CloudTrail shape). Never blocks, never raises into the request."""
        event.setdefault("eventID", str(uuid.uuid4()))
        event.setdefault("eventVersion", "1.09")
        identity = event.get("userIdentity") or {}
        self._pending.append((
            event["eventID"], time.time(), event.get("eventSource", ""), event.get("eventName", ""),
            identity.get("userName") or (identity.get("type") if identity.get("type") == "Root" else None),
            identity.get("accessKeyId"), event.get("errorCode"), json.dumps(event, separators=(",", ":")),
        ))
        if len(self._pending) >= FLUSH_AT and self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        rows, self._pending = self._pending, []
        if rows:
            await self.db.write(lambda conn: _insert(conn, rows))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()
        self.db.close()

    def lookup(self, *, user_name: str | None = None, event_name: str | None = None,
               start: float | None = None, end: float | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first."""
        where, args = ["1=1"], []
        for column, value in (("user_name", user_name), ("event_name", event_name)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if start is not None:
            where.append("event_time >= ?")
            args.append(start)
        if end is not None:
            where.append("event_time <= ?")
            args.append(end)
        rows = self.db.read.execute(
            f"SELECT record FROM events WHERE {' AND '.join(where)} ORDER BY event_time DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]


def _insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    conn.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
