"""The workloads: each one runs against one started target and returns a ``Measurement``.

Load comes from cheap clients so that the server, not the client, is what is measured on a 2-core machine:
wrk replaying presigned URLs (4 KiB GET and PUT), bench/loadgen.py for HEAD (wrk cannot parse HEAD answers),
plain ``http.client`` over presigned URLs with 1 MiB writes/reads for large objects and listings, and boto3
(header-signed, threads) only as the comparison mode. Every loop is bounded in count and in time.
"""

from __future__ import annotations

import hashlib
import html
import http.client
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.targets import BUCKET, HOST, REPO_ROOT, Target, s3_client

KiB = 1024
MiB = 1024 * 1024
CHUNK = MiB
LUA_SCRIPT = Path(__file__).resolve().parent / "wrk" / "presigned.lua"
PRESIGN_EXPIRES_S = 6 * 3600
MAX_ERROR_FRACTION = 0.01  # a run with more failed requests than this is flagged as invalid
_PAYLOAD = os.urandom(CHUNK)  # incompressible 1 MiB block, repeated for large bodies


@dataclass
class Settings:
    """Sizes, counts and durations of the workloads (``--quick`` shrinks them)."""

    workdir: Path
    duration: float = 5.0
    connections: int = 16
    threads: int = 2
    small_size: int = 4 * KiB
    small_keys: int = 1000
    list_keys: int = 10_000
    page_size: int = 1000
    large_size: int = 64 * MiB
    large_reps: int = 3
    rss_size: int = 1024 * MiB
    max_list_passes: int = 100
    max_boto3_requests: int = 1_000_000


@dataclass
class Measurement:
    workload: str
    target: str
    round: int
    value: float  # the workload's headline figure, in ``unit``
    unit: str
    requests: int
    seconds: float
    errors: int = 0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.requests > 0 and self.errors <= MAX_ERROR_FRACTION * max(self.requests, 1)

    @property
    def server_cpu_us_per_request(self) -> float:
        return self.server_cpu_s / self.requests * 1e6 if self.requests else float("nan")

    @property
    def client_cpu_us_per_request(self) -> float:
        return self.client_cpu_s / self.requests * 1e6 if self.requests else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload, "target": self.target, "round": self.round, "value": self.value,
            "unit": self.unit, "requests": self.requests, "seconds": self.seconds, "errors": self.errors,
            "valid": self.valid, "server_cpu_s": self.server_cpu_s, "client_cpu_s": self.client_cpu_s,
            "server_cpu_us_per_request": self.server_cpu_us_per_request,
            "client_cpu_us_per_request": self.client_cpu_us_per_request, **self.extra,
        }


@dataclass
class Usage:
    """CPU used by the server tree and by this benchmark (itself plus finished children: wrk, loadgen)."""

    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    wall_s: float = 0.0
    database_cpu_s: float = 0.0   # the part of server_cpu_s a target's own database server used
    storage_write_bytes: int = 0  # written to storage by the server's process tree (its database server's too)


WRITTEN_KB = "storage_write_kb_per_request"


def _own_cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def measured(target: Target | None) -> Iterator[Usage]:
    usage = Usage()
    server0 = target.cpu_seconds() if target else 0.0
    database0 = target.database_cpu_seconds() if target else 0.0
    written0 = target.storage_write_bytes() if target else 0
    client0, wall0 = _own_cpu(), time.perf_counter()
    yield usage
    usage.wall_s = time.perf_counter() - wall0
    usage.client_cpu_s = _own_cpu() - client0
    usage.server_cpu_s = (target.cpu_seconds() - server0) if target else 0.0
    usage.database_cpu_s = (target.database_cpu_seconds() - database0) if target else 0.0
    usage.storage_write_bytes = (target.storage_write_bytes() - written0) if target else 0


# -- keys, presigned URLs, a streaming HTTP client ---------------------------------------------------------------

def small_key(i: int) -> str:
    return f"small/{i:05d}"


def put_key(i: int) -> str:
    return f"put/{i:05d}"


def list_key(i: int) -> str:
    return f"list/{i:05d}"


LARGE_GET_KEY = "large/get"
_OPERATIONS = {"GET": "get_object", "HEAD": "head_object", "PUT": "put_object", "DELETE": "delete_object"}


