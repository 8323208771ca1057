"""The IAM dashboard's "Security recommendations": what AWS's dashboard shows (MFA for the root user, no access
keys for the root user) and more — the guide's own rules (rotate keys every 90 days, delete keys nobody uses:
``--key-max-age-days`` / ``--key-unused-days``, the same thresholds as the server's key hygiene warnings,
storeroom/hygiene.py), console users without MFA, users with ``AdministratorAccess``, no password policy.

Everything is read with IAM's own read calls as the signed-in principal (GetAccountSummary, ListUsers and, per
user, the calls the Users list makes), so a principal sees the recommendations it may read, and a fix made
anywhere (console, ``aws iam``) shows at the next view.  Each recommendation links to the page that fixes it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import quote

from storeroom.console.iam.common import all_pages, optional
from storeroom.console.services import Caller, ServiceError

ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Recommendation:
    kind: str              # "root-mfa", "root-keys", "key-age", "key-unused", "console-mfa", "admin", "password-policy"
    title: str
    detail: str
    fix: str               # the label of the link to the fix
    url: str


@dataclass(frozen=True, slots=True)
class Key:
    owner: str | None      # the IAM user's name; None for the root user
    key_id: str
    status: str
    created: float
    last_used: float | None


def _user_url(name: str | None, tab: str = "security") -> str:
    return "/iam/security-credentials" if name is None else f"/iam/users/{quote(name, safe='')}?tab={tab}"


def _who(name: str | None) -> str:
    return "the root user" if name is None else f"user {name}"


def key_findings(keys: list[Key], now: float, max_age_days: int, unused_days: int) -> list[Recommendation]:
    """The guide's two key rules, as storeroom/hygiene.py applies them: an active key older than
    ``max_age_days`` (rotate it); a key unused (or, never used, created) more than ``unused_days`` ago."""
    found = []
    for k in keys:
        age = int((now - k.created) // DAY)
        if k.status == "Active" and now - k.created >= max_age_days * DAY:
            found.append(Recommendation(
                "key-age", f"Rotate access key {k.key_id}",
                f"The active access key {k.key_id} of {_who(k.owner)} is {age} days old (older than "
                f"{max_age_days} days). Create a second key, move the application to it, then deactivate and "
                f"delete this one.", "Rotate the key", _user_url(k.owner)))
        idle_since = k.last_used if k.last_used is not None else k.created
        if now - idle_since >= unused_days * DAY:
            used = "has never been used" if k.last_used is None else \
                f"was last used {int((now - k.last_used) // DAY)} days ago"
            found.append(Recommendation(
                "key-unused", f"Remove unused access key {k.key_id}",
                f"The access key {k.key_id} ({k.status}) of {_who(k.owner)} {used} (more than {unused_days} days). "
                f"Delete it if nothing needs it.", "Delete the key", _user_url(k.owner)))
    return found


async def _keys(caller: Caller, user: str | None) -> list[Key]:
    params = {"UserName": user} if user is not None else {}
    keys = []
    for meta in (await caller.iam("ListAccessKeys", **params)).get("AccessKeyMetadata", []):
        used = await caller.iam("GetAccessKeyLastUsed", AccessKeyId=meta["AccessKeyId"])
        keys.append(Key(user, meta["AccessKeyId"], meta["Status"], float(meta["CreateDate"]),
                        used.get("AccessKeyLastUsed", {}).get("LastUsedDate")))
    return keys


async def _user(caller: Caller, name: str) -> tuple[list[Key], bool, bool]:
    """A user's keys, whether it has a console password, and whether it has an MFA device."""
    profile = await optional(caller.iam("GetLoginProfile", UserName=name))
    mfa = (await caller.iam("ListMFADevices", UserName=name)).get("MFADevices", [])
    return await _keys(caller, name), profile is not None, bool(mfa)


async def administrators(caller: Caller) -> list[tuple[str, str | None]]:
    """(user, group or None) for every user AdministratorAccess is attached to, directly or by a group."""
    found = await caller.iam("ListEntitiesForPolicy", PolicyArn=ADMIN_ARN)
    admins: list[tuple[str, str | None]] = [(u["UserName"], None) for u in found.get("PolicyUsers", [])]
    for group in found.get("PolicyGroups", []):
        members = await all_pages(caller, "GetGroup", "Users", GroupName=group["GroupName"])
        admins += [(u["UserName"], group["GroupName"]) for u in members]
    return admins


async def recommendations(caller: Caller, is_root: bool, max_age_days: int, unused_days: int,
                          now: float | None = None) -> list[Recommendation]:
    at = time.time() if now is None else now
    summary = (await caller.iam("GetAccountSummary")).get("SummaryMap", {})
    found: list[Recommendation] = []
    if not summary.get("AccountMFAEnabled"):
        found.append(Recommendation(
            "root-mfa", "Add MFA for root user",
            "The root user can do anything in the account, and signs in with a password alone. Assign an MFA "
            "device to it (the guide: “Enable MFA on your main AWS account”)." +
            ("" if is_root else " Only the root user can do this, signed in as root."),
            "Assign MFA device", "/iam/security-credentials"))
    if summary.get("AccountAccessKeysPresent"):
        found.append(Recommendation(
            "root-keys", "Root user has access keys",
            "Access keys of the root user can do anything and cannot be limited by a policy. Create IAM users "
            "with the permissions they need, then deactivate and delete the root user's keys." +
            ("" if is_root else " Only the root user can do this, signed in as root."),
            "Manage root access keys", "/iam/security-credentials"))
    keys = await _keys(caller, None) if is_root else []
    users = await all_pages(caller, "ListUsers", "Users")
    for user, (user_keys, console, mfa) in zip(users, await asyncio.gather(
            *(_user(caller, u["UserName"]) for u in users)), strict=True):
        keys += user_keys
        if console and not mfa:
            found.append(Recommendation(
                "console-mfa", f"Add MFA for {user['UserName']}",
                f"User {user['UserName']} can sign in to the console with a password but has no MFA device.",
                "Assign MFA device", _user_url(user["UserName"])))
    found += key_findings(keys, at, max_age_days, unused_days)
    for name, group in await administrators(caller):
        via = f" through group {group}" if group else ""
        found.append(Recommendation(
            "admin", f"{name} has AdministratorAccess",
            f"User {name} has full access to everything{via}. Grant only the permissions the user needs (least "
            "privilege): attach narrower policies, then remove AdministratorAccess.",
            "Review permissions", f"/iam/groups/{quote(group, safe='')}" if group else
            _user_url(name, "permissions")))
    if await optional(caller.iam("GetAccountPasswordPolicy")) is None:
        found.append(Recommendation(
            "password-policy", "Set a password policy",
            "No password policy: console passwords need only meet IAM's defaults. Require a length, character "
            "types and an expiry that suit the account.", "Edit password policy", "/iam/account-settings"))
    return found


async def dashboard_recommendations(caller: Caller, is_root: bool, max_age_days: int,
                                    unused_days: int) -> tuple[list[Recommendation], ServiceError | None]:
    """The recommendations, or the denial that keeps the caller from reading them."""
    try:
        return await recommendations(caller, is_root, max_age_days, unused_days), None
    except ServiceError as err:
        return [], err
