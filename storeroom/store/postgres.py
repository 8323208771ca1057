"""PostgreSQL, the metadata backend for several nodes: psycopg 3's async connections from a psycopg-pool pool.

- **Reads** borrow a pool connection for one statement (autocommit, READ COMMITTED): every committed write is
  seen by the next read on any node, which is S3's read-after-write consistency.
- **Writes** run each job in its own SERIALIZABLE transaction (``store/sql.py``): every check-then-write of the
  stores (If-None-Match, If-Match, multipart completion, IAM name uniqueness and quotas) was written for
  SQLite's single writer, and SERIALIZABLE gives exactly that guarantee across nodes — PostgreSQL aborts one
  of two transactions that would interleave, and the job is run again (serialization failures, deadlocks and
  unique-key races are retried).  Appends that need no isolation (the audit trail) run READ COMMITTED.
- **Cache invalidation across nodes**: a write that moves a generation counter (``store/generation.py``)
  increments its row in ``generations`` and NOTIFYs ``storeroom_generations`` in the same transaction, so
  the notification goes out exactly when the change commits.  Each worker LISTENs on a connection of its own
  and bumps this machine's shared counter, which every worker's caches compare
  (:class:`GenerationSync`).  Should the channel drop, a poll of the ``generations`` rows every
  :data:`POLL_INTERVAL` catches what it missed, and while the listener is down every cache is also emptied
  at each poll: a change made on another node is seen within :data:`POLL_INTERVAL` in the worst case, within
  milliseconds normally (tests/e2e/test_nodes.py measures both).
- **Failure**: connections have connect, statement and lock timeouts, and TCP keepalives; any failure to
  reach the server, and a pool that cannot hand out a connection in time, becomes ``503 ServiceUnavailable``
  (``sql.unavailable``), which SDKs retry.  Once a failure is seen, requests wait at most
  :data:`DOWN_ACQUIRE_TIMEOUT` for a connection instead of :data:`ACQUIRE_TIMEOUT`, so a node without its
  database answers fast; the pool reconnects by itself and the first success clears the state.  A statement
  that fails on a connection that broke before anything was committed (PostgreSQL restarted while it sat in
  the pool) is retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storeroom.errors import AwsError
from storeroom.store.generation import Generations
from storeroom.store.sql import POSTGRESQL, Job, Params, Row, unavailable

T = TypeVar("T")
log = logging.getLogger("storeroom")

CHANNEL = "storeroom_generations"
ACQUIRE_TIMEOUT = 2.0         # seconds a request waits for a pool connection while the database is healthy
DOWN_ACQUIRE_TIMEOUT = 0.5    # … and once a failure was seen, until a success
POLL_INTERVAL = 1.0           # seconds between polls of the generation rows (the fallback of LISTEN/NOTIFY)
RETRIES = 12                  # attempts of a write job that keeps losing serialization races
# seconds a statement (or a write's transaction) may take, measured here: the server's statement_timeout cannot
# fire when the server itself is unreachable (a network partition: no reset, only TCP keepalives, much later)
CLIENT_TIMEOUT = 20.0
# libpq parameters a URL does not set itself (it may override any of them)
CONNECTION_DEFAULTS = {
    "connect_timeout": "3",
    "application_name": "storeroom",
    "keepalives": "1", "keepalives_idle": "10", "keepalives_interval": "3", "keepalives_count": "3",
    # a statement stuck behind a lock or a sick server answers 503 instead of hanging the request
    "options": "-c statement_timeout=15000 -c lock_timeout=10000 -c idle_in_transaction_session_timeout=60000",
}
_RETRIED = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.UniqueViolation)


def _consumed(task: asyncio.Future[Any]) -> None:
    """Retrieves an abandoned task's outcome (asyncio would log it as never retrieved)."""
    if not task.cancelled():
        task.exception()

_SQL: dict[str, str] = {}


def pg_sql(sql: str) -> str:
    """``?`` placeholders → psycopg's ``%s`` (and a literal ``%`` → ``%%``), outside quoted strings."""
    out = _SQL.get(sql)
    if out is None:
        parts: list[str] = []
        quote: str | None = None
        for ch in sql:
            if quote is not None:
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
            elif ch == "?":
                parts.append("%s")
                continue
            parts.append("%%" if ch == "%" else ch)
        out = _SQL[sql] = "".join(parts)
    return out


