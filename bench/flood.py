"""A normal client's latency and the server's memory while Storeroom is flooded: ``python -m bench.flood``.

Issue 7's goal: with 1,000 slowloris connections (one header byte a second, reconnecting when cut) and 8 header
floods (each sending a 32 MiB header section as fast as it can, reconnecting when cut) against
``storeroom serve`` with its default limits and 2 workers, a normal client keeps being served with p99 under
100 ms and the server's memory (RSS of its whole process tree) stays within 64 MiB of idle.

The normal client makes presigned GETs of a 4 KiB object, one every 10 ms, half on one keep-alive connection
and half on a new connection each (so that accepting new connections under flood is measured too).  The same
client runs first without the attack (baseline), then during it.  The attackers run in a process of their own.

    python -m bench.flood [--duration 30] [--slow 1000] [--floods 8] [--flood-mib 32] [--target storeroom]

``--target storeroom-stock-http`` runs the same against uvicorn's stock protocol (bench/stock_http.py), to
show what the limits change.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.targets import BUCKET, HOST, make_target

KEY = "obj-4k"
SLOW_REQUEST = b"GET /_storeroom/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 4096


async def _slow_connection(port: int, stop: float) -> None:
    """One header byte a second, forever: reconnect whenever the server cuts the connection."""
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(1)
            continue
        try:
            for i in range(len(SLOW_REQUEST)):
                if time.monotonic() >= stop or reader.at_eof():
                    break
                writer.write(SLOW_REQUEST[i:i + 1])
                await writer.drain()
                await asyncio.sleep(1)
        except OSError:
            pass
        finally:
            writer.close()


def _slow_attack(port: int, count: int, seconds: float) -> None:
    async def main() -> None:
        stop = time.monotonic() + seconds
        tasks = []
        for _ in range(count):
            tasks.append(asyncio.create_task(_slow_connection(port, stop)))
            await asyncio.sleep(0.001)  # a ramp of a second, not a SYN burst
        await asyncio.gather(*tasks)
    asyncio.run(main())


def _header_flood(port: int, mib: int, stop: float, counter: list[int]) -> None:
    block = b"a" * (1 << 20)
    while time.monotonic() < stop:
        try:
            with socket.create_connection((HOST, port), timeout=5) as sock:
                sock.sendall(b"GET /_storeroom/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
                for _ in range(mib):
                    sock.sendall(block)
        except OSError:
            pass
        counter[0] += 1


def _attack(port: int, slow: int, floods: int, mib: int, seconds: float) -> None:
    """The attacker process: slowloris connections on an event loop, header floods on threads."""
    stop = time.monotonic() + seconds
    counters = [[0] for _ in range(floods)]
    threads = [threading.Thread(target=_header_flood, args=(port, mib, stop, c), daemon=True) for c in counters]
    for t in threads:
        t.start()
    _slow_attack(port, slow, seconds)
    for t in threads:
        t.join()


def _normal_client(url: str, seconds: float) -> dict[str, list[float]]:
    """Presigned GETs every 10 ms for ``seconds``: latencies (ms) on a kept-alive and on new connections."""
    parts = urlsplit(url)
    target = f"{parts.path}?{parts.query}"
    kept = http.client.HTTPConnection(HOST, parts.port, timeout=10)
    out: dict[str, list[float]] = {"keep-alive": [], "new connection": [], "errors": []}
    stop = time.monotonic() + seconds
    i = 0
    while time.monotonic() < stop:
        fresh = i % 2 == 1
        conn = http.client.HTTPConnection(HOST, parts.port, timeout=10) if fresh else kept
        started = time.perf_counter()
        try:
            conn.request("GET", target)
            resp = conn.getresponse()
            resp.read()
            ok = resp.status == 200
        except OSError:
            ok = False
            if not fresh:
                kept.close()
                kept = http.client.HTTPConnection(HOST, parts.port, timeout=10)
        elapsed = (time.perf_counter() - started) * 1000
        if fresh:
            conn.close()
        out["new connection" if fresh else "keep-alive"].append(elapsed) if ok else out["errors"].append(elapsed)
        i += 1
        time.sleep(max(0.0, 0.010 - elapsed / 1000))
    kept.close()
    return out


def _summary(latencies: list[float]) -> str:
    if not latencies:
        return "—"
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered):.1f} / {p99:.1f} / {ordered[-1]:.1f}"


def _rss_sampler(target: Any, stop: threading.Event, samples: list[int]) -> None:
    while not stop.is_set():
        samples.append(target.rss_bytes())
        stop.wait(0.25)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="storeroom-flood-") as tmp:
        target = make_target(args.target, Path(tmp), storeroom_workers=args.workers)
        target.start()
        try:
            target.client.put_object(Bucket=BUCKET, Key=KEY, Body=os.urandom(4096))
            url = target.client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": KEY},
                                                       ExpiresIn=3600)
            _normal_client(url, 2)  # warm-up
            idle_rss = target.rss_bytes()
            baseline = _normal_client(url, args.duration)

            attacker = multiprocessing.get_context("spawn").Process(
                target=_attack, args=(target.port, args.slow, args.floods, args.flood_mib, args.duration + 15))
            attacker.start()
            time.sleep(10)  # the ramp, and the first slowloris round reaching the header deadline
            samples: list[int] = []
            stop = threading.Event()
            sampler = threading.Thread(target=_rss_sampler, args=(target, stop, samples))
            sampler.start()
            flooded = _normal_client(url, args.duration)
            stop.set()
            sampler.join()
            connections = _count_connections(target.port)
            attacker.terminate()
            attacker.join()
            return {"target": args.target, "baseline": baseline, "flooded": flooded, "idle_rss": idle_rss,
                    "peak_rss": max(samples or [idle_rss]), "connections": connections}
        finally:
            target.stop()


def _count_connections(port: int) -> int:
    """Established TCP connections to the server's port, from /proc/net/tcp (state 01)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                count += 1
    return count


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    mib = 1 << 20
    growth = (result["peak_rss"] - result["idle_rss"]) / mib
    base, flood = result["baseline"], result["flooded"]
    all_flooded = flood["keep-alive"] + flood["new connection"]
    ordered = sorted(all_flooded)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("inf")
    lines = [
        f"Target `{result['target']}`, {args.workers} workers; attack: {args.slow} slowloris connections + "
        f"{args.floods} header floods of {args.flood_mib} MiB; normal client: a presigned 4 KiB GET every 10 ms "
        f"for {args.duration:.0f} s, alternately on a kept-alive and on a new connection.",
        "",
        "| normal client | requests | failed | latency ms: median / p99 / max |",
        "|---|---|---|---|",
    ]
    for phase, data in (("idle", base), ("flooded", flood)):
        for kind in ("keep-alive", "new connection"):
            lines.append(f"| {phase}, {kind} | {len(data[kind])} | {len(data['errors'])} | "
                         f"{_summary(data[kind])} |")
    lines += [
        "",
        f"Flooded p99 (both kinds): **{p99:.1f} ms** (goal < 100 ms: {'met' if p99 < 100 else 'NOT met'}). "
        f"Server RSS: idle {result['idle_rss'] / mib:.0f} MiB, peak under flood {result['peak_rss'] / mib:.0f} MiB, "
        f"growth **{growth:.1f} MiB** (goal ≤ 64 MiB: {'met' if growth <= 64 else 'NOT met'}). "
        f"Established connections to the server at the end of the flood: {result['connections']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=30.0, help="seconds of measurement per phase (default 30)")
    p.add_argument("--slow", type=int, default=1000, help="slowloris connections (default 1000)")
    p.add_argument("--floods", type=int, default=8, help="header-flood connections (default 8)")
    p.add_argument("--flood-mib", type=int, default=32, help="MiB each header flood tries to send (default 32)")
    p.add_argument("--workers", type=int, default=2, help="storeroom serve --workers (default 2)")
    p.add_argument("--target", default="storeroom", choices=["storeroom", "storeroom-stock-http"])
    args = p.parse_args(argv)
    print(report(run(args), args))


if __name__ == "__main__":
    main()
