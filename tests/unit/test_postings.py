"""LookupEvents' lookup rows (storeroom/audit/postings.py) against the plain answer: random events in random
batches (ties in time, events outside any window, management events, batches held back for minutes), looked
up by key, window, category and page, must give exactly the events a scan of all of them gives, newest first."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3

from storeroom.audit import postings
from storeroom.store.sqlite import SqliteConn, run_script

Event = tuple[int, float, bool, tuple[postings.Group, ...]]


def _events(rng: random.Random, n: int) -> list[Event]:
    users = ["alice", "bob", "carol"]
    out: list[Event] = []
    for event_id in range(1, n + 1):
        t = 1_700_000_000 + rng.choice([rng.uniform(0, 600), float(rng.randrange(0, 600, 7))])  # some ties
        management = rng.random() < 0.2
        bucket = rng.choice(["b1", "b2"])
        resources = rng.choice([  # none, one, two, two of one type, two of one name
            [], [("AWS::S3::Bucket", bucket)],
            [("AWS::S3::Object", f"arn:aws:s3:::{bucket}/k{rng.randrange(3)}"), ("AWS::S3::Bucket", bucket)],
            [("AWS::IAM::User", "u1"), ("AWS::IAM::User", "u2")],
            [("AWS::IAM::User", "b1"), ("AWS::IAM::Group", "b1")]])
        keys = postings.keys_of(rng.choice(["GetObject", "PutObject"]), "s3.amazonaws.com", rng.random() < 0.5,
                                rng.choice(users), rng.choice([None, "AKIA1"]), resources)
        out.append((event_id, t, management, keys))
    return out


def _expected(events: list[Event], key: postings.Key, scope: int, start: float, end: float,
              after: tuple[float, int] | None) -> list[tuple[float, int]]:
    found = [(t, i) for i, t, management, keys in events
             if key in {k for group in keys for k in group} and (management or not scope) and start <= t <= end
             and (after is None or (t, i) < after)]
    return sorted(found, reverse=True)


def test_lookups_page_through_exactly_the_matching_events() -> None:
    rng = random.Random(14)
    events = _events(rng, 1500)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    run_script(conn, postings.SCHEMA_SQLITE)
    position = 0
    while position < len(events):  # batches of random sizes, as the workers' flushes make them
        batch = events[position:position + rng.choice([1, 5, 50, 400])]
        position += len(batch)
        conn.executemany(postings.INSERT, postings.build(batch))
    db = SqliteConn(conn)

    async def check() -> int:
        checked = 0
        for key in (postings.EVERY, ("Username", "alice"), ("ResourceName", "b2"), ("ReadOnly", "true"),
                    ("EventName", "PutObject"), ("Username", "nobody"), ("AccessKeyId", "AKIA1"),
                    ("ResourceType", "AWS::IAM::User"), ("ResourceName", "b1"), ("ResourceName", "arn:aws:s3:::b1/k1")):
            for scope in (0, 1):
                for _ in range(4):
                    start = 1_700_000_000 + rng.uniform(-10, 300)
                    end = start + rng.choice([1.0, 60.0, 200.0, 1000.0])
                    limit = rng.choice([1, 7, 50])
                    after: tuple[float, int] | None = None
                    expected = _expected(events, key, scope, start, end, None)
                    pages: list[tuple[float, int]] = []
                    while True:  # every page, as NextToken walks them
                        page = await postings.newest(db, key, scope, start=start, end=end, after=after, limit=limit)
                        assert page == _expected(events, key, scope, start, end, after)[:limit]
                        pages += page
                        if len(page) < limit:
                            break
                        after = page[-1]
                    assert pages == expected
                    checked += len(expected)
        return checked

    assert asyncio.run(check()) > 1000


def test_a_batch_held_back_is_split_into_rows_of_a_minute() -> None:
    """A batch that waited while the database was away spans more than postings.SPAN: its rows do not."""
    events = [(i, 1_700_000_000 + i * 7.0, False, ((postings.EVERY,),)) for i in range(1, 200)]
    rows = postings.build(events)
    assert len(rows) > 1 and all(last - first <= postings.SPAN for *_, first, last, _ in rows)
    assert sum(text.count("[") - 1 for *_, text in rows) == len(events)


def test_a_busy_batch_is_split_into_rows_of_at_most_max_entries() -> None:
    """More events in one second than a row may list: every event is in exactly one row, rows stay bounded."""
    count = postings.MAX_ENTRIES * 2 + 5
    events = [(i, 1_700_000_000 + i / count, False, ((postings.EVERY,),)) for i in range(1, count + 1)]
    rows = postings.build(events)
    assert [len(json.loads(text)) for *_, text in rows] == [postings.MAX_ENTRIES, postings.MAX_ENTRIES, 5]
    assert sorted(event_id for *_, text in rows for _, event_id in json.loads(text)) == list(range(1, count + 1))


def test_each_row_lists_exactly_its_keys_events_between_its_first_and_last_time() -> None:
    """build() makes each group's span and JSON once for all the keys the group holds: every row must still be
    exactly the events of its own key (and scope), its first and last time theirs."""
    rng = random.Random(6)
    for size in (1, 5, 50, 400):
        for squeeze in (False, True, False, True):
            batch = _events(rng, size)
            if squeeze:  # a worker's second, as a busy server's batches are: one row per key
                batch = [(i, 1_700_000_000 + t % 1, management, keys) for i, t, management, keys in batch]
            expected: dict[tuple[str, str, int], list[tuple[float, int]]] = {}
            for event_id, t, management, groups in batch:
                for attribute, value in {k for group in groups for k in group}:
                    for scope in ((0, 1) if management else (0,)):
                        expected.setdefault((attribute, value, scope), []).append((t, event_id))
            found: dict[tuple[str, str, int], list[tuple[float, int]]] = {}
            for attribute, value, scope, first, last, text in postings.build(batch):
                entries = [(t, i) for t, i in json.loads(text)]
                assert first == min(entries)[0] and last == max(entries)[0] and last - first <= postings.SPAN
                found.setdefault((attribute, value, scope), []).extend(entries)
            assert {k: sorted(v) for k, v in found.items()} == {k: sorted(v) for k, v in expected.items()}
