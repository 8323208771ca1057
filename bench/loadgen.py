"""A small keep-alive HTTP/1.1 load generator, used where wrk cannot be: HEAD requests.

wrk 4.1's response parser waits for a body after every response that carries a Content-Length, including the
answer to a HEAD request (which has none), so each HEAD connection stalls until wrk's timeout. This generator
replays the same presigned URL files as bench/wrk/presigned.lua: requests are built once, each process runs
an event loop over its share of the connections, and a response is only parsed as far as the status code and
its length. It prints one ``BENCH_JSON {...}`` line in the same format as the Lua script.

    python -m bench.loadgen --port PORT --urls FILE --method HEAD --connections 16 --processes 2 --duration 5
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_PROCESSES = 16
MAX_CONNECTIONS = 256


@dataclass
class Conn:
    sock: socket.socket
    buf: bytearray = field(default_factory=bytearray)
    started: float = 0.0


@dataclass
class Tally:
    requests: int = 0
    status_errors: int = 0
    read_errors: int = 0
    connect_errors: int = 0
    bytes: int = 0
    elapsed_us: int = 0
    latencies_us: list[int] = field(default_factory=list)


def build_requests(urls_file: str, method: str, port: int, body_bytes: int) -> list[bytes]:
    body = b"b" * body_bytes
    reqs = []
    with open(urls_file) as f:
        for line in f:
            path = line.strip()
            if not path:
                continue
            head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            if body_bytes or method in ("PUT", "POST"):
                head += f"Content-Length: {body_bytes}\r\n"
            reqs.append(head.encode() + b"\r\n" + body)
    if not reqs:
        raise SystemExit(f"no URLs in {urls_file}")
    return reqs


def parse_response(buf: bytearray, head_request: bool) -> tuple[int, int, bool] | None:
    """(length, status, server closes) of the first complete response in ``buf``, or None if incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    header_len = end + 4
    status = int(buf[9:12])
    headers = bytes(buf[:end]).lower()
    closes = b"\r\nconnection: close" in headers
    if head_request or status in (204, 304) or 100 <= status < 200:
        return header_len, status, closes
    pos = headers.find(b"\r\ncontent-length:")
    if pos >= 0:
        stop = headers.find(b"\r\n", pos + 2)
        total = header_len + int(headers[pos + 17: stop if stop >= 0 else None])
        return (total, status, closes) if len(buf) >= total else None
    if b"transfer-encoding: chunked" in headers:
        term = buf.find(b"\r\n0\r\n\r\n", end)
        return (term + 7, status, closes) if term >= 0 else None
    return header_len, status, closes


def _complete(conn: Conn, data: bytes, head_request: bool) -> tuple[int, int, bool] | None:
    """Add ``data`` to the connection's buffer; the first complete response's (length, status, closes)."""
    if head_request and not conn.buf and data.endswith(b"\r\n\r\n"):  # fast path: one whole HEAD answer
        return len(data), int(data[9:12]), b"onnection: close" in data
    conn.buf += data
    return parse_response(conn.buf, head_request)


def run_worker(port: int, reqs: list[bytes], head_request: bool, connections: int, duration: float) -> Tally:
    """Keep ``connections`` connections busy for ``duration`` seconds; count completed responses."""
    tally = Tally()
    poller = select.epoll()
    conns: dict[int, Conn] = {}
    index = 0
    started = time.monotonic()
    deadline = started + duration

    def send_next(conn: Conn, now: float) -> None:
        nonlocal index
        index = index + 1 if index + 1 < len(reqs) else 0
        conn.started = now
        conn.sock.sendall(reqs[index])

    def open_conn() -> None:
        try:
            s = socket.create_connection((HOST, port), timeout=10)
        except OSError:
            tally.connect_errors += 1
            return
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns[s.fileno()] = conn = Conn(s)
        poller.register(s.fileno(), select.EPOLLIN)
        send_next(conn, time.monotonic())

    def drop(conn: Conn) -> None:
        poller.unregister(conn.sock.fileno())
        del conns[conn.sock.fileno()]
        conn.sock.close()
        if time.monotonic() < deadline:
            open_conn()

    for _ in range(connections):
        open_conn()
    now = time.monotonic()
    while now < deadline and conns:
        for fd, _ in poller.poll(0.1):
            conn = conns[fd]
            try:
                data = conn.sock.recv(262144)
            except OSError:
                data = b""
            now = time.monotonic()
            if not data:
                tally.read_errors += 1
                drop(conn)
                continue
            tally.bytes += len(data)
            parsed = _complete(conn, data, head_request)
            if parsed is None:
                continue
            length, status, closes = parsed
            tally.requests += 1
            tally.latencies_us.append(int((now - conn.started) * 1e6))
            if status > 399:
                tally.status_errors += 1
            if conn.buf:
                del conn.buf[:length]
            if closes:  # e.g. moto (werkzeug) closes after every HEAD
                drop(conn)
            elif now < deadline:
                send_next(conn, now)
        now = time.monotonic()
    for conn in conns.values():
        conn.sock.close()
    poller.close()
    tally.elapsed_us = int((time.monotonic() - started) * 1e6)
    return tally


def percentile(values: list[int], p: float) -> int:
    if not values:
        return 0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def summary(tallies: list[Tally]) -> dict[str, float]:
    lat = [x for t in tallies for x in t.latencies_us]
    return {
        "requests": sum(t.requests for t in tallies), "duration_us": max(t.elapsed_us for t in tallies),
        "bytes": sum(t.bytes for t in tallies), "connect_errors": sum(t.connect_errors for t in tallies),
        "read_errors": sum(t.read_errors for t in tallies), "write_errors": 0,
        "status_errors": sum(t.status_errors for t in tallies), "timeouts": 0,
        "latency_mean_us": sum(lat) / len(lat) if lat else 0.0, "latency_p50_us": percentile(lat, 50),
        "latency_p99_us": percentile(lat, 99), "latency_max_us": max(lat, default=0),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--urls", required=True, help="file of presigned path?query lines")
    p.add_argument("--method", default="HEAD")
    p.add_argument("--body-bytes", type=int, default=0)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--worker", type=int, default=-1, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.processes = max(1, min(args.processes, MAX_PROCESSES))
    args.connections = max(args.processes, min(args.connections, MAX_CONNECTIONS))
    if args.worker >= 0:
        reqs = build_requests(args.urls, args.method, args.port, args.body_bytes)
        reqs = reqs[args.worker::args.processes] or reqs  # workers never write the same key at once
        share = args.connections // args.processes + (args.worker < args.connections % args.processes)
        tally = run_worker(args.port, reqs, args.method == "HEAD", share, args.duration)
        print(json.dumps(tally.__dict__))
        return
    own_args = sys.argv[1:] if argv is None else argv
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    procs = [subprocess.Popen([sys.executable, "-m", "bench.loadgen", *own_args, "--worker", str(i)],
                              stdout=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)
             for i in range(args.processes)]
    tallies = []
    for proc in procs:
        out, _ = proc.communicate(timeout=args.duration + 60)
        tallies.append(Tally(**json.loads(out.strip().splitlines()[-1])))
    print("BENCH_JSON " + json.dumps(summary(tallies)))


if __name__ == "__main__":
    main()
