"""The audit log on a real SQLite file: entries queued as a request leaves them, events built in CloudTrail's
shape, looked up newest first by attribute, pruned after the retention period; CloudTrail log files finished
after a crash; event ids that map back to their rows."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from storeroom.audit import events
from storeroom.audit.export import CloudTrailFiles, recover
from storeroom.audit.log import AuditLog, AuditOptions, make_event_id, parse_event_id
from storeroom.http.context import Context
from storeroom.http.types import Request, Response
from storeroom.identity import Principal, anonymous
from storeroom.store.backend import open_audit_db
from tests.pg import PostgresCluster
from tests.unit.conftest import Harness

ACCOUNT = "123456789012"
ROOT = Principal("Root", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, None, "AKIAIOSFODNN7EXAMPLE")
ALICE = Principal("IAMUser", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/alice", "AIDAALICE", "alice", "AKIAALICE")


def _request(method: str = "GET", path: str = "/b/k", query: str = "") -> Request:
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "headers": [(b"host", b"localhost:9000"), (b"user-agent", b"test/1")],
             "client": ("192.0.2.7", 5000), "http_version": "1.1"}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}
    return Request(scope, receive)


def _entry(operation: str, principal: Principal = ROOT, *, bucket: str | None = "b", key: str | None = "k",
           status: int = 200, error: str | None = None, when: float | None = None) -> tuple[Any, ...]:
    """What a request leaves on its way out (events.capture)."""
    request = _request()
    ctx = Context(request, "s3", principal, None, None, "us-east-1")
    ctx.operation, ctx.bucket, ctx.key = operation, bucket, key
    response = Response(status, [], b"", error_code=error, error_message="message" if error else None)
    t = time.time() if when is None else when
    return events.capture(request, ctx, response, t, t)


def test_s3_event_shape() -> None:
    event = events.build(events.Entry._make(_entry("GetObject", ALICE, status=404, error="NoSuchKey")), ACCOUNT,
                         "HOSTID")
    record = event.record
    assert record["eventSource"] == "s3.amazonaws.com" and record["eventName"] == "GetObject"
    assert record["userIdentity"] == {"type": "IAMUser", "principalId": "AIDAALICE", "arn": ALICE.arn,
                                      "accountId": ACCOUNT, "accessKeyId": "AKIAALICE", "userName": "alice"}
    assert record["errorCode"] == "NoSuchKey" and record["readOnly"] is True
    assert record["requestParameters"] == {"bucketName": "b", "Host": "localhost:9000", "key": "k"}
    assert record["eventCategory"] == "Data" and record["managementEvent"] is False
    assert record["resources"] == [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/k"},
                                   {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::b"}]
    assert event.username == "alice" and event.lookup_resources[1] == ("AWS::S3::Bucket", "b")


def test_anonymous_and_bucket_level_events() -> None:
    event = events.build(events.Entry._make(
        _entry("CreateBucket", anonymous(ACCOUNT), key=None, status=403, error="AccessDenied")), ACCOUNT, "H")
    assert event.record["userIdentity"] == {"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"}
    assert event.management and event.record["eventCategory"] == "Management"
    assert "SignatureVersion" not in event.record["additionalEventData"]


def test_an_s3_record_made_from_its_stored_parts_is_the_record_built_at_once() -> None:
    """The audit writer stores an S3 event as its parts and makes its record when it is read (events.expand):
    for every kind of S3 request, that record is byte for byte the one built at once (which the exports write)."""
    plain = [_entry("GetObject", ALICE, status=404, error="NoSuchKey"),
             _entry("CreateBucket", anonymous(ACCOUNT), key=None, status=403, error="AccessDenied"),
             _entry("ListBuckets", ROOT, bucket=None, key=None),
             _entry("GetObject", ROOT, key="bad-\ud800-key \u00e9"),
             _entry(None, ROOT)]  # type: ignore[arg-type]  # refused before the operation was known
    entries = [events.Entry._make(raw) for raw in plain]
    listing = entries[2]._replace(operation="ListObjectsV2", bucket="b", key=None,
                                  args={"list-type": "2", "prefix": "a/", "X-Amz-Signature": "00"})
    entries += [
        entries[0]._replace(presigned=True), entries[0]._replace(presigned=False),
        entries[0]._replace(signature_version="AWS", args={"Signature": "x", "AWSAccessKeyId": "AKIA"}),
        entries[0]._replace(signature_version="AWS", presigned=None), listing,
        entries[0]._replace(received=12, sent=2**40, error_message=None),
    ]
    for entry in entries:
        whole = events.build(entry, ACCOUNT, "HOSTID")
        parted = events.build(entry, ACCOUNT, "HOSTID", as_parts=True)
        assert parted.parts is not None and parted.record == {} and whole.parts is None
        assert (parted.name, parted.source, parted.read_only, parted.management, parted.username,
                parted.access_key_id, parted.lookup_resources, parted.bucket, parted.status) == \
               (whole.name, whole.source, whole.read_only, whole.management, whole.username, whole.access_key_id,
                whole.lookup_resources, whole.bucket, whole.status)
        whole.record["eventID"] = "e1d"
        stored = events.dumps(parted.parts)
        assert stored.startswith("[") and events.expand(stored, ACCOUNT, "e1d") == events.dumps(whole.record)
    assert events.expand('{"eventName":"x"}', ACCOUNT, "e1d") == '{"eventName":"x"}'  # stored whole: as is


def test_stored_records_keep_cloudtrails_member_order_and_valid_text(metadata: Harness) -> None:
    """Records are built in CloudTrail's order (eventID after requestID) and stored as compact JSON; a lone
    surrogate a client sent (which orjson refuses) is stored as U+FFFD by the standard library's encoder."""
    from storeroom.audit.log import _ORDER
    log = _log(metadata)

    async def scenario() -> list[Any]:
        log.record(_entry("PutObject", ALICE, status=403, error="AccessDenied"))
        log.record(_entry("GetObject", ROOT, key="bad-\ud800-key"))
        await log.flush()
        stored = await log.lookup(None, None, start=0, end=time.time() + 1, management_only=False, after=None,
                                  limit=50)
        await log.close()
        return stored

    newest, oldest = metadata.run(scenario())
    for stored in (newest, oldest):
        assert ", " not in stored.record and '": ' not in stored.record  # compact
        names = list(json.loads(stored.record))
        assert names == [n for n in _ORDER if n in names] and "eventID" in names and "errorCode" not in names[:7]
    key = json.loads(newest.record)["requestParameters"]["key"]
    assert key.startswith("bad-\ufffd") and key.endswith("-key") and "\ud800" not in key
    assert json.loads(oldest.record)["errorCode"] == "AccessDenied"


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _log(metadata: Harness, options: AuditOptions | None = None) -> AuditLog:
    """An audit log on the test's backend: its own SQLite file, or the PostgreSQL database's tables."""
    return metadata.run(AuditLog.open(open_audit_db(metadata.data_dir, metadata.meta), metadata.data_dir, ACCOUNT,
                                      "H", options))


