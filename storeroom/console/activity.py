"""The IAM dashboard's activity chart: requests and denials per hour over the last day, as a server-rendered SVG.

The counts come from the audit trail through its API, CloudTrail LookupEvents as the signed-in principal (it
needs ``cloudtrail:LookupEvents``, as the Event history does), never from the audit database directly: the
console is a client of the services.  LookupEvents answers 50 events a call, so the chart reads at most
``MAX_EVENTS`` of the day's newest events; on a busier day it says which part of the day it covers.  A denial is
what ``storeroom audit --denied`` counts (storeroom/audit/trail.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from storeroom.audit.trail import TrailEvent
from storeroom.console.services import Caller

HOURS = 24
MAX_EVENTS = 1000
WIDTH, HEIGHT, BAR_GAP, TOP = 360, 110, 2, 6


@dataclass(frozen=True, slots=True)
class Bar:
    hour: str            # "14:00" (UTC), the hour it counts
    total: int
    denied: int
    x: float
    width: float
    total_y: float
    total_height: float
    denied_y: float
    denied_height: float


@dataclass(frozen=True, slots=True)
class Activity:
    bars: list[Bar]
    total: int
    denied: int
    peak: int
    read: int
    since: float          # the oldest moment counted: a day ago, or the oldest event read when truncated
    truncated: bool


async def read_events(caller: Caller, start: float, limit: int = MAX_EVENTS) -> tuple[list[TrailEvent], bool]:
    """The newest events since ``start`` (at most ``limit``), and whether more exist."""
    params: dict[str, object] = {"StartTime": start, "MaxResults": 50}
    events: list[TrailEvent] = []
    while len(events) < limit:
        answer = await caller.cloudtrail("LookupEvents", params)
        events += [TrailEvent.of(e) for e in answer.get("Events", [])]
        token = answer.get("NextToken")
        if not token:
            return events, False
        params["NextToken"] = token
    return events, True


def bucketed(events: list[TrailEvent], now: float, truncated: bool) -> Activity:
    end_hour = int(now // 3600) * 3600 + 3600           # the current hour is the last bar
    first = end_hour - HOURS * 3600
    totals, denials = [0] * HOURS, [0] * HOURS
    for e in events:
        slot = int((e.time.timestamp() - first) // 3600)
        if 0 <= slot < HOURS:
            totals[slot] += 1
            denials[slot] += e.refused
    peak = max(totals) or 1
    width = WIDTH / HOURS
    usable = HEIGHT - TOP
    bars = []
    for i, (total, denied) in enumerate(zip(totals, denials, strict=True)):
        th, dh = usable * total / peak, usable * denied / peak
        hour = time.strftime("%H:00", time.gmtime(first + i * 3600))
        bars.append(Bar(hour, total, denied, i * width + BAR_GAP / 2, width - BAR_GAP, HEIGHT - th, th,
                        HEIGHT - dh, dh))
    since = min((e.time.timestamp() for e in events), default=first) if truncated else now - HOURS * 3600
    return Activity(bars, sum(totals), sum(denials), max(totals), len(events), since, truncated)


async def activity(caller: Caller, now: float | None = None) -> Activity:
    at = time.time() if now is None else now
    events, truncated = await read_events(caller, at - HOURS * 3600)
    return bucketed(events, at, truncated)
