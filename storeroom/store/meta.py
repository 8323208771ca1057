"""The metadata store: account, access keys, buckets, objects, multipart uploads (SQLite).

Object data is not here: an object row lists the blob files (by random id) that hold its bytes, in order.
Keys are compared as TEXT with SQLite's BINARY collation, i.e. by their UTF-8 bytes: S3's listing order.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storeroom.iam.schema import IAM_SCHEMA
from storeroom.store import bucket_stats, generation
from storeroom.store.db import Database, run_script

# 2: the IAM tables (storeroom/iam/schema.py); 3: completed_uploads; 4: login profiles, MFA devices, sign-in
# throttle. Every table is created IF NOT EXISTS at open, so any earlier data dir gains what it lacks.
SCHEMA_VERSION = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    secret BLOB NOT NULL,              -- AES-GCM sealed (storeroom.crypto)
    principal TEXT NOT NULL,           -- 'root', or an IAM user id
    status TEXT NOT NULL DEFAULT 'Active',
    created REAL NOT NULL,
    last_used REAL,
    last_used_service TEXT,
    last_used_region TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,               -- without quotes
    mtime REAL NOT NULL,
    -- JSON {"b": [[blob_id, size], ...] in order, "h": {response header: value} (content-type,
    -- x-amz-meta-*, ...), "c": {"algorithm", "value", "type"} or null}: one document, decoded once per read
    doc TEXT NOT NULL,
    parts INTEGER NOT NULL DEFAULT 0, -- number of parts of a multipart object, 0 otherwise
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    initiated REAL NOT NULL,
    headers TEXT NOT NULL,
    checksum_algorithm TEXT,
    checksum_type TEXT                -- COMPOSITE or FULL_OBJECT when checksum_algorithm is set
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads(bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    blob_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    mtime REAL NOT NULL,
    checksum TEXT,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
-- Uploads completed lately, so that a retried CompleteMultipartUpload (its answer was lost) is answered again.
-- Written in the transaction that completes the upload, pruned in small batches (s3/complete.py).
CREATE TABLE IF NOT EXISTS completed_uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    completed REAL NOT NULL,
    request TEXT NOT NULL,            -- digest of what the completing request asked for (parts, checksums)
    object_mtime REAL NOT NULL,       -- with first_blob: which write of the key this completion made
    first_blob TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS completed_uploads_by_time ON completed_uploads(completed);
"""


@dataclass(slots=True)
class ObjectRecord:
    bucket: str
    key: str
    size: int
    etag: str
    mtime: float
    blobs: list[tuple[str, int]]
    headers: dict[str, str]
    checksum: dict[str, str] | None = None
    parts: int = 0

    @property
    def quoted_etag(self) -> str:
        return f'"{self.etag}"'


@dataclass(slots=True)
class Bucket:
    name: str
    region: str
    created: float


