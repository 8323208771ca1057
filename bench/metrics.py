"""The per-request cost of the metrics on the hot path: ``python -m bench.metrics``.

Measured in prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set to a temporary folder, as
``storeroom serve`` does), in this process:

- ``direct``: what updating prometheus-client per request would cost (the request counter, the latency
  histogram and the two byte counters of one request: four locked writes to memory-mapped files);
- ``aggregated``: what Storeroom does instead (``RequestMetrics.observe``: dictionary updates) plus its share of
  the once-a-second flush, at a given number of distinct (service, operation, status) series;
- ``edge``: ``App._observe`` as the HTTP edge calls it after each response (the above plus reading the
  request and response), with a real ``Request``;
- ``triggers``: what keeping objects and bytes per bucket (storeroom/store/bucket_stats.py) adds to an object
  write on the SQLite writer thread: one ``INSERT OR REPLACE`` of a 4 KiB object's row (half new keys, half
  replacements) in its own transaction, with and without the triggers (``synchronous=OFF``: CPU, not fsync).

Medians of 5 runs; µs per request.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import tempfile
import time
import timeit

_DIR = tempfile.mkdtemp(prefix="storeroom-bench-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _DIR  # before prometheus-client is imported

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from storeroom import metrics  # noqa: E402
from storeroom.config import Settings  # noqa: E402
from storeroom.http.app import App  # noqa: E402
from storeroom.http.context import Context  # noqa: E402
from storeroom.http.types import Request, Response  # noqa: E402
from storeroom.identity import Principal  # noqa: E402
from storeroom.store import bucket_stats  # noqa: E402

N = 20_000
OPERATIONS = ("GetObject", "PutObject", "HeadObject", "ListObjectsV2", "DeleteObject")


def _median_us(fn: Any, n: int = N) -> float:
    return statistics.median(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6


def direct() -> float:
    def once() -> None:
        metrics.REQUESTS.labels("s3", "GetObject", "200").inc()
        metrics.LATENCY.labels("s3", "GetObject").observe(0.0012)
        metrics.BYTES_IN.labels("s3", "GetObject").inc(0)
        metrics.BYTES_OUT.labels("s3", "GetObject").inc(4096)
    return _median_us(once)


def aggregated() -> tuple[float, float]:
    """(observe alone, observe + flush amortized over 1,000 requests a second per worker)."""
    own = metrics.RequestMetrics()
    i = 0

    def once() -> None:
        nonlocal i
        i += 1
        own.observe("s3", OPERATIONS[i % 5], 200, 0.0012, 0, 4096, None)
    observe = _median_us(once)

    def second() -> None:  # one second's worth at 1,000 requests/s, then the flush
        for _ in range(1000):
            once()
        own.flush()
    with_flush = _median_us(second, 20) / 1000
    return observe, with_flush


def edge() -> float:
    app = App(Settings(data_dir=Path(_DIR)))
    app.metrics = metrics.RequestMetrics()
    scope = {"type": "http", "method": "GET", "path": "/bucket/key", "raw_path": b"/bucket/key",
             "query_string": b"", "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 4000)}

    async def receive() -> dict[str, Any]:
        return {}
    request = Request(scope, receive)
    principal = Principal("IAMUser", "123456789012", "arn:aws:iam::123456789012:user/u", "AIDAEXAMPLE", "u")
    context = Context(request, "s3", principal, None, None, "us-east-1", operation="GetObject")
    response = Response(200, [("content-length", "4096")], b"x" * 4096)
    return _median_us(lambda: app._observe(request, context, "s3", response))


def _object_writes(with_triggers: bool, n: int = 10_000) -> float:
    path = Path(_DIR) / f"triggers-{with_triggers}.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("CREATE TABLE buckets(name TEXT PRIMARY KEY, region TEXT, created REAL) WITHOUT ROWID")
    conn.execute("CREATE TABLE objects(bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT, "
                 "mtime REAL, doc TEXT, parts INTEGER DEFAULT 0, PRIMARY KEY (bucket, key)) WITHOUT ROWID")
    conn.execute("INSERT INTO buckets VALUES ('b', 'us-east-1', 0)")
    if with_triggers:
        bucket_stats.ensure(conn)
    doc = json.dumps({"b": [["0" * 32, 4096]], "h": {"content-type": "application/octet-stream"}, "c": None})
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR REPLACE INTO objects(bucket, key, size, etag, mtime, doc, parts) "
                     "VALUES (?, ?, ?, ?, ?, ?, 0)", ("b", f"key-{i % (n // 2):06d}", 4096, "e", 1.0, doc))
        conn.execute("COMMIT")
    elapsed = (time.perf_counter() - start) / n * 1e6
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return elapsed


def triggers() -> tuple[float, float]:
    runs = [(_object_writes(False), _object_writes(True)) for _ in range(5)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    d = direct()
    observe, with_flush = aggregated()
    e = edge()
    print(f"prometheus-client multiprocess, per request (4 series): {d:.2f} µs")
    print(f"RequestMetrics.observe: {observe:.2f} µs; with the flush amortized at 1,000 req/s: {with_flush:.2f} µs")
    print(f"App._observe (the edge's whole per-request metrics work): {e:.2f} µs")
    plain, counted = triggers()
    print(f"object row write: {plain:.1f} µs without the bucket_stats triggers, {counted:.1f} µs with "
          f"(+{counted - plain:.1f} µs)")
    for f in Path(_DIR).glob("*.db"):
        f.unlink()
    os.rmdir(_DIR)


if __name__ == "__main__":
    main()
