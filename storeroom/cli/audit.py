"""``storeroom audit``: who did what, when, from where, and was it allowed, from the audit trail (CloudTrail
``LookupEvents``, :mod:`storeroom.cli.trail`), newest first, or followed like ``tail -f``."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice

import click

from storeroom.audit.trail import EVENT_ALIASES, Filters, TrailEvent
from storeroom.cli.common import (
    FiniteFloat,
    Output,
    Target,
    aws_options,
    iso,
    json_option,
    now,
    parse_duration,
    parse_iso,
    shown,
    sleep,
)
from storeroom.cli.trail import by_these_commands, lookup

COLUMNS = ["Time", "User", "Event", "Resources", "Source IP", "Outcome"]
# Follow mode prints row by row, so its columns have fixed widths (a longer value just pushes the line on).
WIDTHS = [20, 16, 24, 44, 15]


def parse_when(text: str) -> datetime:
    """``1h`` (that long ago) or an ISO 8601 time (``2025-01-31T12:00:00Z``; UTC when no zone is given)."""
    when = parse_iso(text)
    if when is not None:
        return when
    return now() - timedelta(seconds=parse_duration(text))


def _when(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_when(value)
    except ValueError:
        raise click.BadParameter(f"expected a duration (30m, 1h, 7d) or an ISO 8601 time, got {value!r}",
                                 ctx, param) from None


@click.command()
@click.option("--user", help="events of this IAM user ('root' for the root user, ANONYMOUS_PRINCIPAL for "
                             "anonymous requests)")
@click.option("--key", "key_id", metavar="AKIA…", help="events signed with this access key")
@click.option("--event", help="events of this API call (PutObject, GetObject, CreateAccessKey, ...)")
@click.option("--bucket", help="events on this bucket or its objects")
@click.option("--denied", is_flag=True, help="only refused requests (AccessDenied, unknown keys, bad signatures)")
@click.option("--since", callback=_when, metavar="WHEN", help="from this long ago (1h, 7d) or this ISO 8601 time")
@click.option("--until", callback=_when, metavar="WHEN", help="up to this long ago or this ISO 8601 time")
@click.option("--limit", type=click.IntRange(0, 10**9), default=None,
              help="show at most N events (default 50, with --follow the last 10 before following; 0: all)")
@click.option("--follow", "-f", is_flag=True, help="keep printing new events as they come, until Ctrl-C")
@click.option("--interval", type=FiniteFloat(min=0.2), default=2.0, show_default=True,
              help="with --follow: seconds between polls")
@click.option("--lag", default="10s", show_default=True, metavar="DURATION",
              help="with --follow: how late an event may become visible (Storeroom: about 1s; AWS's Event "
                   "history: up to 15m, give --lag 15m there)")
@json_option
@aws_options
def audit(target: Target, user: str | None, key_id: str | None, event: str | None, bucket: str | None,
          denied: bool, since: datetime | None, until: datetime | None, limit: int | None, follow: bool,
          interval: float, lag: str, as_json: bool) -> None:
    """Search the audit trail: a table of time, user, event, resources, source IP and outcome (ok, or the
    error code), newest first.  --json prints the CloudTrail records, one JSON object per line.

    \b
    The trail is read with CloudTrail LookupEvents, which filters on one attribute per call: the command sends
    the most selective of --key, --user, --bucket, --event and applies the others (and --denied) itself to each
    event's CloudTrail record.  The credentials need cloudtrail:LookupEvents.

    \b
    --denied counts an event as denied when its errorCode refuses the request: AccessDenied,
    AccessDeniedException, UnauthorizedOperation, AllAccessDisabled (not allowed), or InvalidAccessKeyId,
    SignatureDoesNotMatch, InvalidClientTokenId, ExpiredToken, RequestTimeTooSkewed, ... (not authenticated).
    Other errors (NoSuchKey, NoSuchEntity, ...) are answers to allowed requests.

    Storeroom's trail holds S3 data events (GetObject, PutObject, ...) too; AWS's Event history holds
    management events only, so against AWS those are not found.
    """
    if follow and until is not None:
        raise click.UsageError("--follow cannot be used with --until")
    try:
        lag_seconds = parse_duration(lag)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--lag") from None
    if event in EVENT_ALIASES:  # CloudTrail's name for it
        event = EVENT_ALIASES[event]
    filters = Filters(user=user, key=key_id, event=event, bucket=bucket, denied=denied)
    out = Output(as_json)
    if follow:
        try:
            _follow(target, filters, since, 10 if limit is None else limit, interval, lag_seconds, out)
        except KeyboardInterrupt:
            sys.stdout.flush()
        return
    count = 50 if limit is None else limit
    found = _matching(target, filters, since, until)
    events = list(islice(found, count) if count else found)
    if as_json:
        for e in events:
            _print_json(e)
        return
    if not events:
        out.line("No events found.")
        return
    out.table(None, COLUMNS, [_row(e) for e in events])
    if count and len(events) == count:
        out.note(f"(the newest {count}; --limit N for more, --limit 0 for all)")


def _matching(target: Target, filters: Filters, start: datetime | None,
              end: datetime | None, tag: str = "") -> Iterator[TrailEvent]:
    return (e for e in lookup(target, filters.lookup_attribute(), start, end, tag) if filters.matches(e))


def _follow(target: Target, filters: Filters, since: datetime | None, limit: int, interval: float, lag: float,
            out: Output) -> None:
    """The last ``limit`` events (0: all), oldest first, then every new one as it becomes visible.  Each poll
    asks again for the last ``lag`` seconds before the previous one that was answered (an event is visible a
    little after its time; after an outage, later: its events were stored when the database came back), and
    events already printed are recognised by their EventId.  A server that does not answer for a while is said
    once and followed again.  Its own polls (LookupEvents with this run's tag in their user agent) are not
    printed; other admins' are."""
    tag = f"audit-follow/{secrets.token_hex(4)}"
    polled = now()
    matching = _matching(target, filters, since, None, tag)
    initial = [e for e in (islice(matching, limit) if limit else matching) if not _own_poll(e, tag)]
    header = not out.as_json
    if header:
        _print_line(COLUMNS)
    seen: dict[str, datetime] = {}
    _emit(reversed(initial), seen, out)
    away = False
    while True:
        sleep(interval)
        start = polled - timedelta(seconds=lag)
        asked = now()
        try:
            fresh = [e for e in _matching(target, filters, start, None, tag)
                     if e.event_id not in seen and not _own_poll(e, tag)]
        except Exception as e:
            if not _transient(e):
                raise
            if not away:
                out.note(f"storeroom: the server does not answer ({e}); following again when it does")
                away = True
            continue  # ``polled`` stays: the next answered poll asks from before the gap
        if away:
            out.note("storeroom: the server answers again: following again")
            away = False
        polled = asked
        _emit(sorted(reversed(fresh), key=lambda e: e.time), seen, out)  # oldest first; ties: as listed
        horizon = start - timedelta(seconds=lag + 2)  # ids older than any later window can be forgotten
        for event_id in [i for i, t in seen.items() if t < horizon]:
            del seen[event_id]


def _own_poll(e: TrailEvent, tag: str) -> bool:
    """A LookupEvents of this follower (its run's tag in the user agent)."""
    return e.name == "LookupEvents" and by_these_commands(e) and tag in str(e.record.get("userAgent", ""))


def _transient(e: Exception) -> bool:
    """A server away for a while (stopped, restarting, its database unreachable): connection errors, 5xx."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    if isinstance(e, BotoConnectionError | HTTPClientError):
        return True
    status = getattr(e, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return isinstance(status, int) and status >= 500


def _emit(events: Iterable[TrailEvent], seen: dict[str, datetime], out: Output) -> None:
    for e in events:
        seen[e.event_id] = e.time
        if out.as_json:
            _print_json(e)
        else:
            _print_line(_row(e, markup=False))


def _print_json(e: TrailEvent) -> None:
    sys.stdout.write(json.dumps(e.record, separators=(",", ":"), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _print_line(cells: list[str]) -> None:
    text = "  ".join(cell.ljust(width) for cell, width in zip(cells, WIDTHS, strict=False))
    sys.stdout.write(f"{text}  {cells[-1]}".rstrip() + "\n")
    sys.stdout.flush()


def _row(e: TrailEvent, markup: bool = True) -> list[str]:
    from rich.markup import escape

    outcome = e.failure or "ok"
    cells = [shown(c) for c in (str(e.record.get("eventTime") or iso(e.time)), _user(e), e.name, resource_label(e),
                                str(e.record.get("sourceIPAddress") or ""))]
    outcome = shown(outcome)
    if not markup:
        return [*cells, outcome]
    return [*map(escape, cells), f"[red]{escape(outcome)}[/]" if e.refused else escape(outcome)]


def _user(e: TrailEvent) -> str:
    if e.username:
        return e.username
    key = e.access_key_id
    return f"unknown key {key}" if key else "-"


def resource_label(e: TrailEvent) -> str:
    """The event's resources, short: ``bucket/key`` for an object (its bucket not repeated), a bucket's
    name, an IAM user's name, a policy's ARN."""
    names: list[str] = []
    objects = {name.removeprefix("arn:aws:s3:::").split("/", 1)[0] for kind, name in e.resources
               if kind == "AWS::S3::Object"}
    for kind, name in e.resources:
        if kind == "AWS::S3::Bucket" and name.removeprefix("arn:aws:s3:::") in objects:
            continue
        short = name.removeprefix("arn:aws:s3:::") if kind.startswith("AWS::S3::") else name
        if short not in names:
            names.append(short)
    if not names and e.bucket:
        names.append(e.bucket if e.key is None else f"{e.bucket}/{e.key}")
    return ", ".join(names)
