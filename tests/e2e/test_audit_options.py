"""`storeroom serve`'s audit options on real servers: --audit-export writes CloudTrail log files laid out as
CloudTrail delivers them (and finishes them after a crash), --audit-stdout prints one JSON line per event,
--audit-sync keeps every acknowledged request's event through a kill -9, --audit-retention-days prunes."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from storeroom.store.backend import open_audit_db, open_meta
from storeroom.store.sql import Conn
from tests.conftest import StoreroomServer, make_client, meta_url_for
from tests.e2e.helpers import unique_name

EXPORT_FILE = re.compile(r"AWSLogs/(\d{12})/CloudTrail/us-east-1/(\d{4})/(\d{2})/(\d{2})/"
                         r"\1_CloudTrail_us-east-1_(\d{4})(\d{2})(\d{2})T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz")


def _exported(root: Path) -> list[dict]:
    records: list[dict] = []
    for path in sorted((root / "AWSLogs").rglob("*.json.gz")):
        match = EXPORT_FILE.fullmatch(path.relative_to(root).as_posix())
        assert match, path
        assert match.group(2, 3, 4) == match.group(5, 6, 7)  # the folder is the file's date
        records += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return records


def _age_events(server: StoreroomServer, seconds: float) -> int:
    """Test-only edit of the stopped server's audit trail (its audit.sqlite3, or its PostgreSQL tables): every
    event ``seconds`` older; returns how many there are."""
    async def edit() -> int:
        meta = await open_meta(server.data_dir, server.meta_url, migrate=False)
        db = open_audit_db(server.data_dir, meta)

        async def job(conn: Conn) -> int:
            await conn.run("UPDATE events SET time = time - ?", (seconds,))
            for row_id, first, last, entries in await conn.all(
                    "SELECT id, first_time, last_time, entries FROM event_postings"):
                shifted = json.dumps([[t - seconds, event_id] for t, event_id in json.loads(entries)])
                await conn.run("UPDATE event_postings SET first_time = ?, last_time = ?, entries = ? WHERE id = ?",
                               (first - seconds, last - seconds, shifted, row_id))
            return int(await conn.value("SELECT count(*) FROM events"))
        try:
            return await db.write(job)
        finally:
            if db is not meta.db:
                await db.close()
            await meta.close()
    return asyncio.run(edit())


def _request_ids(*responses: dict) -> list[str]:
    return [r["ResponseMetadata"]["RequestId"] for r in responses]


def test_export_and_stdout(tmp_path: Path, request: pytest.FixtureRequest, meta_backend: str) -> None:
    export = tmp_path / "trail"
    srv = StoreroomServer(tmp_path / "data", workers=2, extra_args=["--audit-export", str(export), "--audit-stdout"],
                          meta_url=meta_url_for(request, meta_backend))
    srv.start()
    try:
        s3 = make_client(srv.endpoint)
        bucket = unique_name("exp")
        ids = _request_ids(s3.create_bucket(Bucket=bucket), s3.put_object(Bucket=bucket, Key="k", Body=b"x"),
                           make_client(srv.endpoint, service="iam").list_users())
        time.sleep(1.5)
    finally:
        srv.stop()  # a clean stop publishes the open files
    records = _exported(export)
    by_request = {r["requestID"]: r for r in records}
    assert set(ids) <= set(by_request)
    assert len(by_request) == len(records)  # each event once, whatever worker wrote it
    assert by_request[ids[1]]["eventName"] == "PutObject" and by_request[ids[2]]["eventName"] == "ListUsers"
    assert not list((export / ".incoming").iterdir())
    lines = [json.loads(line) for line in srv.log_path.read_text().splitlines() if line.startswith('{"eventVersion"')]
    assert {r["requestID"] for r in lines} >= set(ids)
    assert {r["eventID"] for r in lines} == {r["eventID"] for r in records}


def test_sync_keeps_events_through_kill_9_and_export_is_finished(tmp_path: Path, request: pytest.FixtureRequest,
                                                                 meta_backend: str) -> None:
    export = tmp_path / "trail"
    srv = StoreroomServer(tmp_path / "data", workers=1, extra_args=["--audit-sync", "--audit-export", str(export)],
                          meta_url=meta_url_for(request, meta_backend))
    srv.start()
    try:
        s3 = make_client(srv.endpoint)
        bucket = unique_name("sync")
        ids = _request_ids(s3.create_bucket(Bucket=bucket), s3.put_object(Bucket=bucket, Key="k", Body=b"x"))
        with_error = None
        try:
            s3.get_object(Bucket=bucket, Key="missing")
        except ClientError as err:
            with_error = err.response["ResponseMetadata"]["RequestId"]
        srv.kill9()  # at once: nothing had time to be flushed in the background
        assert list((export / ".incoming").iterdir())  # the export file was left unfinished
        srv.start()
        trail = make_client(srv.endpoint, service="cloudtrail")
        found = {json.loads(e["CloudTrailEvent"])["requestID"] for page in
                 trail.get_paginator("lookup_events").paginate() for e in page["Events"]}
        assert set(ids) | {with_error} <= found
        # the next start published what the crash left
        assert set(ids) | {with_error} <= {r["requestID"] for r in _exported(export)}
    finally:
        srv.stop()


def test_retention_prunes_old_events(tmp_path: Path, request: pytest.FixtureRequest, meta_backend: str) -> None:
    srv = StoreroomServer(tmp_path / "data", workers=1, meta_url=meta_url_for(request, meta_backend))
    srv.start()
    trail = make_client(srv.endpoint, service="cloudtrail")
    trail.lookup_events()
    srv.stop()
    assert _age_events(srv, 2 * 86400) >= 1  # every event stored so far, two days older
    srv.extra_args = ["--audit-retention-days", "1"]
    srv.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            events = [e for page in trail.get_paginator("lookup_events").paginate() for e in page["Events"]]
            if all(e["EventTime"].timestamp() > time.time() - 86400 for e in events):
                break
            time.sleep(0.5)
        assert events and all(e["EventTime"].timestamp() > time.time() - 86400 for e in events)
    finally:
        srv.stop()
