"""Storeroom's benchmark: run each workload against Storeroom and its peers, alternating, in rounds.

    python -m bench                 # everything: 3 rounds, 5 s per load run (~13 minutes on 2 cores)
    python -m bench --quick         # tiny sizes, 1 round of 1 s runs: a smoke test (~1 minute)
    python bench/run.py --targets storeroom,rclone --workloads get4k,put4k --rounds 5

Every target is started by the benchmark in a temporary directory on free loopback ports and is stopped (its
whole process group) at the end, also on errors, Ctrl-C and SIGTERM. The report (Markdown) goes to stdout,
progress to stderr, and all measurements to a JSON file (--json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report  # noqa: E402
from bench.targets import TARGET_KINDS, Target, TargetUnavailable, make_target  # noqa: E402
from bench.workloads import (  # noqa: E402
    WORKLOADS,
    Measurement,
    MiB,
    Settings,
    disk_workload,
    md5_workload,
    prepare,
)

ALL_TARGETS = list(TARGET_KINDS)
# storeroom-stock-http ("what do the edge limits cost?") and storeroom-granian ("is the HTTP layer the
# ceiling?") answer one question each: asked for by name
DEFAULT_TARGETS = [t for t in ALL_TARGETS if t not in ("storeroom-stock-http", "storeroom-granian", "storeroom-s3",
                                                       "storeroom-tls", "storeroom-base")]
ALL_WORKLOADS = list(WORKLOADS)
DEFAULT_JSON_DIR = Path(__file__).resolve().parent / ".work"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help=f"comma list of {ALL_TARGETS}")
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS), help=f"comma list of {ALL_WORKLOADS}")
    p.add_argument("--duration", type=float, help="seconds per load run (default 5; wrk rounds to whole s)")
    p.add_argument("--rounds", type=int, help="rounds; each runs every workload on every target (default 3)")
    p.add_argument("--quick", action="store_true", help="tiny sizes and 1 round of 1 s runs: a smoke test")
    p.add_argument("--baseline", help="a checkout of another commit (git worktree add --detach DIR COMMIT), run as "
                   "target storeroom-base: what a change costs; the same tree for an A/A noise floor")
    p.add_argument("--storeroom-workers", type=int, default=2, help="storeroom serve --workers (default 2)")
    p.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads / loadgen processes (default 2)")
    p.add_argument("--small-keys", type=int, help="distinct 4 KiB objects / presigned URLs (default 1000)")
    p.add_argument("--list-keys", type=int, help="keys in the listed prefix (default 10000)")
    p.add_argument("--page-size", type=int, help="ListObjectsV2 MaxKeys (default 1000)")
    p.add_argument("--large-mib", type=int, help="large object size in MiB (default 64)")
    p.add_argument("--large-reps", type=int, help="large transfers per round and target (default 3)")
    p.add_argument("--rss-mib", type=int, help="object size for the RSS workload in MiB (default 1024)")
    p.add_argument("--tmp-dir", help="where the targets' data dirs go (default: the system temp dir)")
    p.add_argument("--json", help=f"JSON output file (default {DEFAULT_JSON_DIR}/results-<time>.json)")
    p.add_argument("--report-only", metavar="JSON", help="print the report of an earlier run's JSON file; run nothing")
    return p.parse_args(argv)


def _choose(text: str, allowed: list[str], what: str) -> list[str]:
    chosen = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return [x for x in allowed if x in chosen]  # canonical order


def make_settings(args: argparse.Namespace, workdir: Path) -> tuple[Settings, int]:
    s = Settings(workdir=workdir)
    rounds = 3
    if args.quick:
        s.duration, rounds, s.small_keys, s.list_keys, s.page_size = 1.0, 1, 100, 500, 100
        s.large_size, s.large_reps, s.rss_size = 4 * MiB, 1, 64 * MiB
    overrides = {"duration": args.duration, "small_keys": args.small_keys, "list_keys": args.list_keys,
                 "page_size": args.page_size, "large_reps": args.large_reps,
                 "large_size": args.large_mib and args.large_mib * MiB, "rss_size": args.rss_mib and args.rss_mib * MiB}
    for name, value in overrides.items():
        if value:
            setattr(s, name, value)
    s.connections = max(1, min(args.connections, 256))
    s.threads = max(1, min(args.threads, s.connections))
    s.small_keys = max(s.small_keys, s.threads)
    return s, max(1, min(args.rounds or rounds, 50))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def start_targets(names: list[str], settings: Settings, workloads: list[str], storeroom_workers: int,
                  skipped: dict[str, str], started: list[Target]) -> None:
    """Start and fill each target; ``started`` is the caller's list, so that it can stop them on Ctrl-C."""
    for name in names:
        target = make_target(name, settings.workdir, storeroom_workers)
        log(f"starting {name} ...")
        try:
            started.append(target)  # stopped in main's finally even if prepare() fails
            target.start()
            t0 = time.perf_counter()
            prepare(target, settings, workloads)
            log(f"{name} ready on port {target.port} ({target.version}); data prepared in "
                f"{time.perf_counter() - t0:.1f}s")
        except (TargetUnavailable, Exception) as exc:  # noqa: BLE001 - a peer that fails is skipped
            skipped[name] = f"{type(exc).__name__}: {exc}"[:800]
            log(f"skipping {name}: {skipped[name]}")
            started.remove(target)
            target.stop()


