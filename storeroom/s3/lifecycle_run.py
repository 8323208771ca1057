"""Applying lifecycle rules: the background run that expires objects, noncurrent versions and delete markers and
aborts incomplete multipart uploads (the rules themselves: s3/lifecycle.py).

AWS evaluates the rules once a day, at midnight UTC; Storeroom every ``--lifecycle-interval`` seconds (default
3600; a day's due actions are due from midnight on, so an hourly run acts within the hour), and at once when
asked (``POST /_storeroom/lifecycle``, signed by a principal allowed ``storeroom:RunLifecycle``, optionally
``?now=<epoch seconds>`` to evaluate as of another time: the tests' clock).

How a run stays safe:

- **One at a time**, among every worker of every node (``Database.exclusive("lifecycle")``).
- **Bounded batches**: at most ``BATCH`` keys per transaction, a pause between transactions, so requests are
  never held up behind a run (on SQLite a batch is one short job of the group-committing writer).
- **Decided inside the transaction that acts**: each key's versions are read again, under the key's lock, and
  the rules evaluated on what is there at that moment (store/versions.py keeps the invariants) — a version
  overwritten, deleted or retagged since the key was listed is judged as it now is; nothing is expired that a
  rule does not select at that moment, and nothing twice (a deleted version is no longer there to delete).
- **Resumable**: the run's evaluation time and position (bucket, last key) are written in the same transaction as
  each batch (``kv`` row ``lifecycle-run``); a run interrupted by a crash is resumed from there by the next one,
  with the same evaluation time, and is finished before a new one starts.
- **Audited as S3 logs it**: every action is written to ``lifecycle_outbox`` in the transaction that does it,
  then turned into an audit event and, when the bucket has server access logging, an access log line with S3's
  lifecycle operations ``S3.EXPIRE.OBJECT``, ``S3.CREATE.DELETEMARKER``, ``S3.DELETE.UPLOAD`` and requester
  ``AmazonS3`` (https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-and-other-bucket-config.html,
  "S3 Lifecycle and logging").  AWS's CloudTrail does not record lifecycle actions ("performed using internal
  Amazon S3 endpoints"); Storeroom's audit trail does, as ``AwsServiceEvent`` events invoked by
  ``s3.amazonaws.com``, named as the access log names them.  An outbox row a crash leaves is delivered by the
  next run: each action reaches the trail at least once.
- **Bytes freed after the commit**: a crash in between leaves unreferenced blobs, which the start-up sweep
  removes (store/blob_backend.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storeroom import clock
from storeroom.audit.events import EVENT_VERSION, Event, event_time
from storeroom.s3.access_log import lifecycle_log_line
from storeroom.s3.lifecycle import Configuration, loads, plan_key
from storeroom.s3.owner import canonical_user_id
from storeroom.store import versions
from storeroom.store.locks import Guard
from storeroom.store.meta import ObjectRecord, Upload, object_from_row
from storeroom.store.sql import POSTGRESQL, Conn

if TYPE_CHECKING:
    from storeroom.audit.log import AuditLog
    from storeroom.s3.service import S3Service

log = logging.getLogger("storeroom")

BATCH = int(os.environ.get("STOREROOM_LIFECYCLE_BATCH", "100"))        # keys (or uploads) per transaction
PAUSE = float(os.environ.get("STOREROOM_LIFECYCLE_PAUSE", "0.01"))      # seconds between two transactions
STATE = "lifecycle-run"
EXPIRE, MARKER, ABORT = "S3.EXPIRE.OBJECT", "S3.CREATE.DELETEMARKER", "S3.DELETE.UPLOAD"


@dataclass
class Summary:
    """What one run did (the test hook's answer), and the interrupted run it finished first, if any."""

    now: float = 0.0
    actions: dict[str, int] = field(default_factory=dict)
    resumed: Summary | None = None

    def count(self, operation: str, n: int = 1) -> None:
        self.actions[operation] = self.actions.get(operation, 0) + n

    def as_json(self) -> dict[str, Any]:
        return {"now": self.now, "actions": self.actions,
                "resumed": None if self.resumed is None else self.resumed.as_json()}


class LifecycleRunner:
    """One per worker process; whichever worker holds the lock runs."""

    def __init__(self, s3: S3Service, audit: AuditLog, interval: float) -> None:
        self.s3 = s3
        self.meta = s3.meta
        self.audit = audit
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the next interval tries again (and resumes where this stopped)
                log.exception("lifecycle: the run failed")

    async def run(self, now: float | None = None, *, wait: bool = False) -> Summary | None:
        """One run (after finishing an interrupted one); None when another process is running and ``wait`` is
        false.  ``now``: evaluate as of that time."""
        while True:
            async with self.meta.db.exclusive("lifecycle") as mine:
                if mine:
                    return await self._run_locked(now)
            if not wait:
                return None
            await asyncio.sleep(0.2)

    async def _run_locked(self, now: float | None) -> Summary:
        await self._deliver_outbox()
        stored = await self.meta.get_kv(STATE)
        summary = Summary()
        if stored is not None:  # a run that did not finish: finish it first, as it was
            summary.resumed = Summary()
            await self._pass(json.loads(stored), summary.resumed)
        state = {"now": time.time() if now is None else now, "bucket": "", "key": None, "phase": "versions"}
        await self.meta.set_kv(STATE, json.dumps(state))
        await self._pass(state, summary)
        return summary

    async def _pass(self, state: dict[str, Any], summary: Summary) -> None:
        summary.now = float(state["now"])
        for bucket, text in await self.meta.db.read.all(
                "SELECT bucket, value FROM bucket_config WHERE name = 'lifecycle' AND bucket >= ? ORDER BY bucket",
                (state["bucket"],)):
            if bucket != state["bucket"]:
                state.update(bucket=bucket, key=None, phase="versions")
            config = loads(text)
            if state["phase"] == "versions" and config.has_version_rules:
                await self._versions(bucket, config, state, summary)
            state.update(phase="uploads", key=None)
            await self._uploads(bucket, config, state, summary)
            state.update(phase="done")
        async def finished(conn: Conn) -> None:
            await conn.run("DELETE FROM kv WHERE name = ?", (STATE,))
        await self.meta.db.write(finished)
        await self._deliver_outbox()

    # -- object versions -------------------------------------------------------------------------------------

    async def _versions(self, bucket: str, config: Configuration, state: dict[str, Any], summary: Summary) -> None:
        prefixes = sorted({r.filter.prefix for r in config.rules if r.enabled})
        after: str | None = state["key"]
        while True:
            keys = await self._next_keys(bucket, after, prefixes)
            if not keys:
                return
            async def job(conn: Conn, keys: list[str] = keys) -> tuple[list[str], dict[str, int]]:
                return await self._apply(conn, bucket, keys, config, state)
            freed, done = await self.meta.db.write(job, serializable=False)
            self.s3.blobs.delete(freed)
            for operation, n in done.items():
                summary.count(operation, n)
            after = keys[-1]
            await self._deliver_outbox()
            await asyncio.sleep(PAUSE)

    async def _next_keys(self, bucket: str, after: str | None, prefixes: list[str]) -> list[str]:
        """The next keys (current or not) after ``after`` that some rule's prefix covers."""
        keys: list[str] = []
        start, before = (after, 0) if after is not None else ("", versions.NEWEST)
        async for row in versions.scan(self.meta.db.read, bucket, start, before, batch=BATCH * 4):
            key = row[0]
            if keys and keys[-1] == key:
                continue
            if any(key.startswith(p) for p in prefixes):
                keys.append(key)
                if len(keys) == BATCH:
                    break
        return keys

    async def _apply(self, conn: Conn, bucket: str, keys: list[str], config: Configuration,
                     state: dict[str, Any]) -> tuple[list[str], dict[str, int]]:
        """One batch, in one transaction: each key's versions read again under its lock, the rules evaluated on
        them as of the run's time, their actions done and written to the outbox; the run's position saved."""
        bucket_row = await conn.one(f"SELECT versioning FROM buckets WHERE name = ?"
                                    f"{' FOR KEY SHARE' if conn.dialect == POSTGRESQL else ''}", (bucket,))
        freed: list[str] = []
        done: dict[str, int] = {}
        if bucket_row is not None:
            versioning: str | None = bucket_row[0]
            for key in keys:
                await versions.lock_key(conn, bucket, key)
                history = await _history(conn, bucket, key)
                for action in plan_key(config, versioning, history, float(state["now"])):
                    operation, version_id, size, gone = await _act(conn, bucket, key, versioning, action.kind,
                                                                   action.version, history)
                    if operation is None:
                        continue
                    freed += gone
                    done[operation] = done.get(operation, 0) + 1
                    await _outbox(conn, bucket, key, version_id, operation, action.rule_id, size)
        state["key"] = keys[-1]
        await _save(conn, state)
        return freed, done

    # -- multipart uploads -----------------------------------------------------------------------------------

    async def _uploads(self, bucket: str, config: Configuration, state: dict[str, Any], summary: Summary) -> None:
        if not any(r.enabled and r.abort_days is not None for r in config.rules):
            return
        now = float(state["now"])
        key_marker, id_marker = "", ""
        while True:
            page = await self.meta.list_uploads(bucket, "", key_marker, id_marker, BATCH)
            if not page:
                return
            due = [u for u in page if (found := config.abort_date(u)) is not None and found[0] <= now]
            for upload in due:
                async def abort(conn: Conn, u: Upload = upload) -> list[str] | None:
                    return await self._abort(conn, u.upload_id, u.bucket, u.key, config, now)
                blobs = await self.meta.db.write(abort, serializable=False)
                if blobs is not None:
                    await self.s3.blobs.abort_upload(upload.upload_id, blobs)
                    summary.count(ABORT)
            key_marker, id_marker = page[-1].key, page[-1].upload_id
            await self._deliver_outbox()
            await asyncio.sleep(PAUSE)

    @staticmethod
    async def _abort(conn: Conn, upload_id: str, bucket: str, key: str, config: Configuration,
                     now: float) -> list[str] | None:
        """The upload's rows go (as AbortMultipartUpload), if it is still there; its parts' blob ids."""
        row = await conn.one(f"SELECT initiated FROM uploads WHERE upload_id = ?"
                             f"{' FOR UPDATE' if conn.dialect == POSTGRESQL else ''}", (upload_id,))
        if row is None:
            return None
        blobs = [r[0] for r in await conn.all("SELECT blob_id FROM parts WHERE upload_id = ?", (upload_id,))]
        await conn.run("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
        rule = next((r.id for r in config.rules if r.enabled and r.abort_days is not None
                     and r.filter.matches_key(key)), "")
        await _outbox(conn, bucket, key, None, ABORT, rule, 0, upload_id)
        return blobs

    # -- the audit trail -------------------------------------------------------------------------------------

    async def _deliver_outbox(self) -> None:
        """Outbox rows → audit events (and access log lines), stored; then the rows go."""
        while True:
            rows = await self.meta.db.read.all(
                "SELECT id, time, bucket, key, version_id, operation, rule_id, size FROM lifecycle_outbox "
                "ORDER BY id LIMIT 500")
            if not rows:
                return
            for row in rows:
                self.audit.record_event(await self._event(*row))
            await self.audit.flush()
            last = rows[-1][0]

            async def forget(conn: Conn, last: int = last) -> None:
                await conn.run("DELETE FROM lifecycle_outbox WHERE id <= ?", (last,))
            await self.meta.db.write(forget, serializable=False)

    async def _event(self, row_id: int, when: float, bucket: str, key: str, version_id: str | None, operation: str,
                     rule_id: str, size: int) -> Event:
        account = self.s3.account_id
        record_bucket = await self.meta.get_bucket(bucket)
        region = record_bucket.region if record_bucket is not None else self.s3.settings.region
        upload_id = None
        if operation == ABORT:
            upload_id, version_id = version_id, None
        params: dict[str, Any] = {"bucketName": bucket, "key": key}
        if version_id is not None:
            params["versionId"] = version_id
        if upload_id is not None:
            params["uploadId"] = upload_id
        request_id = f"LC{row_id:014X}"[-16:]
        object_arn = f"arn:aws:s3:::{bucket}/{key}"
        record: dict[str, Any] = {
            "eventVersion": EVENT_VERSION,
            "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"},
            "eventTime": event_time(when), "eventSource": "s3.amazonaws.com", "eventName": operation,
            "awsRegion": region, "sourceIPAddress": "s3.amazonaws.com", "userAgent": "s3.amazonaws.com",
            "requestParameters": params, "responseElements": None,
            "additionalEventData": {"lifecycleRuleId": rule_id, "objectSize": size},
            "requestID": request_id, "readOnly": False,
            "resources": [{"type": "AWS::S3::Object", "ARN": object_arn},
                          {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
            "eventType": "AwsServiceEvent", "managementEvent": False, "recipientAccountId": account,
            "eventCategory": "Data",
        }
        line = None
        logging_of = self.s3.access_logging
        if logging_of is not None and await logging_of.target(bucket) is not None:
            line = lifecycle_log_line(canonical_user_id(account), bucket, when, request_id, operation, key,
                                      version_id, size, self.audit.host_id)
        return Event(when, operation, "s3.amazonaws.com", False, False, None, None,
                     [("AWS::S3::Object", object_arn), ("AWS::S3::Bucket", bucket)], record, bucket, 0, line)


async def _history(conn: Conn, bucket: str, key: str) -> list[ObjectRecord]:
    """Every version of ``key``, newest first (the current object first, if there is one)."""
    lock = " FOR UPDATE" if conn.dialect == POSTGRESQL else ""
    rows = list(await conn.all(f"SELECT {versions.CURRENT_AS_VERSION} FROM objects WHERE bucket = ? AND key = ?"
                               f"{lock}", (bucket, key)))
    rows += await conn.all(f"SELECT {versions.VERSION_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? "
                           "ORDER BY seq DESC", (bucket, key))
    return [object_from_row(bucket, row) for row in rows]


async def _act(conn: Conn, bucket: str, key: str, versioning: str | None, kind: str, version: ObjectRecord,
               history: Sequence[ObjectRecord]) -> tuple[str | None, str | None, int, list[str]]:
    """Does one action; (operation as logged, version id, size, blob ids freed), operation None if nothing."""
    if kind == "expire":
        if versioning is None:
            row = await conn.one("DELETE FROM objects WHERE bucket = ? AND key = ? AND seq = ? RETURNING doc",
                                 (bucket, key, version.seq))
            return (EXPIRE, None, version.size, _blob_ids(row[0])) if row is not None else (None, None, 0, [])
        current = await conn.one(f"SELECT {versions.CURRENT_AS_VERSION} FROM objects WHERE bucket = ? AND key = ?",
                                 (bucket, key))
        marker, freed = await versions.add_marker(conn, bucket, key, versioning,
                                                  current[:8] if current is not None else None)
        return MARKER, marker.version_id, version.size, freed
    # "Lifecycle ... cannot delete an object version until the lock on the object expires": judged by the real
    # time, never the run's evaluation time (a run asked for "as of" a later date unlocks nothing).  Adding a
    # delete marker over a locked current version ("expire" above) is allowed, as S3 does.
    removed = await versions.remove_version(conn, bucket, key, version.version_id, Guard(clock.now()))
    if not removed.found or removed.locked:
        return None, None, 0, []
    return EXPIRE, version.version_id, version.size, list(removed.freed)


def _blob_ids(doc: str) -> list[str]:
    return [blob_id for blob_id, _ in json.loads(doc)["b"]]


async def _outbox(conn: Conn, bucket: str, key: str, version_id: str | None, operation: str, rule_id: str,
                  size: int, upload_id: str | None = None) -> None:
    await conn.run("INSERT INTO lifecycle_outbox(time, bucket, key, version_id, operation, rule_id, size) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", (time.time(), bucket, key, upload_id or version_id, operation,
                                                    rule_id, size))


async def _save(conn: Conn, state: dict[str, Any]) -> None:
    await conn.run("INSERT INTO kv(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                   (STATE, json.dumps(state)))