def presign(target: Target, operation: str, params: dict[str, Any]) -> str:
    """A presigned path+query for ``operation`` (a botocore operation name) on ``target``."""
    url: str = target.client.generate_presigned_url(operation, Params=params, ExpiresIn=PRESIGN_EXPIRES_S)
    if not url.startswith(target.endpoint + "/"):
        raise RuntimeError(f"unexpected presigned URL {url!r}")
    return url[len(target.endpoint):]


def presign_object(target: Target, method: str, key: str) -> str:
    return presign(target, _OPERATIONS[method], {"Bucket": BUCKET, "Key": key})


def write_url_file(target: Target, settings: Settings, method: str, keys: list[str]) -> Path:
    path = settings.workdir / f"urls-{target.name}-{method}.txt"
    path.write_text("".join(presign_object(target, method, k) + "\n" for k in keys))
    return path


def _connection(target: Target, timeout: float = 600) -> http.client.HTTPConnection:
    if target.ca_file is not None:
        return http.client.HTTPSConnection(HOST, target.port, timeout=timeout, context=target.ssl_context())
    return http.client.HTTPConnection(HOST, target.port, timeout=timeout)


def stream_put(target: Target, key: str, size: int) -> float:
    """PUT ``size`` bytes to a presigned URL in 1 MiB writes; returns the seconds it took."""
    path = presign_object(target, "PUT", key)
    conn = _connection(target)
    try:
        started = time.perf_counter()
        conn.putrequest("PUT", path, skip_accept_encoding=True)
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        view, sent = memoryview(_PAYLOAD), 0
        while sent < size:
            n = min(CHUNK, size - sent)
            conn.send(view[:n])
            sent += n
        resp = conn.getresponse()
        body = resp.read()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError(f"PUT {key}: HTTP {resp.status} {body[:300]!r}")
    return elapsed


def stream_get(target: Target, key: str, expected: int) -> float:
    """GET a presigned URL reading 1 MiB at a time; returns the seconds it took."""
    path = presign_object(target, "GET", key)
    conn = _connection(target)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        started = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        got = 0
        while (n := resp.readinto(view)) > 0:
            got += n
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if resp.status != 200 or got != expected:
        raise RuntimeError(f"GET {key}: HTTP {resp.status}, {got} bytes instead of {expected}")
    return elapsed


def simple_request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
                   ) -> tuple[int, bytes]:
    conn.request(method, path, body=body)
    resp = conn.getresponse()
    return resp.status, resp.read()


# -- populating a target ---------------------------------------------------------------------------------------------

def put_many(target: Target, keys: list[str], body: bytes, workers: int = 8, attempts: int = 5) -> None:
    """PUT ``body`` under each key over presigned URLs with a few keep-alive connections, retrying a little."""
    def upload(share: list[str]) -> None:
        conn = _connection(target, timeout=60)
        try:
            for key in share:
                for attempt in range(attempts):
                    try:
                        status, answer = simple_request(conn, "PUT", presign_object(target, "PUT", key), body)
                    except (OSError, http.client.HTTPException) as exc:
                        status, answer = 0, str(exc).encode()
                        conn.close()
                        conn = _connection(target, timeout=60)
                    if status == 200:
                        break
                    time.sleep(0.2 * (attempt + 1))
                else:
                    raise RuntimeError(f"{target.name}: PUT {key} failed: HTTP {status} {answer[:200]!r}")
        finally:
            conn.close()

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(upload, keys[i::workers]) for i in range(workers)]:
            future.result()


def prepare(target: Target, settings: Settings, workloads: list[str]) -> None:
    """Create the objects the chosen workloads read: small objects, the list prefix, the large object."""
    if any(w in workloads for w in ("get4k", "head4k", "get4k_loadgen", "boto3_get4k", "boto3_head4k")):
        put_many(target, [small_key(i) for i in range(settings.small_keys)], _PAYLOAD[:settings.small_size])
    if "list10k" in workloads:
        put_many(target, [list_key(i) for i in range(settings.list_keys)], b"l")
    if "get64m" in workloads or "copy64m" in workloads:
        stream_put(target, LARGE_GET_KEY, settings.large_size)