def conninfo(url: str, **overrides: str) -> str:
    """The URL with Storeroom's connection defaults for what it leaves unset."""
    params = conninfo_to_dict(url)
    for name, value in {**CONNECTION_DEFAULTS, **overrides}.items():
        params.setdefault(name, value)
    return make_conninfo("", **params)


def redacted(url: str) -> str:
    """The URL without its password, for logs and /_storeroom/ready."""
    params = conninfo_to_dict(url)
    params.pop("password", None)
    host, db = params.get("host", "localhost"), params.get("dbname", "")
    return f"postgresql://{params.get('user', '')}@{host}:{params.get('port', 5432)}/{db}"


def _connection_lost(exc: BaseException) -> bool:
    """A failure to reach the server (as opposed to an error of the statement itself)."""
    if isinstance(exc, PoolTimeout | OSError | TimeoutError):
        return True
    if not isinstance(exc, psycopg.OperationalError) or isinstance(exc, _RETRIED):
        return False
    return exc.sqlstate is None or exc.sqlstate.startswith(("08", "57P"))


def _overloaded(exc: BaseException) -> bool:
    """Timeouts: the server answers, too slowly (statement or lock timeout)."""
    return isinstance(exc, pg_errors.QueryCanceled | pg_errors.LockNotAvailable)


# PostgreSQL's text cannot hold U+0000, which S3 keys (and lookups for them) may contain.  Stored values and
# parameters carry U+0000 as U+0001 U+0001 and U+0001 as U+0001 U+0002: one-to-one, and order-preserving (a
# string that sorted before another in UTF-8 byte order still does), so equality, ranges and ORDER BY mean on
# PostgreSQL what they mean on SQLite; results are unescaped.  Values without either character (all but such
# keys) pass untouched.
_ESCAPE = str.maketrans({"\x00": "\x01\x01", "\x01": "\x01\x02"})
_ESCAPED = re.compile("\x01([\x01\x02])")


def _escape(params: Params) -> Params:
    if not any(isinstance(v, str) and ("\x00" in v or "\x01" in v) for v in params):
        return params
    return [v.translate(_ESCAPE) if isinstance(v, str) else v for v in params]


def _unescape_value(value: Any) -> Any:
    if isinstance(value, str) and "\x01" in value:
        return _ESCAPED.sub(lambda m: chr(ord(m.group(1)) - 1), value)
    return value


def _unescape(row: Row) -> Row:
    if any(isinstance(v, str) and "\x01" in v for v in row):
        return tuple(_unescape_value(v) for v in row)
    return row


