"""Reading the audit trail through CloudTrail ``LookupEvents``: what ``storeroom audit`` and ``storeroom policy
generate`` share.  Public API only (boto3's ``cloudtrail`` client and its paginator), so it reads AWS's Event
history as well as Storeroom's.  The events and filters themselves are sans-IO, in storeroom/audit/trail.py (the
console's Event history uses them too).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from storeroom.audit.trail import TrailEvent
from storeroom.cli.common import Target, error_code, fail


def lookup(target: Target, attribute: tuple[str, str] | None, start: datetime | None = None,
           end: datetime | None = None, tag: str = "") -> Iterator[TrailEvent]:
    """Every event of the lookup, newest first, page by page (LookupEvents' 50 at a time); ``tag``: of the
    client's user agent (Target.client)."""
    params: dict[str, Any] = {}
    if attribute:
        params["LookupAttributes"] = [{"AttributeKey": attribute[0], "AttributeValue": attribute[1]}]
    if start is not None:
        params["StartTime"] = start
    if end is not None:
        params["EndTime"] = end
    pages = iter(target.client("cloudtrail", tag).get_paginator("lookup_events").paginate(**params))
    while True:
        try:
            page = next(pages)
        except StopIteration:
            return
        except Exception as e:
            if error_code(e) in ("AccessDeniedException", "AccessDenied"):
                message = getattr(e, "response", {}).get("Error", {}).get("Message") or str(e)
                fail(f"AccessDenied: cannot read the audit trail: the credentials used need "
                     f"cloudtrail:LookupEvents on * ({message})")
            raise
        for event in page.get("Events", []):
            yield TrailEvent.of(event)


def by_these_commands(e: TrailEvent) -> bool:
    """A request of Storeroom's admin commands (their user agent says so: cli/common.py): a grant's own check,
    a follower's polls — not the application's."""
    return "storeroom-cli/" in str(e.record.get("userAgent", ""))
