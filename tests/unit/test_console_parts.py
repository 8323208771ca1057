"""The console's sans-IO pieces: the API address the console learns, S3 breadcrumbs and sizes, the activity
chart's hours, the key rules of the security recommendations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from storeroom.audit.trail import TrailEvent
from storeroom.config import Settings
from storeroom.console.activity import HOURS, bucketed
from storeroom.console.iam.recommendations import Key, key_findings
from storeroom.console.s3.common import breadcrumbs, shown_time, size

DAY = 86400.0


@pytest.mark.parametrize(("host", "port"), [("127.0.0.1", 9000), ("0.0.0.0", 9100), ("::1", 9200), ("::", 9000)])
def test_the_console_learns_the_api_address(tmp_path: Path, monkeypatch: Any, host: str, port: int) -> None:
    for name, value in Settings(tmp_path, host=host, port=port).to_env().items():
        monkeypatch.setenv(name, value)
    again = Settings.from_env()
    assert (again.host, again.port) == (host, port)


def test_breadcrumbs_and_sizes() -> None:
    assert [(c.label, c.url) for c in breadcrumbs("b", "a/c d/")] == [
        ("Amazon S3", "/s3/buckets"), ("b", "/s3/buckets/b"), ("a", "/s3/buckets/b?prefix=a%2F"),
        ("c d", "/s3/buckets/b?prefix=a%2Fc+d%2F")]
    assert [c.label for c in breadcrumbs("b", "a/file.txt")] == ["Amazon S3", "b", "a"]
    assert [size(0), size(1023), size(1536), size(50 * 1024 * 1024)] == ["0 B", "1023 B", "1.5 KB", "50.0 MB"]
    assert shown_time("2026-12-05T06:00:32.726Z") == "2026-12-05 06:00:32 UTC"
    assert shown_time("Sat, 05 Dec 2026 06:00:35 GMT") == "2026-12-05 06:00:35 UTC"


def _event(at: float, error: str | None = None) -> TrailEvent:
    record: dict[str, Any] = {"eventName": "GetObject", "eventSource": "s3.amazonaws.com"}
    if error:
        record["errorCode"] = error
    return TrailEvent.of({"EventTime": at, "CloudTrailEvent": json.dumps(record)})


def test_activity_hours_count_requests_and_denials() -> None:
    now = datetime(2026, 12, 5, 14, 30, tzinfo=UTC).timestamp()
    events = [_event(now - 60), _event(now - 120, "AccessDenied"), _event(now - 3600 * 5, "NoSuchKey"),
              _event(now - 3600 * 30)]                                   # a day and more ago: not counted
    chart = bucketed(events, now, truncated=False)
    assert len(chart.bars) == HOURS and (chart.total, chart.denied, chart.peak) == (3, 1, 2)
    assert (chart.bars[-1].hour, chart.bars[-1].total, chart.bars[-1].denied) == ("14:00", 2, 1)
    assert (chart.bars[-6].hour, chart.bars[-6].total, chart.bars[-6].denied) == ("09:00", 1, 0)
    assert chart.bars[-1].total_height == pytest.approx(chart.bars[-1].denied_height * 2)


def test_key_rules_are_the_hygiene_rules() -> None:
    now = 1000 * DAY
    keys = [Key(None, "AKIAROOT", "Active", now - 100 * DAY, now - DAY),             # old: rotate
            Key("alice", "AKIAOLD", "Inactive", now - 100 * DAY, now - 95 * DAY),     # unused (inactive: no rotate)
            Key("bob", "AKIANEW", "Active", now - 10 * DAY, None),                   # fine
            Key("carol", "AKIANEVER", "Active", now - 91 * DAY, None)]               # old and never used
    found = [(r.kind, r.title, r.url) for r in key_findings(keys, now, 90, 90)]
    assert found == [
        ("key-age", "Rotate access key AKIAROOT", "/iam/security-credentials"),
        ("key-unused", "Remove unused access key AKIAOLD", "/iam/users/alice?tab=security"),
        ("key-age", "Rotate access key AKIANEVER", "/iam/users/carol?tab=security"),
        ("key-unused", "Remove unused access key AKIANEVER", "/iam/users/carol?tab=security")]
