"""Console sign-in, sans-IO: credentials in, a signed-in principal or a typed refusal out.

The web console (or any other front end) calls :meth:`SignIn.sign_in` with what the person typed and where the
request came from; it gets a :class:`SignedIn` (the :class:`~storeroom.identity.Principal` the console acts as,
whether MFA was used, when, and whether the password must be changed first) or one of the
:class:`SignInError` subclasses.  No HTTP, no cookies, no templates here: those are the console's.

As AWS's sign-in page does:

- root signs in with the account's email address and password; an IAM user with the account id (12 digits)
  or alias, the user name and password;
- one answer for an unknown user, an unknown account and a wrong password (:class:`BadCredentials`), and
  the same time spent on each (an Argon2 verification against a dummy hash), so a caller cannot learn which
  names exist;
- with an MFA device enabled, a correct password alone gives :class:`MfaRequired`; the console asks for the
  code and calls again with both.  A code is accepted once (storeroom/iam/totp.py);
- failures slow the next attempts down, per user and per source address (storeroom/iam/throttle.py);
- every attempt that verified something leaves a ``ConsoleLogin`` event in the audit log, in CloudTrail's
  shape for console sign-ins (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/
  cloudtrail-event-reference-aws-console-sign-in-events.html): eventSource ``signin.amazonaws.com``,
  eventType ``AwsConsoleSignIn``, ``responseElements.ConsoleLogin`` Success/Failure,
  ``additionalEventData.MFAUsed`` Yes/No, errorMessage "Failed authentication" on failure.

:func:`session_condition_keys` turns a sign-in into the condition keys of the console session's requests
(``aws:MultiFactorAuthPresent``, ``aws:MultiFactorAuthAge``, ``aws:TokenIssueTime``), which the console hands
to the authorizer through ``Context.session_keys``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storeroom.audit.events import EVENT_VERSION, Event, event_time
from storeroom.audit.log import AuditLog
from storeroom.crypto import SecretBox
from storeroom.iam import login_store, passwords, throttle, totp
from storeroom.iam.user_store import ROOT, get_user
from storeroom.identity import Principal
from storeroom.store.meta import MetaStore
from storeroom.store.sql import Conn

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"   # what CloudTrail writes for a user name that matched no user


# -- what goes in and what comes out -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignInRequest:
    """What was typed on the sign-in page, and where it came from.  ``email`` set: root sign-in; else IAM user
    sign-in with ``account`` (id or alias) and ``user_name``."""

    password: str
    email: str = ""
    account: str = ""
    user_name: str = ""
    mfa_code: str | None = None
    source_ip: str = "127.0.0.1"
    user_agent: str = ""

    @classmethod
    def root(cls, email: str, password: str, mfa_code: str | None = None, **where: str) -> SignInRequest:
        return cls(password, email=email, mfa_code=mfa_code, **where)

    @classmethod
    def iam_user(cls, account: str, user_name: str, password: str, mfa_code: str | None = None,
                 **where: str) -> SignInRequest:
        return cls(password, account=account, user_name=user_name, mfa_code=mfa_code, **where)

    @property
    def is_root(self) -> bool:
        return bool(self.email)


@dataclass(frozen=True, slots=True)
class SignedIn:
    principal: Principal
    mfa_used: bool
    auth_time: float                      # epoch seconds of this sign-in (aws:MultiFactorAuthAge counts from it)
    password_reset_required: bool         # an administrator asked for a new password at this sign-in
    password_expired: bool                # older than the policy's MaxPasswordAge: change it before going on
    password_expires: float | None        # when it will (None: never)
    profile_created: float | None = None  # the login profile's creation: a session ends when it is remade

    @property
    def must_change_password(self) -> bool:
        return self.password_reset_required or self.password_expired


class SignInError(Exception):
    """A refused sign-in; ``message`` is what the sign-in page may show."""

    message = "Your authentication information is incorrect. Please try again."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class BadCredentials(SignInError):
    """Unknown account, unknown user, no console password or a wrong one: one answer for all."""


class MfaRequired(SignInError):
    message = "Enter the code from your MFA device."


class BadMfaCode(SignInError):
    message = "Your authentication information is incorrect. Please try again."


class Throttled(SignInError):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        seconds = int(retry_after) + 1
        super().__init__(f"Too many failed attempts. Try again in {seconds} second{'s' if seconds != 1 else ''}.")


class PasswordExpired(SignInError):
    """Expired under a policy with HardExpiry: only an administrator can set a new password."""

    message = "Your password has expired. Ask your administrator to reset it."


# -- the sign-in ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    principal: Principal
    key: str            # the login profile's principal: a user id or 'root'


class SignIn:
    """Sign-in against one data dir's metadata store; safe to share across requests of a process."""

    def __init__(self, meta: MetaStore, box: SecretBox, account_id: str, audit: AuditLog | None = None, *,
                 region: str = "us-east-1", per_user: throttle.Backoff = throttle.PER_USER,
                 per_ip: throttle.Backoff = throttle.PER_IP, clock: Callable[[], float] = time.time) -> None:
        self.meta, self.box, self.account_id, self.audit = meta, box, account_id, audit
        self.region, self.per_user, self.per_ip, self.clock = region, per_user, per_ip, clock

    @property
    def _db(self) -> Conn:
        return self.meta.db.read

    async def sign_in(self, request: SignInRequest) -> SignedIn:
        now = self.clock()
        user_subject = throttle.user_subject("root" if request.is_root else "iam",
                                             request.email if request.is_root else request.user_name, self.box)
        subjects = [user_subject, throttle.ip_subject(request.source_ip)]
        wait = await throttle.retry_after(self._db, subjects, now)
        if wait > 0:  # refused before any password work: cheap for us, useless for a guesser
            self._audit(request, None, now, mfa_used=False)
            raise Throttled(wait)
        target = await self._find(request)
        profile = None if target is None else await login_store.get_login_profile(self._db, target.key)
        if target is None or profile is None:
            await asyncio.to_thread(passwords.burn_verification, request.password)
            await self._failed(request, None, subjects, now, mfa_used=False)
            raise BadCredentials()
        if not await asyncio.to_thread(passwords.verify_password, profile.hash, request.password):
            await self._failed(request, target, subjects, now, mfa_used=False)
            raise BadCredentials()
        devices = await login_store.devices_of(self._db, target.key)
        if devices:
            if request.mfa_code is None:
                raise MfaRequired()
            if not await self._accept_code(devices, target.key, request.mfa_code, now):
                await self._failed(request, target, subjects, now, mfa_used=True)
                raise BadMfaCode()
        policy = None if target.key == ROOT else await login_store.password_policy(self._db)
        expires = passwords.expires_at(policy, profile.changed)
        expired = expires is not None and now >= expires
        if expired and policy is not None and policy.hard_expiry:
            self._audit(request, target, now, mfa_used=bool(devices), success=False)
            raise PasswordExpired()
        await self._succeeded(target, user_subject, profile, request.password, now)
        self._audit(request, target, now, mfa_used=bool(devices), success=True)
        return SignedIn(target.principal, bool(devices), now, profile.reset_required, expired, expires,
                        profile.created)

    async def _find(self, request: SignInRequest) -> _Target | None:
        if request.is_root:
            if request.email.strip().lower() != (await login_store.root_email(self._db)).lower():
                return None
            principal = Principal("Root", self.account_id, f"arn:aws:iam::{self.account_id}:root", self.account_id)
            return _Target(principal, ROOT)
        account, alias = request.account.strip(), await login_store.account_alias(self._db)
        if account != self.account_id and not (alias and account.lower() == alias):
            return None
        user = await get_user(self._db, request.user_name) if request.user_name else None
        if user is None:
            return None
        principal = Principal("IAMUser", self.account_id, f"arn:aws:iam::{self.account_id}:user{user.path}"
                              f"{user.name}", user.user_id, user.name, None, tuple(user.tags))
        return _Target(principal, user.user_id)

    async def _accept_code(self, devices: Sequence[login_store.MfaDevice], key: str, code: str,
                           now: float) -> bool:
        return await accept_code(self.meta, self.box, devices, key, code, now)

    async def _failed(self, request: SignInRequest, target: _Target | None, subjects: list[str], now: float,
                      *, mfa_used: bool) -> None:
        user_subject, ip_subject = subjects

        async def job(conn: Conn) -> None:
            await throttle.note_failure_job(conn, user_subject, self.per_user, now)
            await throttle.note_failure_job(conn, ip_subject, self.per_ip, now)
        await self.meta.db.write(job)
        self._audit(request, target, now, mfa_used=mfa_used, success=False)

    async def _succeeded(self, target: _Target, user_subject: str, profile: login_store.LoginProfile,
                         password: str, now: float) -> None:
        """Clears the user's failures (not the address's: one good account must not launder a spraying
        address), records PasswordLastUsed, and upgrades an old hash while the password is at hand."""
        rehashed = None
        if passwords.needs_rehash(profile.hash):
            rehashed = await asyncio.to_thread(passwords.hash_password, password)

        async def job(conn: Conn) -> None:
            await throttle.clear_job(conn, user_subject)
            await login_store.note_password_used_job(conn, target.key, now)
            if rehashed is not None:
                await login_store.rehash_job(conn, target.key, profile.hash, rehashed)
        await self.meta.db.write(job)

    def _audit(self, request: SignInRequest, target: _Target | None, now: float, *, mfa_used: bool,
               success: bool = False) -> None:
        if self.audit is not None:
            self.audit.record_event(console_login_event(request, target.principal if target else None,
                                                   self.account_id, self.region, now, mfa_used, success))