def test_lookup_newest_first_by_attribute_and_pages(metadata: Harness) -> None:
    log = _log(metadata)

    async def scenario() -> list[Any]:
        now = time.time()
        for i in range(5):
            log.record(_entry("PutObject", ALICE if i % 2 else ROOT, key=f"k{i}", when=now - 10 + i))
        await log.flush()
        everything = await log.lookup(None, None, start=0, end=now + 1, management_only=False, after=None, limit=50)
        alice = await log.lookup("Username", "alice", start=0, end=now + 1, management_only=False, after=None, limit=50)
        first = await log.lookup(None, None, start=0, end=now + 1, management_only=False, after=None, limit=2)
        rest = await log.lookup(None, None, start=0, end=now + 1, management_only=False,
                          after=(first[-1].time, first[-1].id), limit=50)
        by_object = await log.lookup("ResourceName", "arn:aws:s3:::b/k3", start=0, end=now + 1, management_only=False,
                               after=None, limit=50)
        by_id = await log.lookup("EventId", everything[2].event_id, start=0, end=now + 1, management_only=False,
                           after=None, limit=50)
        mgmt = await log.lookup(None, None, start=0, end=now + 1, management_only=True, after=None, limit=50)
        await log.close()
        return [everything, alice, first, rest, by_object, by_id, mgmt]

    everything, alice, first, rest, by_object, by_id, mgmt = metadata.run(scenario())
    keys = [json.loads(e.record)["requestParameters"]["key"] for e in everything]
    assert keys == ["k4", "k3", "k2", "k1", "k0"]
    assert [json.loads(e.record)["requestParameters"]["key"] for e in alice] == ["k3", "k1"]
    assert [e.id for e in first + rest] == [e.id for e in everything]
    assert [json.loads(e.record)["requestParameters"]["key"] for e in by_object] == ["k3"]
    assert [e.id for e in by_id] == [everything[2].id]
    assert json.loads(everything[2].record)["eventID"] == everything[2].event_id
    assert mgmt == []


def odd(key: str) -> tuple[Any, ...]:
    """An entry events.build cannot make an event of (no caller)."""
    broken = list(_entry("PutObject", ALICE, key=key))
    broken[events.Entry._fields.index("principal")] = None
    return tuple(broken)


