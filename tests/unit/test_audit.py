"""The audit log on a real SQLite file: records written in batches, read back newest first in CloudTrail's
event shape (what CloudTrail LookupEvents will serve)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from storeroom.audit.log import AuditLog, Record, to_event


def _record(t: float, operation: str, error: str | None = None) -> Record:
    return Record(t, "s3", operation, "Root", "123456789012", "arn:aws:iam::123456789012:root", "123456789012",
                  None, "AKIAIOSFODNN7EXAMPLE", "us-east-1", "127.0.0.1", "Boto3/1.43", "b", "k", "REQ1",
                  404 if error else 200, error)


def test_records_round_trip_newest_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        log = AuditLog(tmp_path / "audit.sqlite3")
        log.start()
        now = time.time()
        log.record(_record(now - 2, "PutObject"))
        log.record(_record(now - 1, "GetObject", "NoSuchKey"))
        await log.flush()
        log.record(_record(now, "DeleteObject"))
        await log.close()  # flushes what is pending

    asyncio.run(scenario())
    reader = AuditLog(tmp_path / "audit.sqlite3")
    try:
        records = list(reader.records())
        assert [r.operation for r in records] == ["DeleteObject", "GetObject", "PutObject"]
        event = to_event(records[1])
        assert event["eventSource"] == "s3.amazonaws.com" and event["eventName"] == "GetObject"
        assert event["errorCode"] == "NoSuchKey" and event["readOnly"] is True
        assert event["userIdentity"] == {"type": "Root", "principalId": "123456789012",
                                         "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012",
                                         "accessKeyId": "AKIAIOSFODNN7EXAMPLE"}
        assert event["requestParameters"] == {"bucketName": "b", "key": "k"}
        assert [r.operation for r in reader.records(start=records[1].time)] == ["DeleteObject", "GetObject"]
    finally:
        reader.db.close()
