"""IAM ``GenerateCredentialReport`` / ``GetCredentialReport``: AWS's credential report, a CSV of every
principal's credentials (the account root first, then each IAM user).

The spec is AWS's "Getting credential reports" page
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_getting-report.html) and real reports, whose
values are lower-case ``true``/``false`` (the page writes ``TRUE``/``FALSE``; every tool that reads reports —
Prowler, Cloud Custodian, the CIS scripts — compares with ``'true'``) and whose times are
``2017-06-10T02:35:07+00:00``.

The report is built in two steps so that credentials Storeroom does not have yet (console passwords, MFA
devices, X.509 signing certificates) only need their data fed in later: :func:`gather` reads each principal's
credentials into a :class:`Subject`, :func:`render` writes AWS's columns from subjects alone.

Generation runs off the request that asks for it, in one write transaction of the metadata store (one consistent
snapshot), and the finished report is kept in the ``kv`` table, so every worker serves the same one:
``GenerateCredentialReport`` answers ``STARTED`` when it starts one, ``INPROGRESS`` while it runs and
``COMPLETE`` once a report younger than four hours exists; ``GetCredentialReport`` answers ``ReportNotPresent``
before the first, ``ReportInProgress`` while it runs, ``ReportExpired`` four hours after it was made.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from storeroom.errors import AwsError
from storeroom.iam import login_store
from storeroom.iam import user_store as store
from storeroom.iam.api import Handler, IamCall
from storeroom.store.sql import Conn

log = logging.getLogger("storeroom")

HANDLERS: dict[str, Handler] = {}

# AWS's columns, in AWS's order.
COLUMNS = (
    "user", "arn", "user_creation_time", "password_enabled", "password_last_used", "password_last_changed",
    "password_next_rotation", "mfa_active",
    "access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
    "access_key_1_last_used_region", "access_key_1_last_used_service",
    "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
    "access_key_2_last_used_region", "access_key_2_last_used_service",
    "cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated",
)
ROOT_USER = "<root_account>"

# "You can generate a credential report as often as once every four hours. [...] If the most recent report for
# the account is older than four hours [...] IAM generates [...] a new report." (the page above); after that,
# GetCredentialReport answers ReportExpired.
REPORT_LIFETIME = 4 * 3600.0
# A generation that has not finished in this time died with its process (a crash): the next request starts anew.
STALE_GENERATION = 60.0
_KV_NAME = "credential_report"
_NOT_APPLICABLE = "N/A"
_NO_INFORMATION = "no_information"
_NOT_SUPPORTED = "not_supported"
# Sample response of GenerateCredentialReport in AWS's API reference
STARTED_DESCRIPTION = "No report exists. Starting a new report generation task"


# -- what the report says about one principal ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Password:
    """A console password (an IAM login profile, or root's sign-in password: storeroom/iam/login_store.py)."""

    last_changed: float
    last_used: float | None = None       # None: never used (AWS: no_information)
    next_rotation: float | None = None   # when the password policy makes the user change it


@dataclass(frozen=True, slots=True)
class AccessKey:
    active: bool
    created: float
    last_used: float | None = None
    last_used_region: str | None = None
    last_used_service: str | None = None


@dataclass(frozen=True, slots=True)
class Certificate:
    """An X.509 signing certificate.  Storeroom has none yet."""

    active: bool
    uploaded: float


@dataclass(frozen=True, slots=True)
class Subject:
    """One row of the report: the account root or an IAM user, with its credentials."""

    name: str
    arn: str
    created: float | None
    is_root: bool = False
    password: Password | None = None
    mfa_active: bool = False
    access_keys: Sequence[AccessKey] = field(default_factory=tuple)   # oldest first
    certificates: Sequence[Certificate] = field(default_factory=tuple)


async def gather(conn: Conn, account_id: str) -> list[Subject]:
    """The root, then every user by name, with their access keys (oldest first, as AWS numbers them 1 and 2)."""
    keys: dict[str, list[AccessKey]] = {}
    for principal, status, created, last_used, service, region in await conn.all(
            "SELECT principal, status, created, last_used, last_used_service, last_used_region FROM access_keys "
            "ORDER BY created, access_key_id"):
        keys.setdefault(principal, []).append(AccessKey(status == "Active", created, last_used, region, service))
    subjects = [Subject(ROOT_USER, f"arn:aws:iam::{account_id}:root", await store.account_created(conn), is_root=True,
                        password=await _password(conn, store.ROOT),
                        mfa_active=await login_store.mfa_active(conn, store.ROOT),
                        access_keys=keys.get(store.ROOT, []))]
    for user_id, name, path, created in await conn.all(
            "SELECT user_id, name, path, created FROM iam_users ORDER BY name"):
        subjects.append(Subject(name, f"arn:aws:iam::{account_id}:user{path}{name}", created,
                                password=await _password(conn, user_id),
                                mfa_active=await login_store.mfa_active(conn, user_id),
                                access_keys=keys.get(user_id, [])))
    return subjects


async def _password(conn: Conn, principal: str) -> Password | None:
    summary = await login_store.login_profile_summary(conn, principal)
    if not summary.password_enabled or summary.password_last_changed is None:
        return None
    return Password(summary.password_last_changed, summary.password_last_used, summary.password_next_rotation)


# -- AWS's words ---------------------------------------------------------------------------------------------


def report_time(epoch: float) -> str:
    """The report's ISO 8601 form: ``2017-06-10T02:35:07+00:00``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _time_or(epoch: float | None, otherwise: str) -> str:
    return otherwise if epoch is None else report_time(epoch)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _password_columns(subject: Subject) -> list[str]:
    """password_enabled, password_last_used, password_last_changed, password_next_rotation.

    AWS: password_enabled, password_last_changed and password_next_rotation are always ``not_supported`` for the
    root; password_last_used is ``no_information`` when the password has never been used and ``N/A`` when
    there is no password; without a password the other two are ``N/A``."""
    password = subject.password
    last_used = _NOT_APPLICABLE if password is None else _time_or(password.last_used, _NO_INFORMATION)
    if subject.is_root:
        return [_NOT_SUPPORTED, last_used, _NOT_SUPPORTED, _NOT_SUPPORTED]
    if password is None:
        return ["false", last_used, _NOT_APPLICABLE, _NOT_APPLICABLE]
    return ["true", last_used, report_time(password.last_changed),
            _time_or(password.next_rotation, _NOT_APPLICABLE)]


def _key_columns(key: AccessKey | None) -> list[str]:
    """access_key_N_active, _last_rotated, _last_used_date, _last_used_region, _last_used_service.

    No such key: ``false`` and ``N/A`` everywhere.  An existing key keeps its dates when it is inactive, as real
    reports show (Cloud Custodian's reader, cloud-custodian#5551: "If these keys don't exist, active is false,
    and the last_rotated field is 'N/A'"; Prowler's rotation check had to learn to skip inactive keys that carry
    a last_rotated date, prowler#1929).  A key never used has ``N/A`` in its three last-used columns.
    Deviation: the page also writes ``N/A`` for the region of "a service that is not region-specific, such as
    Amazon S3"; Storeroom reports the region the request was signed for, as GetAccessKeyLastUsed does."""
    if key is None:
        return ["false"] + [_NOT_APPLICABLE] * 4
    if key.last_used is None:
        return [_bool(key.active), report_time(key.created)] + [_NOT_APPLICABLE] * 3
    return [_bool(key.active), report_time(key.created), report_time(key.last_used),
            key.last_used_region or _NOT_APPLICABLE, key.last_used_service or _NOT_APPLICABLE]


def _cert_columns(cert: Certificate | None) -> list[str]:
    if cert is None:
        return ["false", _NOT_APPLICABLE]
    return [_bool(cert.active), report_time(cert.uploaded)]


def _nth(items: Sequence[Any], n: int) -> Any:
    return items[n] if n < len(items) else None


def row(subject: Subject) -> list[str]:
    return [subject.name, subject.arn, _time_or(subject.created, _NOT_APPLICABLE), *_password_columns(subject),
            _bool(subject.mfa_active),
            *_key_columns(_nth(subject.access_keys, 0)), *_key_columns(_nth(subject.access_keys, 1)),
            *_cert_columns(_nth(subject.certificates, 0)), *_cert_columns(_nth(subject.certificates, 1))]


def render(subjects: Sequence[Subject]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for subject in subjects:
        writer.writerow(row(subject))
    return out.getvalue()


# -- the report's state (kv row ``credential_report``) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportState:
    started: float
    generated: float | None = None   # None while in progress
    content: str | None = None

    @property
    def complete(self) -> bool:
        return self.generated is not None


async def load_state(conn: Conn) -> ReportState | None:
    found = await conn.one("SELECT value FROM kv WHERE name = ?", (_KV_NAME,))
    if found is None:
        return None
    doc = json.loads(found[0])
    return ReportState(doc["started"], doc.get("generated"), doc.get("content"))


async def _save_state(conn: Conn, state: ReportState) -> None:
    doc = {"started": state.started, "generated": state.generated, "content": state.content}
    await conn.run("INSERT INTO kv(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                   (_KV_NAME, json.dumps(doc)))


async def start_job(conn: Conn, now: float) -> str:
    """GenerateCredentialReport's State; ``STARTED`` also records the generation as in progress."""
    state = await load_state(conn)
    if state is not None and state.complete and now - (state.generated or 0.0) < REPORT_LIFETIME:
        return "COMPLETE"
    if state is not None and not state.complete and now - state.started < STALE_GENERATION:
        return "INPROGRESS"
    await _save_state(conn, ReportState(now))
    return "STARTED"


async def generate_job(conn: Conn, account_id: str, started: float) -> None:
    """Builds the report (inside the writer's transaction: one snapshot of users and keys) and stores it,
    unless a newer generation took over meanwhile."""
    state = await load_state(conn)
    if state is None or state.started != started:
        return
    await _save_state(conn, ReportState(started, time.time(), render(await gather(conn, account_id))))


# -- handlers ------------------------------------------------------------------------------------------------

_generations: set[asyncio.Task[None]] = set()  # running generations (a task needs a reference until it ends)


async def _generate(call: IamCall, started: float) -> None:
    try:
        await call.meta.db.write(lambda conn: generate_job(conn, call.account_id, started))
    except Exception:  # noqa: BLE001 - logged; the next GenerateCredentialReport starts anew once it is stale
        log.exception("credential report generation failed")


def _action(fn: Handler) -> Handler:
    HANDLERS[fn.__name__] = fn
    return fn


@_action
async def GenerateCredentialReport(call: IamCall) -> dict[str, Any] | None:
    """Authorized as ``iam:GenerateCredentialReport`` on ``*`` (the action has no resource type).  The report
    is not IAM state: writing it does not bump the IAM generation (call.write would empty every cache)."""
    await call.require("*")
    now = time.time()
    state = await call.meta.db.write(lambda conn: start_job(conn, now))
    if state != "STARTED":
        return {"State": state}
    task = asyncio.get_running_loop().create_task(_generate(call, now))
    _generations.add(task)
    task.add_done_callback(_generations.discard)
    return {"State": state, "Description": STARTED_DESCRIPTION}


@_action
async def GetCredentialReport(call: IamCall) -> dict[str, Any] | None:
    """AWS answers these errors without a message (``ReportNotPresent: Unknown`` in the AWS CLI)."""
    await call.require("*")
    state = await load_state(call.db)
    if state is None:
        raise AwsError("ReportNotPresent", "", 410)
    if not state.complete or state.content is None:
        raise AwsError("ReportInProgress", "", 404)
    if time.time() - (state.generated or 0.0) >= REPORT_LIFETIME:
        raise AwsError("ReportExpired", "", 410)
    return {"Content": state.content.encode(), "ReportFormat": "text/csv", "GeneratedTime": state.generated}