class PgConn:
    """:class:`storeroom.store.sql.Conn` over one psycopg connection."""

    __slots__ = ("raw",)
    dialect = POSTGRESQL

    def __init__(self, raw: psycopg.AsyncConnection[Any]) -> None:
        self.raw = raw

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        cur = await self.raw.execute(pg_sql(sql), _escape(params))
        row: Row | None = await cur.fetchone()
        return None if row is None else _unescape(row)

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        cur = await self.raw.execute(pg_sql(sql), _escape(params))
        rows: list[Row] = await cur.fetchall()
        return [_unescape(r) for r in rows]

    async def value(self, sql: str, params: Params = ()) -> Any:
        cur = await self.raw.execute(pg_sql(sql), _escape(params))
        row = await cur.fetchone()
        assert row is not None
        return _unescape_value(row[0])

    async def run(self, sql: str, params: Params = ()) -> int:
        cur = await self.raw.execute(pg_sql(sql), _escape(params))
        return cur.rowcount

    async def many(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.raw.cursor() as cur:
            await cur.executemany(pg_sql(sql), [_escape(r) for r in rows])


class _Reads:
    """``db.read``: each statement on a pool connection of its own, retried once if that connection broke."""

    __slots__ = ("_db",)
    dialect = POSTGRESQL

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = await self._db.read_with(lambda c: c.one(sql, params))
        return row

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = await self._db.read_with(lambda c: c.all(sql, params))
        return rows

    async def value(self, sql: str, params: Params = ()) -> Any:
        return await self._db.read_with(lambda c: c.value(sql, params))

    async def run(self, sql: str, params: Params = ()) -> int:
        count: int = await self._db.read_with(lambda c: c.run(sql, params))
        return count

    async def many(self, sql: str, rows: Iterable[Params]) -> None:
        materialized = list(rows)
        await self._db.read_with(lambda c: c.many(sql, materialized))


class Health:
    """What this process last learned about the database: ``ok`` until a failure, again at a success."""

    __slots__ = ("ok", "error", "changed")

    def __init__(self) -> None:
        self.ok = True
        self.error = ""
        self.changed = time.monotonic()

    def failed(self, exc: BaseException) -> None:
        if self.ok:
            log.warning("metadata database unreachable: %s", str(exc).strip() or type(exc).__name__)
            self.changed = time.monotonic()
        self.ok, self.error = False, str(exc).strip() or type(exc).__name__

    def succeeded(self) -> None:
        if not self.ok:
            log.warning("metadata database reachable again")
            self.ok, self.error, self.changed = True, "", time.monotonic()


class PostgresDatabase:
    """The metadata (and audit) database of every node; one per worker process (and one in ``serve`` for the
    start-up work, closed before the workers start)."""

    dialect = POSTGRESQL

    def __init__(self, url: str, generations: Generations | None = None, *, min_size: int = 1,
                 max_size: int = 10, name: str = "storeroom") -> None:
        self.url = url
        self.generations = generations
        self.health = Health()
        self.read = _Reads(self)
        self._conninfo = conninfo(url)
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            self._conninfo, min_size=min_size, max_size=max_size, open=False, name=name,
            kwargs={"autocommit": True}, timeout=ACQUIRE_TIMEOUT, reconnect_timeout=2.0,
            reconnect_failed=self._reconnect_failed)
        self._sync: GenerationSync | None = None
        self._background: set[asyncio.Task[Any]] = set()

    async def open(self) -> None:
        """Opens the pool; 503-shaped ``AwsError`` if the database cannot be reached."""
        try:
            await self.pool.open(wait=True, timeout=float(CONNECTION_DEFAULTS["connect_timeout"]) + 2)
        except (PoolTimeout, psycopg.Error, OSError) as exc:
            raise unavailable() from exc

    async def start(self) -> None:
        """In a worker: follow generation changes made by the other nodes (LISTEN/NOTIFY, and the poll)."""
        if self.generations is not None and self._sync is None:
            self._sync = GenerationSync(self, self.generations)
            self._sync.start()

    async def close(self) -> None:
        if self._sync is not None:
            await self._sync.stop()
        for task in list(self._background):
            try:
                await asyncio.wait_for(task, 5)
            except Exception:  # noqa: BLE001 - bookkeeping writes may be lost, as their contract says
                pass
        await self.pool.close()

    # -- connections and failures -------------------------------------------------------------------------

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pool connection; failures to reach the server become 503 (and mark the database down)."""
        timeout = ACQUIRE_TIMEOUT if self.health.ok else DOWN_ACQUIRE_TIMEOUT
        try:
            async with self.pool.connection(timeout=timeout) as conn:
                yield conn
        except AwsError:
            raise
        except Exception as exc:
            if _connection_lost(exc):
                self._lost(exc)
                raise unavailable() from exc
            if _overloaded(exc):
                raise unavailable() from exc
            raise

    def _lost(self, exc: BaseException) -> None:
        first = self.health.ok
        self.health.failed(exc)
        if first:  # drop the other connections that broke with this one (once, not at every failure)
            task = asyncio.get_running_loop().create_task(self.pool.check())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _reconnect_failed(self, pool: AsyncConnectionPool[Any]) -> None:
        self.health.failed(ConnectionError("cannot connect to the metadata database"))

    def _stale(self, err: AwsError, was_ok: bool) -> bool:
        """A statement failed on a pooled connection that broke while it sat idle (PostgreSQL restarted): worth
        one more try on a fresh connection.  Not when the database was already known down, nor when no
        connection could be had at all (the server is away: answer 503 now)."""
        cause = err.__cause__
        return was_ok and err.status == 503 and isinstance(cause, psycopg.OperationalError) and \
            _connection_lost(cause)

    async def read_with(self, fn: Any) -> Any:
        for attempt in (1, 2):
            was_ok = self.health.ok
            try:
                async with self.connection() as conn, asyncio.timeout(CLIENT_TIMEOUT):
                    result = await fn(PgConn(conn))
                self.health.succeeded()
                return result
            except AwsError as err:
                if attempt == 2 or not self._stale(err, was_ok):
                    raise
        raise AssertionError("unreachable")

    async def ping(self) -> str | None:
        """None when the database answers a trivial query within a second, else why not.  The query runs as a
        task of its own, left to end in the background past the second: cancelling it makes psycopg ask the
        server to cancel it, which a frozen server (a partition: no refusal, no reset) takes up to 10 s to fail,
        and a load balancer's health check must not wait that long."""
        query = asyncio.ensure_future(self.read.one("SELECT 1"))
        done, _ = await asyncio.wait({query}, timeout=1.0)
        if not done:
            query.cancel()
            query.add_done_callback(_consumed)  # its CancelledError or error, once it ends, is nobody's
            return self.health.error or "no answer within a second"
        try:
            query.result()
            return None
        except (AwsError, TimeoutError) as exc:
            return self.health.error or str(exc) or "unavailable"

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """A session advisory lock, held on a connection of its own for the block (PostgreSQL releases it if
        this process dies)."""
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
        async with self.connection() as conn:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            row = await cur.fetchone()
            if row is None or not row[0]:
                yield False
                return
            try:
                yield True
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    # -- writes ---------------------------------------------------------------------------------------------

    async def write(self, job: Job[T], *, bump: Sequence[int] = (), serializable: bool = True) -> T:
        fresh_connection_retry = True
        for attempt in range(RETRIES):
            committing, was_ok = False, self.health.ok
            try:
                async with self.connection() as conn, asyncio.timeout(CLIENT_TIMEOUT):
                    await conn.set_isolation_level(
                        psycopg.IsolationLevel.SERIALIZABLE if serializable else psycopg.IsolationLevel.READ_COMMITTED)
                    async with conn.transaction():
                        result = await job(PgConn(conn))
                        if bump:
                            await self._publish(conn, bump)
                        committing = True
                self.health.succeeded()
                if bump and self.generations is not None:  # this machine's workers need no notification
                    for slot in bump:
                        self.generations.bump(slot)
                return result
            except _RETRIED:
                if not serializable and attempt:
                    raise
                await asyncio.sleep(random.uniform(0.002, 0.01) * (attempt + 1))
            except AwsError as err:
                if committing or not fresh_connection_retry or not self._stale(err, was_ok):
                    raise  # a COMMIT whose outcome is unknown is never replayed: the client decides
                fresh_connection_retry = False
        raise AwsError("ServiceUnavailable", "The request kept conflicting with concurrent requests; please "
                       "try again.", 503)

    @staticmethod
    async def _publish(conn: psycopg.AsyncConnection[Any], slots: Sequence[int]) -> None:
        """In the writing transaction: move the counters' rows and announce them (delivered at COMMIT)."""
        ordered = sorted(set(slots))  # rows locked in one order: concurrent writers never deadlock on them
        await conn.execute("UPDATE generations SET value = value + 1 WHERE slot = ANY(%s)", (ordered,))
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, ",".join(map(str, ordered))))

    def submit(self, job: Job[Any]) -> None:
        async def run() -> None:
            try:
                await self.write(job, serializable=False)
            except Exception as exc:  # noqa: BLE001 - bookkeeping that may be lost (sql.Database.submit)
                log.debug("background metadata write failed: %s", exc)
        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


