"""The metadata store: account, access keys, buckets, objects, multipart uploads, on SQLite or PostgreSQL
(``storeroom/store/sql.py``).

Object data is not here: an object row lists the blob files (by random id) that hold its bytes, in order.
Keys are compared by their UTF-8 bytes (SQLite's BINARY collation, PostgreSQL's "C"): S3's listing order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from storeroom.errors import AwsError
from storeroom.store import bucket_stats, generation, versions
from storeroom.store.encrypted_blobs import INSERT_KEY
from storeroom.store.locks import Guard
from storeroom.store.sql import NO_LIMIT, POSTGRESQL, SQLITE, Conn, Database, Row, locking

log = logging.getLogger("storeroom")

# SQLite's DDL of these tables (the versions: storeroom/store/migrations.py; PostgreSQL's: store/pg_schema.py)
META_SCHEMA = """
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
    created REAL NOT NULL,
    versioning TEXT,                  -- NULL: never versioned, else 'Enabled' or 'Suspended' (schema 8)
    ownership TEXT,                   -- Object Ownership, NULL: BucketOwnerEnforced (ACLs disabled)
    public_block TEXT                 -- Block Public Access: NULL none, else 4 flags '1'/'0' (s3/access.py)
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
    version_id TEXT NOT NULL DEFAULT 'null',  -- (schema 8) S3's version id: 'null' in unversioned buckets
    seq INTEGER NOT NULL DEFAULT 0,   -- orders the versions of a key: the current one has the greatest
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
-- The versions of a key that are not its current object (store/versions.py): noncurrent versions and every
-- delete marker, with the columns of objects in the same order (a version moves between the two tables as
-- it is), plus whether it is a delete marker.  Fields later features keep per version go in both tables
-- (a column) or in doc (a JSON member).
CREATE TABLE IF NOT EXISTS object_versions (
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    mtime REAL NOT NULL,
    doc TEXT NOT NULL,
    parts INTEGER NOT NULL DEFAULT 0,
    version_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    marker INTEGER NOT NULL DEFAULT 0, -- 1: a delete marker (no bytes)
    PRIMARY KEY (bucket, key, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS object_versions_by_id ON object_versions(bucket, key, version_id);
-- What lifecycle runs did, written in the transaction that did it, until it is in the audit trail (schema 8:
-- s3/lifecycle_run.py): a run killed after its commit still leaves its audit record.
CREATE TABLE IF NOT EXISTS lifecycle_outbox (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    version_id TEXT,
    operation TEXT NOT NULL,          -- as S3's server access log names it: S3.EXPIRE.OBJECT ...
    rule_id TEXT NOT NULL,
    size INTEGER NOT NULL
);
-- Bucket settings read off the hot path, as JSON: 'tagging', 'lifecycle', 'acl' (schema 8), 'encryption' (9)
CREATE TABLE IF NOT EXISTS bucket_config (
    bucket TEXT NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (bucket, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL REFERENCES buckets(name),
    key TEXT NOT NULL,
    initiated REAL NOT NULL,
    headers TEXT NOT NULL,
    checksum_algorithm TEXT,
    checksum_type TEXT,               -- COMPOSITE or FULL_OBJECT when checksum_algorithm is set
    extra TEXT                        -- (schema 8) JSON {"t": tags, "a": ACL grants} the object will get
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
-- S3 server access logging's configuration per bucket (storeroom/s3/access_log.py)
CREATE TABLE IF NOT EXISTS bucket_logging (
    bucket TEXT PRIMARY KEY REFERENCES buckets(name) ON DELETE CASCADE,
    target_bucket TEXT NOT NULL,
    target_prefix TEXT NOT NULL,
    key_format TEXT NOT NULL           -- 'simple', or 'partitioned:EventTime' / 'partitioned:DeliveryTime'
) WITHOUT ROWID;
-- a bucket's CORS rules (schema 6), as a JSON list in the configuration's order (storeroom/s3/cors.py)
CREATE TABLE IF NOT EXISTS bucket_cors (
    bucket TEXT PRIMARY KEY REFERENCES buckets(name) ON DELETE CASCADE,
    rules TEXT NOT NULL
) WITHOUT ROWID;
-- encrypted blobs' data keys (schema 9, storeroom/store/encrypted_blobs.py): wrapped by the master key whose
-- fingerprint is key_id (a blob without a row is stored in clear)
CREATE TABLE IF NOT EXISTS blob_keys (
    blob_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
-- small blobs kept in the database, inserted with the row that refers to them (schema 10,
-- storeroom/store/inline_blobs.py)
-- (a rowid table: its rows are large, which WITHOUT ROWID tables are not made for)
CREATE TABLE IF NOT EXISTS inline_blobs (
    blob_id TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    created REAL NOT NULL
);
-- the console's signed-out sessions and shown one-time notes, until they expire (storeroom/console/sessions.py)
CREATE TABLE IF NOT EXISTS console_spent (
    token_id TEXT PRIMARY KEY,
    expires REAL NOT NULL
) WITHOUT ROWID;
"""


@dataclass(slots=True)
class ObjectRecord:
    """One version of an object (the only one, ``null``, in an unversioned bucket).

    ``tags`` and ``acl`` live in the row's JSON ``doc`` with the blobs and headers, as members written only when
    set ("t", "a"), so that an object without them costs nothing more; so do Object Lock's ``retention`` ("r":
    mode and retain-until in epoch milliseconds) and ``legal_hold`` ("l"), store/locks.py; a later per-version
    field (a wrapped data key) can join them there."""

    bucket: str
    key: str
    size: int
    etag: str
    mtime: float
    blobs: list[tuple[str, int]]
    headers: dict[str, str]
    checksum: dict[str, str] | None = None
    parts: int = 0
    version_id: str = "null"
    seq: int = 0
    marker: bool = False                     # a delete marker (no bytes, no headers)
    tags: dict[str, str] | None = None
    acl: list[list[str]] | None = None       # explicit grants [[grantee type, grantee, permission]] (s3/acl.py)
    retention: tuple[str, int] | None = None  # Object Lock: (mode, retain until in epoch ms)
    legal_hold: bool | None = None            # Object Lock: None when never set
    restored_until: float | None = None       # an archived object's restored copy: readable until (epoch s)

    @property
    def quoted_etag(self) -> str:
        return f'"{self.etag}"'


@dataclass(slots=True)
class Bucket:
    name: str
    region: str
    created: float
    versioning: str | None = None            # None (never versioned), "Enabled", "Suspended"
    ownership: str | None = None             # None: BucketOwnerEnforced
    public_block: str | None = None          # None, or 4 flags "1"/"0" (s3/access.py)
    lifecycle: str | None = None             # the lifecycle configuration's JSON (s3/lifecycle.py), if any
    object_lock: str | None = None           # the Object Lock configuration's JSON (s3/object_lock.py), if any


@dataclass(slots=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    headers: dict[str, str]
    checksum_algorithm: str | None
    checksum_type: str | None = None
    tags: dict[str, str] | None = None       # what the completed object gets (x-amz-tagging, ACL headers,
    acl: list[list[str]] | None = None       # the x-amz-object-lock-* headers)
    retention: tuple[str, int] | None = None
    legal_hold: bool | None = None


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


@dataclass(frozen=True, slots=True)
class Deletion:
    """What a DELETE did to one key: removed version ``version_id`` (``marker``: it was a delete marker), or,
    asked without a version id in a versioned bucket, made the delete marker ``marker_id``."""

    key: str
    version_id: str | None
    found: bool = False
    marker: bool = False
    marker_id: str | None = None
    locked: bool = False                     # refused: the version is protected by Object Lock
    unmet: str | None = None                 # refused: its If-Match failed ("PreconditionFailed", "NoSuchKey")


@dataclass(slots=True)
class AccessKey:
    access_key_id: str
    secret: bytes
    principal: str
    status: str
    created: float


def object_from_row(bucket: str, row: tuple[Any, ...]) -> ObjectRecord:
    key, size, etag, mtime, doc, parts, version_id, seq = row[:8]
    fields = _load_doc(doc)
    retention = fields.get("r")
    return ObjectRecord(bucket, key, size, etag, mtime, fields["b"], fields["h"], fields["c"], parts, version_id,
                        seq, bool(row[8]) if len(row) > 8 else False, fields.get("t"), fields.get("a"),
                        None if retention is None else (retention[0], int(retention[1])), fields.get("l"),
                        fields.get("x"))


def object_doc(obj: ObjectRecord) -> str:
    fields: dict[str, Any] = {"b": obj.blobs, "h": obj.headers, "c": obj.checksum}
    if obj.tags:
        fields["t"] = obj.tags
    if obj.acl is not None:
        fields["a"] = obj.acl
    if obj.retention is not None:
        fields["r"] = list(obj.retention)
    if obj.legal_hold is not None:
        fields["l"] = obj.legal_hold
    if obj.restored_until is not None:
        fields["x"] = obj.restored_until
    try:  # orjson: a GET's object document in ~1 µs where the standard library takes ~4
        return orjson.dumps(fields).decode()
    except TypeError:  # what orjson refuses (a lone surrogate): escaped, as it always was
        return json.dumps(fields, separators=(",", ":"))


_CLASS_FIELD = '"x-amz-storage-class":"'


def listed_storage_class(doc: str) -> str:
    """The storage class of an object's document, as a listing names it, read from the compact JSON that
    :func:`object_doc` writes without decoding all of it (a listing page has a thousand documents): among the
    headers ("h", before the checksum "c"; tags after it may use any key).  A value written inside a string is
    escaped (``\\"``), so it cannot be mistaken for the field.  A document names its class only when it is
    not STANDARD: one substring test answers most."""
    if _CLASS_FIELD not in doc:
        return "STANDARD"
    headers = doc.find('"h":{')
    start = doc.find(_CLASS_FIELD, headers, doc.find(',"c":', headers))
    if start < 0 or doc[start - 1] not in "{,":
        return "STANDARD"
    start += len(_CLASS_FIELD)
    return doc[start:doc.index('"', start)]


def listed_restore(doc: str) -> float | None:
    """The restored copy's expiry (``"x"``, the document's last member: :func:`object_doc`) of a listed object."""
    start = doc.rfind(',"x":')
    if start < 0 or not doc[start + 5:start + 6].isdigit():  # (a tag named x has a string value)
        return None
    return float(doc[start + 5:-1])


def _load_doc(doc: str) -> dict[str, Any]:
    try:
        return orjson.loads(doc)  # type: ignore[no-any-return]
    except ValueError:  # an escaped lone surrogate, which orjson refuses
        return json.loads(doc)  # type: ignore[no-any-return]


def doc_blob_ids(doc: str) -> list[str]:
    return [blob_id for blob_id, _ in _load_doc(doc)["b"]]


OBJECT_COLUMNS = "key, size, etag, mtime, doc, parts, version_id, seq"
CURRENT_CACHE_SIZE = 4096   # keys per worker in MetaStore.current_object's cache
_UNCACHED = object()


class MetaStore:
    """The metadata of one account, on either backend (``db``: ``storeroom/store/sql.py``).

    ``generations`` are this machine's shared change counters: caches of every worker compare them, writes
    that invalidate caches name them in ``bump`` (PostgreSQL also carries them to the other nodes)."""

    def __init__(self, db: Database, generations: generation.Generations) -> None:
        self.db = db
        self.generations = generations
        self._buckets = generation.GenerationCache(self.buckets_generation, self._load_bucket)
        # current versions as GET and HEAD read them (SQLite only: see current_object)
        self._current: dict[tuple[str, str], ObjectRecord | None] | None = {} if db.dialect == SQLITE else None
        self._current_generation = -1
        self._folding: asyncio.Task[None] | None = None
        # the key rows of newly written encrypted blobs (EncryptedBlobs.take_keys), inserted in the transaction
        # of the row that first refers to them
        self.take_keys: Callable[[Iterable[str]], list[tuple[str, str, bytes]]] | None = None
        # small blobs kept in the database (InlineBlobs.take), inserted in the same transaction
        self.take_inline: Callable[[Iterable[str]], list[tuple[str, bytes]]] | None = None

    def _new_keys(self, blob_ids: Iterable[str]) -> list[tuple[str, str, bytes, float]]:
        if self.take_keys is None:
            return []
        now = time.time()
        return [(*row, now) for row in self.take_keys(blob_ids)]

    @staticmethod
    async def _insert_keys(conn: Conn, rows: list[tuple[str, str, bytes, float]]) -> None:
        for row in rows:
            await conn.run(INSERT_KEY, row)

    def new_inline_rows(self, blob_ids: Iterable[str]) -> list[tuple[str, bytes, float]]:
        if self.take_inline is None:
            return []
        now = time.time()
        return [(*row, now) for row in self.take_inline(blob_ids)]

    @classmethod
    def sqlite(cls, path: Path) -> MetaStore:
        """The embedded store in ``path`` (migrated to this version's schema), with its generations file."""
        from storeroom.store.migrations import migrate_sqlite_meta
        from storeroom.store.sqlite import SqliteDatabase

        generations = generation.Generations(path.with_name("generations"))
        # PostgreSQL retries these jobs too; any commit empties the workers' caches of current versions
        db = SqliteDatabase(path, generations, rerunnable=True, every_commit=generation.OBJECTS)
        try:
            db.write_raw_sync(migrate_sqlite_meta)
        except BaseException:
            db.close_sync()
            raise
        return cls(db, generations)

    async def start(self) -> None:
        """In a worker: the database's background work, and (PostgreSQL) folding the per-bucket counts."""
        await self.db.start()
        if self.db.dialect == POSTGRESQL:
            self._folding = asyncio.get_running_loop().create_task(self._fold_forever())

    async def _fold_forever(self) -> None:
        while True:
            await asyncio.sleep(bucket_stats.FOLD_EVERY)
            try:
                async with self.db.exclusive("bucket-stats") as mine:  # one process of all the nodes
                    while mine and await self.db.write(bucket_stats.fold, serializable=False) >= \
                            bucket_stats.FOLD_BATCH:
                        pass
            except Exception as exc:  # noqa: BLE001 - counts wait in their deltas until the next fold
                log.warning("folding the per-bucket counts failed: %s", exc)

    async def close(self) -> None:
        if self._folding is not None:
            self._folding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._folding
        await self.db.close()
        self.generations.close()

    # -- account -----------------------------------------------------------------------------------------

    async def get_kv(self, name: str) -> str | None:
        row = await self.db.read.one("SELECT value FROM kv WHERE name = ?", (name,))
        return None if row is None else str(row[0])

    async def set_kv(self, name: str, value: str, *, only_if_absent: bool = False) -> str:
        """Sets ``name``; with ``only_if_absent`` keeps an existing value. Returns the stored value (with
        ``only_if_absent``, the first of several nodes starting at once wins, and all of them get its value)."""
        async def job(conn: Conn) -> str:
            await conn.run(f"INSERT INTO kv(name, value) VALUES (?, ?) ON CONFLICT(name) DO "
                           f"{'NOTHING' if only_if_absent else 'UPDATE SET value = excluded.value'}", (name, value))
            row = await conn.one("SELECT value FROM kv WHERE name = ?", (name,))
            assert row is not None
            return str(row[0])
        return await self.db.write(job)

    async def put_setting(self, name: str, value: str | None) -> None:
        """An account-wide S3 setting in ``kv`` (None deletes it); every worker's bucket caches reload."""
        async def job(conn: Conn) -> None:
            if value is None:
                await conn.run("DELETE FROM kv WHERE name = ?", (name,))
            else:
                await conn.run("INSERT INTO kv(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                               "value = excluded.value", (name, value))
        await self.db.write(job, bump=(generation.BUCKETS,))

    def iam_generation(self) -> int:
        """Bumped by every change to credentials or policies: caches compare it to know they are stale."""
        return self.generations.get(generation.IAM)

    def buckets_generation(self) -> int:
        return self.generations.get(generation.BUCKETS)

    # -- access keys -------------------------------------------------------------------------------------

    async def get_access_key(self, access_key_id: str) -> AccessKey | None:
        row = await self.db.read.one(
            "SELECT access_key_id, secret, principal, status, created FROM access_keys WHERE access_key_id = ?",
            (access_key_id,))
        return None if row is None else AccessKey(row[0], bytes(row[1]), row[2], row[3], row[4])

    async def access_keys_of(self, principal: str) -> list[AccessKey]:
        rows = await self.db.read.all(
            "SELECT access_key_id, secret, principal, status, created FROM access_keys WHERE principal = ? "
            "ORDER BY created", (principal,))
        return [AccessKey(r[0], bytes(r[1]), r[2], r[3], r[4]) for r in rows]

    def note_key_used(self, access_key_id: str, when: float, service: str, region: str) -> None:
        """Records a key's last use (GetAccessKeyLastUsed), without waiting for the commit."""
        async def job(conn: Conn) -> None:
            await conn.run(
                "UPDATE access_keys SET last_used = ?, last_used_service = ?, last_used_region = ? "
                "WHERE access_key_id = ?", (when, service, region, access_key_id))
        self.db.submit(job)

    async def iam_user_identity(self, user_id: str) -> tuple[str, str, list[tuple[str, str]]] | None:
        """(name, path, tags) of an IAM user, for the principal its access keys resolve to."""
        row = await self.db.read.one("SELECT name, path, tags FROM iam_users WHERE user_id = ?", (user_id,))
        if row is None:
            return None
        return row[0], row[1], [(k, v) for k, v in json.loads(row[2])]

    async def replace_root_keys(self, keep: AccessKey, holds: Callable[[AccessKey], bool]) -> bool:
        """Makes ``keep`` root's only access key, unless one of root's keys already ``holds`` its id and secret
        (then root's keys stay as they are).  Returns whether anything changed (nodes starting at once: the
        first one does the change, in one transaction)."""
        async def job(conn: Conn) -> bool:
            rows = await conn.all("SELECT access_key_id, secret, principal, status, created FROM access_keys "
                                  "WHERE principal = 'root'")
            current = [AccessKey(r[0], bytes(r[1]), r[2], r[3], r[4]) for r in rows]
            if any(holds(key) for key in current):
                return False
            await conn.run("DELETE FROM access_keys WHERE principal = 'root'")
            await conn.run("INSERT INTO access_keys(access_key_id, secret, principal, status, created) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (keep.access_key_id, keep.secret, keep.principal, keep.status, keep.created))
            return True
        return await self.db.write(job, bump=(generation.IAM,))

    async def add_root_key_if_none(self, key: AccessKey) -> bool:
        """Stores ``key`` as root's key unless root has one already (several nodes may start at once: one
        wins, in one transaction).  Returns whether ``key`` was stored."""
        async def job(conn: Conn) -> bool:
            if await conn.one("SELECT 1 FROM access_keys WHERE principal = 'root'") is not None:
                return False
            await conn.run("INSERT INTO access_keys(access_key_id, secret, principal, status, created) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (key.access_key_id, key.secret, key.principal, key.status, key.created))
            return True
        return await self.db.write(job, bump=(generation.IAM,))

    # -- buckets -----------------------------------------------------------------------------------------

    async def get_bucket(self, name: str) -> Bucket | None:
        """Cached per process; the cache is dropped whenever any worker creates or deletes a bucket."""
        return await self._buckets.get(name)

    async def _load_bucket(self, name: str) -> Bucket | None:
        row = await self.db.read.one(
            "SELECT name, region, created, versioning, ownership, public_block, (SELECT value FROM bucket_config "
            "WHERE bucket = buckets.name AND name = 'lifecycle'), (SELECT value FROM bucket_config WHERE bucket = "
            "buckets.name AND name = 'object-lock') FROM buckets WHERE name = ?", (name,))
        return None if row is None else Bucket(*row)

    async def list_buckets(self, *, after: str = "", prefix: str = "", region: str | None = None,
                           limit: int = NO_LIMIT) -> list[Bucket]:
        """Buckets named after ``after`` and starting with ``prefix`` (in ``region``), in name order."""
        rows = await self.db.read.all(
            "SELECT name, region, created FROM buckets WHERE name > ? AND substr(name, 1, ?) = ? "
            "AND (CAST(? AS TEXT) IS NULL OR region = ?) ORDER BY name LIMIT ?",
            (after, len(prefix), prefix, region, region, limit))
        return [Bucket(*r) for r in rows]

    async def create_bucket(self, name: str, region: str, *, ownership: str | None = None,
                            public_block: str | None = "1111", acl: str | None = None,
                            object_lock: str | None = None, tagging: str | None = None,
                            location: str | None = None) -> bool:
        """False if it already exists.  A new bucket has Block Public Access on (``public_block``) and ACLs
        disabled (``ownership`` None), as AWS's since April 2023, unless the request said otherwise; ``acl``:
        the bucket ACL's JSON when ACLs are enabled; ``object_lock``: its Object Lock configuration's JSON, which
        comes with versioning enabled; ``tagging``: its tags' JSON (PutBucketTagging's); ``location``: a
        LocationConstraint that is not the region's own name (``"EU"``, as JSON), which GetBucketLocation
        answers."""
        async def job(conn: Conn) -> bool:
            created = await conn.run(
                "INSERT INTO buckets(name, region, created, ownership, public_block, versioning) VALUES "
                "(?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
                (name, region, time.time(), ownership, public_block,
                 None if object_lock is None else "Enabled")) == 1
            if created and acl is not None:
                await conn.run("INSERT INTO bucket_config(bucket, name, value) VALUES (?, 'acl', ?)", (name, acl))
            if created and object_lock is not None:
                await conn.run("INSERT INTO bucket_config(bucket, name, value) VALUES (?, 'object-lock', ?)",
                               (name, object_lock))
            if created and tagging is not None:
                await conn.run("INSERT INTO bucket_config(bucket, name, value) VALUES (?, 'tagging', ?)",
                               (name, tagging))
            if created and location is not None:
                await conn.run("INSERT INTO bucket_config(bucket, name, value) VALUES (?, 'location', ?)",
                               (name, location))
            return created
        return await self.db.write(job, bump=(generation.BUCKETS,))

    async def set_bucket_setting(self, bucket: str, column: str, value: str | None,
                                 check: Callable[[Bucket], None] | None = None) -> bool:
        """Sets one of the bucket's own columns (``versioning``, ``ownership``, ``public_block``); ``check``
        may refuse (an AwsError) seeing the bucket's row, in the same transaction.  False if the bucket is
        gone.  Every worker's bucket cache reloads."""
        assert column in ("versioning", "ownership", "public_block")

        async def job(conn: Conn) -> bool:
            row = await conn.one(f"SELECT name, region, created, versioning, ownership, public_block, NULL, (SELECT "
                                 f"value FROM bucket_config WHERE bucket = buckets.name AND name = 'object-lock') "
                                 f"FROM buckets WHERE name = ?{locking(conn, 'UPDATE')}", (bucket,))
            if row is None:
                return False
            if check is not None:
                check(Bucket(*row))
            await conn.run(f"UPDATE buckets SET {column} = ? WHERE name = ?", (value, bucket))
            return True
        return await self.db.write(job, bump=(generation.BUCKETS,))

    async def put_object_lock(self, bucket: str, value: str, check: Callable[[Bucket], None]) -> bool:
        """Sets the bucket's Object Lock configuration (``bucket_config`` 'object-lock'); ``check`` may refuse
        (an AwsError) seeing the bucket's row and its current configuration, in the same transaction (the bucket's
        row locked: a concurrent PutBucketVersioning waits).  False if the bucket is gone."""
        async def job(conn: Conn) -> bool:
            row = await conn.one(f"SELECT name, region, created, versioning, ownership, public_block, NULL, (SELECT "
                                 f"value FROM bucket_config WHERE bucket = buckets.name AND name = 'object-lock') "
                                 f"FROM buckets WHERE name = ?{locking(conn, 'UPDATE')}", (bucket,))
            if row is None:
                return False
            check(Bucket(*row))
            await conn.run("INSERT INTO bucket_config(bucket, name, value) VALUES (?, 'object-lock', ?) ON "
                           "CONFLICT(bucket, name) DO UPDATE SET value = excluded.value", (bucket, value))
            return True
        return await self.db.write(job, bump=(generation.BUCKETS,))

    async def get_bucket_config(self, bucket: str, name: str) -> str | None:
        """A bucket setting kept as JSON in ``bucket_config`` ('tagging', 'lifecycle', 'acl')."""
        row = await self.db.read.one("SELECT value FROM bucket_config WHERE bucket = ? AND name = ?", (bucket, name))
        return None if row is None else str(row[0])

    async def put_bucket_config(self, bucket: str, name: str, value: str | None) -> bool:
        """Sets (or with None deletes) a bucket setting; False if the bucket is gone."""
        async def job(conn: Conn) -> bool:
            if await conn.one(f"SELECT 1 FROM buckets WHERE name = ?{locking(conn, 'KEY SHARE')}", (bucket,)) is None:
                return False
            if value is None:
                await conn.run("DELETE FROM bucket_config WHERE bucket = ? AND name = ?", (bucket, name))
            else:
                await conn.run("INSERT INTO bucket_config(bucket, name, value) VALUES (?, ?, ?) ON CONFLICT(bucket, "
                               "name) DO UPDATE SET value = excluded.value", (bucket, name, value))
            return True
        return await self.db.write(job, bump=(generation.BUCKETS,))

    async def delete_bucket(self, name: str) -> tuple[str, list[tuple[str, list[str]]]]:
        """('deleted', the aborted uploads), ('missing', []) or ('not-empty', []) (objects, versions or delete
        markers remain).  Multipart uploads in progress go with the bucket, as on S3: each (upload id, its parts'
        blob ids) is returned, for the blob store to free.  The bucket's row is locked first: writes in flight in
        the bucket finish before the emptiness check, later ones wait and then find no bucket (``locking``)."""
        async def job(conn: Conn) -> tuple[str, list[tuple[str, list[str]]]]:
            if await conn.one(f"SELECT 1 FROM buckets WHERE name = ?{locking(conn, 'UPDATE')}", (name,)) is None:
                return "missing", []
            if await conn.one("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)):
                return "not-empty", []
            if await conn.one("SELECT 1 FROM object_versions WHERE bucket = ? LIMIT 1", (name,)):
                return "not-empty", []  # every version and delete marker must go first, as S3 requires
            aborted: dict[str, list[str]] = {}
            for upload_id, blob_id in await conn.all(
                    "SELECT u.upload_id, p.blob_id FROM uploads u LEFT JOIN parts p ON p.upload_id = u.upload_id "
                    "WHERE u.bucket = ?", (name,)):
                aborted.setdefault(upload_id, [])
                if blob_id is not None:
                    aborted[upload_id].append(blob_id)
            if aborted:
                await conn.run("DELETE FROM uploads WHERE bucket = ?", (name,))  # their parts cascade
            await conn.run("DELETE FROM buckets WHERE name = ?", (name,))
            return "deleted", list(aborted.items())
        return await self.db.write(job, bump=(generation.BUCKETS,), serializable=False)

    async def get_bucket_policy(self, bucket: str) -> str | None:
        row = await self.db.read.one("SELECT document FROM bucket_policies WHERE bucket = ?", (bucket,))
        return None if row is None else str(row[0])

    async def put_bucket_policy(self, bucket: str, document: str | None) -> bool:
        """Sets (or with None deletes) the bucket's policy; False if the bucket is gone."""
        async def job(conn: Conn) -> bool:
            if await conn.one(f"SELECT 1 FROM buckets WHERE name = ?{locking(conn, 'KEY SHARE')}", (bucket,)) is None:
                return False
            if document is None:
                await conn.run("DELETE FROM bucket_policies WHERE bucket = ?", (bucket,))
            else:
                await conn.run("INSERT INTO bucket_policies(bucket, document) VALUES (?, ?) "
                               "ON CONFLICT(bucket) DO UPDATE SET document = excluded.document", (bucket, document))
            return True
        return await self.db.write(job, bump=(generation.IAM,))  # policies are cached with the IAM generation

    # -- objects -----------------------------------------------------------------------------------------

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """The key's current version, unless that is a delete marker (then None, as for a missing key)."""
        row = await self.db.read.one(
            f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        return None if row is None else object_from_row(bucket, row)

    async def current_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """``get_object`` for GET and HEAD, through this worker's cache: the record is shared, never to be changed.

        Why: the primary-key read costs a GET ~15 % of its CPU, two thirds of it SQLite's WAL read locks
        (``fcntl``), bench/RESULTS.md.  The cache is emptied whenever ``generation.OBJECTS`` moves, which every
        commit of the metadata file on this machine does (its writer threads, whatever process), so a write
        acknowledged by any worker is seen by the next read of every worker.  PostgreSQL's nodes would each need
        to hear of every write at once: there the read is always made."""
        cache = self._current
        if cache is None:
            return await self.get_object(bucket, key)
        moved = self.generations.get(generation.OBJECTS)  # before the load (store/generation.py)
        if moved != self._current_generation:
            cache.clear()
            self._current_generation = moved
        else:
            found = cache.get((bucket, key), _UNCACHED)
            if found is not _UNCACHED:
                return found  # type: ignore[return-value]
        record = await self.get_object(bucket, key)
        if moved == self._current_generation:
            if len(cache) >= CURRENT_CACHE_SIZE:
                del cache[next(iter(cache))]  # the oldest entry
            cache[(bucket, key)] = record
        return record

    async def get_version(self, bucket: str, key: str, version_id: str) -> ObjectRecord | None:
        """One version of the key (current or not; a delete marker has ``marker`` set), or None."""
        row = await versions.find_version(self.db.read, bucket, key, version_id)
        return None if row is None else object_from_row(bucket, row)

    async def latest_marker(self, bucket: str, key: str) -> ObjectRecord | None:
        """The delete marker that is the key's latest version, if it is one (GET of a deleted key answers 404
        naming it).  Only asked once the key has no current object."""
        row = await versions.newest_noncurrent(self.db.read, bucket, key)
        if row is None or not row[8] or await self.get_object(bucket, key) is not None:
            return None
        return object_from_row(bucket, row)

    async def put_object(self, obj: ObjectRecord, *, if_none_match: bool = False,
                         if_match: str | None = None, discard_upload: str | None = None,
                         completed_request: str | None = None, same_blobs: bool = False,
                         unchanged_since: float | None = None) -> tuple[str, list[str]]:
        """Insert or replace the key's current version; returns (outcome, blob ids no longer referenced).

        outcome: 'ok', 'no-bucket', 'exists' (``if_none_match`` and the key exists), 'etag-mismatch'
        (``if_match`` given and the current ETag differs or the key is missing), 'no-upload'
        (``discard_upload`` no longer exists: a concurrent complete or abort won), 'parts-changed' (a part
        the object is made of was replaced by a concurrent UploadPart since the caller listed them),
        'changed' (``same_blobs``: a metadata-only update whose object was overwritten or deleted meanwhile,
        so the blobs it would keep may be gone; or the bucket is versioned, where the previous version keeps
        its blobs and the new one may not share them), 'conflict' (the key's current version was written after
        ``unchanged_since``).
        The check and the write happen in one transaction, so conditional writes are atomic: SQLite has one
        writer; PostgreSQL runs this READ COMMITTED with row locks (the bucket's, the upload's, then the
        object's: ``locking``), so concurrent writes of *other* keys never abort each other, and writes of the
        same key, or completions of the same upload, queue on its row.  Completing an upload
        (``discard_upload``) deletes it with its parts; the parts' blobs the object does not use are returned
        as unreferenced; with ``completed_request`` (the digest of the completing request) it is remembered in
        ``completed_uploads``, in the same transaction, for the retries of that request.

        Versions (store/versions.py): the bucket's versioning state is read in the same transaction.  Unversioned,
        the key's row is replaced (its blobs are freed).  Enabled, the current version becomes noncurrent and
        ``obj`` gets a new version id; Suspended, ``obj`` is the ``null`` version, replacing the key's previous
        ``null`` version wherever it is.  ``obj.version_id`` and ``obj.seq`` are set to what was stored.
        """
        keys = self._new_keys(b for b, _ in obj.blobs)
        inline = self.new_inline_rows(b for b, _ in obj.blobs)

        async def job(conn: Conn) -> tuple[str, list[str]]:
            bucket_row = await conn.one(_BUCKET_SHARED[conn.dialect], (obj.bucket,))
            if bucket_row is None:
                return "no-bucket", []
            versioning: str | None = bucket_row[0]
            if versioning is not None:
                if same_blobs:
                    return "changed", []
                await versions.lock_key(conn, obj.bucket, obj.key)
            upload_found = discard_upload is None or await conn.one(
                f"SELECT 1 FROM uploads WHERE upload_id = ?{locking(conn, 'UPDATE')}", (discard_upload,)) is not None
            kept = {b for b, _ in obj.blobs}
            for _ in range(5):  # a row another writer inserted between our look and our insert: look again
                old = await conn.one(_OBJECT_LOCKED[conn.dialect], (obj.bucket, obj.key))
                outcome = self._refused(old, obj, if_none_match, if_match, same_blobs)
                if outcome is None and upload_found and unchanged_since is not None and old is not None \
                        and old[3] > unchanged_since:  # (an upload gone: an identical completion won, answered again)
                    outcome = "conflict"
                if outcome is not None:
                    return outcome, []
                part_blobs: set[str] = set()
                if discard_upload is not None:
                    if not upload_found:  # gone (a concurrent complete or abort won): checked before writing
                        return "no-upload", []
                    part_blobs = {r[0] for r in await conn.all(
                        "SELECT blob_id FROM parts WHERE upload_id = ?", (discard_upload,))}
                    if not kept <= part_blobs:
                        return "parts-changed", []
                unreferenced = await self._place(conn, obj, old, versioning)
                if unreferenced is None:
                    continue
                if keys:
                    await self._insert_keys(conn, keys)
                for row in inline:
                    await conn.run(INSERT_INLINE, row)
                unreferenced = [b for b in unreferenced if b not in kept]
                if discard_upload is not None:
                    await self._complete(conn, obj, discard_upload, completed_request)
                    unreferenced = sorted(part_blobs - kept) + unreferenced
                return "ok", unreferenced
            raise AwsError("SlowDown", "The object is being changed by other requests; please try again.")
        return await self.db.write(job, serializable=False)

    @staticmethod
    async def _place(conn: Conn, obj: ObjectRecord, old: Row | None, versioning: str | None) -> list[str] | None:
        """Writes ``obj`` as the key's current version; the blob ids the write unreferenced (None: another
        writer inserted the key meanwhile, look again)."""
        freed: list[str] = []
        if versioning is None:
            obj.version_id, obj.seq = "null", int(obj.mtime * 1_000_000)
            if old is not None:
                freed = doc_blob_ids(old[4])
        else:
            obj.seq = versions.next_seq(await versions.previous_seq(conn, obj.bucket, obj.key, old))
            obj.version_id = versions.new_version_id(obj.seq) if versioning == "Enabled" else "null"
            if old is not None:
                if versioning != "Enabled" and old[6] == "null":
                    freed = doc_blob_ids(old[4])
                else:
                    await versions.demote(conn, obj.bucket, old)
            if versioning != "Enabled":
                freed += await versions.drop_null_version(conn, obj.bucket, obj.key)
        if old is None:
            return freed if await conn.run(_INSERT_OBJECT, _object_params(obj)) else None
        await conn.run(_UPDATE_OBJECT, (*_object_params(obj)[2:], obj.bucket, obj.key))
        return freed

    @staticmethod
    def _refused(old: Row | None, obj: ObjectRecord, if_none_match: bool, if_match: str | None,
                 same_blobs: bool) -> str | None:
        """Why a conditional write may not happen, seeing the key's current row (None: it may)."""
        if if_none_match and old is not None:
            return "exists"
        if if_match is not None and (old is None or if_match not in ("*", old[2])):
            return "etag-mismatch"
        if same_blobs and (old is None or doc_blob_ids(old[4]) != [b for b, _ in obj.blobs]):
            return "changed"
        return None

    @staticmethod
    async def _complete(conn: Conn, obj: ObjectRecord, upload_id: str, completed_request: str | None) -> None:
        """The upload ``obj`` completed goes (with its parts), remembered for the retries of its request."""
        await conn.run("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
        if completed_request is not None:
            await conn.run(
                "INSERT INTO completed_uploads(upload_id, bucket, key, completed, request, object_mtime, "
                "first_blob) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(upload_id) DO UPDATE SET "
                "bucket = excluded.bucket, key = excluded.key, completed = excluded.completed, "
                "request = excluded.request, object_mtime = excluded.object_mtime, "
                "first_blob = excluded.first_blob",
                (upload_id, obj.bucket, obj.key, time.time(), completed_request, obj.mtime, obj.blobs[0][0]))

    async def delete_objects(self, bucket: str, keys: list[str]) -> list[str]:
        """Deletes the keys that exist (an unversioned bucket's DeleteObjects); returns the blob ids they
        referenced.  In a versioned bucket the caller uses :meth:`delete_entries`."""
        async def job(conn: Conn) -> list[str]:
            freed: list[str] = []
            for key in sorted(set(keys)):  # one order for every deleter: rows locked in it never deadlock
                row = await conn.one("DELETE FROM objects WHERE bucket = ? AND key = ? RETURNING doc", (bucket, key))
                if row is not None:
                    freed.extend(doc_blob_ids(row[0]))
            return freed
        return await self.db.write(job, serializable=False)

    async def delete_entries(self, bucket: str, entries: list[tuple[str, str | None]],
                             guards: list[Guard] | None = None,
                             if_match: list[Callable[[str], bool] | None] | None = None
                             ) -> tuple[str | None, list[Deletion], list[str]]:
        """DeleteObject / DeleteObjects with versions: each (key, version id or None) in one transaction, in key
        order.  Returns (the bucket's versioning state, what each entry did in the order given, the blob ids
        no longer referenced); the state is None for a missing bucket too (then nothing was done: the caller
        checked the bucket exists).  ``guards`` (one per entry): a version Object Lock protects is not removed
        (its Deletion is ``locked``).  ``if_match`` (one per entry, or None): a conditional delete's test of the
        key's current version's ETag, made in the same transaction as the delete; an entry whose key has no
        current version, or whose test fails, is not deleted (its Deletion is ``unmet``)."""
        async def job(conn: Conn) -> tuple[str | None, list[Deletion], list[str]]:
            bucket_row = await conn.one(_BUCKET_SHARED[conn.dialect], (bucket,))
            if bucket_row is None:
                return None, [Deletion(k, v) for k, v in entries], []
            versioning: str | None = bucket_row[0]
            done: dict[int, Deletion] = {}
            freed: list[str] = []
            for i in sorted(range(len(entries)), key=lambda n: (entries[n][0], entries[n][1] or "")):
                key, version_id = entries[i]
                done[i], gone = await self._delete_entry(conn, bucket, key, version_id, versioning,
                                                         guards[i] if guards else None,
                                                         if_match[i] if if_match else None)
                freed += gone
            return versioning, [done[i] for i in range(len(entries))], freed
        return await self.db.write(job, serializable=False)

    @staticmethod
    async def _delete_entry(conn: Conn, bucket: str, key: str, version_id: str | None, versioning: str | None,
                            guard: Guard | None, if_match: Callable[[str], bool] | None
                            ) -> tuple[Deletion, list[str]]:
        if versioning is not None or version_id is not None:
            await versions.lock_key(conn, bucket, key)
        if if_match is not None:  # S3 judges a conditional delete by the key's current version (none: a marker)
            current = await conn.one(_OBJECT_LOCKED[conn.dialect], (bucket, key))
            if current is None:
                return Deletion(key, version_id, unmet="NoSuchKey"), []
            if not if_match(current[2]):
                return Deletion(key, version_id, unmet="PreconditionFailed"), []
        if version_id is not None:
            removed = await versions.remove_version(conn, bucket, key, version_id, guard)
            return Deletion(key, version_id, removed.found, removed.marker, locked=removed.locked), list(removed.freed)
        if versioning is None:
            row = await conn.one("DELETE FROM objects WHERE bucket = ? AND key = ? RETURNING doc", (bucket, key))
            return Deletion(key, None, row is not None), ([] if row is None else doc_blob_ids(row[0]))
        current = await conn.one(_OBJECT_LOCKED[conn.dialect], (bucket, key))
        marker, freed = await versions.add_marker(conn, bucket, key, versioning, current)
        return Deletion(key, None, True, True, marker.version_id), freed

    async def update_version(self, bucket: str, key: str, version_id: str | None,
                             change: Callable[[ObjectRecord], None]) -> ObjectRecord | None:
        """Changes a version's tags or ACL in place (``change`` mutates the record; it may raise an AwsError):
        the key's current object (``version_id`` None) or the given version.  None if there is no such version;
        a delete marker is returned unchanged (``marker`` set).  No new version is made, as in S3."""
        async def job(conn: Conn) -> ObjectRecord | None:
            lock = locking(conn, "UPDATE")
            if version_id is None:
                row = await conn.one(f"SELECT {OBJECT_COLUMNS}, 0 FROM objects WHERE bucket = ? AND key = ?{lock}",
                                     (bucket, key))
                table = "objects"
            else:
                row = await conn.one(f"SELECT {OBJECT_COLUMNS}, 0 FROM objects WHERE bucket = ? AND key = ? AND "
                                     f"version_id = ?{lock}", (bucket, key, version_id))
                table = "objects"
                if row is None:
                    row = await conn.one(f"SELECT {versions.VERSION_COLUMNS} FROM object_versions WHERE bucket = ? "
                                         f"AND key = ? AND version_id = ?{lock}", (bucket, key, version_id))
                    table = "object_versions"
            if row is None:
                return None
            record = object_from_row(bucket, row)
            if record.marker:
                return record
            change(record)
            await conn.run(f"UPDATE {table} SET doc = ? WHERE bucket = ? AND key = ? AND seq = ?",
                           (object_doc(record), bucket, key, record.seq))
            return record
        return await self.db.write(job, serializable=False)

    def scan_versions(self, bucket: str, start_key: str, before_seq: int, *,
                      batch: int = 1000) -> AsyncIterator[ObjectRecord]:
        """Every version from a position on, in ListObjectVersions' order (store/versions.py: ``scan``), read
        ``batch`` rows of each table at a time."""
        async def records() -> AsyncIterator[ObjectRecord]:
            async for row in versions.scan(self.db.read, bucket, start_key, before_seq, batch):
                yield object_from_row(bucket, row)
        return records()

    async def list_objects(self, bucket: str, start: str, *, inclusive: bool, limit: int,
                           below: str | None = None) -> list[Row]:
        """Rows (key, size, etag, mtime, doc) with key > start (>= with ``inclusive``) and key < ``below`` if
        given, in key order (``doc``: the object's JSON document, for :func:`listed_details`)."""
        op = ">=" if inclusive else ">"
        if below is None:
            return await self.db.read.all(
                f"SELECT key, size, etag, mtime, doc FROM objects WHERE bucket = ? AND key {op} ? ORDER BY key "
                "LIMIT ?", (bucket, start, limit))
        return await self.db.read.all(
            f"SELECT key, size, etag, mtime, doc FROM objects WHERE bucket = ? AND key {op} ? AND key < ? "
            "ORDER BY key LIMIT ?", (bucket, start, below, limit))

    # -- multipart uploads -------------------------------------------------------------------------------

    async def create_upload(self, upload: Upload) -> bool:
        async def job(conn: Conn) -> bool:
            if await conn.one(_BUCKET_SHARED[conn.dialect], (upload.bucket,)) is None:
                return False
            extra = {k: v for k, v in (("t", upload.tags), ("a", upload.acl), ("l", upload.legal_hold),
                                       ("r", None if upload.retention is None else list(upload.retention)))
                     if v is not None}
            await conn.run(
                "INSERT INTO uploads(upload_id, bucket, key, initiated, headers, checksum_algorithm, checksum_type, "
                "extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (upload.upload_id, upload.bucket, upload.key, upload.initiated, json.dumps(upload.headers),
                 upload.checksum_algorithm, upload.checksum_type, json.dumps(extra) if extra else None))
            return True
        return await self.db.write(job, serializable=False)

    async def get_upload(self, upload_id: str) -> Upload | None:
        row = await self.db.read.one(f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?", (upload_id,))
        return None if row is None else _upload_from_row(row)

    async def list_uploads(self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str | None,
                           limit: int, below: str | None = None) -> list[Upload]:
        """Uploads after (key_marker, upload_id_marker) in (key, upload id) order (``upload_id_marker`` None: after
        every upload of ``key_marker``), with keys under ``prefix`` (and before ``below``, its successor, if
        given); ids sort by creation time."""
        bound = "" if below is None else "key < ? AND "
        after = "key > ?" if upload_id_marker is None else "(key > ? OR (key = ? AND upload_id > ?))"
        markers = (key_marker,) if upload_id_marker is None else (key_marker, key_marker, upload_id_marker)
        rows = await self.db.read.all(
            f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND key >= ? AND {bound}{after} "
            f"ORDER BY key, upload_id LIMIT ?",
            (bucket, max(prefix, key_marker), *(() if below is None else (below,)), *markers, limit))
        return [_upload_from_row(r) for r in rows if r[2].startswith(prefix)]

    async def put_part(self, upload_id: str, part: Part) -> tuple[bool, str | None]:
        """(False, None) if the upload is gone; else (True, blob id of a replaced part).  The upload's row is
        locked shared (a completion or abort, which lock it for update, waits for the parts being stored, and
        then sees them), the part's row for update (two uploads of one part number queue)."""
        keys = self._new_keys((part.blob_id,))

        async def job(conn: Conn) -> tuple[bool, str | None]:
            if await conn.one(f"SELECT 1 FROM uploads WHERE upload_id = ?{locking(conn, 'SHARE')}",
                              (upload_id,)) is None:
                return False, None
            if keys:
                await self._insert_keys(conn, keys)
            params = (upload_id, part.part_number, part.blob_id, part.size, part.etag, part.mtime,
                      json.dumps(part.checksum) if part.checksum else None)
            for _ in range(5):
                old = await conn.one(f"SELECT blob_id FROM parts WHERE upload_id = ? AND part_number = ?"
                                     f"{locking(conn, 'UPDATE')}", (upload_id, part.part_number))
                if old is None:
                    if await conn.run(_INSERT_PART, params) == 0:
                        continue  # inserted meanwhile by another upload of this part number: replace that one
                    return True, None
                await conn.run("UPDATE parts SET blob_id = ?, size = ?, etag = ?, mtime = ?, checksum = ? "
                               "WHERE upload_id = ? AND part_number = ?", (*params[2:], upload_id, part.part_number))
                return True, old[0]
            raise AwsError("SlowDown", "The part is being uploaded by other requests; please try again.")
        return await self.db.write(job, serializable=False)

    async def list_parts(self, upload_id: str, after: int = 0, limit: int = 10_000) -> list[Part]:
        rows = await self.db.read.all(
            "SELECT part_number, blob_id, size, etag, mtime, checksum FROM parts "
            "WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?",
            (upload_id, after, limit))
        return [Part(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]) if r[5] else None) for r in rows]

    async def abort_upload(self, upload_id: str) -> list[str] | None:
        """Deletes the upload and its parts; returns their blob ids, or None if the upload did not exist."""
        async def job(conn: Conn) -> list[str] | None:
            if await conn.one(f"SELECT 1 FROM uploads WHERE upload_id = ?{locking(conn, 'UPDATE')}",
                              (upload_id,)) is None:
                return None
            blobs = [r[0] for r in await conn.all("SELECT blob_id FROM parts WHERE upload_id = ?", (upload_id,))]
            await conn.run("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
            return blobs
        return await self.db.write(job, serializable=False)

    async def get_completion(self, upload_id: str, since: float) -> Completion | None:
        """The completion of ``upload_id`` if it happened at ``since`` or later."""
        row = await self.db.read.one(
            "SELECT upload_id, bucket, key, completed, request, object_mtime, first_blob FROM completed_uploads "
            "WHERE upload_id = ? AND completed >= ?", (upload_id, since))
        return None if row is None else Completion(*row)

    def prune_completions(self, before: float, batch: int) -> None:
        """Forgets up to ``batch`` completions older than ``before``, not waited for."""
        async def job(conn: Conn) -> None:
            await conn.run(
                "DELETE FROM completed_uploads WHERE upload_id IN (SELECT upload_id FROM completed_uploads "
                "WHERE completed < ? ORDER BY completed LIMIT ?)", (before, batch))
        self.db.submit(job)

    # -- maintenance -------------------------------------------------------------------------------------

    async def referenced_blobs(self) -> set[str]:
        """Every blob id that an object or a multipart part refers to (for the orphan sweep)."""
        found: set[str] = set()
        for table in ("objects", "object_versions"):
            for (doc,) in await self.db.read.all(f"SELECT doc FROM {table}"):
                found.update(doc_blob_ids(doc))
        found.update(r[0] for r in await self.db.read.all("SELECT blob_id FROM parts"))
        return found


# The hot statements, built once per dialect (they differ only by their lock clause: sql.locking).
# The bucket's row is read for its versioning state (a write's behaviour depends on it, in the same transaction).
_BUCKET_SHARED = {d: f"SELECT versioning FROM buckets WHERE name = ?{' FOR KEY SHARE' if d == POSTGRESQL else ''}"
                  for d in (SQLITE, POSTGRESQL)}
_OBJECT_LOCKED = {d: f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?"
                     f"{' FOR UPDATE' if d == POSTGRESQL else ''}" for d in (SQLITE, POSTGRESQL)}
_INSERT_OBJECT = ("INSERT INTO objects(bucket, key, size, etag, mtime, doc, parts, version_id, seq) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(bucket, key) DO NOTHING")
_UPDATE_OBJECT = ("UPDATE objects SET size = ?, etag = ?, mtime = ?, doc = ?, parts = ?, version_id = ?, seq = ? "
                  "WHERE bucket = ? AND key = ?")
INSERT_INLINE = "INSERT INTO inline_blobs(blob_id, data, created) VALUES (?, ?, ?)"
_INSERT_PART = ("INSERT INTO parts(upload_id, part_number, blob_id, size, etag, mtime, checksum) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(upload_id, part_number) DO NOTHING")


_UPLOAD_COLUMNS = "upload_id, bucket, key, initiated, headers, checksum_algorithm, checksum_type, extra"


def _upload_from_row(row: Row) -> Upload:
    extra = json.loads(row[7]) if row[7] else {}
    retention = extra.get("r")
    return Upload(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], extra.get("t"), extra.get("a"),
                  None if retention is None else (retention[0], int(retention[1])), extra.get("l"))


def _object_params(obj: ObjectRecord) -> tuple[Any, ...]:
    return (obj.bucket, obj.key, obj.size, obj.etag, obj.mtime, object_doc(obj), obj.parts, obj.version_id,
            obj.seq)
