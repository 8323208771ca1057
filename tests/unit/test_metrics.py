"""The per-process aggregation of storeroom/metrics.py gives what prometheus-client itself would have counted
request by request (in this process's single-process mode), with bounded label values."""

from __future__ import annotations

import random
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import Metric

from storeroom import metrics


def _samples(families: Iterable[Metric], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in families:
        for s in family.samples:
            if s.name.startswith(name):
                out[(("name", s.name), *sorted(s.labels.items()))] = s.value
    return out


def test_flushed_histogram_equals_observed_one() -> None:
    rng = random.Random(3)
    durations = [rng.choice([0.0005, 0.001, 60.0, 100.0]) if i % 7 == 0 else rng.expovariate(50)
                 for i in range(2000)]
    reference = Histogram("ref_seconds", "reference", ["service", "operation"], buckets=metrics.LATENCY_BUCKETS,
                          registry=CollectorRegistry())
    own = metrics.RequestMetrics()
    for d in durations:
        reference.labels("s3", "HeadObject").observe(d)
        own.observe("s3", "HeadObject", 200, d, 0, 0, None)
    before = _samples(metrics.LATENCY.collect(), "storeroom_request_duration_seconds")
    own.flush()
    after = _samples(metrics.LATENCY.collect(), "storeroom_request_duration_seconds")
    expected = _samples(reference.collect(), "ref_seconds")
    got = {}
    for key, value in after.items():
        if dict(key[1:]).get("operation") != "HeadObject":
            continue
        name = key[0][1].replace("storeroom_request_duration_seconds", "ref_seconds")
        got[(("name", name), *key[1:])] = round(value - before.get(key, 0.0), 6)
    expected = {k: round(v, 6) for k, v in expected.items() if not k[0][1].endswith("_created")}
    got = {k: v for k, v in got.items() if not k[0][1].endswith("_created")}
    assert got == expected


def test_counts_and_bounded_labels() -> None:
    own = metrics.RequestMetrics()
    before = _samples(metrics.REQUESTS.collect(), "storeroom_requests")
    own.observe("s3", "PutObject", 200, 0.01, 4096, 0, None)
    own.observe("s3", "NotAnOperation", 400, 0.01, 0, 10, None)
    own.observe("evil-service-1234", "Whatever", 403, 0.01, 0, 0, "anonymous")
    own.flush()
    after = _samples(metrics.REQUESTS.collect(), "storeroom_requests")
    moved = {dict(k[1:])["operation"] + "/" + dict(k[1:])["service"]: v - before.get(k, 0.0)
             for k, v in after.items() if k[0][1] == "storeroom_requests_total" and v != before.get(k, 0.0)}
    assert moved == {"PutObject/s3": 1, "Unknown/s3": 1, "Unknown/other": 1}


def test_a_full_disk_is_an_error_for_the_metrics_not_a_crash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """prometheus-client's values files are sparse and memory-mapped: on a full disk the first write into a new
    page was SIGBUS, which killed a worker on its next new series (a HEAD, a DeleteObject) and each replacement.
    Their blocks are now allocated first: a full disk is an OSError (ENOSPC). A real full disk: a small tmpfs."""
    import subprocess
    import sys
    import textwrap

    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        code = textwrap.dedent(f"""
            import errno, os
            os.makedirs("{small}/metrics")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = "{small}/metrics"
            from storeroom import metrics
            with open("{small}/filler", "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"x" * 4096)
                except OSError:
                    pass
            try:
                for i in range(2000):
                    metrics.REQUESTS.labels("s3", f"Operation{{i}}", "200").inc()
            except OSError as exc:
                print("refused", errno.errorcode[exc.errno])
        """)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout.strip()) == (0, "refused ENOSPC"), done.stderr
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
