"""LookupEvents' lookup rows, "postings": for each batch of stored events, one row per (attribute, value)
listing the events that have it, newest first by the row's ``last_time``.

Why postings, not an index entry per event and attribute: an S3 data event has ten lookup keys (every event;
its user name, access key, event name, event source and read-only flag; its bucket and its object, each by name
and by type).  As index entries (and two resource rows with theirs) that made twelve B-tree insertions per event,
about a ninth of a 4 KiB GET's CPU (bench/RESULTS.md "The audit trail's lookup rows").  A batch (one worker's
second of events) has few distinct values, so as postings it is a handful of rows per batch.

Each row lists ``[time, event id]`` pairs (JSON) spanning at most :data:`SPAN` seconds and :data:`MAX_ENTRIES`
events, so a lookup of ``[start, end]`` finds every event it needs in the rows whose ``last_time`` lies in
``[start, end + SPAN]``, walks them newest first through one index, and stops as soon as a row's ``last_time``
is older than the last of the page it has found.  Events of one row are kept in the ``scope`` 0 list; management
events are listed once more under ``scope`` 1, so that the Management category reads only its own.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from storeroom.store.sql import Conn

SPAN = 60.0            # seconds between a row's first and last event at most
MAX_ENTRIES = 8192     # events per row at most (~200 KiB of JSON)
EVERY = ("", "")       # the key every event has: lookups without an attribute
_PAGE = 16             # rows read per query while walking

Key = tuple[str, str]                                   # (LookupEvents attribute, value)
Group = tuple[Key, ...]                                 # keys that events share (postings.keys_of)
Row = tuple[str, str, int, float, float, str]           # attribute, value, scope, first_time, last_time, entries

SCHEMA_SQLITE = """
CREATE TABLE IF NOT EXISTS event_postings (
    id INTEGER PRIMARY KEY,
    attribute TEXT NOT NULL,          -- a LookupEvents attribute ('' with value '': every event)
    value TEXT NOT NULL,
    scope INTEGER NOT NULL,           -- 0: every event with the value, 1: its management events
    first_time REAL NOT NULL,
    last_time REAL NOT NULL,
    entries TEXT NOT NULL             -- JSON [[time, event id], ...]
);
CREATE INDEX IF NOT EXISTS postings_by_value ON event_postings(attribute, value, scope, last_time);
CREATE INDEX IF NOT EXISTS postings_by_time ON event_postings(last_time);
"""

INSERT = ("INSERT INTO event_postings(attribute, value, scope, first_time, last_time, entries) "
           "VALUES (?, ?, ?, ?, ?, ?)")


def keys_of(name: str, source: str, read_only: bool, username: str | None, access_key_id: str | None,
            resources: Sequence[tuple[str, str]]) -> tuple[Group, ...]:
    """The lookup keys of one event (its resources as LookupEvents shows them: (type, name)), as groups that
    many events of a batch share: its name, source, user and key; its resources' types; their names."""
    common = _common(name, source, read_only, username, access_key_id)
    if not resources:
        return (common,)
    if len(resources) == 1:
        kind, resource = resources[0]
        return common, _types((kind,)), (("ResourceName", resource),)
    names = tuple(dict.fromkeys([("ResourceName", resource) for _, resource in resources]))  # may repeat
    return common, _types(tuple([kind for kind, _ in resources])), names


@functools.lru_cache(maxsize=4096)
def _common(name: str, source: str, read_only: bool, username: str | None, access_key_id: str | None) -> Group:
    keys = [EVERY, ("EventName", name), ("EventSource", source), ("ReadOnly", "true" if read_only else "false")]
    if username is not None:
        keys.append(("Username", username))
    if access_key_id is not None:
        keys.append(("AccessKeyId", access_key_id))
    return tuple(keys)


@functools.lru_cache(maxsize=1024)
def _types(kinds: tuple[str, ...]) -> Group:
    return tuple(dict.fromkeys([("ResourceType", kind) for kind in kinds]))  # two resources may share a type