def test_an_entry_that_cannot_be_built_leaves_the_rest_of_its_batch_stored(metadata: Harness) -> None:
    """Events are built one at a time into their rows (AuditLog._build, a generator): an odd entry is logged and
    skipped, the batch's other events keep their own ids and lookup rows, and a batch of nothing but odd entries
    stores nothing."""
    log = _log(metadata)

    async def scenario() -> tuple[list[Any], list[Any]]:
        now = time.time()
        for entry in [_entry("PutObject", ALICE, key="k0", when=now - 3), odd("bad"),
                      _entry("PutObject", ALICE, key="k2", when=now - 2)]:
            log.record(entry)
        await log.flush()
        log.record(odd("worse"))
        await log.flush()
        log.record(_entry("PutObject", ALICE, key="k4", when=now - 1))
        await log.flush()
        found = await log.lookup("Username", "alice", start=0, end=now + 1, management_only=False, after=None,
                                 limit=50)
        by_key = await log.lookup("ResourceName", "arn:aws:s3:::b/k2", start=0, end=now + 1,
                                  management_only=False, after=None, limit=50)
        await log.close()
        return found, by_key

    found, by_key = metadata.run(scenario())
    assert [json.loads(e.record)["requestParameters"]["key"] for e in found] == ["k4", "k2", "k0"]
    assert len({e.id for e in found}) == 3 and len({e.event_id for e in found}) == 3
    assert [e.id for e in by_key] == [found[1].id]


def test_a_batch_with_nothing_built_prints_nothing(metadata: Harness, capfd: pytest.CaptureFixture[str]) -> None:
    """``--audit-stdout``: a batch none of whose entries could be built prints no line (not an empty one); the
    next batch's event prints as one JSON line."""
    log = _log(metadata, AuditOptions(stdout=True))

    async def scenario() -> tuple[str, str]:
        log.record(odd("bad"))
        await log.flush()
        first = capfd.readouterr().out
        log.record(_entry("PutObject", ALICE, key="good"))
        await log.flush()
        await log.close()
        return first, capfd.readouterr().out

    nothing, one = metadata.run(scenario())
    assert nothing == ""
    [line] = one.splitlines()
    assert json.loads(line)["requestParameters"]["key"] == "good"


def test_prune_keeps_the_retention_period(metadata: Harness) -> None:
    log = _log(metadata, AuditOptions(retention_days=1))

    async def scenario() -> tuple[int, int, int]:
        now = time.time()
        log.record(_entry("PutObject", when=now - 3 * 86400))
        log.record(_entry("GetObject", when=now - 2 * 86400))
        log.record(_entry("HeadObject", when=now))
        await log.flush()
        deleted = await log.prune(now)
        left = len(await log.records())
        [survivor] = await log.lookup("ResourceName", "arn:aws:s3:::b/k", start=0, end=now + 1,
                                      management_only=False, after=None, limit=50)
        postings = await log.db.read.value("SELECT count(*) FROM event_postings WHERE last_time < ?",
                                           (now - 86400,))
        await log.close()
        return deleted, left, survivor.name, postings

    assert metadata.run(scenario()) == (2, 1, "HeadObject", 0)  # the survivor's lookup rows stay, the others go


def test_event_ids_map_back_and_cannot_be_forged() -> None:
    salt = os.urandom(10)
    ids = {make_event_id(salt, n) for n in range(1, 1000)}
    assert len(ids) == 999
    for n in (1, 77, 2**40):
        assert parse_event_id(salt, make_event_id(salt, n)) == n
    forged = make_event_id(salt, 5)[:-1] + ("0" if make_event_id(salt, 5)[-1] != "0" else "1")
    assert parse_event_id(salt, forged) is None and parse_event_id(salt, "not-a-uuid") is None


def test_export_file_finished_after_a_crash(tmp_path: Path) -> None:
    files = CloudTrailFiles(tmp_path, ACCOUNT, "us-east-1")
    files.add(['{"eventName":"A"}', '{"eventName":"B"}'], time.time())
    files.add(['{"eventName":"C"}'], time.time())
    [incoming] = (tmp_path / ".incoming").iterdir()
    with open(incoming, "ab") as f:  # a batch torn by the crash
        f.write(gzip.compress(b',{"eventName":"D"}')[:15])
    assert recover(tmp_path, ACCOUNT, "us-east-1") == 1
    [published] = (tmp_path / "AWSLogs").rglob("*.json.gz")
    assert [r["eventName"] for r in json.loads(gzip.decompress(published.read_bytes()))["Records"]] == ["A", "B", "C"]
    assert not list((tmp_path / ".incoming").iterdir())


