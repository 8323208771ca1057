"""The audit log: one CloudTrail-shaped record per request, written in batches off the request path.

A request appends one flat tuple to an in-memory list (about a microsecond: no JSON, no uuid, no SQL).  A
background task writes the list every second (or sooner when it grows) as ONE row of
``DATA_DIR/audit.sqlite3``, through the database's writer thread.  Records are turned into CloudTrail's event
shape when read (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html).
A crash loses at most the last second of records, never a request's data.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from storeroom.store.db import Database, run_script

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    first_time REAL NOT NULL,
    last_time REAL NOT NULL,
    records TEXT NOT NULL             -- JSON array of Record tuples
);
CREATE INDEX IF NOT EXISTS batches_by_time ON batches(last_time);
"""

FLUSH_INTERVAL = 1.0
FLUSH_AT = 5000


class Record(NamedTuple):
    """What one request leaves in the log (flat, so that recording it costs next to nothing)."""

    time: float
    service: str
    operation: str
    identity_type: str
    principal_id: str
    arn: str
    account_id: str
    user_name: str | None
    access_key_id: str | None
    region: str
    source_ip: str
    user_agent: str
    bucket: str | None
    key: str | None
    request_id: str
    status: int
    error_code: str | None
    # Members of the CloudTrail event that replace the computed ones (events that are not API calls, e.g.
    # ConsoleLogin's eventType, responseElements, additionalEventData, errorMessage: storeroom/signin.py)
    details: dict[str, Any] | None = None


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self.db.write_sync(lambda conn: run_script(conn, _SCHEMA))
        self._pending: list[Record] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def record(self, record: Record) -> None:
        """Queue one record. Never blocks, never raises into the request."""
        self._pending.append(record)
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
        records, self._pending = self._pending, []
        if not records:
            return
        row = (records[0].time, records[-1].time, json.dumps(records, separators=(",", ":")))
        await self.db.write(lambda conn: conn.execute(
            "INSERT INTO batches(first_time, last_time, records) VALUES (?, ?, ?)", row))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()
        self.db.close()

    def records(self, *, start: float | None = None, end: float | None = None) -> Iterator[Record]:
        """Newest first, across all workers' batches."""
        rows = self.db.read.execute(
            "SELECT records FROM batches WHERE last_time >= ? AND first_time <= ? ORDER BY last_time DESC",
            (start or 0.0, end or 1e12),
        )
        for (blob,) in rows:
            for item in sorted((Record(*r) for r in json.loads(blob)), key=lambda r: r.time, reverse=True):
                if (start is None or item.time >= start) and (end is None or item.time <= end):
                    yield item


def to_event(record: Record) -> dict[str, Any]:
    """A record in CloudTrail's event shape."""
    identity: dict[str, Any] = {"type": record.identity_type, "principalId": record.principal_id,
                                "arn": record.arn, "accountId": record.account_id}
    if record.access_key_id:
        identity["accessKeyId"] = record.access_key_id
    if record.user_name:
        identity["userName"] = record.user_name
    params: dict[str, Any] | None = None
    if record.bucket is not None:
        params = {"bucketName": record.bucket}
        if record.key is not None:
            params["key"] = record.key
    event: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.time)),
        "eventSource": f"{record.service}.amazonaws.com",
        "eventName": record.operation,
        "awsRegion": record.region,
        "sourceIPAddress": record.source_ip,
        "userAgent": record.user_agent,
        "requestParameters": params,
        "responseElements": None,
        "requestID": record.request_id,
        "eventID": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{record.request_id}:{record.time}")),
        "readOnly": record.operation.startswith(("Get", "List", "Head")),
        "eventType": "AwsApiCall",
        "managementEvent": record.service != "s3",
        "recipientAccountId": record.account_id,
        "additionalEventData": {"httpStatus": record.status},
    }
    if record.error_code:
        event["errorCode"] = record.error_code
    if record.details:
        event.update(record.details)
    return event