# -- load generators ------------------------------------------------------------------------------------------------

def _bench_json(stdout: str) -> dict[str, Any]:
    import json

    for line in reversed(stdout.splitlines()):
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line[len("BENCH_JSON "):]))
    raise RuntimeError(f"load generator printed no BENCH_JSON line: {stdout[-500:]!r}")


def _loadgen_measurement(workload: str, target: Target, rnd: int, cmd: list[str], timeout: float
                         ) -> Measurement:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    with measured(target) as usage:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO_ROOT,
                              check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr[-500:]}")
    stats = _bench_json(proc.stdout)
    requests, seconds = int(stats["requests"]), stats["duration_us"] / 1e6
    errors = sum(int(stats[k]) for k in ("connect_errors", "read_errors", "write_errors", "status_errors",
                                          "timeouts"))
    return Measurement(
        workload, target.name, rnd, requests / seconds if seconds else 0.0, "ops/s", requests, seconds, errors,
        usage.server_cpu_s, usage.client_cpu_s,
        {"latency_p50_ms": stats["latency_p50_us"] / 1000, "latency_p99_ms": stats["latency_p99_us"] / 1000,
         "load_generator": Path(cmd[0]).name if cmd[0] != sys.executable else "bench.loadgen",
         "database_cpu_us": usage.database_cpu_s / requests * 1e6 if requests else 0.0,
         WRITTEN_KB: usage.storage_write_bytes / requests / 1024 if requests else 0.0},
    )


def wrk_workload(method: str, keys_of: Callable[[Settings], list[str]], body: bool
                 ) -> Callable[[Target, Settings, int], Measurement]:
    def run(target: Target, settings: Settings, rnd: int) -> Measurement:
        wrk = shutil.which("wrk")
        if wrk is None:
            raise RuntimeError("wrk not found (apt-get install wrk)")
        urls = write_url_file(target, settings, method, keys_of(settings))
        seconds = max(1, round(settings.duration))  # wrk takes whole seconds
        cmd = [wrk, "-t", str(settings.threads), "-c", str(settings.connections), "-d", f"{seconds}s",
               "--timeout", "10s", "-s", str(LUA_SCRIPT), target.endpoint, "--", str(urls), method,
               str(settings.small_size if body else 0), str(settings.threads)]
        return _loadgen_measurement(f"{method.lower()}4k", target, rnd, cmd, timeout=seconds + 60)
    return run


def loadgen_workload(method: str, name: str) -> TargetWorkload:
    """4 KiB HEADs (which wrk cannot do) through bench.loadgen; GETs through it too, so that a HEAD's cost can be
    set against a GET's with the same load generator on the same two cores (wrk costs the machine less)."""
    def run(target: Target, settings: Settings, rnd: int) -> Measurement:
        if target.ca_file is not None:
            raise RuntimeError(f"bench.loadgen speaks plain HTTP only: no {name} over TLS")
        urls = write_url_file(target, settings, method, [small_key(i) for i in range(settings.small_keys)])
        cmd = [sys.executable, "-m", "bench.loadgen", "--port", str(target.port), "--urls", str(urls),
               "--method", method, "--connections", str(settings.connections), "--processes",
               str(settings.threads), "--duration", str(settings.duration)]
        return _loadgen_measurement(name, target, rnd, cmd, timeout=settings.duration + 60)
    return run