def test_export_files_rotate_by_size_and_age(tmp_path: Path) -> None:
    files = CloudTrailFiles(tmp_path, ACCOUNT, "eu-west-1", rotate_seconds=300, rotate_bytes=100)
    now = time.time()
    files.add(['{"n":1}'], now)
    files.add(['{"n":2,"pad":"' + "x" * 120 + '"}'], now)  # past 100 bytes: published
    files.add(['{"n":3}'], now + 1)
    files.tick(now + 200)
    assert len(list((tmp_path / "AWSLogs").rglob("*.json.gz"))) == 1
    files.tick(now + 302)  # five minutes after the second file was opened
    published = sorted((tmp_path / "AWSLogs").rglob("*.json.gz"))
    assert len(published) == 2
    records = [r["n"] for p in published for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]
    assert sorted(records) == [1, 2, 3]
    for p in published:
        rel = p.relative_to(tmp_path).as_posix()
        assert rel.startswith(f"AWSLogs/{ACCOUNT}/CloudTrail/eu-west-1/"), rel
        assert p.name.startswith(f"{ACCOUNT}_CloudTrail_eu-west-1_") and p.name.endswith(".json.gz")


def test_old_batch_records_are_converted(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE batches (id INTEGER PRIMARY KEY, first_time REAL, last_time REAL, records TEXT)")
    old = [time.time(), "s3", "PutObject", "IAMUser", "AIDAALICE", ALICE.arn, ACCOUNT, "alice", "AKIAALICE",
           "us-east-1", "192.0.2.1", "ua", "b", "k", "REQ1", 200, None]
    conn.execute("INSERT INTO batches(first_time, last_time, records) VALUES (?, ?, ?)",
                 (old[0], old[0], json.dumps([old])))
    conn.commit()
    conn.close()

    async def scenario() -> list[Any]:
        log = AuditLog.sqlite(path, ACCOUNT, "H")
        found = await log.lookup("Username", "alice", start=0, end=time.time() + 1, management_only=False, after=None,
                           limit=50)
        await log.close()
        return found

    [event] = _run(scenario())
    record = json.loads(event.record)
    assert record["eventName"] == "PutObject" and record["userIdentity"]["userName"] == "alice"
    assert record["eventID"] == event.event_id and event.access_key_id == "AKIAALICE"


def test_audit_settings_reach_the_workers(tmp_path: Path, monkeypatch: Any) -> None:
    from storeroom.config import Settings
    settings = Settings(tmp_path, audit_retention_days=7, audit_sync=True, audit_export=tmp_path / "trail",
                        audit_stdout=True)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    again = Settings.from_env()
    assert (again.audit_retention_days, again.audit_sync, again.audit_export, again.audit_stdout) == (
        7, True, tmp_path / "trail", True)
    monkeypatch.setenv("STOREROOM_AUDIT_SYNC", "")
    monkeypatch.setenv("STOREROOM_AUDIT_EXPORT", "")
    assert not Settings.from_env().audit_sync and Settings.from_env().audit_export is None


OLD_LAYOUT = Path(__file__).with_name("schemas") / "audit-v1.sql"


def _old_rows(now: float) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Three events as the old layout stored them: (events rows, event_resources rows)."""
    s3, iam = "s3.amazonaws.com", "iam.amazonaws.com"
    obj, bucket = ("AWS::S3::Object", "arn:aws:s3:::b/k"), ("AWS::S3::Bucket", "b")
    listed = [(1, now - 30.25, "PutObject", s3, 0, 0, "alice", "AKIAALICE", [obj, bucket]),
              (2, now - 20.5, "CreateUser", iam, 0, 1, "root", "AKIAROOT", [("AWS::IAM::User", "bob")]),
              (3, now - 10.125, "GetObject", s3, 1, 0, "alice", "AKIAALICE", [obj, bucket])]
    events_rows = [(*e[:8], json.dumps({"eventName": e[2]})) for e in listed]
    resources = [(e[0] * 8 + i, e[1], kind, name) for e in listed for i, (kind, name) in enumerate(e[8])]
    return events_rows, resources


async def _lookups_after_conversion(log: AuditLog, now: float) -> None:
    async def ids(attribute: str | None, value: str | None, management_only: bool = False) -> list[int]:
        return [e.id for e in await log.lookup(attribute, value, start=0, end=now + 1,
                                               management_only=management_only, after=None, limit=50)]
    assert await ids(None, None) == [3, 2, 1]
    assert await ids("Username", "alice") == [3, 1]
    assert await ids("ResourceName", "b") == [3, 1] and await ids("ResourceType", "AWS::IAM::User") == [2]
    assert await ids(None, None, management_only=True) == [2] and await ids("ReadOnly", "true") == [3]
    assert await ids("EventSource", "iam.amazonaws.com") == [2] and await ids("AccessKeyId", "AKIAALICE") == [3, 1]
    [put] = await log.lookup("EventName", "PutObject", start=0, end=now + 1, management_only=False, after=None,
                             limit=50)
    assert put.time == now - 30.25 and put.resources == [("AWS::S3::Object", "arn:aws:s3:::b/k"),
                                                         ("AWS::S3::Bucket", "b")]
    [later] = await log.lookup(None, None, start=now - 25, end=now + 1, management_only=False, after=(now - 10.125, 3),
                               limit=50)
    assert later.id == 2
    log.record(_entry("HeadObject", ALICE))  # and new events join them
    await log.flush()
    assert await ids("Username", "alice") == [4, 3, 1]


def write_old_audit_file(path: Path, now: float) -> None:
    """An audit.sqlite3 of the layout before the postings, holding :func:`_old_rows`' three events."""
    conn = sqlite3.connect(path)
    conn.executescript(OLD_LAYOUT.read_text())
    rows, resources = _old_rows(now)
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.executemany("INSERT INTO event_resources VALUES (?, ?, ?, ?)", resources)
    conn.commit()
    conn.close()


def test_lookup_rows_of_the_older_layout_are_converted(tmp_path: Path) -> None:
    """An audit.sqlite3 of the layout before the postings: the same lookups find the same events."""
    path, now = tmp_path / "audit.sqlite3", time.time()
    write_old_audit_file(path, now)

    async def scenario() -> None:
        log = AuditLog.sqlite(path, ACCOUNT, "H")
        try:
            await _lookups_after_conversion(log, now)
        finally:
            await log.close()
    _run(scenario())
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert "event_resources" not in tables and "events_by_username" not in tables and "event_postings" in tables


def test_postgres_audit_version_1_gains_the_postings(tmp_path: Path, postgres: PostgresCluster) -> None:
    """A PostgreSQL database at audit version 1 with events: migrated to version 2, the same lookups find them."""
    from storeroom.store import pg_schema
    from storeroom.store.backend import open_meta

    url, now = postgres.database("audit1"), time.time()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE storeroom_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        conn.execute(pg_schema.AUDIT_V1.encode())
        conn.execute("INSERT INTO storeroom_schema VALUES ('audit', 1)")
        rows, resources = _old_rows(now)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
            cur.executemany("INSERT INTO event_resources VALUES (%s, %s, %s, %s)", resources)
        conn.execute("SELECT setval('events_id_seq', 3)")

    async def scenario() -> None:
        meta = await open_meta(tmp_path, url, migrate=True)
        log = await AuditLog.open(open_audit_db(tmp_path, meta), tmp_path, ACCOUNT, "H")
        try:
            await _lookups_after_conversion(log, now)
        finally:
            await log.close()
            await meta.close()
    _run(scenario())


def test_event_time_is_strftime_of_the_second() -> None:
    """eventTime texts are cached per second: the same text as strftime for any moment, the last instant of a
    second and moments before 1970 included."""
    import random
    rng = random.Random(14)
    moments = [0.0, -0.5, 1.9999999, 1764974400.0] + [rng.uniform(-1e9, 4.1e9) for _ in range(20000)]
    moments += [int(m) + 0.9999999 for m in moments[:500]]
    for t in moments:
        assert events.event_time(t) == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)), t


def test_a_configuration_document_is_recorded_whatever_its_values() -> None:
    """requestParameters' document: numbers only where JSON (orjson: 64-bit) holds them, text otherwise, and
    nothing a body holds may make the event fail (a 5,000-digit value did, in tests/e2e/test_fuzz_hostile.py)."""
    import orjson

    body = (b'<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a</Key><Value>'
            + b"9" * 30 + b"</Value></Tag><Tag><Key>b</Key><Value>" + b"7" * 5000 + b"</Value></Tag>"
            b"<Tag><Key>c</Key><Value>12</Value></Tag></TagSet></Tagging>")
    document = events._xml_document(body)
    tags = document["Tagging"]["TagSet"]["Tag"]
    assert [t["Value"] for t in tags] == ["9" * 30, "7" * 5000, 12]
    assert document["Tagging"]["xmlns"] == "http://s3.amazonaws.com/doc/2006-03-01/"
    orjson.dumps(document)
    events._xml_document(b"<a>" * 5000 + b"</a>" * 5000)  # deeper than Python recurses: no exception
