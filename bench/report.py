"""Turn measurements into medians, ratios (Storeroom / best peer) and a Markdown report plus JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.workloads import WRITTEN_KB, Measurement, median

SUBJECT = "storeroom"
IAM_SUBJECT = "storeroom-iam"  # Storeroom with an IAM user's requests: not a peer, the cost of authorization
PG_SUBJECT = "storeroom-pg"    # Storeroom with its metadata in PostgreSQL: not a peer, the cost of the database
S3_BLOBS_SUBJECT = "storeroom-s3"  # Storeroom with its object data on SeaweedFS (--blobs s3://): not a peer either
TLS_SUBJECT = "storeroom-tls"  # Storeroom over HTTPS: not a peer, the cost of TLS
CLEAR_SUBJECT = "storeroom-clear"  # Storeroom with encryption at rest off: not a peer, the cost of encryption
BASE_SUBJECT = "storeroom-base"  # Storeroom from another checkout (--baseline): not a peer, the cost of a change
# what the machine can do, measured beside the large PUTs, which issue 14 sets against the slower of the two
_PROBES = ("disk", "md5")
# the load generators' latency percentiles per request (wrk, bench.loadgen), in a round's extras
LATENCIES = ("latency_p50_ms", "latency_p99_ms")
# An IAM user with 10 policies × 10 statements may add < 5 % to a request's time vs the root user.
IAM_MAX_SLOWDOWN = 0.05


@dataclass(frozen=True)
class Goal:
    title: str
    higher_is_better: bool = True
    min_ratio: float | None = None  # Storeroom / best peer must be >= this
    vs_floor: float | None = None  # Storeroom / min(disk write+fsync, one core's MD5 speed) must be >= this
    max_value: float | None = None  # Storeroom's own value must be <= this


# Issue 14's goals.  The large PUT's second goal is 0.9 × min(disk write+fsync, one core's MD5 speed): its "floor",
# both measured beside each round's large PUTs (the workloads "disk" and "md5").
GOALS: dict[str, Goal] = {
    "get4k": Goal("4 KiB GET (wrk, presigned)", min_ratio=1.5),
    "head4k": Goal("4 KiB HEAD (bench.loadgen, presigned)", min_ratio=1.5),
    "get4k_loadgen": Goal("4 KiB GET (bench.loadgen, presigned: HEAD's generator)"),
    "put4k": Goal("4 KiB PUT (wrk, presigned)", min_ratio=1.5),
    "boto3_get4k": Goal("4 KiB GET (boto3, 16 threads)"),
    "boto3_head4k": Goal("4 KiB HEAD (boto3, 16 threads)"),
    "boto3_put4k": Goal("4 KiB PUT (boto3, 16 threads)"),
    "list10k": Goal("ListObjectsV2, {keys} keys, full pagination", min_ratio=2.5),
    "put64m": Goal("{large} PUT (streamed)", min_ratio=1.5, vs_floor=0.9),
    "get64m": Goal("{large} GET (streamed)", min_ratio=1.5),
    "copy64m": Goal("{large} CopyObject (the server copies)"),
    "rss1g": Goal("RSS growth during {rss} PUT", higher_is_better=False, max_value=32.0),
    "disk": Goal("disk write+fsync ({large}, 1 MiB writes)"),
    "md5": Goal("one core's MD5 ({large}, 1 MiB updates)"),
}


@dataclass
class Cell:
    """The medians of one workload on one target over all rounds."""

    value: float
    server_cpu_us: float
    client_cpu_us: float
    rounds: int
    errors: int
    invalid_rounds: int
    extra: dict[str, float]


def summarize(measurements: list[Measurement]) -> dict[str, dict[str, Cell]]:
    """workload -> target -> Cell (medians over rounds; invalid rounds are left out when others exist)."""
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for m in measurements:
        groups.setdefault((m.workload, m.target), []).append(m)
    table: dict[str, dict[str, Cell]] = {}
    for (workload, target), ms in groups.items():
        good = [m for m in ms if m.valid] or ms
        middle = sorted(good, key=lambda m: m.value)[(len(good) - 1) // 2]  # its extras stay consistent
        extra = {k: float(v) for k, v in middle.extra.items() if isinstance(v, int | float)}
        # a round's tail (and what it wrote) moves apart from its throughput: the median of every round's
        for key in (*LATENCIES, WRITTEN_KB):
            if key in extra:
                extra[key] = median([float(m.extra[key]) for m in good if key in m.extra])
        table.setdefault(workload, {})[target] = Cell(
            value=median([m.value for m in good]),
            server_cpu_us=median([m.server_cpu_us_per_request for m in good]),
            client_cpu_us=median([m.client_cpu_us_per_request for m in good]),
            rounds=len(ms), errors=sum(m.errors for m in ms), invalid_rounds=sum(not m.valid for m in ms),
            extra=extra,
        )
    return table


def best_peer(cells: dict[str, Cell], attr: str, higher_is_better: bool) -> tuple[str, float] | None:
    # every storeroom-* target is Storeroom measured another way (IAM user, PostgreSQL, TLS, another HTTP server,
    # a baseline checkout...): never a peer
    peers = [(t, getattr(c, attr)) for t, c in cells.items()
             if not t.startswith(SUBJECT) and t not in _PROBES and not math.isnan(getattr(c, attr))]
    if not peers:
        return None
    return (max if higher_is_better else min)(peers, key=lambda p: p[1])


def _size(n: int) -> str:
    return f"{n // 2**30} GiB" if n >= 2**30 and n % 2**30 == 0 else f"{n / 2**20:g} MiB"


def title(workload: str, settings: dict[str, str]) -> str:
    """The workload's title with the run's sizes (``--quick`` and the size options change them)."""
    text = GOALS.get(workload, Goal(workload)).title
    return text.format(keys=f"{int(settings.get('list_keys', 10000)):,}",
                       large=_size(int(settings.get("large_size", 64 * 2**20))),
                       rss=_size(int(settings.get("rss_size", 2**30))))


def verdict(workload: str, cells: dict[str, Cell], floor: float | None, settings: dict[str, str]
            ) -> dict[str, Any]:
    """The ratio Storeroom / best peer, and whether the workload's goal is met (``floor``: min(disk write+fsync,
    one core's MD5), None unless both were measured)."""
    goal = GOALS.get(workload, Goal(workload))
    out: dict[str, Any] = {"workload": workload, "title": title(workload, settings)}
    best = best_peer(cells, "value", goal.higher_is_better)
    subject = cells.get(SUBJECT)
    if best:
        out["best_peer"], out["best_peer_value"] = best
    if subject and best and best[1] and goal.max_value is None:  # an absolute goal: no ratio
        out["ratio"] = subject.value / best[1]
    if subject and floor and goal.vs_floor is not None:
        out["ratio_vs_floor"] = subject.value / floor
    cpu_best = best_peer(cells, "server_cpu_us", higher_is_better=False)
    if subject and cpu_best and cpu_best[1]:
        out["cpu_ratio"] = subject.server_cpu_us / cpu_best[1]
    out["goal"], out["met"] = _goal_text(goal), _goal_met(goal, subject, out)
    return out