def boto3_workload(method: str) -> Callable[[Target, Settings, int], Measurement]:
    """``connections`` threads sharing one boto3 client (header-signed requests), for ``duration`` seconds."""
    def run(target: Target, settings: Settings, rnd: int) -> Measurement:
        client = s3_client(target.endpoint, max_pool=settings.connections, verify=target.verify)
        n = settings.connections
        key_of = put_key if method == "PUT" else small_key
        body = _PAYLOAD[:settings.small_size]
        counts = [[0, 0] for _ in range(n)]  # [ok, errors] per thread
        cap = settings.max_boto3_requests // n

        def call(key: str) -> None:
            if method == "GET":
                client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            elif method == "HEAD":
                client.head_object(Bucket=BUCKET, Key=key)
            else:
                client.put_object(Bucket=BUCKET, Key=key, Body=body)

        def worker(t: int, deadline: float) -> None:
            for i in range(cap):
                if time.monotonic() >= deadline:
                    return
                try:
                    call(key_of((t + i * n) % settings.small_keys))  # threads never share a key
                    counts[t][0] += 1
                except Exception:  # noqa: BLE001 - counted
                    counts[t][1] += 1

        call(key_of(0))  # warm the connection pool's first connection outside the measurement
        with measured(target) as usage:
            deadline = time.monotonic() + settings.duration
            with ThreadPoolExecutor(n) as pool:
                for f in [pool.submit(worker, t, deadline) for t in range(n)]:
                    f.result()
        ok, errors = sum(c[0] for c in counts), sum(c[1] for c in counts)
        return Measurement(f"boto3_{method.lower()}4k", target.name, rnd, ok / usage.wall_s, "ops/s",
                           ok + errors, usage.wall_s, errors, usage.server_cpu_s, usage.client_cpu_s,
                           {"load_generator": "boto3"})
    return run


# -- large objects, listing, memory, disk ------------------------------------------------------------------------------

def put_large(target: Target, settings: Settings, rnd: int) -> Measurement:
    times = []
    with measured(target) as usage:
        for i in range(settings.large_reps):
            times.append(stream_put(target, f"large/put-{i}", settings.large_size))
    mib = settings.large_size / MiB
    return Measurement("put64m", target.name, rnd, mib * len(times) / sum(times), "MiB/s", len(times),
                       sum(times), 0, usage.server_cpu_s, usage.client_cpu_s,
                       {"best_mib_s": mib / min(times), "object_mib": mib})


def get_large(target: Target, settings: Settings, rnd: int) -> Measurement:
    times = []
    with measured(target) as usage:
        for _ in range(settings.large_reps):
            times.append(stream_get(target, LARGE_GET_KEY, settings.large_size))
    mib = settings.large_size / MiB
    return Measurement("get64m", target.name, rnd, mib * len(times) / sum(times), "MiB/s", len(times),
                       sum(times), 0, usage.server_cpu_s, usage.client_cpu_s,
                       {"best_mib_s": mib / min(times), "object_mib": mib})


def copy_large(target: Target, settings: Settings, rnd: int) -> Measurement:
    """CopyObject of the large GET object to new keys (boto3; one request each, the server copies)."""
    client = s3_client(target.endpoint, max_pool=2, verify=target.verify)
    times = []
    try:
        with measured(target) as usage:
            for i in range(settings.large_reps):
                started = time.perf_counter()
                client.copy_object(Bucket=BUCKET, Key=f"large/copy-{i}",
                                   CopySource={"Bucket": BUCKET, "Key": LARGE_GET_KEY})
                times.append(time.perf_counter() - started)
    finally:
        client.close()
    mib = settings.large_size / MiB
    return Measurement("copy64m", target.name, rnd, mib * len(times) / sum(times), "MiB/s", len(times),
                       sum(times), 0, usage.server_cpu_s, usage.client_cpu_s,
                       {"best_mib_s": mib / min(times), "object_mib": mib})


_TOKEN = re.compile(rb"<NextContinuationToken>(.*?)</NextContinuationToken>", re.S)


