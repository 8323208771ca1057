"""Versions of objects (S3 Versioning): where each version of a key lives, and the steps a write takes inside
the transaction that makes it (https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html).

Layout.  ``objects`` keeps, per key, its *current* version when that is an object (never a delete marker): the
row every GET, HEAD and listing reads, exactly as in an unversioned bucket.  ``object_versions`` keeps every
other version: noncurrent versions and all delete markers.  A version moves between the two tables unchanged
(same columns, same order).  ``seq`` orders the versions of a key (a larger one is newer; it is the time in
microseconds, or one more than the newest before it when clocks disagree); the invariant every write keeps:

- if ``objects`` has a row for the key, it is the key's newest version;
- otherwise the newest row of ``object_versions`` for the key, if any, is a delete marker (the key is deleted).

So an unversioned bucket's reads and writes never touch ``object_versions`` (the hot path is unchanged), a GET
of a deleted key looks for its marker only on the way to 404, and ListObjectVersions merges the two tables'
ordered rows.

Writes in a versioned (or suspended) bucket take a lock per key (PostgreSQL: a transaction-scoped advisory lock
on a hash of bucket and key; SQLite has one writer) before reading the key's current row, because a key whose
current version is a marker has no ``objects`` row to lock.  The order of locks stays the one ``sql.locking``
documents: the bucket's row, the upload's, then the key.

Why two tables and not one table of versions with a "latest" flag: the unversioned hot path (a GET is one
primary-key read, a PUT one upsert) would pay for versions it does not have — a filter on every read and a
second row updated on every overwrite — and the 5 % bound on its cost (bench/RESULTS.md) would not hold.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from storeroom.randomness import random_bytes
from storeroom.store.locks import Guard
from storeroom.store.sql import POSTGRESQL, Conn, Row

VERSION_COLUMNS = "key, size, etag, mtime, doc, parts, version_id, seq, marker"
CURRENT_AS_VERSION = "key, size, etag, mtime, doc, parts, version_id, seq, 0"  # objects' rows in that shape
_INSERT_VERSION = ("INSERT INTO object_versions(bucket, key, size, etag, mtime, doc, parts, version_id, seq, marker) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
MARKER_DOC = json.dumps({"b": [], "h": {}, "c": None}, separators=(",", ":"))
NEWEST = 1 << 62          # a seq greater than any: "every version of the key" in scan positions
_VERSION_ID = re.compile(r"[A-Za-z0-9_-]{32}")


def new_version_id(seq: int) -> str:
    """32 URL-safe characters, as S3's version ids: a format byte (1), the version's ``seq`` (8 bytes) and 15
    random bytes.  Unique without coordination; the ``seq`` inside lets a listing resume after a version that
    was deleted since it was named as ``version-id-marker`` (:func:`seq_of`).  The format byte makes the first
    character ``A``, never ``-``: command-line tools take such a value for an option (``aws s3api delete-object
    --version-id -Ab…`` fails with "expected one argument")."""
    return base64.urlsafe_b64encode(b"\x01" + seq.to_bytes(8, "big") + random_bytes(15)).decode("ascii")


# seqs of 2017-2100 (microseconds): one version id of the earlier, all-random form in ~2 million decodes to one
_PLAUSIBLE_SEQS = range(1_500_000_000_000_000, 4_100_000_000_000_000)


def seq_of(version_id: str) -> int | None:
    """The ``seq`` a version id made by :func:`new_version_id` carries; None for ``null`` and older ids."""
    if len(version_id) != 32 or version_id[0] != "A":
        return None
    try:
        raw = base64.urlsafe_b64decode(version_id)
    except ValueError:
        return None
    seq = int.from_bytes(raw[1:9], "big")
    return seq if raw[0] == 1 and seq in _PLAUSIBLE_SEQS else None


def valid_version_id(value: str) -> bool:
    """Whether ``value`` could name a version: ``null`` or one of ours. S3 answers any other string with 400
    InvalidArgument "Invalid version id specified" rather than 404."""
    return value == "null" or _VERSION_ID.fullmatch(value) is not None


def next_seq(previous: int) -> int:
    """A seq newer than ``previous``: the time in microseconds, or one more when the clock is behind."""
    return max(time.time_ns() // 1000, previous + 1)


async def lock_key(conn: Conn, bucket: str, key: str) -> None:
    """Serializes the versioned writes of one key (PostgreSQL; SQLite's single writer already does)."""
    if conn.dialect == POSTGRESQL:
        digest = hashlib.blake2b(f"{bucket}\x00{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
        await conn.one("SELECT pg_advisory_xact_lock(?)", (int.from_bytes(digest, "big", signed=True),))


async def newest_noncurrent(conn: Conn, bucket: str, key: str) -> Row | None:
    """The newest row of ``object_versions`` for the key (VERSION_COLUMNS)."""
    return await conn.one(f"SELECT {VERSION_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? "
                          "ORDER BY seq DESC LIMIT 1", (bucket, key))


async def demote(conn: Conn, bucket: str, current: Row) -> None:
    """The key's current row (``objects``' columns from key on) becomes a noncurrent version; the caller then
    replaces or deletes the ``objects`` row."""
    await conn.run(_INSERT_VERSION, (bucket, *current[:8], 0))


async def drop_null_version(conn: Conn, bucket: str, key: str) -> list[str]:
    """Versioning suspended: a write replaces the key's ``null`` version wherever it is; removes it from the
    noncurrent versions and returns its blob ids."""
    row = await conn.one("DELETE FROM object_versions WHERE bucket = ? AND key = ? AND version_id = 'null' "
                         "RETURNING doc", (bucket, key))
    return [] if row is None else _blob_ids(row[0])


async def promote(conn: Conn, bucket: str, key: str) -> None:
    """After the key's current version went: its newest noncurrent version becomes current, unless that is a
    delete marker (which then stays the latest: the key reads as deleted)."""
    newest = await newest_noncurrent(conn, bucket, key)
    if newest is None or newest[8]:
        return
    await conn.run("DELETE FROM object_versions WHERE bucket = ? AND key = ? AND seq = ?", (bucket, key, newest[7]))
    await conn.run("INSERT INTO objects(bucket, key, size, etag, mtime, doc, parts, version_id, seq) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (bucket, *newest[:8]))


async def previous_seq(conn: Conn, bucket: str, key: str, current: Row | None) -> int:
    """The seq of the key's newest version (0: none)."""
    if current is not None:
        return int(current[7])
    newest = await newest_noncurrent(conn, bucket, key)
    return 0 if newest is None else int(newest[7])


@dataclass(frozen=True, slots=True)
class Marker:
    """A delete marker a DELETE (or a lifecycle expiration) made."""

    version_id: str
    mtime: float


async def add_marker(conn: Conn, bucket: str, key: str, versioning: str,
                     current: Row | None) -> tuple[Marker, list[str]]:
    """A DELETE without a version id in a versioned bucket: the current version (``current``, locked) becomes
    noncurrent and a delete marker becomes the latest.  Suspended: the marker is the ``null`` version, which
    replaces any ``null`` version the key had.  Returns the marker and the blob ids no longer referenced."""
    seq = next_seq(await previous_seq(conn, bucket, key, current))
    marker_id = new_version_id(seq) if versioning == "Enabled" else "null"
    freed: list[str] = []
    if current is not None:
        if versioning != "Enabled" and current[6] == "null":
            freed = _blob_ids(current[4])
        else:
            await demote(conn, bucket, current)
        await conn.run("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
    if versioning != "Enabled":
        freed += await drop_null_version(conn, bucket, key)
    now = time.time()
    await conn.run(_INSERT_VERSION, (bucket, key, 0, "", now, MARKER_DOC, 0, marker_id, seq, 1))
    return Marker(marker_id, now), freed


@dataclass(frozen=True, slots=True)
class Removed:
    """What a DELETE with a version id removed (``locked``: nothing, the version is protected by Object Lock)."""

    found: bool
    marker: bool = False
    freed: tuple[str, ...] = ()
    locked: bool = False


async def remove_version(conn: Conn, bucket: str, key: str, version_id: str, guard: Guard | None = None) -> Removed:
    """Permanently deletes one version (an object or a delete marker), wherever it is, unless ``guard`` says
    Object Lock protects it (its row is read under a row lock first, so that a retention or legal hold set
    meanwhile is seen); the key's newest remaining version becomes current when the current one went."""
    lock = " FOR UPDATE" if conn.dialect == POSTGRESQL else ""
    if guard is not None:
        row = await conn.one(f"SELECT doc FROM objects WHERE bucket = ? AND key = ? AND version_id = ?{lock}",
                             (bucket, key, version_id))
        if row is None:
            row = await conn.one(f"SELECT doc FROM object_versions WHERE bucket = ? AND key = ? AND version_id = ?"
                                 f"{lock}", (bucket, key, version_id))
        if row is not None and guard.protects(row[0]):
            return Removed(True, locked=True)
    current = await conn.one("DELETE FROM objects WHERE bucket = ? AND key = ? AND version_id = ? RETURNING doc",
                             (bucket, key, version_id))
    if current is not None:
        await promote(conn, bucket, key)
        return Removed(True, False, tuple(_blob_ids(current[0])))
    row = await conn.one("DELETE FROM object_versions WHERE bucket = ? AND key = ? AND version_id = ? "
                         "RETURNING doc, marker", (bucket, key, version_id))
    if row is None:
        return Removed(False)
    if await conn.one("SELECT 1 FROM objects WHERE bucket = ? AND key = ?", (bucket, key)) is None:
        await promote(conn, bucket, key)  # the latest (a marker) may have gone: an older object is current again
    return Removed(True, bool(row[1]), tuple(_blob_ids(row[0])))


def _blob_ids(doc: str) -> list[str]:
    return [blob_id for blob_id, _ in json.loads(doc)["b"]]


# -- reading ---------------------------------------------------------------------------------------------------

async def find_version(conn: Conn, bucket: str, key: str, version_id: str) -> Row | None:
    """The version (VERSION_COLUMNS), current or not."""
    row = await conn.one("SELECT key, size, etag, mtime, doc, parts, version_id, seq, 0 FROM objects "
                         "WHERE bucket = ? AND key = ? AND version_id = ?", (bucket, key, version_id))
    if row is not None:
        return row
    return await conn.one(f"SELECT {VERSION_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? AND "
                          f"version_id = ?", (bucket, key, version_id))


async def scan(conn: Conn, bucket: str, start_key: str, before_seq: int, batch: int = 1000) -> AsyncIterator[Row]:
    """Every version of the bucket at or after a position, in ListObjectVersions' order: keys in byte order,
    each key's versions newest first.  The position is (``start_key``, ``before_seq``): the versions of
    ``start_key`` older than ``before_seq`` (``NEWEST``: all of them; 0: none), then the later keys.

    Each table is read a batch at a time from the position; rows of both are merged up to the *frontier*, the
    last position a full batch reached (a table whose batch was not full has given all it has), so that every
    row up to there is known and none is skipped or repeated; the next batches start from the frontier."""
    key, seq = start_key, before_seq
    while True:
        current = await _after(conn, "objects", bucket, key, seq, batch)
        noncurrent = await _after(conn, "object_versions", bucket, key, seq, batch)
        frontiers = [_position(rows[-1]) for rows in (current, noncurrent) if len(rows) == batch]
        frontier = min(frontiers) if frontiers else None
        merged = sorted(current + noncurrent, key=_position)
        for row in merged:
            if frontier is not None and _position(row) > frontier:
                break
            yield row
        if frontier is None:
            return
        key, seq = frontier[0], -frontier[1]


def _position(row: Row) -> tuple[str, int]:
    return row[0], -int(row[7])


async def _after(conn: Conn, table: str, bucket: str, key: str, seq: int, batch: int) -> list[Row]:
    """Up to ``batch`` rows of ``table`` after the position (key, seq), in order: the rest of ``key``, then the
    keys after it (two range reads, each on the primary key)."""
    columns = VERSION_COLUMNS if table == "object_versions" else CURRENT_AS_VERSION
    rows = list(await conn.all(f"SELECT {columns} FROM {table} WHERE bucket = ? AND key = ? AND seq < ? "
                               f"ORDER BY seq DESC LIMIT ?", (bucket, key, seq, batch))) if seq > 0 else []
    if len(rows) < batch:
        rows += await conn.all(f"SELECT {columns} FROM {table} WHERE bucket = ? AND key > ? ORDER BY key, seq DESC "
                               f"LIMIT ?", (bucket, key, batch - len(rows)))
    return rows
