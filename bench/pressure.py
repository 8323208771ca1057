"""Storeroom under pressure: ``python -m bench.pressure``.

Issue 14: with 1,024 concurrent connections, and with a 10× overload (far more clients than the server can
serve), the server keeps answering, latency p99 stays bounded, nothing goes wrong except S3's ``503 SlowDown``
when it sheds load, and it recovers at once when the load stops.

Storeroom is started as ``python -m bench`` starts it (bench/targets.py ``StoreroomTarget``, 2 workers, default
limits: ``edge.MAX_CONNECTIONS`` per worker).  Phases, each followed by a recovery probe (the latency of single
requests on a new connection right after the load stops):

1. **keep-alive**: ``--connections`` (1,024) kept-alive connections, each sending presigned requests back to
   back: 4 KiB GETs, every ``--put-every``-th a 4 KiB PUT (UNSIGNED-PAYLOAD);
2. **overload**: ``--overload-connections`` (10,240: 10× the first phase, 2.5× the two workers' connection cap)
   clients, each opening a connection, sending one request (``Connection: close``), reading the answer and
   starting again.

Measured per phase: answers per second (2xx), latency p50/p99/max of the answers (from the connection attempt for
new connections, so a SYN left in the kernel's backlog counts), the error kinds — ``503 SlowDown`` (acceptable),
other HTTP statuses, connections reset, connections closed without an answer, requests unanswered after
``--timeout`` seconds, failed connects (by errno) — the server's CPU per answer, and its RSS (whole process
tree: idle, peak, after).  The load runs in ``--processes`` processes of epoll loops (this process raises
RLIMIT_NOFILE to its hard limit; the children inherit it).

    python -m bench.pressure [--duration 20] [--connections 1024] [--overload-connections 10240] [--baseline DIR]

``--baseline DIR`` runs the same against Storeroom from another checkout (as ``python -m bench --baseline``).
"""

from __future__ import annotations

import argparse
import errno
import http.client
import multiprocessing
import os
import resource
import select
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import parse_response
from bench.targets import BUCKET, HOST, StoreroomBaseTarget, StoreroomTarget

OBJECTS = 200
BODY = b"p" * 4096


@dataclass
class _Conn:
    sock: socket.socket
    request: int = -1          # index of the request in flight (-1: connecting)
    started: float = 0.0       # when the request (or, on a new connection, the connect) began
    buf: bytearray = field(default_factory=bytearray)