def list_all(target: Target, settings: Settings, conn: http.client.HTTPConnection) -> tuple[int, int]:
    """One full paginated ListObjectsV2 of the ``list/`` prefix; returns (keys, pages)."""
    token: str | None = None
    keys = pages = 0
    for _ in range(settings.list_keys // max(settings.page_size, 1) + 10):
        params: dict[str, Any] = {"Bucket": BUCKET, "Prefix": "list/", "MaxKeys": settings.page_size}
        if token:
            params["ContinuationToken"] = token
        status, body = simple_request(conn, "GET", presign(target, "list_objects_v2", params))
        if status != 200:
            raise RuntimeError(f"ListObjectsV2: HTTP {status} {body[:300]!r}")
        keys += body.count(b"<Key>")
        pages += 1
        match = _TOKEN.search(body)
        if b"<IsTruncated>true</IsTruncated>" not in body or not match:
            return keys, pages
        token = html.unescape(match.group(1).decode())
    raise RuntimeError("ListObjectsV2 did not finish within the expected number of pages")


def list_workload(target: Target, settings: Settings, rnd: int) -> Measurement:
    conn = _connection(target, timeout=120)
    keys = pages = passes = errors = 0
    try:
        with measured(target) as usage:
            deadline = time.monotonic() + settings.duration
            while passes < settings.max_list_passes and (passes == 0 or time.monotonic() < deadline):
                k, p = list_all(target, settings, conn)
                errors += k != settings.list_keys
                keys, pages, passes = keys + k, pages + p, passes + 1
    finally:
        conn.close()
    return Measurement("list10k", target.name, rnd, keys / usage.wall_s, "keys/s", pages, usage.wall_s, errors,
                       usage.server_cpu_s, usage.client_cpu_s,
                       {"passes": passes, "keys_per_pass": keys // max(passes, 1), "page_size": settings.page_size})


def rss_workload(target: Target, settings: Settings, rnd: int) -> Measurement:
    """Peak growth of the server tree's RSS while one large object is PUT (streamed, not multipart)."""
    before = target.rss_bytes()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], target.rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with measured(target) as usage:
            seconds = stream_put(target, "large/rss", settings.rss_size)
    finally:
        done.set()
        sampler.join(timeout=5)
    peak[0] = max(peak[0], target.rss_bytes())
    after = target.rss_bytes()
    try:
        target.client.delete_object(Bucket=BUCKET, Key="large/rss")  # moto keeps objects in memory
    except Exception:  # noqa: BLE001 - only housekeeping
        pass
    return Measurement("rss1g", target.name, rnd, (peak[0] - before) / MiB, "MiB", 1, seconds, 0,
                       usage.server_cpu_s, usage.client_cpu_s,
                       {"rss_before_mib": before / MiB, "rss_peak_mib": peak[0] / MiB, "rss_after_mib": after / MiB,
                        "mib_s": settings.rss_size / MiB / seconds, "object_mib": settings.rss_size / MiB})


def disk_workload(settings: Settings, rnd: int) -> Measurement:
    """Raw write + fsync of one large object's size in 1 MiB writes, on the data directories' filesystem."""
    path = settings.workdir / "disk-probe.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    view = memoryview(_PAYLOAD)
    try:
        with measured(None) as usage:
            written = 0
            while written < settings.large_size:
                written += os.write(fd, view[:min(CHUNK, settings.large_size - written)])
            os.fsync(fd)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return _probe("disk", settings, rnd, usage)


def md5_workload(settings: Settings, rnd: int) -> Measurement:
    """One core's MD5 speed over one large object's size in 1 MiB updates: with the disk's write+fsync speed, the
    bound issue 14 sets a large PUT (every PUT's ETag is its MD5, and one MD5 cannot be split over cores)."""
    view, size = memoryview(_PAYLOAD), settings.large_size
    digest = hashlib.md5()
    with measured(None) as usage:
        for done in range(0, size, CHUNK):
            digest.update(view[:min(CHUNK, size - done)])
    return _probe("md5", settings, rnd, usage)


def _probe(name: str, settings: Settings, rnd: int, usage: Usage) -> Measurement:
    """A measurement of the machine (no target): MiB/s over one large object's size."""
    mib = settings.large_size / MiB
    return Measurement(name, name, rnd, mib / usage.wall_s, "MiB/s", 1, usage.wall_s, 0, 0.0,
                       usage.client_cpu_s, {"object_mib": mib})


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


TargetWorkload = Callable[[Target, Settings, int], Measurement]

# name -> function, in the order they run within a round
WORKLOADS: dict[str, TargetWorkload] = {
    "get4k": wrk_workload("GET", lambda s: [small_key(i) for i in range(s.small_keys)], body=False),
    "head4k": loadgen_workload("HEAD", "head4k"),
    "get4k_loadgen": loadgen_workload("GET", "get4k_loadgen"),
    "put4k": wrk_workload("PUT", lambda s: [put_key(i) for i in range(s.small_keys)], body=True),
    "boto3_get4k": boto3_workload("GET"),
    "boto3_head4k": boto3_workload("HEAD"),
    "boto3_put4k": boto3_workload("PUT"),
    "list10k": list_workload,
    "put64m": put_large,
    "get64m": get_large,
    "copy64m": copy_large,
    "rss1g": rss_workload,
}
