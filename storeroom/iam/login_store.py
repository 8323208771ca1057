"""SQL for console sign-in credentials: login profiles (passwords), password history, virtual MFA devices, the
account password policy and alias, the root email (tables in storeroom/iam/schema.py, version 3).

As in :mod:`storeroom.iam.user_store`, reads take a connection (``call.db``) and ``*_job`` functions run inside
one write transaction, raising :class:`AwsError` with IAM's codes and messages.  The small query functions at
the end (:func:`login_profile_summary`, :func:`mfa_active`) are what the credential report and the account
summary read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storeroom.errors import AwsError
from storeroom.iam import passwords
from storeroom.iam.passwords import PasswordPolicy
from storeroom.iam.user_store import ROOT, Tags, get_user_by_id, no_such_user

HISTORY_KEPT = 24            # PasswordReusePrevention's maximum
MFA_DEVICES_PER_USER = 8     # "You can register up to 8 MFA devices ... per user" (IAM quotas)
DEFAULT_ROOT_EMAIL = "root@localhost"


# -- errors (AWS's wording) ----------------------------------------------------------------------------------


def no_login_profile(name: str) -> AwsError:
    return AwsError("NoSuchEntity", f"Login Profile for User {name} cannot be found.", 404)


def no_such_device(serial: str) -> AwsError:
    return AwsError("NoSuchEntity", f"VirtualMFADevice with serial number {serial} doesn't exist.", 404)


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


def get_login_profile(conn: sqlite3.Connection, principal: str) -> LoginProfile | None:
    row = conn.execute("SELECT principal, hash, created, changed, reset_required, last_used "
                       "FROM iam_login_profiles WHERE principal = ?", (principal,)).fetchone()
    return None if row is None else LoginProfile(row[0], row[1], row[2], row[3], bool(row[4]), row[5])


def password_history(conn: sqlite3.Connection, principal: str) -> list[str]:
    """The current hash first, then the previous ones, newest first."""
    current = get_login_profile(conn, principal)
    older = [r[0] for r in conn.execute("SELECT hash FROM iam_password_history WHERE principal = ? "
                                        "ORDER BY changed DESC", (principal,))]
    return ([current.hash] if current else []) + older


def _require_owner(conn: sqlite3.Connection, principal: str, name: str) -> None:
    if principal != ROOT and get_user_by_id(conn, principal) is None:
        raise no_such_user(name)


def create_login_profile_job(conn: sqlite3.Connection, principal: str, name: str, hashed: str, now: float,
                             reset_required: bool) -> None:
    _require_owner(conn, principal, name)
    if get_login_profile(conn, principal) is not None:
        raise AwsError("EntityAlreadyExists", f"Login Profile for user {name} already exists.", 409)
    conn.execute("INSERT INTO iam_login_profiles(principal, hash, created, changed, reset_required) "
                 "VALUES (?, ?, ?, ?, ?)", (principal, hashed, now, now, int(reset_required)))


def set_password_job(conn: sqlite3.Connection, principal: str, name: str, hashed: str | None, now: float,
                     reset_required: bool | None) -> None:
    """A new password (the old hash goes to the history) and/or a new PasswordResetRequired."""
    _require_owner(conn, principal, name)
    profile = get_login_profile(conn, principal)
    if profile is None:
        raise no_login_profile(name)
    if hashed is not None:
        conn.execute("INSERT OR REPLACE INTO iam_password_history(principal, changed, hash) VALUES (?, ?, ?)",
                     (principal, profile.changed, profile.hash))
        conn.execute("DELETE FROM iam_password_history WHERE principal = ? AND changed NOT IN (SELECT changed "
                     "FROM iam_password_history WHERE principal = ? ORDER BY changed DESC LIMIT ?)",
                     (principal, principal, HISTORY_KEPT))
        conn.execute("UPDATE iam_login_profiles SET hash = ?, changed = ? WHERE principal = ?",
                     (hashed, now, principal))
    if reset_required is not None:
        conn.execute("UPDATE iam_login_profiles SET reset_required = ? WHERE principal = ?",
                     (int(reset_required), principal))


def delete_login_profile_job(conn: sqlite3.Connection, principal: str, name: str) -> None:
    _require_owner(conn, principal, name)
    if conn.execute("DELETE FROM iam_login_profiles WHERE principal = ?", (principal,)).rowcount == 0:
        raise no_login_profile(name)
    conn.execute("DELETE FROM iam_password_history WHERE principal = ?", (principal,))


def note_password_used_job(conn: sqlite3.Connection, principal: str, now: float) -> None:
    conn.execute("UPDATE iam_login_profiles SET last_used = ? WHERE principal = ?", (now, principal))


def rehash_job(conn: sqlite3.Connection, principal: str, old_hash: str, new_hash: str) -> None:
    """Same password, stronger parameters; only if the password did not change meanwhile."""
    conn.execute("UPDATE iam_login_profiles SET hash = ? WHERE principal = ? AND hash = ?",
                 (new_hash, principal, old_hash))


# -- account settings (kv) -----------------------------------------------------------------------------------


def _kv(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT value FROM kv WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def _set_kv(conn: sqlite3.Connection, name: str, value: str | None) -> int:
    if value is None:
        return conn.execute("DELETE FROM kv WHERE name = ?", (name,)).rowcount
    return conn.execute("INSERT OR REPLACE INTO kv(name, value) VALUES (?, ?)", (name, value)).rowcount


def password_policy(conn: sqlite3.Connection) -> PasswordPolicy | None:
    text = _kv(conn, "password_policy")
    return None if text is None else PasswordPolicy.from_json(text)


def set_password_policy_job(conn: sqlite3.Connection, policy: PasswordPolicy) -> None:
    _set_kv(conn, "password_policy", policy.to_json())


def delete_password_policy_job(conn: sqlite3.Connection) -> None:
    if _set_kv(conn, "password_policy", None) == 0:
        raise AwsError("NoSuchEntity", "The account policy with name PasswordPolicy cannot be found.", 404)


def account_alias(conn: sqlite3.Connection) -> str | None:
    return _kv(conn, "account_alias")


def set_account_alias_job(conn: sqlite3.Connection, alias: str) -> None:
    """An account has one alias: a new one replaces it ("the new alias overwrites the previous alias")."""
    _set_kv(conn, "account_alias", alias)


def delete_account_alias_job(conn: sqlite3.Connection, alias: str) -> None:
    if account_alias(conn) != alias:
        raise AwsError("NoSuchEntity", f"The account alias {alias} cannot be found.", 404)
    _set_kv(conn, "account_alias", None)


def root_email(conn: sqlite3.Connection) -> str:
    return _kv(conn, "root_email") or DEFAULT_ROOT_EMAIL


def set_root_email_job(conn: sqlite3.Connection, email: str) -> None:
    _set_kv(conn, "root_email", email)


def account_names(conn: sqlite3.Connection, account_id: str) -> list[str]:
    """What the default policy forbids a password to be identical to: the account id, alias and email."""
    return [n for n in (account_id, account_alias(conn), root_email(conn)) if n]


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


def get_device(conn: sqlite3.Connection, serial: str) -> MfaDevice | None:
    row = conn.execute(f"SELECT {_DEVICE_COLUMNS} FROM iam_mfa_devices WHERE serial = ?", (serial,)).fetchone()
    return None if row is None else _device(row)


def devices_of(conn: sqlite3.Connection, principal: str) -> list[MfaDevice]:
    rows = conn.execute(f"SELECT {_DEVICE_COLUMNS} FROM iam_mfa_devices WHERE principal = ? ORDER BY enabled, "
                        f"serial", (principal,)).fetchall()
    return [_device(r) for r in rows]


def list_devices(conn: sqlite3.Connection, status: str, after: str | None, limit: int) -> list[MfaDevice]:
    """Virtual devices by serial number; ``status`` Assigned, Unassigned or Any (ListVirtualMFADevices)."""
    where = {"Assigned": "AND principal IS NOT NULL", "Unassigned": "AND principal IS NULL"}.get(status, "")
    rows = conn.execute(f"SELECT {_DEVICE_COLUMNS} FROM iam_mfa_devices WHERE serial > ? {where} "
                        f"ORDER BY serial LIMIT ?", (after or "", limit)).fetchall()
    return [_device(r) for r in rows]


def create_device_job(conn: sqlite3.Connection, device: MfaDevice) -> None:
    if get_device(conn, device.serial) is not None:
        raise AwsError("EntityAlreadyExists", "MFADevice entity at the same path and name already exists.", 409)
    conn.execute(f"INSERT INTO iam_mfa_devices({_DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, NULL, 0, 0, ?)",
                 (device.serial, device.path, device.name, device.seed, device.created,
                  json.dumps([[k, v] for k, v in device.tags])))


def enable_device_job(conn: sqlite3.Connection, serial: str, principal: str, name: str, now: float,
                      step: int) -> None:
    """Assigns the device; ``step`` (the second code's) becomes the last one used.  Checked again here, in the
    transaction, so two concurrent enables cannot both win."""
    _require_owner(conn, principal, name)
    device = get_device(conn, serial)
    if device is None:
        raise no_such_device(serial)
    if device.principal is not None:
        raise AwsError("EntityAlreadyExists", "MFA Device is already in use.", 409)
    if step <= device.last_step:
        raise invalid_code()
    if conn.execute("SELECT count(*) FROM iam_mfa_devices WHERE principal = ?",
                    (principal,)).fetchone()[0] >= MFA_DEVICES_PER_USER:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for MFADevicesPerUser: {MFA_DEVICES_PER_USER}", 409)
    conn.execute("UPDATE iam_mfa_devices SET principal = ?, enabled = ?, last_step = ?, drift = 0 "
                 "WHERE serial = ?", (principal, now, step, serial))


def resync_device_job(conn: sqlite3.Connection, serial: str, principal: str, step: int, drift: int) -> None:
    if conn.execute("UPDATE iam_mfa_devices SET last_step = ?, drift = ? WHERE serial = ? AND principal = ? "
                    "AND last_step < ?", (step, drift, serial, principal, step)).rowcount == 0:
        raise invalid_code()


def accept_step_job(conn: sqlite3.Connection, serial: str, principal: str, step: int) -> bool:
    """Atomically marks ``step`` used: False when it (or a later one) already was — a replayed code, even if
    another worker accepted it a moment ago."""
    return conn.execute("UPDATE iam_mfa_devices SET last_step = ? WHERE serial = ? AND principal = ? "
                        "AND last_step < ?", (step, serial, principal, step)).rowcount == 1


def deactivate_device_job(conn: sqlite3.Connection, serial: str, principal: str) -> None:
    """Unassigns the device (it stays, unassigned, until DeleteVirtualMFADevice); its last step is kept so that
    re-enabling cannot replay old codes."""
    if conn.execute("UPDATE iam_mfa_devices SET principal = NULL, enabled = NULL WHERE serial = ? "
                    "AND principal = ?", (serial, principal)).rowcount == 0:
        raise AwsError("NoSuchEntity", f"MFA Device with serial number {serial} does not exist.", 404)


def delete_device_job(conn: sqlite3.Connection, serial: str) -> None:
    device = get_device(conn, serial)
    if device is None:
        raise no_such_device(serial)
    if device.principal is not None:
        raise AwsError("DeleteConflict", "MFA Device is still in use.", 409)
    conn.execute("DELETE FROM iam_mfa_devices WHERE serial = ?", (serial,))


def set_device_tags_job(conn: sqlite3.Connection, serial: str, tags: Tags) -> None:
    if conn.execute("UPDATE iam_mfa_devices SET tags = ? WHERE serial = ?",
                    (json.dumps([[k, v] for k, v in tags]), serial)).rowcount == 0:
        raise no_such_device(serial)


# -- what the account summary and the credential report read -------------------------------------


@dataclass(frozen=True, slots=True)
class LoginSummary:
    """The credential report's password columns for one user (or 'root')."""

    password_enabled: bool
    password_last_used: float | None
    password_last_changed: float | None
    password_next_rotation: float | None   # when the password policy's MaxPasswordAge ends it


def login_profile_summary(conn: sqlite3.Connection, principal: str) -> LoginSummary:
    """``principal`` is a user id or 'root'.  Root's password has no rotation: the policy does not apply."""
    profile = get_login_profile(conn, principal)
    if profile is None:
        return LoginSummary(False, None, None, None)
    rotation = None if principal == ROOT else passwords.expires_at(password_policy(conn), profile.changed)
    return LoginSummary(True, profile.last_used, profile.changed, rotation)


def mfa_active(conn: sqlite3.Connection, principal: str) -> bool:
    """Whether the user (or 'root') has an MFA device enabled."""
    return conn.execute("SELECT 1 FROM iam_mfa_devices WHERE principal = ?", (principal,)).fetchone() is not None


@dataclass(frozen=True, slots=True)
class MfaCounts:
    devices: int          # every virtual MFA device, assigned or not
    in_use: int           # assigned ones
    root_enabled: bool
    root_password: bool


def mfa_counts(conn: sqlite3.Connection) -> MfaCounts:
    devices, in_use = conn.execute("SELECT count(*), count(principal) FROM iam_mfa_devices").fetchone()
    return MfaCounts(int(devices), int(in_use), mfa_active(conn, ROOT), get_login_profile(conn, ROOT) is not None)