@dataclass
class Tally:
    answered: int = 0
    slowdown: int = 0
    statuses: dict[str, int] = field(default_factory=dict)   # other non-2xx answers, by status
    resets: int = 0
    closed: int = 0            # the server closed the connection without answering the request in flight
    timeouts: int = 0
    connect_errors: dict[str, int] = field(default_factory=dict)
    latencies_us: list[int] = field(default_factory=list)      # answered GETs
    put_latencies_us: list[int] = field(default_factory=list)  # answered PUTs
    put_timeouts: int = 0
    connect_timeouts: int = 0  # of the timeouts: connects never completed (SYNs the kernel's full queue dropped)

    def merge(self, other: Tally) -> None:
        self.answered += other.answered
        self.slowdown += other.slowdown
        self.resets += other.resets
        self.closed += other.closed
        self.timeouts += other.timeouts
        self.put_timeouts += other.put_timeouts
        self.connect_timeouts += other.connect_timeouts
        for mine, theirs in ((self.statuses, other.statuses), (self.connect_errors, other.connect_errors)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        self.latencies_us += other.latencies_us
        self.put_latencies_us += other.put_latencies_us


def _requests(port: int, gets: list[str], puts: list[str], put_every: int, close: bool) -> list[bytes]:
    """Whole requests, GETs with a PUT every ``put_every``-th."""
    extra = "Connection: close\r\n" if close else ""
    out: list[bytes] = []
    put_i = 0
    for i, path in enumerate(gets):
        out.append(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{extra}\r\n".encode())
        if put_every and puts and i % put_every == put_every - 1:
            head = f"PUT {puts[put_i % len(puts)]} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Length: {len(BODY)}\r\n"
            out.append(f"{head}{extra}\r\n".encode() + BODY)
            put_i += 1
    return out


def _worker(port: int, reqs: list[bytes], connections: int, duration: float, keep_alive: bool, timeout: float,
            ramp: float) -> dict[str, Any]:
    """One process's share: ``connections`` clients for ``duration`` seconds (opened over ``ramp`` seconds)."""
    tally = Tally()
    poller = select.epoll()
    conns: dict[int, _Conn] = {}
    index = 0
    start = time.monotonic()
    deadline = start + duration
    opened = 0  # clients started (the ramp); a client reconnecting is not a new one

    def open_conn(now: float) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex((HOST, port))
        if code not in (0, errno.EINPROGRESS):
            tally.connect_errors[errno.errorcode.get(code, str(code))] = \
                tally.connect_errors.get(errno.errorcode.get(code, str(code)), 0) + 1
            sock.close()
            return
        conns[sock.fileno()] = _Conn(sock, -1, now)
        poller.register(sock.fileno(), select.EPOLLOUT)

    def send_next(conn: _Conn, now: float) -> None:
        nonlocal index
        index = index + 1 if index + 1 < len(reqs) else 0
        conn.request, conn.started = index, now
        conn.sock.send(reqs[index])  # small: fits the empty send buffer of a socket with nothing in flight

    def drop(conn: _Conn, now: float, reopen: bool = True) -> None:
        fd = conn.sock.fileno()
        poller.unregister(fd)
        del conns[fd]
        conn.sock.close()
        if reopen and now < deadline:
            open_conn(now)

    def on_writable(conn: _Conn, now: float) -> None:
        code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            name = errno.errorcode.get(code, str(code))
            tally.connect_errors[name] = tally.connect_errors.get(name, 0) + 1
            drop(conn, now)
            return
        poller.modify(conn.sock.fileno(), select.EPOLLIN)
        started = conn.started
        try:
            send_next(conn, now)
        except OSError:
            tally.resets += 1
            drop(conn, now)
            return
        conn.started = started  # a new connection's latency includes its connect

    def on_readable(conn: _Conn, now: float) -> None:
        try:
            data = conn.sock.recv(65536)
        except ConnectionResetError:
            tally.resets += 1
            drop(conn, now)
            return
        except OSError:
            data = b""
        if not data:
            tally.closed += 1
            drop(conn, now)
            return
        conn.buf += data
        parsed = parse_response(conn.buf, False)
        if parsed is None:
            return
        length, status, closes = parsed
        if 200 <= status < 300:
            tally.answered += 1
            is_put = reqs[conn.request].startswith(b"PUT")
            (tally.put_latencies_us if is_put else tally.latencies_us).append(int((now - conn.started) * 1e6))
        elif status == 503 and b"<Code>SlowDown</Code>" in conn.buf[:length]:
            tally.slowdown += 1
        else:
            tally.statuses[str(status)] = tally.statuses.get(str(status), 0) + 1
        del conn.buf[:length]
        if closes or not keep_alive:
            drop(conn, now)
        elif now < deadline:
            try:
                send_next(conn, now)
            except OSError:
                tally.resets += 1
                drop(conn, now)
        else:
            drop(conn, now, reopen=False)

    next_sweep = start + 0.5
    now = start
    while now < deadline or conns:
        if opened < connections:  # the ramp
            due = connections if ramp <= 0 else min(connections, int(connections * (now - start) / ramp) + 1)
            while opened < due:
                opened += 1
                open_conn(now)
        for fd, _ in poller.poll(0.05):
            conn = conns.get(fd)
            if conn is None:
                continue
            now = time.monotonic()
            if conn.request < 0:
                on_writable(conn, now)
            else:
                on_readable(conn, now)
        now = time.monotonic()
        if now >= next_sweep:  # requests (or connects) left unanswered too long
            next_sweep = now + 0.5
            for conn in [c for c in conns.values() if now - c.started > timeout]:
                tally.timeouts += 1
                tally.put_timeouts += conn.request >= 0 and reqs[conn.request].startswith(b"PUT")
                tally.connect_timeouts += conn.request < 0
                drop(conn, now)
        if now >= deadline + timeout:
            break
        if now >= deadline and all(c.request < 0 for c in conns.values()):
            break  # only connects left: no request will be sent on them
    for conn in list(conns.values()):
        conn.sock.close()
    poller.close()
    return tally.__dict__


def _worker_entry(args: tuple[Any, ...], out: Any) -> None:
    out.put(_worker(*args))


def load(port: int, reqs: list[bytes], connections: int, duration: float, keep_alive: bool, timeout: float,
         processes: int, ramp: float) -> Tally:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = []
    for i in range(processes):
        share = connections // processes + (i < connections % processes)
        mine = reqs[i::processes] or reqs
        procs.append(ctx.Process(target=_worker_entry,
                                 args=((port, mine, share, duration, keep_alive, timeout, ramp), queue)))
    for p in procs:
        p.start()
    total = Tally()
    for _ in procs:
        total.merge(Tally(**queue.get(timeout=duration + timeout + 120)))
    for p in procs:
        p.join(timeout=30)
    return total


def probe(port: int, path: str, count: int) -> list[float]:
    """ms of ``count`` single GETs, each on a new connection, one after the other."""
    out = []
    for _ in range(count):
        started = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            ok = resp.status == 200
        except OSError:
            ok = False
        finally:
            conn.close()
        out.append((time.perf_counter() - started) * 1000 if ok else float("inf"))
    return out


def _sample_rss(target: StoreroomTarget, stop: threading.Event, samples: list[int]) -> None:
    while not stop.is_set():
        samples.append(target.rss_bytes())
        stop.wait(0.25)


def _phase(target: StoreroomTarget, reqs: list[bytes], probe_path: str, connections: int, keep_alive: bool,
           args: argparse.Namespace) -> dict[str, Any]:
    samples: list[int] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(target, stop, samples), daemon=True)
    cpu = target.cpu_seconds()
    sampler.start()
    started = time.monotonic()
    tally = load(target.port, reqs, connections, args.duration, keep_alive, args.timeout, args.processes,
                 args.ramp)
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join()
    cpu = target.cpu_seconds() - cpu
    recovery = probe(target.port, probe_path, 20)
    return {"connections": connections, "keep_alive": keep_alive, "tally": tally.__dict__,
            "elapsed": elapsed, "duration": args.duration, "cpu_s": cpu, "peak_rss": max(samples or [0]),
            "recovery_ms": recovery, "after_rss": target.rss_bytes()}


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run(args: argparse.Namespace) -> dict[str, Any]:
    limit = raise_nofile()
    if limit < args.overload_connections + 256:
        raise SystemExit(f"RLIMIT_NOFILE is {limit}: too low for {args.overload_connections} connections")
    with tempfile.TemporaryDirectory(prefix="storeroom-pressure-", dir=args.tmp_dir) as tmp:
        if args.baseline:  # the same run against another checkout (StoreroomBaseTarget reads the variable)
            os.environ["STOREROOM_BENCH_BASELINE"] = str(Path(args.baseline).resolve())
            target: StoreroomTarget = StoreroomBaseTarget(Path(tmp), workers=args.workers)
        else:
            target = StoreroomTarget(Path(tmp), workers=args.workers)
        target.start()  # the server inherits this process's raised limit, and raises its own soft limit anyway
        try:
            client = target.client
            gets, puts = [], []
            for i in range(OBJECTS):
                client.put_object(Bucket=BUCKET, Key=f"pressure/{i}", Body=BODY)
            for i in range(OBJECTS):
                gets.append(_path(target, client.generate_presigned_url(
                    "get_object", Params={"Bucket": BUCKET, "Key": f"pressure/{i}"}, ExpiresIn=3600)))
                puts.append(_path(target, client.generate_presigned_url(
                    "put_object", Params={"Bucket": BUCKET, "Key": f"pressure/put-{i}"}, ExpiresIn=3600)))
            probe(target.port, gets[0], 50)  # warm-up
            idle = {"rss": target.rss_bytes(), "probe_ms": probe(target.port, gets[0], 20)}
            phases = {
                "keep-alive": _phase(target, _requests(target.port, gets, puts, args.put_every, False), gets[0],
                                     args.connections, True, args),
                "overload": _phase(target, _requests(target.port, gets, puts, args.put_every, True), gets[0],
                                   args.overload_connections, False, args),
            }
            return {"idle": idle, "phases": phases, "workers": args.workers, "nofile": limit,
                    "version": target.version}
        finally:
            target.stop()


def _path(target: StoreroomTarget, url: str) -> str:
    return url[len(target.endpoint):]


def _pct(values: list[int], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] / 1000


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    mib = 1 << 20
    idle = result["idle"]
    lines = [
        f"Storeroom {result['version']}, started by bench/targets.py (`StoreroomTarget`); load from "
        f"{args.processes} processes of epoll loops on the same 2 cores, {args.duration:.0f} s per phase, "
        f"ramp {args.ramp:.0f} s; presigned 4 KiB GETs with a 4 KiB PUT every {args.put_every} requests; "
        f"request timeout {args.timeout:.0f} s. Idle: RSS {idle['rss'] / mib:.0f} MiB, single GET on a new "
        f"connection {sorted(idle['probe_ms'])[len(idle['probe_ms']) // 2]:.1f} ms (median of 20).",
        "",
        "| phase | connections | answered/s | GET p50 / p99 / max ms | PUT p50 / p99 / max ms | 503 SlowDown | "
        "other statuses | resets | closed unanswered | timeouts | connect errors | server CPU µs/answer | "
        "RSS peak / after MiB | recovery: first / median / max of 20 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, ph in result["phases"].items():
        t = ph["tally"]
        lat, put = t["latencies_us"], t["put_latencies_us"]
        rec = ph["recovery_ms"]
        kind = "kept alive" if ph["keep_alive"] else "new connection per request"
        lines.append(
            f"| {name} | {ph['connections']:,} ({kind}) | {t['answered'] / ph['duration']:,.0f} | "
            f"{_pct(lat, 50):.1f} / {_pct(lat, 99):.1f} / {_pct(lat, 100):.1f} | "
            f"{_pct(put, 50):.1f} / {_pct(put, 99):.1f} / {_pct(put, 100):.1f} | {t['slowdown']:,} | "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(t['statuses'].items())) or '0'} | {t['resets']:,} | "
            f"{t['closed']:,} | {t['timeouts']:,} ({t['connect_timeouts']:,} connects, {t['put_timeouts']:,} PUTs) | "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(t['connect_errors'].items())) or '0'} | "
            f"{ph['cpu_s'] / max(t['answered'], 1) * 1e6:.0f} | "
            f"{ph['peak_rss'] / mib:.0f} / {ph['after_rss'] / mib:.0f} | "
            f"{rec[0]:.1f} / {sorted(rec)[len(rec) // 2]:.1f} / {max(rec):.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.pressure", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load per phase (default 20)")
    p.add_argument("--connections", type=int, default=1024, help="kept-alive connections (default 1024)")
    p.add_argument("--overload-connections", type=int, default=10240,
                   help="clients of the overload phase, a new connection per request (default 10240)")
    p.add_argument("--put-every", type=int, default=10, help="one PUT every N requests (0: none; default 10)")
    p.add_argument("--timeout", type=float, default=10.0, help="a request unanswered this long is a timeout")
    p.add_argument("--processes", type=int, default=2, help="load generator processes (default 2)")
    p.add_argument("--ramp", type=float, default=2.0, help="seconds over which the connections open (default 2)")
    p.add_argument("--workers", type=int, default=2, help="storeroom serve --workers (default 2)")
    p.add_argument("--baseline", help="run Storeroom from this checkout instead (before/after comparisons)")
    p.add_argument("--tmp-dir", default=None, help="where the data dir goes (default: the system temp dir)")
    args = p.parse_args(argv)
    print(report(run(args), args))


if __name__ == "__main__":
    main()
