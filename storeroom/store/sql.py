"""The metadata storage interface: one SQL dialect-neutral connection API, two engines behind it.

Everything Storeroom keeps besides object bytes (the account, IAM, buckets, the object index, multipart uploads,
sign-in state, the audit trail) is read and written through :class:`Conn` and :class:`Database`:

- SQLite (``storeroom/store/sqlite.py``), the embedded default: reads run synchronously on the event loop
  thread (a primary-key read costs less than a thread hop), writes are group-committed by one writer thread.
- PostgreSQL (``storeroom/store/postgres.py``), for several nodes: psycopg 3's async connections from a
  pool, each write job in its own SERIALIZABLE transaction, retried on serialization failures.

Why one connection-level interface rather than two implementations of a repository per concern: the stores
(``store/meta.py``, ``iam/*_store.py``, ``audit/log.py``…) are written once, with the SQL both engines accept
(``?`` placeholders, ``INSERT … ON CONFLICT … DO UPDATE``, ``RETURNING``, ``CAST(? AS TEXT)`` where a NULL
parameter needs a type), so a feature built on one backend is built on both and the two cannot drift.  What
does differ (DDL, schema versions, id sequences, triggers) lives in the migrations (``store/migrations.py``) and
in the few branches that test :attr:`Database.dialect`.

A write is a *job*: ``async def job(conn) -> T``, run inside one transaction; an exception (an
:class:`~storeroom.errors.AwsError` with IAM's or S3's code) rolls the job back and reaches the caller.  On
SQLite the job's coroutine is driven on the writer thread and must await nothing but its connection (every
``Conn`` method completes at once there); on PostgreSQL it runs on the event loop, and may run more than once
(a serialization failure retries it), so it must not have effects outside the database.

``bump`` names the generation counters (``store/generation.py``) a write invalidates: they are published with
the commit (PostgreSQL: in the same transaction, plus NOTIFY) so that every worker of every node drops its
caches.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from storeroom.errors import AwsError

T = TypeVar("T")
Row = tuple[Any, ...]
Params = Sequence[Any]

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
NO_LIMIT = 1 << 62  # LIMIT ? for "all": SQLite's -1 and PostgreSQL's NULL are not portable


class Conn(Protocol):
    """A connection (or a transaction's connection) of either engine; rows are tuples."""

    dialect: str

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of the result, or None."""

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of the result."""

    async def value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row (of a query that always has one: ``count(*)``, ``max(…)``)."""

    async def run(self, sql: str, params: Params = ()) -> int:
        """Executes a statement; returns the number of rows it changed."""

    async def many(self, sql: str, rows: Iterable[Params]) -> None:
        """Executes a statement once per parameter row."""


Job = Callable[[Conn], Coroutine[Any, Any, T]]


class Database(Protocol):
    """One metadata database: ``read`` for reads outside a transaction, ``write(job)`` for changes."""

    @property
    def dialect(self) -> str:
        """SQLITE or POSTGRESQL: for the few places where the engines differ (DDL, id sequences)."""

    @property
    def read(self) -> Conn:
        """Reads outside any transaction: each statement sees every write committed before it."""

    async def write(self, job: Job[T], *, bump: Sequence[int] = (), serializable: bool = True) -> T:
        """Runs ``job`` in a durable transaction; its result once committed.  ``bump``: generation counters to
        move with the commit.  ``serializable=False``: PostgreSQL runs the job READ COMMITTED — for appends
        that need no isolation (the audit trail), and for the hot object paths, which take the row locks they
        need themselves (:func:`locking`) rather than pay SERIALIZABLE's aborts on every neighbouring key."""

    def submit(self, job: Job[Any]) -> None:
        """Runs ``job`` without waiting for it (bookkeeping that may be lost: last-used times, pruning)."""

    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        """``async with db.exclusive(name) as mine:`` — ``mine`` is True for one holder at a time among every
        process sharing the database (background work that one of them does for all: access-log delivery).
        Never waits: False when another holds it.  Released when the block ends or the holder dies."""

    async def start(self) -> None:
        """Background work of a worker process (PostgreSQL: following other nodes' changes)."""

    async def ping(self) -> str | None:
        """None when the database answers, else what is wrong (``/_storeroom/ready``)."""

    async def close(self) -> None:
        """Finishes queued writes and closes the connections."""


def locking(conn: Conn, mode: str) -> str:
    """`` FOR UPDATE`` / `` FOR SHARE`` / `` FOR KEY SHARE`` on PostgreSQL, nothing on SQLite (whose single
    writer already excludes every other): the one clause the two dialects cannot share, appended to a SELECT
    inside a write job.

    The locks of the object paths (storeroom/store/meta.py), always taken in this order: the bucket's row
    (KEY SHARE by writes in the bucket, UPDATE by its deletion), then the upload's (SHARE by UploadPart, UPDATE
    by its completion or abort), then the object's (UPDATE)."""
    return f" FOR {mode}" if conn.dialect == POSTGRESQL else ""


def unavailable() -> AwsError:
    """The metadata backend cannot be reached (or does not answer in time): 503, which SDKs retry.

    "The request has failed due to a temporary failure of the server." is AWS's common error
    ServiceUnavailable (https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html); S3 lists the same
    code with status 503 (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList)."""
    return AwsError("ServiceUnavailable", "The request has failed due to a temporary failure of the server.", 503)