def console_login_event(request: SignInRequest, principal: Principal | None, account_id: str, region: str,
                        when: float, mfa_used: bool, success: bool) -> Event:
    """The audit record of one sign-in attempt, as CloudTrail writes ConsoleLogin (kept in this one function so
    that it follows the audit record's shape wherever that goes)."""
    if principal is not None:
        identity: dict[str, Any] = {"type": principal.type, "principalId": principal.principal_id,
                                    "arn": principal.arn, "accountId": account_id}
        if principal.user_name:
            identity["userName"] = principal.user_name
    elif request.is_root:
        identity = {"type": "Root", "principalId": account_id, "arn": f"arn:aws:iam::{account_id}:root",
                    "accountId": account_id}
    else:
        identity = {"type": "IAMUser", "accountId": account_id, "accessKeyId": "", "userName": HIDDEN}
    username = principal.user_name if principal and principal.type == "IAMUser" else (
        "root" if request.is_root else None)
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": event_time(when),
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        # "If you sign in as the root user, CloudTrail records the event in us-east-1"
        "awsRegion": "us-east-1" if request.is_root else region,
        "sourceIPAddress": request.source_ip,
        "userAgent": request.user_agent,
        "requestParameters": None,
        "responseElements": {"ConsoleLogin": "Success" if success else "Failure"},
        "additionalEventData": {"LoginTo": "storeroom-console", "MobileVersion": "No",
                                "MFAUsed": "Yes" if mfa_used else "No"},
        "requestID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsConsoleSignIn",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
    }
    if not success:
        record["errorMessage"] = "Failed authentication"
    return Event(when, "ConsoleLogin", "signin.amazonaws.com", False, True, username, None, [], record,
                 status=200 if success else 401)