def _goal_text(goal: Goal) -> str:
    parts = []
    if goal.min_ratio is not None:
        parts.append(f"≥ {goal.min_ratio:g} × best peer")
    if goal.vs_floor is not None:
        parts.append(f"≥ {goal.vs_floor:g} × min(disk write+fsync, one core's MD5)")
    if goal.max_value is not None:
        parts.append(f"≤ {goal.max_value:g} MiB")
    return " and ".join(parts)


def _goal_met(goal: Goal, subject: Cell | None, out: dict[str, Any]) -> bool | None:
    """Every part of the goal met; None while a part could not be measured (no peer, no disk or MD5 figure)."""
    if subject is None:
        return None
    checks: list[bool | None] = []
    if goal.min_ratio is not None:
        checks.append(out["ratio"] >= goal.min_ratio if "ratio" in out else None)
    if goal.vs_floor is not None:
        checks.append(out["ratio_vs_floor"] >= goal.vs_floor if "ratio_vs_floor" in out else None)
    if goal.max_value is not None:
        checks.append(subject.value <= goal.max_value)
    if not checks or None in checks:
        return None
    return all(checks)


# -- Markdown -------------------------------------------------------------------------------------------------------

def _num(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if abs(x) >= 100 or digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def _cell_text(cell: Cell | None, attr: str = "value") -> str:
    if cell is None:
        return "—"
    v = getattr(cell, attr)
    text = _num(v, 2 if abs(v) < 10 else 1)
    return text + (f" (!{cell.invalid_rounds})" if cell.invalid_rounds else "")


def markdown(table: dict[str, dict[str, Cell]], targets: list[str], meta: dict[str, Any],
             verdicts: list[dict[str, Any]]) -> str:
    lines = [f"### Run of {meta['started']} — {meta['settings_text']}", ""]
    lines += _throughput_table(table, targets, verdicts, meta.get("settings", {}))
    lines += ["", "Server CPU time per request (µs, user+system of the server's whole process tree; lower is "
              "better). Load generator CPU per request in the last column.", ""]
    lines += _cpu_table(table, targets, verdicts)
    lines += _latency_table(table, targets, verdicts)
    lines += _written_table(table, targets, verdicts)
    if "rss1g" in table:
        lines += ["", *_rss_table(table["rss1g"], targets)]
    lines += _authorization_table(table)
    lines += _postgres_table(table)
    lines += _tls_table(table)
    lines += _baseline_table(table)
    lines += ["", *_notes(meta)]
    return "\n".join(lines) + "\n"


def _throughput_table(table: dict[str, dict[str, Cell]], targets: list[str], verdicts: list[dict[str, Any]],
                      settings: dict[str, str]) -> list[str]:
    head = ["workload", "unit", *targets, "best peer", "storeroom / best peer", "goal", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in verdicts:
        cells = table[v["workload"]]
        unit = _unit(v["workload"])
        ratio = v.get("ratio_vs_floor") if v["workload"] == "put64m" else v.get("ratio")
        ratio_text = _num(ratio, 2) if ratio is not None else "—"
        if v["workload"] == "put64m" and "ratio" in v:
            ratio_text = f"{_num(v['ratio'], 2)} (vs min(disk, MD5): {_num(v.get('ratio_vs_floor'), 2)})"
        met = {True: "yes", False: "**no**", None: "—"}[v["met"]]
        row = [v["title"], unit, *[_cell_text(cells.get(t)) for t in targets], v.get("best_peer", "—"),
               ratio_text, v["goal"] or "—", met]
        lines.append("| " + " | ".join(row) + " |")
    for probe in _PROBES:
        if probe in table:
            lines.append(f"| {title(probe, settings)} | MiB/s | " + " | ".join(["—"] * len(targets))
                         + f" | — | {probe}: {_num(table[probe][probe].value, 1)} | | |")
    return lines


def _cpu_table(table: dict[str, dict[str, Cell]], targets: list[str], verdicts: list[dict[str, Any]]
               ) -> list[str]:
    head = ["workload", "per", *targets, "storeroom / lowest peer", "load generator µs/req"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in verdicts:
        w = v["workload"]
        cells = table[w]
        per = {"list10k": "page", "put64m": "object", "get64m": "object", "copy64m": "object",
               "rss1g": "object"}.get(w, "request")
        client = median([c.client_cpu_us for c in cells.values() if not math.isnan(c.client_cpu_us)])
        row = [v["title"], per, *[_cell_text(cells.get(t), "server_cpu_us") for t in targets],
               _num(v.get("cpu_ratio"), 2), _num(client, 1)]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _latency_table(table: dict[str, dict[str, Cell]], targets: list[str], verdicts: list[dict[str, Any]]
                   ) -> list[str]:
    """p50 / p99 of each request's latency, for the workloads whose load generator measures it: where a server
    stalls (a lock, a collection, a batch hogging the GIL), the tail shows it long before the throughput does."""
    return _per_request_table(
        table, targets, verdicts, LATENCIES[1],
        "Latency per request (ms, p50 / p99, as the load generator saw it; medians over rounds):",
        lambda e: f"{_num(e.get(LATENCIES[0]), 2)} / {_num(e[LATENCIES[1]], 1)}")


def _written_table(table: dict[str, dict[str, Cell]], targets: list[str], verdicts: list[dict[str, Any]]
                   ) -> list[str]:
    """KB written to storage per request by the server's process tree: steadier than CPU on a busy machine, so a
    change to what a write stores (rows, pages, fsyncs) shows here first."""
    return _per_request_table(
        table, targets, verdicts, WRITTEN_KB,
        "Written to storage per request (KB, the server's process tree, counted by Linux as pages are dirtied; "
        "PostgreSQL as it counts itself; medians over rounds):",
        lambda e: _num(e[WRITTEN_KB], 1))


def _per_request_table(table: dict[str, dict[str, Cell]], targets: list[str], verdicts: list[dict[str, Any]],
                       key: str, heading: str, text: Callable[[dict[str, float]], str]) -> list[str]:
    """A row per workload that measured ``key`` for some target (``text`` of each target's extras, "—" where it
    was not measured); nothing at all when no workload did."""
    rows = []
    for v in verdicts:
        cells = table[v["workload"]]
        if not any(key in c.extra for c in cells.values()):
            continue
        texts = ["—" if (c := cells.get(t)) is None or key not in c.extra else text(c.extra) for t in targets]
        rows.append("| " + " | ".join([v["title"], *texts]) + " |")
    if not rows:
        return []
    head = ["workload", *targets]
    return ["", heading, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head), *rows]


def _rss_table(cells: dict[str, Cell], targets: list[str]) -> list[str]:
    lines = ["RSS of the server's process tree during one streamed PUT of the RSS object (MiB; the round with "
             "the median growth):", "",
             "| target | before | peak | growth | after | PUT MiB/s |", "|---|---|---|---|---|---|"]
    for t in targets:
        c = cells.get(t)
        if c is None:
            continue
        e = c.extra
        growth = e.get("rss_peak_mib", math.nan) - e.get("rss_before_mib", math.nan)
        lines.append(f"| {t} | {_num(e.get('rss_before_mib'), 1)} | {_num(e.get('rss_peak_mib'), 1)} | "
                     f"{_num(growth, 1)} | {_num(e.get('rss_after_mib'), 1)} | {_num(e.get('mib_s'), 1)} |")
    return lines


def _authorization_table(table: dict[str, dict[str, Cell]]) -> list[str]:
    """storeroom-iam vs storeroom: what evaluating an IAM user's policies costs per request."""
    rows = []
    for workload in ("get4k", "head4k", "boto3_get4k"):
        cells = table.get(workload, {})
        root, user = cells.get(SUBJECT), cells.get(IAM_SUBJECT)
        if root is None or user is None or not root.value or not user.value:
            continue
        slowdown = root.value / user.value - 1  # time per request at the same concurrency
        met = "yes" if slowdown < IAM_MAX_SLOWDOWN else "**no**"
        rows.append(f"| {workload} | {_num(root.value)} | {_num(user.value)} | {slowdown * 100:+.1f} % | "
                    f"{_num(user.server_cpu_us - root.server_cpu_us, 1)} | < {IAM_MAX_SLOWDOWN * 100:g} % | {met} |")
    if not rows:
        return []
    return ["", "Cost of authorization: requests signed by an IAM user with 10 managed policies × 10 statements "
            "(storeroom-iam) vs the root user (storeroom).", "",
            "| workload | root ops/s | IAM user ops/s | time per request | server CPU µs/req added | goal | met |",
            "|---|---|---|---|---|---|---|", *rows]


def _postgres_table(table: dict[str, dict[str, Cell]]) -> list[str]:
    """storeroom-pg vs storeroom: what keeping the metadata in PostgreSQL costs per request (and where)."""
    rows = []
    for workload in ("get4k", "head4k", "put4k"):
        cells = table.get(workload, {})
        lite, pg = cells.get(SUBJECT), cells.get(PG_SUBJECT)
        if lite is None or pg is None or not lite.value or not pg.value:
            continue
        database = pg.extra.get("database_cpu_us", math.nan)
        slowdown = lite.value / pg.value - 1  # time per request at the same concurrency
        rows.append(f"| {workload} | {_num(lite.value)} | {_num(pg.value)} | {slowdown * 100:+.1f} % | "
                    f"{_num(lite.server_cpu_us, 1)} | {_num(pg.server_cpu_us, 1)} | "
                    f"{_num(pg.server_cpu_us - database, 1)} | {_num(database, 1)} |")
    if not rows:
        return []
    return ["", "Metadata in PostgreSQL (storeroom-pg, a PostgreSQL cluster on the same machine, fsync on) vs SQLite "
            "(storeroom). CPU per request counts the database server's processes too.", "",
            "| workload | SQLite ops/s | PostgreSQL ops/s | time per request | SQLite server CPU µs/req | "
            "PostgreSQL total CPU µs/req | of which Storeroom | of which PostgreSQL |",
            "|---|---|---|---|---|---|---|---|", *rows]


def _tls_table(table: dict[str, dict[str, Cell]]) -> list[str]:
    """storeroom-tls vs storeroom: what serving HTTPS costs (throughput and server CPU per request)."""
    rows = []
    for workload in ("get4k", "put4k", "boto3_get4k", "get64m", "put64m"):
        cells = table.get(workload, {})
        plain, tls = cells.get(SUBJECT), cells.get(TLS_SUBJECT)
        if plain is None or tls is None or not plain.value:
            continue
        per = "object" if workload.endswith("64m") else "request"
        rows.append(f"| {workload} | {_unit(workload)} | {_num(plain.value, 1)} | {_num(tls.value, 1)} | "
                    f"{tls.value / plain.value:.2f} | {per} | {_num(plain.server_cpu_us, 1)} | "
                    f"{_num(tls.server_cpu_us, 1)} | {_num(tls.server_cpu_us - plain.server_cpu_us, 1)} |")
    if not rows:
        return []
    return ["", "Cost of TLS: the same server over HTTPS (storeroom-tls, --tls-self-signed: ECDSA P-256, TLS 1.3, "
            "kept-alive connections) vs plain HTTP (storeroom).", "",
            "| workload | unit | http | https | https / http | CPU per | server CPU µs http | https | added |",
            "|---|---|---|---|---|---|---|---|---|", *rows]


def _baseline_table(table: dict[str, dict[str, Cell]]) -> list[str]:
    """storeroom vs storeroom-base (another checkout, --baseline): what a change costs, per workload."""
    rows = []
    for workload, cells in table.items():
        now, base = cells.get(SUBJECT), cells.get(BASE_SUBJECT)
        if now is None or base is None or not base.value or workload == "rss1g":
            continue
        cpu_change = (now.server_cpu_us / base.server_cpu_us - 1) * 100 if base.server_cpu_us else math.nan
        rows.append(f"| {workload} | {_unit(workload)} | {_num(base.value, 1)} | {_num(now.value, 1)} | "
                    f"{now.value / base.value:.3f} | {_num(base.server_cpu_us, 1)} | {_num(now.server_cpu_us, 1)} | "
                    f"{cpu_change:+.1f} % |")
    if not rows:
        return []
    return ["", "Against a baseline checkout (storeroom-base, --baseline): the same server from another commit.", "",
            "| workload | unit | baseline | this tree | this / baseline | server CPU µs baseline | this tree | "
            "CPU change |", "|---|---|---|---|---|---|---|---|", *rows]


def _unit(workload: str) -> str:
    return {"list10k": "keys/s", "put64m": "MiB/s", "get64m": "MiB/s", "copy64m": "MiB/s",
            "rss1g": "MiB"}.get(workload, "ops/s")


def _notes(meta: dict[str, Any]) -> list[str]:
    lines = [f"- machine: {meta['machine']}", "- versions: " + "; ".join(
        f"{k}: {v}" for k, v in meta["versions"].items())]
    for name, reason in meta["skipped"].items():
        lines.append(f"- **skipped {name}**: {reason}")
    for err in meta.get("errors", []):
        lines.append(f"- error: {err}")
    lines.append("- medians over rounds; `(!N)`: N rounds had >1% failed requests and were left out")
    return lines


def build(measurements: list[Measurement], meta: dict[str, Any]
          ) -> tuple[dict[str, dict[str, Cell]], list[dict[str, Any]], str]:
    """Summary table, verdicts and Markdown for one run."""
    table = summarize(measurements)
    probes = [table.get(p, {}).get(p) for p in _PROBES]
    floor = None if None in probes else min(c.value for c in probes if c is not None)  # (for mypy's sake)
    verdicts = [verdict(w, table[w], floor, meta.get("settings", {}))
                for w in meta["workloads"] if w in table]
    return table, verdicts, markdown(table, meta["targets"], meta, verdicts)


_DERIVED = {"valid", "server_cpu_us_per_request", "client_cpu_us_per_request"}
_FIELDS = {"workload", "target", "round", "value", "unit", "requests", "seconds", "errors", "server_cpu_s",
           "client_cpu_s"}


def from_json(path: Path) -> str:
    """The Markdown report of a JSON file written by an earlier run."""
    doc = json.loads(path.read_text())
    measurements = [
        Measurement(**{k: d[k] for k in _FIELDS},
                    extra={k: v for k, v in d.items() if k not in _FIELDS and k not in _DERIVED})
        for d in doc["measurements"]
    ]
    return build(measurements, doc["meta"])[2]
