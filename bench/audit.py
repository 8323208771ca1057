"""The cost of the audit trail, measured in-process: ``python -m bench.audit``.

1. **Recording on the request path**: ``App._audit`` (what every request pays: one tuple of references appended
   to the queue), timed alone; and a 4 KiB presigned GET through the whole ASGI app with the audit log on and
   off, alternating in rounds (as ``bench/authz.py`` does).
2. **Off the request path**: what the audit writer thread spends per event (building the CloudTrail record,
   inserting it with its lookup columns and indexes), on entries of real requests.
3. **LookupEvents with 1,000,000 stored events**: the first page (50 events, the CloudTrail response built) of a
   lookup by each attribute, through ``CloudTrailService.lookup_events``; the events are generated straight into
   the database (200 users, 50 buckets, a mix of S3 data events and IAM management events over 30 days).
4. **``--audit-sync``**: 4 KiB GETs and PUTs, 16 at a time, with the event committed before each response vs
   queued as usual.

A real data dir is prepared through the real API first (``StoreroomTarget``: account, bucket, object).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from bench.authz import presigned_scope
from bench.targets import ACCESS_KEY, BUCKET, HOST, SECRET_KEY, StoreroomTarget

KEY = "obj-4k"


def prepare(workdir: Path) -> StoreroomTarget:
    target = StoreroomTarget(workdir, workers=1)
    target.start()
    try:
        target.client.put_object(Bucket=BUCKET, Key=KEY, Body=os.urandom(4096))
        return target
    finally:
        target.stop()


async def open_app(data_dir: Path, **settings: Any) -> Any:
    from storeroom.config import Settings
    from storeroom.http.app import App
    os.environ["STOREROOM_DATA_DIR"] = str(data_dir)
    base = Settings.from_env()
    app = App(Settings(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **settings}))
    await app.open()
    return app


class _Client:
    """An ASGI request in-process: scope + receive + send, status collected."""

    def __init__(self, app: Any, scope: dict[str, Any], body: bytes = b"") -> None:
        self.app, self.scope, self.body = app, scope, body
        self.statuses: list[int] = []

    async def request(self) -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append(message["status"])
        await self.app.handle(self.scope, receive, send)


# -- 1. recording ------------------------------------------------------------------------------------------------

async def recording(app: Any, scope: dict[str, Any], rounds: int, n: int) -> dict[str, float]:
    client = _Client(app, scope)
    await client.request()
    audit = app.audit
    await audit.flush()
    # one real request's context, to time _audit alone
    from storeroom.http.context import Context
    from storeroom.http.types import Request, Response

    async def receive() -> dict[str, Any]:
        return {}
    request = Request(scope, receive)
    resolved = await app.credentials.resolve(ACCESS_KEY)
    assert resolved is not None
    principal = resolved[1]
    ctx = Context(request, "s3", principal, None, None, "us-east-1", operation="GetObject", bucket=BUCKET, key=KEY)
    response = Response(200, [("content-length", "4096")], b"x" * 4096)

    def one() -> None:
        app._audit(request, ctx, response, time.time())
    alone = []
    for _ in range(rounds):
        audit._pending.clear()
        alone.append(timeit.timeit(one, number=n) / n * 1e6)
    audit._pending.clear()

    async def run(on: bool) -> float:
        app.audit = audit if on else None
        t0 = time.perf_counter()
        for _ in range(n):
            await client.request()
        elapsed = (time.perf_counter() - t0) / n * 1e6
        app.audit = audit
        audit._pending.clear()
        return elapsed
    on, off = [], []
    for r in range(rounds):
        for flag in ((True, False) if r % 2 == 0 else (False, True)):
            (on if flag else off).append(await run(flag))
    if set(client.statuses) != {200}:
        raise RuntimeError(f"unexpected statuses {set(client.statuses)}")
    return {"alone": statistics.median(alone), "get_on": statistics.median(on), "get_off": statistics.median(off)}


# -- 2. the writer's work ----------------------------------------------------------------------------------------

async def writer_cost(app: Any, scope: dict[str, Any], n: int) -> dict[str, float]:
    client = _Client(app, scope)
    audit = app.audit
    await audit.flush()
    for _ in range(n):
        await client.request()
    entries, audit._pending = audit._pending, []

    async def job(conn: Any) -> tuple[float, float]:
        from storeroom.audit import events
        t0 = time.thread_time()
        as_parts = audit._files is None and audit._stdout is None  # as the writer builds them (log.py _build)
        for raw in entries:
            events.build(events.Entry._make(raw), audit.account_id, audit.host_id, as_parts=as_parts)
        t1 = time.thread_time()
        built = audit._build(entries, (), frozenset())
        row = await conn.one("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
        first = (row[0] if row else 0) + 1
        audit._export(await audit._insert(conn, built, range(first, first + len(built)), frozenset()))
        return t1 - t0, time.thread_time() - t1
    build, store = await audit.db.write(job)
    return {"build": build / n * 1e6, "store": store / n * 1e6}


# -- 3. lookups among 1,000,000 events ---------------------------------------------------------------------------

def generate(path: Path, total: int, account: str) -> dict[str, str]:
    """``total`` events straight into a fresh audit database; returns sample values to look up."""
    from storeroom.audit import postings
    from storeroom.audit.log import AuditLog, make_event_id
    log = AuditLog.sqlite(path, account, "HOST")
    salt = log._salt
    log.db.close_sync()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    indexes = [r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")]
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL").fetchall():
        conn.execute(f"DROP INDEX {name}")
    rng = random.Random(7)
    users = [f"user-{i:03d}" for i in range(200)]
    keys = {u: "AKIA" + f"{i:016d}" for i, u in enumerate(users)}
    buckets = [f"bucket-{i:02d}" for i in range(50)]
    names = ["GetObject"] * 50 + ["PutObject"] * 30 + ["HeadObject"] * 10 + ["ListObjects"] * 5 + \
        ["DeleteObject"] * 4 + ["CreateUser"]
    start = time.time() - 30 * 86400
    step = 30 * 86400 / total
    sample_object = ""
    conn.execute("BEGIN")
    for first in range(1, total + 1, 10_000):
        rows, keyed = [], []
        for row_id in range(first, min(first + 10_000, total + 1)):
            user, name = rng.choice(users), rng.choice(names)
            bucket, t = rng.choice(buckets), start + row_id * step
            s3 = name != "CreateUser"
            key = f"data/{row_id % 5000}.csv"
            record = {"eventVersion": "1.11", "userIdentity": {
                "type": "IAMUser", "principalId": "AIDA" + user, "arn": f"arn:aws:iam::{account}:user/{user}",
                "accountId": account, "accessKeyId": keys[user], "userName": user},
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
                "eventSource": "s3.amazonaws.com" if s3 else "iam.amazonaws.com", "eventName": name,
                "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.10",
                "userAgent": "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux lang/python#3.11.7",
                "requestParameters": ({"bucketName": bucket, "Host": "s3.example:9000", "key": key} if s3 else
                                      {"userName": f"new-{row_id}"}),
                "responseElements": None,
                "requestID": f"{row_id:016X}", "eventID": make_event_id(salt, row_id), "readOnly": name[:3] in
                ("Get", "Hea", "Lis"), "eventType": "AwsApiCall", "managementEvent": not s3,
                "recipientAccountId": account, "eventCategory": "Data" if s3 else "Management"}
            if s3:
                resources = [("AWS::S3::Object", f"arn:aws:s3:::{bucket}/{key}"), ("AWS::S3::Bucket", bucket)]
                if row_id >= total // 2 and not sample_object:
                    sample_object = f"arn:aws:s3:::{bucket}/{key}"
            else:
                resources = [("AWS::IAM::User", f"new-{row_id}")]
            rows.append((row_id, t, name, record["eventSource"], int(record["readOnly"]), int(not s3), user,
                         keys[user], json.dumps(record, separators=(",", ":")), json.dumps(resources)))
            keyed.append((row_id, t, not s3, postings.keys_of(name, record["eventSource"], record["readOnly"], user,
                                                               keys[user], resources)))
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany(postings.INSERT, postings.build(keyed))
    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'events'", (total,))
    if conn.execute("SELECT changes()").fetchone()[0] == 0:
        conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('events', ?)", (total,))
    conn.execute("COMMIT")
    for sql in indexes:
        conn.execute(sql)
    conn.execute("ANALYZE")
    conn.close()
    return {"Username": "user-042", "AccessKeyId": keys["user-042"], "EventName": "CreateUser",
            "ResourceName": "bucket-07", "EventSource": "iam.amazonaws.com", "ResourceType": "AWS::IAM::User",
            "ReadOnly": "false", "EventId": make_event_id(salt, total // 2),
            "ResourceName (object)": sample_object}


async def lookups(path: Path, samples: dict[str, str], account: str, repeat: int) -> dict[str, tuple[float, float]]:
    from storeroom.audit.log import AuditLog
    from storeroom.cloudtrail import CloudTrailService
    log = AuditLog.sqlite(path, account, "HOST")
    service = CloudTrailService(log, None)  # type: ignore[arg-type]
    queries: dict[str, dict[str, Any]] = {"(none)": {}, "(none), EventCategory=Management": {
        "EventCategory": "Management"}}
    for label, value in samples.items():
        queries[label] = {"LookupAttributes": [{"AttributeKey": label.split(" ")[0], "AttributeValue": value}]}
    queries["Username, last week"] = {**queries["Username"], "StartTime": time.time() - 7 * 86400}
    results: dict[str, tuple[float, float]] = {}
    try:
        for label, params in queries.items():
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                page = await service.lookup_events(None, {**params, "MaxResults": 50})  # type: ignore[arg-type]
                times.append((time.perf_counter() - t0) * 1000)
                if not page["Events"]:
                    raise RuntimeError(f"no events for {label}")
            results[label] = (times[0], statistics.median(times))
    finally:
        await log.db.close()
    return results


# -- 4. --audit-sync ------------------------------------------------------------------------------------------------

async def sync_cost(data_dir: Path, port: int, n: int, concurrency: int) -> dict[str, dict[str, float]]:
    from urllib.parse import urlsplit

    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def put_scope(i: int) -> dict[str, Any]:
        req = AWSRequest(method="PUT", url=f"http://{HOST}:{port}/{BUCKET}/sync-{i % 64}")
        S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1", expires=3600).add_auth(req)
        url = urlsplit(req.url)
        return {"type": "http", "method": "PUT", "path": url.path, "raw_path": url.path.encode(),
                "query_string": url.query.encode(), "headers": [(b"host", f"{HOST}:{port}".encode()),
                                                               (b"content-length", b"4096")],
                "client": ("127.0.0.1", 40000), "scheme": "http", "http_version": "1.1"}
    get = presigned_scope(port, ACCESS_KEY, SECRET_KEY)
    body = os.urandom(4096)
    out: dict[str, dict[str, float]] = {}
    for sync in (False, True):
        app = await open_app(data_dir, audit_sync=sync)
        app.audit.start()
        try:
            for label, scopes in (("GET", [get] * concurrency), ("PUT", [put_scope(i) for i in range(concurrency)])):
                clients = [_Client(app, s, body if label == "PUT" else b"") for s in scopes]
                latencies: list[float] = []
                await asyncio.gather(*(_timed(c, n // concurrency, latencies) for c in clients[:2]))  # warm-up
                latencies.clear()
                t0 = time.perf_counter()
                await asyncio.gather(*(_timed(c, n // concurrency, latencies) for c in clients))
                elapsed = time.perf_counter() - t0
                if any(s != 200 for c in clients for s in c.statuses):
                    raise RuntimeError(f"{label}: unexpected statuses")
                out[f"{label} {'sync' if sync else 'queued'}"] = {
                    "per_s": len(latencies) / elapsed, "p50_us": statistics.median(latencies)}
        finally:
            await app.close()
    return out


async def _timed(client: _Client, n: int, latencies: list[float]) -> None:
    for _ in range(n):
        t0 = time.perf_counter()
        await client.request()
        latencies.append((time.perf_counter() - t0) * 1e6)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="storeroom-audit-", dir=args.tmp_dir) as tmp:
        target = prepare(Path(tmp))
        app = await open_app(target.data_dir)
        try:
            scope = presigned_scope(target.port, ACCESS_KEY, SECRET_KEY)
            rec = await recording(app, scope, args.rounds, args.requests)
            cost = await writer_cost(app, scope, args.requests)
            account = app.account_id
        finally:
            await app.close()
        print(f"Recording on the request path (App._audit alone): {rec['alone']:.2f} µs per request (goal ≤ 2 µs)")
        difference = rec["get_on"] - rec["get_off"]
        print(f"4 KiB GET in-process ({args.rounds} rounds × {args.requests}, medians): audit on "
              f"{rec['get_on']:.1f} µs, off {rec['get_off']:.1f} µs, difference {difference:+.1f} µs")
        print(f"Audit writer thread per event: build the record {cost['build']:.1f} µs, build + store with lookup rows "
              f"{cost['store']:.1f} µs (CPU time of the writer thread)")
        if not args.skip_sync:
            sync = await sync_cost(target.data_dir, target.port, args.sync_requests, 16)
            for label, v in sync.items():
                print(f"--audit-sync: {label}: {v['per_s']:,.0f} requests/s, p50 latency {v['p50_us']:,.0f} µs")
        if args.events:
            db = Path(tmp) / "lookup" / "audit.sqlite3"
            db.parent.mkdir()
            t0 = time.perf_counter()
            samples = generate(db, args.events, account)
            print(f"Generated {args.events:,} events in {time.perf_counter() - t0:.0f} s "
                  f"({db.stat().st_size / args.events:,.0f} bytes per event on disk, lookup rows included)")
            for label, (cold, warm) in (await lookups(db, samples, account, 5)).items():
                print(f"LookupEvents first page (50 events), {label}: first {cold:.1f} ms, median {warm:.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--events", type=int, default=1_000_000, help="events stored for the lookup measure (0: skip)")
    p.add_argument("--sync-requests", type=int, default=1600)
    p.add_argument("--skip-sync", action="store_true")
    p.add_argument("--tmp-dir", default=None)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