# -- MFA codes (the sign-in's, and STS's SerialNumber + TokenCode) ---------------------------------------------


async def accept_code(meta: MetaStore, box: SecretBox, devices: Sequence[login_store.MfaDevice], key: str,
                      code: str, now: float) -> bool:
    """Whether ``code`` is the current code of one of ``devices`` (enabled for ``key``: a user id or 'root'),
    not used before; the step is marked used atomically, so a replay (here or on another worker) gets False."""
    for device in devices:
        seed = box.open(device.seed, device.serial)
        step = totp.match(seed, code, now, drift=device.drift, after=device.last_step)
        if step is not None:
            return await _accept_step(meta, device.serial, key, step)
    return False


async def _accept_step(meta: MetaStore, serial: str, key: str, step: int) -> bool:
    return bool(await meta.db.write(lambda c: login_store.accept_step_job(c, serial, key, step)))


async def verify_device_code(meta: MetaStore, box: SecretBox, key: str, serial: str, code: str,
                             now: float) -> bool:
    """STS's ``SerialNumber`` + ``TokenCode``: the device must be enabled for ``key`` (the caller)."""
    device = await login_store.get_device(meta.db.read, serial)
    if device is None or device.principal != key:
        return False
    return await accept_code(meta, box, [device], key, code, now)


# -- the console session's condition keys --------------------------------------------------------------------


def session_condition_keys(signed_in: SignedIn, now: float | None = None) -> dict[str, tuple[str, ...]]:
    """Condition keys of every request made in this console session (names lower-cased, as the authorizer
    keeps them).  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html:
    aws:MultiFactorAuthPresent is in the context of requests made with temporary credentials — a console
    session's — true with MFA, false without; aws:MultiFactorAuthAge "is present only if MFA was used",
    in seconds since the MFA authentication; aws:TokenIssueTime is when the session's credentials were
    issued.  Requests signed with long-term access keys have none of these, so ``BoolIfExists`` … ``false``
    denies them as well (AWS's "deny unless MFA" pattern) while plain ``Bool`` does not apply to them."""
    at = time.time() if now is None else now
    keys: dict[str, tuple[str, ...]] = {
        "aws:multifactorauthpresent": ("true" if signed_in.mfa_used else "false",),
        "aws:tokenissuetime": (datetime.fromtimestamp(signed_in.auth_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),),
    }
    if signed_in.mfa_used:
        keys["aws:multifactorauthage"] = (str(max(0, int(at - signed_in.auth_time))),)
    return keys
