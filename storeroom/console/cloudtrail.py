"""CloudTrail "Event history": the audit trail read with LookupEvents as the signed-in principal.

Filters: user name, access key, event name, resource name, a time range, "Denied only".  LookupEvents applies one
lookup attribute per call, so the most selective filter goes to the server and the others, with "Denied only",
are applied here to each event's record, by the same code as ``storeroom audit`` (storeroom/audit/trail.py).
A page reads LookupEvents pages (50 events each) until it has a page of matches or has read ``MAX_CALLS``
pages; "Next page" continues from LookupEvents' NextToken.  Each event's record is shown as CloudTrail wrote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from storeroom.audit.trail import Filters, TrailEvent
from storeroom.console.services import Caller, ServiceError
from storeroom.console.web import Page, Routes

routes = Routes()
PAGE_EVENTS = 50          # events shown per page (at least: whole LookupEvents pages are kept)
MAX_CALLS = 10            # LookupEvents calls per page when filters are applied here
FIRST_PAGE = "-"
FIELDS = ("user", "key", "event", "resource", "start", "end", "denied")


@dataclass(frozen=True, slots=True)
class Row:
    event: TrailEvent
    record_json: str

    @property
    def outcome(self) -> str:
        return self.event.failure or "Success"

    @property
    def denied(self) -> bool:
        return self.event.refused


def parse_time(value: str) -> datetime | None:
    """A ``datetime-local`` value (``2026-01-05T10:30``), read as UTC unless it names its offset; None when empty
    or unreadable."""
    try:
        when = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return when if when is None or when.tzinfo is not None else when.replace(tzinfo=UTC)


async def lookup_page(caller: Caller, filters: Filters, start: datetime | None, end: datetime | None,
                      token: str) -> tuple[list[TrailEvent], str, int]:
    """Matching events of one console page, the NextToken to go on from, and how many events were read."""
    params: dict[str, Any] = {"MaxResults": 50}
    attribute = filters.lookup_attribute()
    if attribute is not None:
        params["LookupAttributes"] = [{"AttributeKey": attribute[0], "AttributeValue": attribute[1]}]
    if start is not None:
        params["StartTime"] = start.timestamp()
    if end is not None:
        params["EndTime"] = end.timestamp()
    found: list[TrailEvent] = []
    read = 0
    for _ in range(MAX_CALLS):
        if token:
            params["NextToken"] = token
        answer = await caller.cloudtrail("LookupEvents", params)
        events = [TrailEvent.of(e) for e in answer.get("Events", [])]
        read += len(events)
        found += [e for e in events if filters.matches(e)]
        token = str(answer.get("NextToken") or "")
        if not token or len(found) >= PAGE_EVENTS:
            break
    return found, token, read


@routes.get("/cloudtrail")
async def cloudtrail_home(page: Page) -> Response:
    return page.redirect("/cloudtrail/events")


@routes.get("/cloudtrail/events")
async def events(page: Page) -> Response:
    values = {name: page.field(name).strip() for name in FIELDS}
    filters = Filters(user=values["user"] or None, key=values["key"] or None, event=values["event"] or None,
                      resource=values["resource"] or None, denied=values["denied"] == "on")
    start, end = parse_time(values["start"]), parse_time(values["end"])
    problem = None
    if (values["start"] and start is None) or (values["end"] and end is None):
        problem = "Enter times as YYYY-MM-DDTHH:MM (UTC)."
    elif start is not None and end is not None and start > end:
        problem = "The start of the time range must be before its end."
    token, history = page.field("token"), page.field("history").split()
    rows: list[Row] = []
    next_token, read, error = "", 0, None
    if problem is None:
        try:
            found, next_token, read = await lookup_page(page.caller, filters, start, end, token)
            rows = [Row(e, json.dumps(e.record, indent=2, sort_keys=False)) for e in found]
        except ServiceError as err:
            error = err
    kept = {k: v for k, v in values.items() if v}
    here = history + [token or FIRST_PAGE]
    next_url = _url(kept, next_token, here) if next_token else None
    previous_url = None
    if history:
        previous_url = _url(kept, "" if history[-1] == FIRST_PAGE else history[-1], history[:-1])
    return page.render("cloudtrail/events.html", status=403 if error and error.denial else 200, rows=rows,
                       values=values, problem=problem, error=error, read=read, next_url=next_url,
                       previous_url=previous_url, page_number=len(history) + 1)


def _url(values: dict[str, str], token: str, history: list[str]) -> str:
    params = dict(values)
    if token:
        params["token"] = token
    if history:
        params["history"] = " ".join(history)
    return "/cloudtrail/events?" + urlencode(params)
