"""The sign-in core (storeroom/signin.py) against a real metadata store (each backend): root and IAM
user sign-in, one answer for every bad credential, MFA with real TOTP codes (pyotp), replay, throttling per
user and per address with backoff, expiry, audit events; and the session's condition keys judged by the
authorizer with real policies."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest

from storeroom.audit.log import AuditLog
from storeroom.authz import Authorizer
from storeroom.crypto import SecretBox
from storeroom.http.context import Context
from storeroom.http.types import Request
from storeroom.iam import login_store, passwords, throttle, totp
from storeroom.iam.passwords import PasswordPolicy
from storeroom.iam.user_store import ROOT, User, create_user_job
from storeroom.identity import Principal
from storeroom.signin import (
    BadCredentials,
    BadMfaCode,
    MfaRequired,
    PasswordExpired,
    SignIn,
    SignInRequest,
    Throttled,
    session_condition_keys,
)
from storeroom.store import generation
from storeroom.store.backend import open_audit_db, open_meta
from storeroom.store.meta import MetaStore
from tests.unit.conftest import Harness

ACCOUNT = "123456789012"
PASSWORD = "Corr3ct-Horse-Battery"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    store: Harness
    box: SecretBox
    audit: AuditLog
    clock: Clock
    signin: SignIn

    @property
    def meta(self) -> MetaStore:
        return self.store.meta

    def write(self, job: Any) -> Any:
        return self.store.write(job)

    def read(self, fn: Any) -> Any:
        return self.store.read(fn)

    def run(self, coro: Any) -> Any:
        return self.store.run(coro)

    def user(self, name: str, password: str | None = PASSWORD, **profile: Any) -> User:
        user = User("AIDA" + name.upper().ljust(17, "X")[:17], name, "/", T0, [("team", "blue")], None)
        self.write(lambda c: create_user_job(c, user))
        if password is not None:
            hashed = passwords.hash_password(password)
            self.write(lambda c: login_store.create_login_profile_job(
                c, user.user_id, name, hashed, profile.get("created", T0), profile.get("reset", False)))
        return user

    def mfa(self, principal: str, name: str) -> pyotp.TOTP:
        """A virtual device enabled for ``principal``; returns the authenticator app."""
        seed, serial = totp.new_seed(), f"arn:aws:iam::{ACCOUNT}:mfa/{name}"
        device = login_store.MfaDevice(serial, "/", name, self.box.seal(seed, serial), T0, None, None, 0, 0, [])
        self.write(lambda c: login_store.create_device_job(c, device))
        step = totp.step_at(self.clock.now) - 5  # enabled a while ago
        self.write(lambda c: login_store.enable_device_job(c, serial, principal, name, T0, step))
        return pyotp.TOTP(seed)

    def events(self) -> list[dict[str, Any]]:
        self.run(self.audit.flush())
        return self.run(self.audit.records())  # type: ignore[no-any-return]


@pytest.fixture
def world(metadata: Harness, tmp_path: Path) -> Iterator[World]:
    meta = metadata.meta
    metadata.run(meta.set_kv("account_id", ACCOUNT))
    box = SecretBox(os.urandom(32))
    audit = metadata.run(AuditLog.open(open_audit_db(tmp_path, meta), tmp_path))
    clock = Clock()
    root_hash = passwords.hash_password(PASSWORD)
    metadata.write(lambda c: login_store.create_login_profile_job(c, ROOT, "root", root_hash, T0, False))
    metadata.write(lambda c: login_store.set_root_email_job(c, "owner@example.com"))
    yield World(metadata, box, audit, clock, SignIn(meta, box, ACCOUNT, audit, clock=clock))
    metadata.run(audit.close())


def sign_in(world: World, request: SignInRequest) -> Any:
    return world.run(world.signin.sign_in(request))


def refused(world: World, request: SignInRequest) -> Exception:
    try:
        sign_in(world, request)
    except Exception as exc:  # noqa: BLE001 - the test looks at which
        return exc
    raise AssertionError("signed in")


# -- who may sign in -----------------------------------------------------------------------------------------


def test_root_signs_in_with_email_and_password(world: World) -> None:
    result = sign_in(world, SignInRequest.root("Owner@Example.com", PASSWORD, source_ip="192.0.2.1"))
    assert result.principal == Principal("Root", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT)
    assert (result.mfa_used, result.auth_time, result.must_change_password) == (False, T0, False)
    assert world.read(lambda c: login_store.get_login_profile(c, ROOT)).last_used == T0  # type: ignore[union-attr]


def test_iam_user_signs_in_with_account_id_or_alias(world: World) -> None:
    alice = world.user("alice")
    result = sign_in(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD))
    assert result.principal == Principal("IAMUser", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/alice", alice.user_id,
                                         "alice", None, (("team", "blue"),))
    world.write(lambda c: login_store.set_account_alias_job(c, "my-shop"))
    world.clock.now += 60
    assert sign_in(world, SignInRequest.iam_user("my-shop", "ALICE", PASSWORD)).principal.user_name == "alice"
    profile = world.read(lambda c: login_store.get_login_profile(c, alice.user_id))
    assert profile is not None and profile.last_used == T0 + 60
    assert world.read(lambda c: login_store.login_profile_summary(c, alice.user_id)).password_last_used == T0 + 60


def test_one_answer_for_every_bad_credential(world: World) -> None:
    """Unknown account, unknown user, a user without a console password, a wrong password, a wrong email:
    the same error and message, so nobody learns which names exist."""
    world.user("alice")
    world.user("bob", password=None)
    cases = [SignInRequest.iam_user("999999999999", "alice", PASSWORD),
             SignInRequest.iam_user("", "alice", PASSWORD),
             SignInRequest.iam_user(ACCOUNT, "ghost", PASSWORD),
             SignInRequest.iam_user(ACCOUNT, "bob", PASSWORD),
             SignInRequest.iam_user(ACCOUNT, "alice", "Wrong-Passw0rd"),
             SignInRequest.root("someone@example.com", PASSWORD),
             SignInRequest.root("owner@example.com", "Wrong-Passw0rd")]
    errors = [refused(world, case) for case in cases]
    assert all(type(e) is BadCredentials for e in errors)
    assert {str(e) for e in errors} == {"Your authentication information is incorrect. Please try again."}


# -- MFA -----------------------------------------------------------------------------------------------------


def test_mfa_is_asked_for_and_checked(world: World) -> None:
    alice = world.user("alice")
    app = world.mfa(alice.user_id, "alice")
    assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD)), MfaRequired)
    wrong = str((int(app.at(world.clock.now)) + 1) % 1_000_000).zfill(6)
    assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, wrong)), BadMfaCode)
    # the right code with a wrong password is a bad password, not an MFA matter
    code = app.at(world.clock.now)
    assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, "alice", "Nope-1234", code)), BadCredentials)
    result = sign_in(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, code))
    assert result.mfa_used and result.auth_time == world.clock.now
    assert world.read(lambda c: login_store.mfa_active(c, alice.user_id))


def test_a_code_is_never_accepted_twice(world: World) -> None:
    alice = world.user("alice")
    app = world.mfa(alice.user_id, "alice")
    code = app.at(world.clock.now)
    sign_in(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, code))
    world.clock.now += 5  # same 30-second step
    assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, code)), BadMfaCode)
    # an older code (the previous step, still in the window) is refused too: steps only move forward
    assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD,
                                                            app.at(world.clock.now - 30))), BadMfaCode)
    world.clock.now += 30
    assert sign_in(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, app.at(world.clock.now))).mfa_used


def test_clock_drift_of_one_step_either_way(world: World) -> None:
    alice = world.user("alice")
    app = world.mfa(alice.user_id, "alice")
    ahead = app.at(world.clock.now + 30)     # the phone's clock runs 30 s fast
    assert sign_in(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, ahead)).mfa_used
    world.clock.now += 120
    behind = app.at(world.clock.now - 30)
    assert sign_in(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, behind)).mfa_used
    world.clock.now += 120
    far = app.at(world.clock.now - 90)
    assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, far)), BadMfaCode)


def test_root_mfa(world: World) -> None:
    app = world.mfa(ROOT, "root-account-mfa-device")
    assert isinstance(refused(world, SignInRequest.root("owner@example.com", PASSWORD)), MfaRequired)
    result = sign_in(world, SignInRequest.root("owner@example.com", PASSWORD, app.at(world.clock.now)))
    assert result.mfa_used and result.principal.is_root


# -- throttling ----------------------------------------------------------------------------------------------


def test_per_user_backoff_grows_and_blocks_even_the_right_password(world: World) -> None:
    world.user("alice")
    wrong = SignInRequest.iam_user(ACCOUNT, "alice", "Wrong-Passw0rd", source_ip="192.0.2.1")
    for _ in range(throttle.PER_USER.free):
        assert isinstance(refused(world, wrong), BadCredentials)
    assert isinstance(refused(world, wrong), BadCredentials)  # the 6th failure imposes the first wait (1 s)
    blocked = refused(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, source_ip="198.51.100.7"))
    assert isinstance(blocked, Throttled) and blocked.retry_after == 1.0
    world.clock.now += 1
    assert isinstance(refused(world, wrong), BadCredentials)  # 7th: 2 s
    world.clock.now += 1.5
    assert isinstance(refused(world, wrong), Throttled)
    world.clock.now += 0.5
    assert isinstance(refused(world, wrong), BadCredentials)  # 8th: 4 s
    assert refused(world, wrong).retry_after == 4.0  # type: ignore[attr-defined]
    world.clock.now += 4
    assert sign_in(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD)).principal.user_name == "alice"
    # success clears the user's count: the next failure is free again
    assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, "alice", "Wrong-Passw0rd")), BadCredentials)
    assert sign_in(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD)).principal.user_name == "alice"


def test_unknown_users_are_throttled_like_known_ones(world: World) -> None:
    ghost = SignInRequest.iam_user(ACCOUNT, "ghost", "Wrong-Passw0rd", source_ip=f"192.0.2.{1}")
    for i in range(throttle.PER_USER.free + 1):
        assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, "ghost", "x", source_ip=f"10.0.0.{i}")),
                          BadCredentials)
    assert isinstance(refused(world, ghost), Throttled)


def test_the_throttle_never_keeps_a_typed_name(world: World) -> None:
    """A name typed at sign-in may be a password typed into the wrong field: the throttle keeps a keyed digest of
    it, as CloudTrail hides it (the names were stored as typed)."""
    typed = "Sup3r-Secret-Typed-Here"
    for request in (SignInRequest.iam_user(ACCOUNT, typed, "x"), SignInRequest.root(typed + "@example.com", "x")):
        for _ in range(throttle.PER_USER.free + 1):
            assert isinstance(refused(world, request), BadCredentials)
        assert isinstance(refused(world, request), Throttled)  # the digest counts as the name did
    rows = world.read(lambda c: c.all("SELECT subject FROM signin_throttle"))
    assert len(rows) == 3  # the two names and the address
    assert not [r for r in rows if typed.lower() in str(r[0]).lower()]
    # root's reset lifts its backoff whatever email was typed
    world.write(throttle.clear_root_job)
    assert isinstance(refused(world, SignInRequest.root(typed + "@example.com", "x")), BadCredentials)


def test_rows_of_typed_names_from_an_earlier_version_are_forgotten(world: World) -> None:
    for subject in ("iam:alice-password", "root:owner@example.com", "ip:192.0.2.1", "iam~0123abcd"):
        world.write(lambda c, s=subject: c.run(
            "INSERT INTO signin_throttle(subject, failures, last_failure, blocked_until) VALUES (?, 1, ?, ?)",
            (s, T0, T0)))
    world.write(throttle.forget_clear_names)
    rows = world.read(lambda c: c.all("SELECT subject FROM signin_throttle ORDER BY subject"))
    assert [r[0] for r in rows] == ["iam~0123abcd", "ip:192.0.2.1"]


def test_per_address_backoff_across_users(world: World) -> None:
    for name in ("alice", "bob"):
        world.user(name)
    for i in range(throttle.PER_IP.free + 1):  # password spraying: one try per name, all from one address
        assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, f"user{i}", "x", source_ip="203.0.113.9")),
                          BadCredentials)
    assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, source_ip="203.0.113.9")),
                      Throttled)
    # bob, from elsewhere, is not held back by that address
    assert sign_in(world, SignInRequest.iam_user(ACCOUNT, "bob", PASSWORD, source_ip="192.0.2.50")).principal


def test_the_throttle_is_shared_through_the_store(world: World, tmp_path: Path) -> None:
    """A second SignIn on the same data dir (another worker process) sees the same backoff."""
    world.user("alice")
    wrong = SignInRequest.iam_user(ACCOUNT, "alice", "Wrong-Passw0rd")
    for _ in range(throttle.PER_USER.free + 1):
        refused(world, wrong)
    other_meta = world.run(open_meta(world.store.data_dir, world.store.url, migrate=False))
    try:
        other = SignIn(other_meta, world.box, ACCOUNT, clock=world.clock)
        with pytest.raises(Throttled):
            world.run(other.sign_in(SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD)))
    finally:
        world.run(other_meta.close())


def test_failed_mfa_codes_count_as_failures(world: World) -> None:
    alice = world.user("alice")
    world.mfa(alice.user_id, "alice")
    for _ in range(throttle.PER_USER.free + 1):
        assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, "000000")), BadMfaCode)
    assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, "000000")), Throttled)


# -- password state ------------------------------------------------------------------------------------------


def test_reset_required_and_expiry(world: World) -> None:
    world.user("alice", reset=True)
    world.user("bob", created=T0 - 100 * 86400)
    result = sign_in(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD))
    assert result.password_reset_required and result.must_change_password and not result.password_expired
    assert not sign_in(world, SignInRequest.iam_user(ACCOUNT, "bob", PASSWORD)).must_change_password
    world.write(lambda c: login_store.set_password_policy_job(c, PasswordPolicy(max_age_days=90)))
    result = sign_in(world, SignInRequest.iam_user(ACCOUNT, "bob", PASSWORD))
    assert result.password_expired and result.password_expires == T0 - 10 * 86400
    bob = login_store_user_id(world, "bob")
    summary = world.read(lambda c: login_store.login_profile_summary(c, bob))
    assert summary.password_next_rotation == T0 - 10 * 86400 and summary.password_enabled
    world.write(lambda c: login_store.set_password_policy_job(c, PasswordPolicy(max_age_days=90, hard_expiry=True)))
    assert isinstance(refused(world, SignInRequest.iam_user(ACCOUNT, "bob", PASSWORD)), PasswordExpired)
    # the policy never applies to root
    assert not sign_in(world, SignInRequest.root("owner@example.com", PASSWORD)).password_expired


def login_store_user_id(world: World, name: str) -> str:
    return str(world.read(lambda c: c.value("SELECT user_id FROM iam_users WHERE name = ?", (name,))))


def test_root_changes_its_own_password(world: World) -> None:
    from storeroom.errors import AwsError
    from storeroom.iam.root import change_root_password

    with pytest.raises(AwsError) as exc:
        world.run(change_root_password(world.meta, ACCOUNT, "Wrong-Passw0rd", "New-Root-Passw0rd"))
    assert (exc.value.code, exc.value.status) == ("AccessDenied", 403)
    with pytest.raises(AwsError) as exc:
        world.run(change_root_password(world.meta, ACCOUNT, PASSWORD, "Owner@Example.com"))
    assert exc.value.code == "PasswordPolicyViolation"  # the email itself: AWS's root rules refuse it
    world.run(change_root_password(world.meta, ACCOUNT, PASSWORD, "New-Root-Passw0rd"))
    assert sign_in(world, SignInRequest.root("owner@example.com", "New-Root-Passw0rd")).principal.is_root
    assert isinstance(refused(world, SignInRequest.root("owner@example.com", PASSWORD)), BadCredentials)


# -- audit ---------------------------------------------------------------------------------------------------


def test_console_login_events_as_cloudtrail_writes_them(world: World) -> None:
    alice = world.user("alice")
    app = world.mfa(alice.user_id, "alice")
    sign_in(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, app.at(world.clock.now),
                                          source_ip="192.0.2.1", user_agent="Mozilla/5.0"))
    refused(world, SignInRequest.iam_user(ACCOUNT, "ghost", PASSWORD + "x", source_ip="192.0.2.2"))
    refused(world, SignInRequest.root("owner@example.com", "Wrong-1234!", source_ip="192.0.2.3"))
    events = sorted(world.events(), key=lambda e: e["sourceIPAddress"])
    ok, ghost, root = events
    for event in events:
        assert (event["eventSource"], event["eventName"], event["eventType"]) == (
            "signin.amazonaws.com", "ConsoleLogin", "AwsConsoleSignIn")
        assert event["recipientAccountId"] == ACCOUNT and event["managementEvent"] is True
        assert PASSWORD not in json.dumps(event)
    assert ok["responseElements"] == {"ConsoleLogin": "Success"} and "errorMessage" not in ok
    assert ok["additionalEventData"]["MFAUsed"] == "Yes" and ok["userAgent"] == "Mozilla/5.0"
    assert ok["userIdentity"] == {"type": "IAMUser", "principalId": alice.user_id,
                                  "arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "accountId": ACCOUNT,
                                  "userName": "alice"}
    assert ghost["responseElements"] == {"ConsoleLogin": "Failure"}
    assert ghost["errorMessage"] == "Failed authentication"
    assert ghost["additionalEventData"]["MFAUsed"] == "No"
    assert ghost["userIdentity"]["userName"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert root["userIdentity"]["type"] == "Root" and root["awsRegion"] == "us-east-1"
    assert root["responseElements"] == {"ConsoleLogin": "Failure"}


# -- the session's condition keys, judged by the authorizer --------------------------------------------------

MFA_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {"Sid": "DenyWithoutMFA", "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*",
     "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
    {"Sid": "DenyConsoleWithoutMFA", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*",
     "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}},
    {"Sid": "RecentMFA", "Effect": "Deny", "Action": "s3:PutBucketPolicy", "Resource": "*",
     "Condition": {"NumericGreaterThanIfExists": {"aws:MultiFactorAuthAge": "3600"}}},
]})


def context(principal: Principal, session: dict[str, tuple[str, ...]] | None) -> Context:
    scope = {"type": "http", "method": "GET", "path": "/", "raw_path": b"/", "query_string": b"",
             "headers": [], "client": ("192.0.2.1", 5555), "scheme": "http"}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}
    return Context(Request(scope, receive), "s3", principal, None, None, "us-east-1", session_keys=session)


def test_policies_requiring_mfa_see_the_console_session(world: World) -> None:
    alice = world.user("alice")
    world.run(world.meta.db.write(lambda c: c.run("INSERT INTO iam_inline_policies VALUES ('user', ?, 'mfa', ?)",
                                                  (alice.user_id, MFA_POLICY)), bump=(generation.IAM,)))
    authorizer = Authorizer(world.meta, ACCOUNT)
    without = sign_in(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD))
    bucket = "arn:aws:s3:::photos"

    def allowed(session: dict[str, tuple[str, ...]] | None, action: str) -> bool:
        return bool(world.run(authorizer.check(context(without.principal, session), action, bucket)).allowed)

    # a console session without MFA: aws:MultiFactorAuthPresent is "false", the Deny applies
    keys = session_condition_keys(without, now=world.clock.now)
    assert keys["aws:multifactorauthpresent"] == ("false",) and "aws:multifactorauthage" not in keys
    assert not allowed(keys, "s3:DeleteBucket") and not allowed(keys, "s3:DeleteObject")
    assert allowed(keys, "s3:ListBucket")
    # access keys carry no such key: BoolIfExists denies them too (AWS's "deny unless MFA" pattern), plain
    # Bool does not apply to them
    assert not allowed(None, "s3:DeleteBucket") and allowed(None, "s3:DeleteObject")
    # with MFA: allowed; and aws:MultiFactorAuthAge grows with the session
    app = world.mfa(alice.user_id, "alice")
    world.clock.now += 60
    with_mfa = sign_in(world, SignInRequest.iam_user(ACCOUNT, "alice", PASSWORD, app.at(world.clock.now)))
    fresh = session_condition_keys(with_mfa, now=world.clock.now + 10)
    assert fresh["aws:multifactorauthpresent"] == ("true",) and fresh["aws:multifactorauthage"] == ("10",)
    assert allowed(fresh, "s3:DeleteBucket") and allowed(fresh, "s3:DeleteObject")
    assert allowed(fresh, "s3:PutBucketPolicy")
    stale = session_condition_keys(with_mfa, now=world.clock.now + 7200)
    assert allowed(stale, "s3:DeleteBucket") and not allowed(stale, "s3:PutBucketPolicy")
    assert time.strptime(fresh["aws:tokenissuetime"][0], "%Y-%m-%dT%H:%M:%SZ")


def test_the_throttle_message_counts_in_english() -> None:
    from storeroom.signin import Throttled

    assert str(Throttled(0.2)) == "Too many failed attempts. Try again in 1 second."
    assert str(Throttled(4.5)) == "Too many failed attempts. Try again in 5 seconds."


def test_event_history_times_keep_their_offset() -> None:
    from datetime import UTC, datetime

    from storeroom.console.cloudtrail import parse_time

    assert parse_time("2026-01-05T10:30") == datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    assert parse_time("2026-01-05T10:30+05:00") == datetime(2026, 1, 5, 5, 30, tzinfo=UTC)
    assert parse_time("") is None and parse_time("soon") is None