def build(events: Iterable[tuple[int, float, bool, Sequence[Group]]]) -> list[Row]:
    """The posting rows of a batch of (event id, time, management, key groups: :func:`keys_of`).

    Events are gathered by group first (one list append per group of an event, not one per key: a batch's
    events share a few groups, bench/RESULTS.md "The audit trail's records stored as their parts"), then each
    key's events are the lists of the groups that hold it."""
    by_group: dict[tuple[Group, int], list[tuple[float, int]]] = {}
    for event_id, time, management, groups in events:
        entry = (time, event_id)
        for group in groups:
            by_group.setdefault((group, 0), []).append(entry)
            if management:
                by_group.setdefault((group, 1), []).append(entry)
    by_key: dict[tuple[str, str, int], list[tuple[Group, int]]] = {}
    for group_scope in by_group:
        group, scope = group_scope
        for attribute, value in group:
            by_key.setdefault((attribute, value, scope), []).append(group_scope)
    # each group's first and last time, and its entries' JSON, are made once for all the keys it holds (every
    # event's name, source, user and key share one group: six rows of the same list)
    spans: dict[tuple[Group, int], tuple[float, float]] = {}
    texts: dict[tuple[Group, int], str] = {}
    rows: list[Row] = []
    for (attribute, value, scope), held_by in by_key.items():
        for group_scope in held_by:
            if group_scope not in spans:
                times = [t for t, _ in by_group[group_scope]]
                spans[group_scope] = (min(times), max(times))
        if len(held_by) == 1:
            entries = by_group[held_by[0]]
            first, last = spans[held_by[0]]
        else:
            entries = [entry for group_scope in held_by for entry in by_group[group_scope]]
            first = min(spans[group_scope][0] for group_scope in held_by)
            last = max(spans[group_scope][1] for group_scope in held_by)
        if len(entries) <= MAX_ENTRIES and last - first <= SPAN:  # a batch's second: one row
            text = texts.get(held_by[0]) if len(held_by) == 1 else None
            if text is None:
                text = orjson.dumps(entries).decode()
                if len(held_by) == 1:
                    texts[held_by[0]] = text
            rows.append((attribute, value, scope, first, last, text))
            continue
        for chunk in _chunks(entries):  # sorted: its first entry is its oldest, its last its newest
            rows.append((attribute, value, scope, chunk[0][0], chunk[-1][0], orjson.dumps(chunk).decode()))
    return rows


def _chunks(entries: list[tuple[float, int]]) -> list[list[tuple[float, int]]]:
    """``entries`` (more than MAX_ENTRIES, or over SPAN seconds: a batch held back while the database was away)
    as rows of at most SPAN seconds and MAX_ENTRIES events."""
    chunks: list[list[tuple[float, int]]] = [[]]
    for entry in sorted(entries):
        chunk = chunks[-1]
        if chunk and (len(chunk) >= MAX_ENTRIES or entry[0] - chunk[0][0] > SPAN):
            chunks.append(chunk := [])
        chunk.append(entry)
    return chunks


async def insert(conn: Conn, rows: Sequence[Row]) -> None:
    if rows:
        await conn.many(INSERT, rows)


async def newest(conn: Conn, key: Key, scope: int, *, start: float, end: float,
                 after: tuple[float, int] | None, limit: int) -> list[tuple[float, int]]:
    """The newest ``limit`` (time, event id) with ``key`` in ``[start, end]``, before ``after`` (the last
    (time, id) of the previous page), newest first."""
    found: list[tuple[float, int]] = []
    if after is not None:
        end = min(end, after[0])
    cursor: tuple[float, int] | None = None   # (last_time, row id) of the last row read
    while True:
        rows = await _rows(conn, key, scope, start, end + SPAN, cursor)
        for _, first, last, text in rows:
            if len(found) >= limit and last < found[limit - 1][0]:
                return found[:limit]   # every later row is older than the page
            if first <= end:
                found += _matching(text, start, end, after)
                found.sort(reverse=True)
        if len(rows) < _PAGE:
            return found[:limit]
        cursor = (rows[-1][2], rows[-1][0])


async def _rows(conn: Conn, key: Key, scope: int, low: float, high: float,
                cursor: tuple[float, int] | None) -> list[Any]:
    sql = ("SELECT id, first_time, last_time, entries FROM event_postings "
           "WHERE attribute = ? AND value = ? AND scope = ? AND last_time >= ? AND last_time <= ?")
    args: list[Any] = [key[0], key[1], scope, low, high]
    if cursor is not None:
        sql += " AND (last_time < ? OR (last_time = ? AND id < ?))"
        args += [cursor[0], cursor[0], cursor[1]]
    return await conn.all(sql + " ORDER BY last_time DESC, id DESC LIMIT ?", [*args, _PAGE])


def _matching(text: str, start: float, end: float, after: tuple[float, int] | None) -> list[tuple[float, int]]:
    out = []
    for t, event_id in orjson.loads(text):
        if start <= t <= end and (after is None or t < after[0] or (t == after[0] and event_id < after[1])):
            out.append((t, event_id))
    return out


async def prune(conn: Conn, cutoff: float, limit: int) -> int:
    """Deletes the events of the oldest rows of every event whose newest is older than ``cutoff`` (about ``limit``
    events, at least one row's), and up to ``limit`` rows of other keys older than it; how many events."""
    rows = await conn.all("SELECT id, entries FROM event_postings WHERE attribute = '' AND value = '' "
                          "AND scope = 0 AND last_time < ? ORDER BY last_time LIMIT ?", (cutoff, _PAGE))
    ids: list[int] = []
    consumed: list[tuple[int]] = []
    for row_id, text in rows:
        if ids and len(ids) >= limit:
            break
        ids += [event_id for _, event_id in orjson.loads(text)]
        consumed.append((row_id,))
    if ids:
        await conn.many("DELETE FROM events WHERE id = ?", [(i,) for i in ids])
        await conn.many("DELETE FROM event_postings WHERE id = ?", consumed)
    # the events of other keys' rows go with the rows of every event (above), which list them all
    await conn.run("DELETE FROM event_postings WHERE id IN (SELECT id FROM event_postings WHERE last_time < ? "
                   "AND NOT (attribute = '' AND scope = 0) ORDER BY last_time LIMIT ?)", (cutoff, limit))
    return len(ids)