class GenerationSync:
    """Keeps this machine's generation counters moving with every change committed on any node."""

    def __init__(self, db: PostgresDatabase, generations: Generations) -> None:
        self.db = db
        self.generations = generations
        self.listening = False
        self.notified = 0                          # notifications received (tests, metrics)
        self._seen: dict[int, int] | None = None   # the generation rows at the last poll
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._poll())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass

    def _bump(self, slots: Iterable[int]) -> None:
        for slot in slots:
            self.generations.bump(slot)

    def _bump_all(self) -> None:
        self._bump(range(8))

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    conninfo(self.db.url, application_name="storeroom-listen"), autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening, delay = True, 0.1
                    self._bump_all()  # whatever changed while nobody listened
                    async for note in conn.notifies():
                        self.notified += 1
                        self._bump(int(s) for s in note.payload.split(",") if s.isdigit())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the channel dropped: the poll covers, then reconnect
                if self.listening:
                    log.warning("generation listener lost its connection (%s); polling every %.1fs until it is "
                                "back", str(exc).strip() or type(exc).__name__, POLL_INTERVAL)
            self.listening = False
            self._bump_all()
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_INTERVAL)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            try:
                rows = await self.db.read.all("SELECT slot, value FROM generations")
            except AwsError:
                self._bump_all()  # cannot tell what changed: every cache lives at most one interval
                continue
            seen = {int(slot): int(value) for slot, value in rows}
            if self._seen is not None:
                self._bump(slot for slot, value in seen.items() if self._seen.get(slot) != value)
            self._seen = seen
            if not self.listening:
                self._bump_all()
