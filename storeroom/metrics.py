"""``GET /_storeroom/metrics``: Prometheus text format, with the ``prometheus-client`` library.

Across workers: prometheus-client's multiprocess mode.  ``storeroom serve`` sets ``PROMETHEUS_MULTIPROC_DIR``
(``DATA_DIR/metrics``, emptied at start) before the workers import the library; each worker writes its
counters to memory-mapped files there, and a scrape, answered by whichever worker gets it, sums every worker's
files (``MultiProcessCollector``).  Counters of a worker that died stay counted (they are totals); its live
gauge (``storeroom_workers``) is removed when a scrape finds its process gone.

Cost on the request path: a multiprocess counter or histogram update takes a lock and writes the mapped file,
about 12 µs for the four series a request touches (``python -m bench.metrics``).  So a request only adds to
plain per-process dictionaries (:meth:`RequestMetrics.observe`, ~1-2 µs), and the worker flushes them into
prometheus-client once a second and before answering a scrape: another worker's last second may be missing
from a scrape, never lost.

Label values are bounded: a service outside S3/IAM/STS/CloudTrail is ``other``, an operation that is not in
S3's operation table or the other service's botocore model ``Unknown``, AccessDenied is counted by principal
ARN (IAM users and the root; every anonymous or unauthenticated caller is ``anonymous``).

Computed at scrape time from the metadata store, cheaply: access keys (by status, and active ones older than
``--key-max-age-days``) from the ``access_keys`` table, objects and bytes per bucket from the counts the
triggers of storeroom/store/bucket_stats.py keep (one row per bucket, no scan of the objects).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.mmap_dict import _INITIAL_MMAP_SIZE, MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from storeroom import query
from storeroom.store import bucket_stats
from storeroom.store.meta import MetaStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FLUSH_INTERVAL = 1.0
SERVICES = ("s3", "iam", "sts", "cloudtrail")
ANONYMOUS = "anonymous"
# Latency buckets (seconds): a small GET takes well under a millisecond of server time, a large PUT seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                   60.0)

log = logging.getLogger(__name__)
_REGISTRY = CollectorRegistry(auto_describe=False)  # our metrics only, not prometheus-client's process ones
REQUESTS = Counter("storeroom_requests", "Requests answered, by service, operation and HTTP status",
                   ["service", "operation", "status"], registry=_REGISTRY)
LATENCY = Histogram("storeroom_request_duration_seconds",
                    "Time from a request's first byte to the end of its response, by service and operation",
                    ["service", "operation"], buckets=LATENCY_BUCKETS, registry=_REGISTRY)
BYTES_IN = Counter("storeroom_request_body_bytes", "Request body bytes received, by service and operation",
                   ["service", "operation"], registry=_REGISTRY)
BYTES_OUT = Counter("storeroom_response_body_bytes", "Response body bytes sent, by service and operation",
                    ["service", "operation"], registry=_REGISTRY)
DENIED = Counter("storeroom_access_denied", "Requests answered AccessDenied, by principal ARN "
                 "(anonymous and unauthenticated callers: 'anonymous')", ["principal"], registry=_REGISTRY)
WORKERS = Gauge("storeroom_workers", "Worker processes serving", registry=_REGISTRY, multiprocess_mode="livesum")


class _AllocatedMmapedDict(MmapedDict):
    """prometheus-client's memory-mapped values file, with its blocks allocated before they are mapped.  Its
    files are sparse: on a full disk the first write into a page nobody wrote yet is SIGBUS, which killed a
    worker on its next new series (a HEAD, a DeleteObject: even the request meant to free space), and the
    supervisor's replacements at once after it.  Allocated first, a full disk is an OSError (ENOSPC) instead:
    the metrics of that flush are lost, the worker goes on."""

    def __init__(self, filename: str, read_mode: bool = False) -> None:
        if not read_mode and _ALLOCATE:
            with open(filename, "a+b") as f:
                os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size or _INITIAL_MMAP_SIZE)
        super().__init__(filename, read_mode)  # type: ignore[no-untyped-call]

    def _init_value(self, key: str) -> None:
        encoded = len(key.encode("utf-8"))
        size = 4 + encoded + (8 - (encoded + 4) % 8) + 16   # as the parent lays an entry out
        capacity = self._capacity
        while self._used + size > capacity:
            capacity *= 2
        if capacity != self._capacity and _ALLOCATE:
            os.posix_fallocate(self._f.fileno(), 0, capacity)
        super()._init_value(key)  # type: ignore[no-untyped-call]


_ALLOCATE = hasattr(os, "posix_fallocate")  # (Linux and most Unixes; elsewhere the files stay sparse)
values.MmapedDict = _AllocatedMmapedDict  # type: ignore[attr-defined]  # (looked up there at each file opened)


def multiprocess_dir() -> Path | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path else None


@cache
def known_operations(service: str) -> frozenset[str]:
    """The only operation label values allowed: S3's are its operation table's names (all its router gives);
    IAM's, STS's and CloudTrail's their botocore model's (their ``Action`` is whatever the caller wrote)."""
    if service == "s3":
        from storeroom.s3.operations import OPERATIONS
        return frozenset(op.name for op in OPERATIONS)
    return frozenset(query.service_model(service).operation_names)


def label_service(service: str) -> str:
    return service if service in SERVICES else "other"


class RequestMetrics:
    """One worker's request counts, aggregated in plain dictionaries and flushed into prometheus-client."""

    __slots__ = ("_requests", "_latency", "_bytes", "_denied", "_known", "_task")

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}   # count per bucket (+Inf last), then the sum
        self._bytes: dict[tuple[str, str], list[int]] = {}       # [received, sent]
        self._denied: dict[str, int] = {}
        # filled at each service's first request, when its handler has read the model: reading all four at
        # start cost each worker ~0.15 s
        self._known: dict[str, frozenset[str]] = {}
        self._task: asyncio.Task[None] | None = None

    def observe(self, service: str, operation: str, status: int, seconds: float, received: int, sent: int,
                denied: str | None) -> None:
        """One answered request (the hot path: dictionary updates only).  ``denied`` is the principal ARN of
        an AccessDenied answer (``anonymous`` for anyone unauthenticated), else None."""
        known = self._known.get(service)
        if known is None and service in SERVICES:
            known = self._known[service] = known_operations(service)
        if known is None:
            service, operation = "other", "Unknown"
        elif operation not in known:
            operation = "Unknown"
        key = (service, operation, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        op = (service, operation)
        histogram = self._latency.get(op)
        if histogram is None:
            histogram = self._latency[op] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        histogram[bisect_left(LATENCY_BUCKETS, seconds)] += 1   # bucket i counts le=LATENCY_BUCKETS[i]
        histogram[-1] += seconds
        if received or sent:
            counts = self._bytes.get(op)
            if counts is None:
                counts = self._bytes[op] = [0, 0]
            counts[0] += received
            counts[1] += sent
        if denied is not None:
            self._denied[denied] = self._denied.get(denied, 0) + 1

    def flush(self) -> None:
        """Adds what was observed since the last flush to prometheus-client's (memory-mapped) values."""
        requests, self._requests = self._requests, {}
        latency, self._latency = self._latency, {}
        sizes, self._bytes = self._bytes, {}
        denied, self._denied = self._denied, {}
        for (service, operation, status), n in requests.items():
            REQUESTS.labels(service, operation, str(status)).inc(n)
        for (service, operation), histogram in latency.items():
            _add_to_histogram(LATENCY.labels(service, operation), histogram)
        for (service, operation), (received, sent) in sizes.items():
            if received:
                BYTES_IN.labels(service, operation).inc(received)
            if sent:
                BYTES_OUT.labels(service, operation).inc(sent)
        for principal, n in denied.items():
            DENIED.labels(principal).inc(n)

    # -- worker lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        WORKERS.set(1)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                self.flush()
            except OSError as exc:  # a full disk (see _AllocatedMmapedDict): this second's counts are lost
                log.warning("metrics not recorded: %s", exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.flush()
        path = multiprocess_dir()
        if path is not None:
            mark_process_dead(os.getpid(), str(path))  # type: ignore[no-untyped-call]


def _add_to_histogram(child: Histogram, counts: list[float]) -> None:
    """Adds per-bucket counts and a sum at once.  prometheus-client offers only ``observe(value)``; its
    histogram keeps one value per bucket (non-cumulative) and the sum, which are added to here.  The library is
    pinned below 1.0 and tests/unit/test_metrics.py compares this with ``observe``."""
    buckets = child._buckets  # private: see above
    for i, n in enumerate(counts[:-1]):
        if n:
            buckets[i].inc(n)
    child._sum.inc(counts[-1])


# -- the scrape ----------------------------------------------------------------------------------------------

_PID_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db")


def reap_dead_workers(path: Path) -> None:
    """Removes the live gauges of workers that are gone (killed, crashed: they could not say so themselves)."""
    for entry in path.glob("gauge_live*.db"):
        found = _PID_FILE.fullmatch(entry.name)
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, someone else's (cannot happen in our own data dir, but never remove a live one)


class _Registered(Collector):
    """This process's own metrics (single-process mode: no PROMETHEUS_MULTIPROC_DIR, e.g. an in-process app)."""

    def collect(self) -> Iterable[Metric]:
        return _REGISTRY.collect()


class StoreCollector(Collector):
    """Gauges read from the metadata store at scrape time (read before the scrape is rendered: the store is
    asynchronous, prometheus-client's collectors are not)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


async def store_gauges(meta: MetaStore, key_max_age_days: int) -> list[Metric]:
    conn = meta.db.read
    keys = GaugeMetricFamily("storeroom_access_keys", "Access keys, by status", labels=["status"])
    counted: dict[str, int] = dict(await conn.all("SELECT status, count(*) FROM access_keys GROUP BY status"))
    for status in ("Active", "Inactive"):
        keys.add_metric([status], counted.get(status, 0))
    cutoff = time.time() - key_max_age_days * 86400.0
    old = await conn.value("SELECT count(*) FROM access_keys WHERE status = 'Active' AND created <= ?", (cutoff,))
    over = GaugeMetricFamily("storeroom_access_keys_over_max_age",
                             f"Active access keys older than --key-max-age-days ({key_max_age_days})", value=old)
    objects = GaugeMetricFamily("storeroom_bucket_objects", "Objects in the bucket", labels=["bucket"])
    size = GaugeMetricFamily("storeroom_bucket_bytes", "Bytes of the objects in the bucket", labels=["bucket"])
    for bucket, count, total in await bucket_stats.per_bucket(conn):
        objects.add_metric([bucket], count)
        size.add_metric([bucket], total)
    return [keys, over, objects, size]


async def scrape(own: RequestMetrics, meta: MetaStore, key_max_age_days: int) -> bytes:
    """The text exposition: every worker's request metrics, and the store's gauges."""
    gauges = await store_gauges(meta, key_max_age_days)
    own.flush()
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path is not None:
        reap_dead_workers(path)
        MultiProcessCollector(registry, str(path))  # type: ignore[no-untyped-call]
    else:
        registry.register(_Registered())
    registry.register(StoreCollector(gauges))
    return generate_latest(registry)