@dataclass(slots=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    headers: dict[str, str]
    checksum_algorithm: str | None
    checksum_type: str | None = None


@dataclass(slots=True)
class Part:
    part_number: int
    blob_id: str
    size: int
    etag: str
    mtime: float
    checksum: dict[str, str] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class Completion:
    """A completed upload: the request that completed it, and the object write it made."""

    upload_id: str
    bucket: str
    key: str
    completed: float
    request: str
    object_mtime: float
    first_blob: str

    def made(self, obj: ObjectRecord) -> bool:
        """Whether ``obj`` (the key's current object) is the very object this completion wrote."""
        return (obj.bucket, obj.key, obj.mtime) == (self.bucket, self.key, self.object_mtime) and bool(
            obj.blobs) and obj.blobs[0][0] == self.first_blob


@dataclass(slots=True)
class AccessKey:
    access_key_id: str
    secret: bytes
    principal: str
    status: str
    created: float


def _object_from_row(bucket: str, row: tuple[Any, ...]) -> ObjectRecord:
    key, size, etag, mtime, doc, parts = row
    fields = json.loads(doc)
    return ObjectRecord(bucket, key, size, etag, mtime, fields["b"], fields["h"], fields["c"], parts)


def _object_doc(obj: ObjectRecord) -> str:
    return json.dumps({"b": obj.blobs, "h": obj.headers, "c": obj.checksum}, separators=(",", ":"))


def _doc_blob_ids(doc: str) -> list[str]:
    return [blob_id for blob_id, _ in json.loads(doc)["b"]]


_OBJECT_COLUMNS = "key, size, etag, mtime, doc, parts"


class MetaStore:
    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self.db.write_sync(_migrate)
        self.generations = generation.Generations(path.with_name("generations"))
        self._buckets = generation.GenerationCache(self.buckets_generation, self._load_bucket)

    def close(self) -> None:
        self.db.close()
        self.generations.close()

    # -- account -----------------------------------------------------------------------------------------

    def get_kv(self, name: str) -> str | None:
        row = self.db.read.execute("SELECT value FROM kv WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_kv_sync(self, name: str, value: str, *, only_if_absent: bool = False) -> str:
        """Sets ``name``; with ``only_if_absent`` keeps an existing value. Returns the stored value."""
        def job(conn: sqlite3.Connection) -> str:
            verb = "INSERT OR IGNORE" if only_if_absent else "INSERT OR REPLACE"
            conn.execute(f"{verb} INTO kv(name, value) VALUES (?, ?)", (name, value))
            return str(conn.execute("SELECT value FROM kv WHERE name = ?", (name,)).fetchone()[0])
        return self.db.write_sync(job)

    def iam_generation(self) -> int:
        """Bumped by every change to credentials or policies: caches compare it to know they are stale."""
        return self.generations.get(generation.IAM)

    def buckets_generation(self) -> int:
        return self.generations.get(generation.BUCKETS)

    def bump_iam(self) -> None:
        """After a committed change to keys, users, groups or policies: every worker's caches are stale."""
        self.generations.bump(generation.IAM)

    # -- access keys -------------------------------------------------------------------------------------

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        row = self.db.read.execute(
            "SELECT access_key_id, secret, principal, status, created FROM access_keys WHERE access_key_id = ?",
            (access_key_id,),
        ).fetchone()
        return None if row is None else AccessKey(*row)

    def put_access_key_sync(self, key: AccessKey) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO access_keys(access_key_id, secret, principal, status, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (key.access_key_id, key.secret, key.principal, key.status, key.created),
            )
        self.db.write_sync(job)
        self.generations.bump(generation.IAM)

    def access_keys_of(self, principal: str) -> list[AccessKey]:
        rows = self.db.read.execute(
            "SELECT access_key_id, secret, principal, status, created FROM access_keys WHERE principal = ? "
            "ORDER BY created", (principal,),
        ).fetchall()
        return [AccessKey(*r) for r in rows]

    def note_key_used(self, access_key_id: str, when: float, service: str, region: str) -> None:
        """Records a key's last use (GetAccessKeyLastUsed), without waiting for the commit."""
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE access_keys SET last_used = ?, last_used_service = ?, last_used_region = ? "
                "WHERE access_key_id = ?", (when, service, region, access_key_id),
            )
        self.db.submit(job)

    def iam_user_identity(self, user_id: str) -> tuple[str, str, list[tuple[str, str]]] | None:
        """(name, path, tags) of an IAM user, for the principal its access keys resolve to."""
        row = self.db.read.execute(
            "SELECT name, path, tags FROM iam_users WHERE user_id = ?", (user_id,)).fetchone()
        if row is None:
            return None
        return row[0], row[1], [(k, v) for k, v in json.loads(row[2])]

    def delete_access_key_sync(self, access_key_id: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM access_keys WHERE access_key_id = ?", (access_key_id,))
        self.db.write_sync(job)
        self.generations.bump(generation.IAM)

    # -- buckets -----------------------------------------------------------------------------------------

    def get_bucket(self, name: str) -> Bucket | None:
        """Cached per process; the cache is dropped whenever any worker creates or deletes a bucket."""
        return self._buckets.get(name)

    def _load_bucket(self, name: str) -> Bucket | None:
        row = self.db.read.execute(
            "SELECT name, region, created FROM buckets WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else Bucket(*row)

    def list_buckets(self, *, after: str = "", prefix: str = "", region: str | None = None,
                     limit: int = -1) -> list[Bucket]:
        """Buckets named after ``after`` and starting with ``prefix`` (in ``region``), in name order."""
        rows = self.db.read.execute(
            "SELECT name, region, created FROM buckets WHERE name > ? AND substr(name, 1, ?) = ? "
            "AND (? IS NULL OR region = ?) ORDER BY name LIMIT ?",
            (after, len(prefix), prefix, region, region, limit),
        ).fetchall()
        return [Bucket(*r) for r in rows]

    async def create_bucket(self, name: str, region: str) -> bool:
        """False if it already exists."""
        def job(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO buckets(name, region, created) VALUES (?, ?, ?)",
                (name, region, time.time()),
            )
            return cur.rowcount == 1
        created = await self.db.write(job)
        self.generations.bump(generation.BUCKETS)
        return created

    async def delete_bucket(self, name: str) -> str:
        """'deleted', 'missing' or 'not-empty' (objects or multipart uploads remain)."""
        def job(conn: sqlite3.Connection) -> str:
            if conn.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone() is None:
                return "missing"
            if conn.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone():
                return "not-empty"
            if conn.execute("SELECT 1 FROM uploads WHERE bucket = ? LIMIT 1", (name,)).fetchone():
                return "not-empty"
            conn.execute("DELETE FROM buckets WHERE name = ?", (name,))
            return "deleted"
        outcome = await self.db.write(job)
        self.generations.bump(generation.BUCKETS)
        return outcome

    def get_bucket_policy(self, bucket: str) -> str | None:
        row = self.db.read.execute("SELECT document FROM bucket_policies WHERE bucket = ?", (bucket,)).fetchone()
        return None if row is None else str(row[0])

    async def put_bucket_policy(self, bucket: str, document: str | None) -> bool:
        """Sets (or with None deletes) the bucket's policy; False if the bucket is gone."""
        def job(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM buckets WHERE name = ?", (bucket,)).fetchone() is None:
                return False
            if document is None:
                conn.execute("DELETE FROM bucket_policies WHERE bucket = ?", (bucket,))
            else:
                conn.execute("INSERT OR REPLACE INTO bucket_policies(bucket, document) VALUES (?, ?)",
                             (bucket, document))
            return True
        done = await self.db.write(job)
        self.bump_iam()  # policies are cached with the IAM generation
        return done

    # -- objects -----------------------------------------------------------------------------------------

    def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        row = self.db.read.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
        ).fetchone()
        return None if row is None else _object_from_row(bucket, row)

    async def put_object(self, obj: ObjectRecord, *, if_none_match: bool = False,
                         if_match: str | None = None, discard_upload: str | None = None,
                         completed_request: str | None = None, same_blobs: bool = False) -> tuple[str, list[str]]:
        """Insert or replace; returns (outcome, blob ids no longer referenced).

        outcome: 'ok', 'no-bucket', 'exists' (``if_none_match`` and the key exists), 'etag-mismatch'
        (``if_match`` given and the current ETag differs or the key is missing), 'no-upload'
        (``discard_upload`` no longer exists: a concurrent complete or abort won), 'parts-changed' (a part
        the object is made of was replaced by a concurrent UploadPart since the caller listed them),
        'changed' (``same_blobs``: a metadata-only update whose object was overwritten or deleted meanwhile,
        so the blobs it would keep may be gone).
        The check and the write happen in one transaction, so conditional writes are atomic.  Completing an
        upload (``discard_upload``) deletes it with its parts; the parts' blobs the object does not use are
        returned as unreferenced; with ``completed_request`` (the digest of the completing request) it is
        remembered in ``completed_uploads``, in the same transaction, for the retries of that request.
        """
        def job(conn: sqlite3.Connection) -> tuple[str, list[str]]:
            if conn.execute("SELECT 1 FROM buckets WHERE name = ?", (obj.bucket,)).fetchone() is None:
                return "no-bucket", []
            old = conn.execute(
                "SELECT etag, doc FROM objects WHERE bucket = ? AND key = ?", (obj.bucket, obj.key)
            ).fetchone()
            if if_none_match and old is not None:
                return "exists", []
            if if_match is not None and (old is None or if_match not in ("*", old[0])):
                return "etag-mismatch", []
            if same_blobs and (old is None or _doc_blob_ids(old[1]) != [b for b, _ in obj.blobs]):
                return "changed", []
            kept = {b for b, _ in obj.blobs}
            unreferenced: list[str] = []
            if discard_upload is not None:
                # Gone first (a concurrent complete or abort won), then changed: checked before anything is written.
                if conn.execute("SELECT 1 FROM uploads WHERE upload_id = ?", (discard_upload,)).fetchone() is None:
                    return "no-upload", []
                part_blobs = {r[0] for r in conn.execute(
                    "SELECT blob_id FROM parts WHERE upload_id = ?", (discard_upload,))}
                if not kept <= part_blobs:
                    return "parts-changed", []
                conn.execute("DELETE FROM uploads WHERE upload_id = ?", (discard_upload,))
                unreferenced = sorted(part_blobs - kept)
                if completed_request is not None:
                    conn.execute(
                        "INSERT OR REPLACE INTO completed_uploads(upload_id, bucket, key, completed, request, "
                        "object_mtime, first_blob) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (discard_upload, obj.bucket, obj.key, time.time(), completed_request, obj.mtime,
                         obj.blobs[0][0]),
                    )
            conn.execute(
                "INSERT OR REPLACE INTO objects(bucket, key, size, etag, mtime, doc, parts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (obj.bucket, obj.key, obj.size, obj.etag, obj.mtime, _object_doc(obj), obj.parts),
            )
            if old is not None:
                unreferenced += [b for b in _doc_blob_ids(old[1]) if b not in kept]
            return "ok", unreferenced
        return await self.db.write(job)

    async def delete_objects(self, bucket: str, keys: list[str]) -> list[str]:
        """Deletes the keys that exist; returns the blob ids they referenced."""
        def job(conn: sqlite3.Connection) -> list[str]:
            freed: list[str] = []
            for key in keys:
                row = conn.execute(
                    "DELETE FROM objects WHERE bucket = ? AND key = ? RETURNING doc", (bucket, key)
                ).fetchone()
                if row is not None:
                    freed.extend(_doc_blob_ids(row[0]))
            return freed
        return await self.db.write(job)

    def list_objects(self, bucket: str, start: str, *, inclusive: bool, limit: int) -> list[tuple[Any, ...]]:
        """Rows (key, size, etag, mtime) with key > start (>= with ``inclusive``), in key order."""
        op = ">=" if inclusive else ">"
        return self.db.read.execute(
            f"SELECT key, size, etag, mtime FROM objects WHERE bucket = ? AND key {op} ? ORDER BY key LIMIT ?",
            (bucket, start, limit),
        ).fetchall()

    # -- multipart uploads -------------------------------------------------------------------------------

    async def create_upload(self, upload: Upload) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM buckets WHERE name = ?", (upload.bucket,)).fetchone() is None:
                return False
            conn.execute(
                "INSERT INTO uploads(upload_id, bucket, key, initiated, headers, checksum_algorithm, checksum_type) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (upload.upload_id, upload.bucket, upload.key, upload.initiated, json.dumps(upload.headers),
                 upload.checksum_algorithm, upload.checksum_type),
            )
            return True
        return await self.db.write(job)

    def get_upload(self, upload_id: str) -> Upload | None:
        row = self.db.read.execute(
            "SELECT upload_id, bucket, key, initiated, headers, checksum_algorithm, checksum_type FROM uploads "
            "WHERE upload_id = ?", (upload_id,),
        ).fetchone()
        if row is None:
            return None
        return Upload(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6])

    def list_uploads(self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str,
                     limit: int) -> list[Upload]:
        """Uploads after (key_marker, upload_id_marker) in (key, upload id) order; ids sort by creation time."""
        rows = self.db.read.execute(
            "SELECT upload_id, bucket, key, initiated, headers, checksum_algorithm, checksum_type FROM uploads "
            "WHERE bucket = ? AND key >= ? AND (key > ? OR (key = ? AND upload_id > ?)) "
            "ORDER BY key, upload_id LIMIT ?",
            (bucket, max(prefix, key_marker), key_marker, key_marker, upload_id_marker, limit),
        ).fetchall()
        return [Upload(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows
                if r[2].startswith(prefix)]

    async def put_part(self, upload_id: str, part: Part) -> tuple[bool, str | None]:
        """(False, None) if the upload is gone; else (True, blob id of a replaced part)."""
        def job(conn: sqlite3.Connection) -> tuple[bool, str | None]:
            if conn.execute("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone() is None:
                return False, None
            old = conn.execute(
                "SELECT blob_id FROM parts WHERE upload_id = ? AND part_number = ?",
                (upload_id, part.part_number),
            ).fetchone()
            conn.execute(
                "INSERT OR REPLACE INTO parts(upload_id, part_number, blob_id, size, etag, mtime, checksum) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (upload_id, part.part_number, part.blob_id, part.size, part.etag, part.mtime,
                 json.dumps(part.checksum) if part.checksum else None),
            )
            return True, (old[0] if old else None)
        return await self.db.write(job)

    def list_parts(self, upload_id: str, after: int = 0, limit: int = 10_000) -> list[Part]:
        rows = self.db.read.execute(
            "SELECT part_number, blob_id, size, etag, mtime, checksum FROM parts "
            "WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?",
            (upload_id, after, limit),
        ).fetchall()
        return [Part(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]) if r[5] else None) for r in rows]

    async def abort_upload(self, upload_id: str) -> list[str] | None:
        """Deletes the upload and its parts; returns their blob ids, or None if the upload did not exist."""
        def job(conn: sqlite3.Connection) -> list[str] | None:
            blobs = [r[0] for r in conn.execute(
                "SELECT blob_id FROM parts WHERE upload_id = ?", (upload_id,))]
            cur = conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
            return blobs if cur.rowcount else None
        return await self.db.write(job)

    def get_completion(self, upload_id: str, since: float) -> Completion | None:
        """The completion of ``upload_id`` if it happened at ``since`` or later."""
        row = self.db.read.execute(
            "SELECT upload_id, bucket, key, completed, request, object_mtime, first_blob FROM completed_uploads "
            "WHERE upload_id = ? AND completed >= ?", (upload_id, since),
        ).fetchone()
        return None if row is None else Completion(*row)

    def prune_completions(self, before: float, batch: int) -> None:
        """Forgets up to ``batch`` completions older than ``before``, on the writer thread, not waited for."""
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM completed_uploads WHERE upload_id IN (SELECT upload_id FROM completed_uploads "
                "WHERE completed < ? ORDER BY completed LIMIT ?)", (before, batch),
            )
        self.db.submit(job)

    # -- maintenance -------------------------------------------------------------------------------------

    def referenced_blobs(self) -> Iterator[str]:
        """Every blob id that an object or a multipart part refers to (for the orphan sweep)."""
        for (doc,) in self.db.read.execute("SELECT doc FROM objects"):
            yield from _doc_blob_ids(doc)
        for (blob_id,) in self.db.read.execute("SELECT blob_id FROM parts"):
            yield blob_id


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"data dir was written by a newer Storeroom (schema {version} > {SCHEMA_VERSION})")
    run_script(conn, _SCHEMA)
    run_script(conn, IAM_SCHEMA)
    bucket_stats.ensure(conn)  # objects and bytes per bucket, kept by triggers (metrics)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