def warm_up(targets: list[Target], settings: Settings, workloads: list[str]) -> None:
    """One short, discarded GET run per target, so the first measured run is not the one that warms up."""
    if "get4k" not in workloads:
        return
    short = dataclasses.replace(settings, duration=1.0)
    for t in targets:
        try:
            WORKLOADS["get4k"](t, short, -1)
        except Exception as exc:  # noqa: BLE001 - the measured runs will report it
            log(f"warm-up of {t.name} failed: {exc}")


def run_rounds(targets: list[Target], workloads: list[str], settings: Settings, rounds: int,
               errors: list[str]) -> list[Measurement]:
    """Every workload on every target, target order rotating each round, so targets alternate."""
    results: list[Measurement] = []
    for rnd in range(rounds):
        shift = rnd % len(targets)
        order = targets[shift:] + targets[:shift]
        for workload in workloads:
            if workload == "put64m":
                results.append(disk_workload(settings, rnd))
                log(f"round {rnd + 1}/{rounds} disk write+fsync: {results[-1].value:,.1f} MiB/s")
                results.append(md5_workload(settings, rnd))
                log(f"round {rnd + 1}/{rounds} one core's MD5: {results[-1].value:,.1f} MiB/s")
            for target in order:
                m = _run_one(workload, target, settings, rnd, rounds, errors)
                if m is not None:
                    results.append(m)
    return results


def _run_one(workload: str, target: Target, settings: Settings, rnd: int, rounds: int, errors: list[str]
             ) -> Measurement | None:
    if target.proc is None or target.proc.poll() is not None:
        errors.append(f"round {rnd + 1} {workload} {target.name}: server is not running: {target.log_tail()}")
        return None
    try:
        m = WORKLOADS[workload](target, settings, rnd)
    except Exception as exc:  # noqa: BLE001 - reported, the run goes on
        errors.append(f"round {rnd + 1} {workload} {target.name}: {type(exc).__name__}: {exc}"[:600])
        log(errors[-1])
        return None
    flag = "" if m.valid else f" INVALID ({m.errors} errors of {m.requests})"
    log(f"round {rnd + 1}/{rounds} {workload:<13} {target.name:<10} {m.value:>12,.1f} {m.unit:<6} "
        f"server CPU {m.server_cpu_us_per_request:>9,.1f} µs/req{flag}")
    return m


def machine_text() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({model}), {mem:.0f} GiB RAM"


def versions(targets: list[Target]) -> dict[str, str]:
    import subprocess

    import boto3

    out = {t.name: t.version for t in targets}
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False) if shutil.which(
        "wrk") else None
    out["wrk"] = (wrk.stdout or wrk.stderr).split(" [")[0].strip() if wrk else "not installed"
    out["python"] = platform.python_version()
    out["boto3"] = boto3.__version__
    return out


def settings_text(s: Settings, rounds: int) -> str:
    return (f"{rounds} round(s), {s.duration:g} s per load run, {s.connections} connections, "
            f"{s.threads} threads; {s.small_keys} small keys of {s.small_size} B, {s.list_keys} listed keys "
            f"({s.page_size}/page), large {s.large_size // MiB} MiB ×{s.large_reps}, RSS object "
            f"{s.rss_size // MiB} MiB")


def write_outputs(args: argparse.Namespace, meta: dict[str, Any], results: list[Measurement],
                  table: dict[str, dict[str, report.Cell]], verdicts: list[dict[str, Any]]) -> Path:
    path = Path(args.json) if args.json else DEFAULT_JSON_DIR / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "meta": meta, "verdicts": verdicts,
        "summary": {w: {t: dataclasses.asdict(c) for t, c in cells.items()} for w, cells in table.items()},
        "measurements": [m.as_dict() for m in results],
    }
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return path


def _on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        print(report.from_json(Path(args.report_only)))
        return 0
    target_names = _choose(args.targets, ALL_TARGETS, "targets")
    if args.baseline:  # the storeroom-base target reads it (bench/targets.py)
        os.environ["STOREROOM_BENCH_BASELINE"] = str(Path(args.baseline).resolve())
        if "storeroom-base" not in target_names:
            target_names.append("storeroom-base")
    workloads = _choose(args.workloads, ALL_WORKLOADS, "workloads")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="storeroom-bench-", dir=args.tmp_dir))
    settings, rounds = make_settings(args, workdir)
    skipped: dict[str, str] = {}
    errors: list[str] = []
    targets: list[Target] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    try:
        log(f"work dir {workdir}; {settings_text(settings, rounds)}")
        start_targets(target_names, settings, workloads, args.storeroom_workers, skipped, targets)
        if not targets:
            log("no target could be started")
            return 1
        warm_up(targets, settings, workloads)
        results = run_rounds(targets, workloads, settings, rounds, errors)
        names = [t.name for t in targets]
        meta = {"started": started, "machine": machine_text(), "versions": versions(targets),
                "settings": {k: str(v) for k, v in dataclasses.asdict(settings).items()}, "rounds": rounds,
                "settings_text": settings_text(settings, rounds), "targets": names, "skipped": skipped,
                "errors": errors, "workloads": workloads}
        table, verdicts, text = report.build(results, meta)
        print(text)
        log(f"JSON written to {write_outputs(args, meta, results, table, verdicts)}")
        return 0
    except KeyboardInterrupt as exc:
        log(f"interrupted ({str(exc) or 'Ctrl-C'}); stopping the servers")
        return 130
    finally:
        for t in targets:
            t.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
