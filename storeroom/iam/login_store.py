"""SQL for console sign-in credentials: login profiles (passwords), password history, virtual MFA devices, the
account password policy and alias, the root email (tables in storeroom/iam/schema.py, version 3).

As in :mod:`storeroom.iam.user_store`, reads take a connection (``call.db``) and ``*_job`` functions run inside
one write transaction, raising :class:`AwsError` with IAM's codes and messages.  The small query functions at
the end (:func:`login_profile_summary`, :func:`mfa_active`) are what the credential report and the account
summary read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storeroom.errors import AwsError
from storeroom.iam import passwords
from storeroom.iam.passwords import PasswordPolicy
from storeroom.iam.user_store import ROOT, Tags, get_user_by_id, no_such_user
from storeroom.store.sql import Conn

HISTORY_KEPT = 24            # PasswordReusePrevention's maximum
MFA_DEVICES_PER_USER = 8     # "You can register up to 8 MFA devices ... per user" (IAM quotas)
DEFAULT_ROOT_EMAIL = "root@localhost"


# -- errors (AWS's wording) ----------------------------------------------------------------------------------


def no_login_profile(name: str) -> AwsError:
    return AwsError("NoSuchEntity", f"Login Profile for User {name} cannot be found.", 404)


def no_such_device(serial: str) -> AwsError:
    # IAM's words (LocalStack's AWS-recorded delete-nonexistent-error), as DeactivateMFADevice's
    return AwsError("NoSuchEntity", f"MFA Device with serial number {serial} does not exist.", 404)


def invalid_code() -> AwsError:
    return AwsError("InvalidAuthenticationCode", "Authentication code for device is not valid.", 403)


# -- login profiles ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginProfile:
    principal: str
    hash: str
    created: float
    changed: float
    reset_required: bool
    last_used: float | None


async def get_login_profile(conn: Conn, principal: str) -> LoginProfile | None:
    row = await conn.one("SELECT principal, hash, created, changed, reset_required, last_used "
                         "FROM iam_login_profiles WHERE principal = ?", (principal,))
    return None if row is None else LoginProfile(row[0], row[1], row[2], row[3], bool(row[4]), row[5])


async def password_history(conn: Conn, principal: str) -> list[str]:
    """The current hash first, then the previous ones, newest first."""
    current = await get_login_profile(conn, principal)
    older = [r[0] for r in await conn.all("SELECT hash FROM iam_password_history WHERE principal = ? "
                                          "ORDER BY changed DESC", (principal,))]
    return ([current.hash] if current else []) + older


async def _require_owner(conn: Conn, principal: str, name: str) -> None:
    if principal != ROOT and await get_user_by_id(conn, principal) is None:
        raise no_such_user(name)


async def create_login_profile_job(conn: Conn, principal: str, name: str, hashed: str, now: float,
                                   reset_required: bool) -> None:
    await _require_owner(conn, principal, name)
    if await get_login_profile(conn, principal) is not None:
        raise AwsError("EntityAlreadyExists", f"Login Profile for user {name} already exists.", 409)
    await conn.run("INSERT INTO iam_login_profiles(principal, hash, created, changed, reset_required) "
                   "VALUES (?, ?, ?, ?, ?)", (principal, hashed, now, now, int(reset_required)))


async def set_password_job(conn: Conn, principal: str, name: str, hashed: str | None, now: float,
                           reset_required: bool | None) -> None:
    """A new password (the old hash goes to the history) and/or a new PasswordResetRequired."""
    await _require_owner(conn, principal, name)
    profile = await get_login_profile(conn, principal)
    if profile is None:
        raise no_login_profile(name)
    if hashed is not None:
        await conn.run("INSERT INTO iam_password_history(principal, changed, hash) VALUES (?, ?, ?) "
                       "ON CONFLICT(principal, changed) DO UPDATE SET hash = excluded.hash",
                       (principal, profile.changed, profile.hash))
        await conn.run("DELETE FROM iam_password_history WHERE principal = ? AND changed NOT IN (SELECT changed "
                       "FROM iam_password_history WHERE principal = ? ORDER BY changed DESC LIMIT ?)",
                       (principal, principal, HISTORY_KEPT))
        await conn.run("UPDATE iam_login_profiles SET hash = ?, changed = ? WHERE principal = ?",
                       (hashed, now, principal))
    if reset_required is not None:
        await conn.run("UPDATE iam_login_profiles SET reset_required = ? WHERE principal = ?",
                       (int(reset_required), principal))


async def delete_login_profile_job(conn: Conn, principal: str, name: str) -> None:
    await _require_owner(conn, principal, name)
    if await conn.run("DELETE FROM iam_login_profiles WHERE principal = ?", (principal,)) == 0:
        raise no_login_profile(name)
    await conn.run("DELETE FROM iam_password_history WHERE principal = ?", (principal,))


async def note_password_used_job(conn: Conn, principal: str, now: float) -> None:
    await conn.run("UPDATE iam_login_profiles SET last_used = ? WHERE principal = ?", (now, principal))


async def rehash_job(conn: Conn, principal: str, old_hash: str, new_hash: str) -> None:
    """Same password, stronger parameters; only if the password did not change meanwhile."""
    await conn.run("UPDATE iam_login_profiles SET hash = ? WHERE principal = ? AND hash = ?",
                   (new_hash, principal, old_hash))


# -- account settings (kv) -----------------------------------------------------------------------------------


async def _kv(conn: Conn, name: str) -> str | None:
    row = await conn.one("SELECT value FROM kv WHERE name = ?", (name,))
    return None if row is None else str(row[0])


async def _set_kv(conn: Conn, name: str, value: str | None) -> int:
    if value is None:
        return await conn.run("DELETE FROM kv WHERE name = ?", (name,))
    return await conn.run("INSERT INTO kv(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                          "value = excluded.value", (name, value))


async def password_policy(conn: Conn) -> PasswordPolicy | None:
    text = await _kv(conn, "password_policy")
    return None if text is None else PasswordPolicy.from_json(text)


async def set_password_policy_job(conn: Conn, policy: PasswordPolicy) -> None:
    await _set_kv(conn, "password_policy", policy.to_json())


async def delete_password_policy_job(conn: Conn) -> None:
    if await _set_kv(conn, "password_policy", None) == 0:
        raise AwsError("NoSuchEntity", "The account policy with name PasswordPolicy cannot be found.", 404)


async def account_alias(conn: Conn) -> str | None:
    return await _kv(conn, "account_alias")


async def set_account_alias_job(conn: Conn, alias: str) -> None:
    """An account has one alias: a new one replaces it ("the new alias overwrites the previous alias")."""
    await _set_kv(conn, "account_alias", alias)


async def delete_account_alias_job(conn: Conn, alias: str) -> None:
    if await account_alias(conn) != alias:
        raise AwsError("NoSuchEntity", f"The account alias {alias} cannot be found.", 404)
    await _set_kv(conn, "account_alias", None)


async def root_email(conn: Conn) -> str:
    return await _kv(conn, "root_email") or DEFAULT_ROOT_EMAIL


async def set_root_email_job(conn: Conn, email: str) -> None:
    await _set_kv(conn, "root_email", email)


async def account_names(conn: Conn, account_id: str) -> list[str]:
    """What the default policy forbids a password to be identical to: the account id, alias and email."""
    return [n for n in (account_id, await account_alias(conn), await root_email(conn)) if n]


# -- MFA devices ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MfaDevice:
    serial: str
    path: str
    name: str
    seed: bytes          # sealed
    created: float
    principal: str | None
    enabled: float | None
    last_step: int
    drift: int
    tags: Tags


_DEVICE_COLUMNS = "serial, path, name, seed, created, principal, enabled, last_step, drift, tags"


def _device(row: Sequence[Any]) -> MfaDevice:
    serial, path, name, seed, created, principal, enabled, last_step, drift, tags = row
    return MfaDevice(serial, path, name, seed, created, principal, enabled, last_step, drift,
                     [(k, v) for k, v in json.loads(tags)])


async def get_device(conn: Conn, serial: str) -> MfaDevice | None:
    row = await conn.one(f"SELECT {_DEVICE_COLUMNS} FROM iam_mfa_devices WHERE serial = ?", (serial,))
    return None if row is None else _device(row)


async def devices_of(conn: Conn, principal: str) -> list[MfaDevice]:
    rows = await conn.all(f"SELECT {_DEVICE_COLUMNS} FROM iam_mfa_devices WHERE principal = ? ORDER BY enabled, "
                          f"serial", (principal,))
    return [_device(r) for r in rows]


async def list_devices(conn: Conn, status: str, after: str | None, limit: int) -> list[MfaDevice]:
    """Virtual devices by serial number; ``status`` Assigned, Unassigned or Any (ListVirtualMFADevices)."""
    where = {"Assigned": "AND principal IS NOT NULL", "Unassigned": "AND principal IS NULL"}.get(status, "")
    rows = await conn.all(f"SELECT {_DEVICE_COLUMNS} FROM iam_mfa_devices WHERE serial > ? {where} "
                          f"ORDER BY serial LIMIT ?", (after or "", limit))
    return [_device(r) for r in rows]


async def create_device_job(conn: Conn, device: MfaDevice) -> None:
    if await get_device(conn, device.serial) is not None:
        raise AwsError("EntityAlreadyExists", "MFA device already exists.", 409)  # IAM's words (AWS-recorded)
    await conn.run(f"INSERT INTO iam_mfa_devices({_DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, NULL, 0, 0, ?)",
                   (device.serial, device.path, device.name, device.seed, device.created,
                  json.dumps([[k, v] for k, v in device.tags])))


async def enable_device_job(conn: Conn, serial: str, principal: str, name: str, now: float,
                            step: int) -> None:
    """Assigns the device; ``step`` (the second code's) becomes the last one used.  Checked again here, in the
    transaction, so two concurrent enables cannot both win."""
    await _require_owner(conn, principal, name)
    device = await get_device(conn, serial)
    if device is None:
        raise no_such_device(serial)
    if device.principal is not None:
        raise AwsError("EntityAlreadyExists", "MFA Device is already in use.", 409)
    if step <= device.last_step:
        raise invalid_code()
    if await conn.value("SELECT count(*) FROM iam_mfa_devices WHERE principal = ?",
                        (principal,)) >= MFA_DEVICES_PER_USER:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for MFADevicesPerUser: {MFA_DEVICES_PER_USER}", 409)
    await conn.run("UPDATE iam_mfa_devices SET principal = ?, enabled = ?, last_step = ?, drift = 0 "
                   "WHERE serial = ?", (principal, now, step, serial))


async def resync_device_job(conn: Conn, serial: str, principal: str, step: int, drift: int) -> None:
    if await conn.run("UPDATE iam_mfa_devices SET last_step = ?, drift = ? WHERE serial = ? AND principal = ? "
                      "AND last_step < ?", (step, drift, serial, principal, step)) == 0:
        raise invalid_code()


async def accept_step_job(conn: Conn, serial: str, principal: str, step: int) -> bool:
    """Atomically marks ``step`` used: False when it (or a later one) already was — a replayed code, even if
    another worker accepted it a moment ago."""
    return await conn.run("UPDATE iam_mfa_devices SET last_step = ? WHERE serial = ? AND principal = ? "
                          "AND last_step < ?", (step, serial, principal, step)) == 1


async def deactivate_device_job(conn: Conn, serial: str, principal: str) -> None:
    """Unassigns the device (it stays, unassigned, until DeleteVirtualMFADevice); its last step is kept so that
    re-enabling cannot replay old codes."""
    if await conn.run("UPDATE iam_mfa_devices SET principal = NULL, enabled = NULL WHERE serial = ? "
                      "AND principal = ?", (serial, principal)) == 0:
        raise AwsError("NoSuchEntity", f"MFA Device with serial number {serial} does not exist.", 404)


async def delete_device_job(conn: Conn, serial: str) -> None:
    device = await get_device(conn, serial)
    if device is None:
        raise no_such_device(serial)
    if device.principal is not None:
        raise AwsError("DeleteConflict", "MFA Device is still in use.", 409)
    await conn.run("DELETE FROM iam_mfa_devices WHERE serial = ?", (serial,))


async def set_device_tags_job(conn: Conn, serial: str, tags: Tags) -> None:
    if await conn.run("UPDATE iam_mfa_devices SET tags = ? WHERE serial = ?",
                      (json.dumps([[k, v] for k, v in tags]), serial)) == 0:
        raise no_such_device(serial)


# -- what the account summary and the credential report read -------------------------------------


@dataclass(frozen=True, slots=True)
class LoginSummary:
    """The credential report's password columns for one user (or 'root')."""

    password_enabled: bool
    password_last_used: float | None
    password_last_changed: float | None
    password_next_rotation: float | None   # when the password policy's MaxPasswordAge ends it


async def login_profile_summary(conn: Conn, principal: str) -> LoginSummary:
    """``principal`` is a user id or 'root'.  Root's password has no rotation: the policy does not apply."""
    profile = await get_login_profile(conn, principal)
    if profile is None:
        return LoginSummary(False, None, None, None)
    rotation = None if principal == ROOT else passwords.expires_at(await password_policy(conn), profile.changed)
    return LoginSummary(True, profile.last_used, profile.changed, rotation)


async def mfa_active(conn: Conn, principal: str) -> bool:
    """Whether the user (or 'root') has an MFA device enabled."""
    return await conn.one("SELECT 1 FROM iam_mfa_devices WHERE principal = ?", (principal,)) is not None


@dataclass(frozen=True, slots=True)
class MfaCounts:
    devices: int          # every virtual MFA device, assigned or not
    in_use: int           # assigned ones
    root_enabled: bool
    root_password: bool


async def mfa_counts(conn: Conn) -> MfaCounts:
    row = await conn.one("SELECT count(*), count(principal) FROM iam_mfa_devices")
    assert row is not None
    return MfaCounts(int(row[0]), int(row[1]), await mfa_active(conn, ROOT),
                     await get_login_profile(conn, ROOT) is not None)
