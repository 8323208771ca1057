"""SQL for IAM users, groups, memberships and access keys (the tables of storeroom/iam/schema.py and the
``access_keys`` table of storeroom/store/meta.py).

Reads take the read connection (``call.db``); ``*_job`` functions run on the writer thread inside one
transaction (``await call.write(lambda conn: ...)``), so each check-then-write (name uniqueness, quotas, delete
conflicts) is atomic.  They raise :class:`AwsError` with IAM's codes and messages; the transaction of a job
that raises is rolled back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storeroom.errors import AwsError
from storeroom.policy.managed import AWS_MANAGED

ROOT = "root"  # access_keys.principal of the account's root keys (storeroom.identity.ROOT)

# IAM quotas, as GetAccountSummary reports them.
USERS_QUOTA = 5000
GROUPS_QUOTA = 300
ACCESS_KEYS_PER_USER = 2
GROUPS_PER_USER = 10
TAGS_PER_USER = 50

Tags = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    name: str
    path: str
    created: float
    tags: Tags
    boundary: str | None


@dataclass(frozen=True, slots=True)
class Group:
    group_id: str
    name: str
    path: str
    created: float


@dataclass(frozen=True, slots=True)
class Key:
    access_key_id: str
    principal: str           # ROOT or a user id
    status: str
    created: float
    last_used: float | None
    last_used_service: str | None
    last_used_region: str | None


# -- errors (AWS's wording) ----------------------------------------------------------------------------------


def no_such_user(name: str) -> AwsError:
    return AwsError("NoSuchEntity", f"The user with name {name} cannot be found.", 404)


def no_such_group(name: str) -> AwsError:
    return AwsError("NoSuchEntity", f"The group with name {name} cannot be found.", 404)


def no_such_key(access_key_id: str) -> AwsError:
    return AwsError("NoSuchEntity", f"The Access Key with id {access_key_id} cannot be found.", 404)


def quota_exceeded(quota: str, limit: int) -> AwsError:
    return AwsError("LimitExceeded", f"Cannot exceed quota for {quota}: {limit}", 409)


def delete_conflict(what: str) -> AwsError:
    return AwsError("DeleteConflict", f"Cannot delete entity, must {what} first.", 409)


# -- users ---------------------------------------------------------------------------------------------------

_USER_COLUMNS = "user_id, name, path, created, tags, boundary"


def _user(row: Sequence[Any]) -> User:
    user_id, name, path, created, tags, boundary = row
    return User(user_id, name, path, created, [(k, v) for k, v in json.loads(tags)], boundary)


def get_user(conn: sqlite3.Connection, name: str) -> User | None:
    row = conn.execute(f"SELECT {_USER_COLUMNS} FROM iam_users WHERE name = ?", (name,)).fetchone()
    return None if row is None else _user(row)


def get_user_by_id(conn: sqlite3.Connection, user_id: str) -> User | None:
    row = conn.execute(f"SELECT {_USER_COLUMNS} FROM iam_users WHERE user_id = ?", (user_id,)).fetchone()
    return None if row is None else _user(row)


def list_users(conn: sqlite3.Connection, path_prefix: str, after: str | None, limit: int) -> list[User]:
    """Users whose path starts with ``path_prefix``, by name (case-insensitively), after the name ``after``."""
    rows = conn.execute(
        f"SELECT {_USER_COLUMNS} FROM iam_users WHERE substr(path, 1, ?) = ? AND name > ? ORDER BY name LIMIT ?",
        (len(path_prefix), path_prefix, after or "", limit),
    ).fetchall()
    return [_user(r) for r in rows]


def create_user_job(conn: sqlite3.Connection, user: User) -> None:
    if conn.execute("SELECT 1 FROM iam_users WHERE name = ?", (user.name,)).fetchone():
        raise AwsError("EntityAlreadyExists", f"User with name {user.name} already exists.", 409)
    if conn.execute("SELECT count(*) FROM iam_users").fetchone()[0] >= USERS_QUOTA:
        raise quota_exceeded("UsersPerAccount", USERS_QUOTA)
    if user.boundary is not None:
        require_policy(conn, user.boundary)
    conn.execute(
        f"INSERT INTO iam_users({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (user.user_id, user.name, user.path, user.created, _tags_json(user.tags), user.boundary),
    )


def update_user_job(conn: sqlite3.Connection, user_id: str, old_name: str, new_name: str, new_path: str) -> None:
    if get_user_by_id(conn, user_id) is None:
        raise no_such_user(old_name)
    clash = conn.execute("SELECT user_id FROM iam_users WHERE name = ?", (new_name,)).fetchone()
    if clash is not None and clash[0] != user_id:
        raise AwsError("EntityAlreadyExists", f"User with name {new_name} already exists.", 409)
    conn.execute("UPDATE iam_users SET name = ?, path = ? WHERE user_id = ?", (new_name, new_path, user_id))


def delete_user_job(conn: sqlite3.Connection, user_id: str, name: str) -> None:
    """DeleteConflict while anything still hangs off the user (AWS does not cascade)."""
    if get_user_by_id(conn, user_id) is None:
        raise no_such_user(name)
    if conn.execute("SELECT 1 FROM iam_login_profiles WHERE principal = ?", (user_id,)).fetchone():
        raise delete_conflict("delete login profile")
    if conn.execute("SELECT 1 FROM access_keys WHERE principal = ?", (user_id,)).fetchone():
        raise delete_conflict("delete access keys")
    if conn.execute("SELECT 1 FROM iam_mfa_devices WHERE principal = ?", (user_id,)).fetchone():
        raise delete_conflict("delete MFA device")
    _check_policies_gone(conn, "user", user_id)
    if conn.execute("SELECT 1 FROM iam_group_members WHERE user_id = ?", (user_id,)).fetchone():
        raise delete_conflict("remove users from group")
    conn.execute("DELETE FROM iam_users WHERE user_id = ?", (user_id,))


def _check_policies_gone(conn: sqlite3.Connection, entity_type: str, entity_id: str) -> None:
    if conn.execute("SELECT 1 FROM iam_inline_policies WHERE entity_type = ? AND entity_id = ?",
                    (entity_type, entity_id)).fetchone():
        raise delete_conflict("delete policies")
    if conn.execute("SELECT 1 FROM iam_attachments WHERE entity_type = ? AND entity_id = ?",
                    (entity_type, entity_id)).fetchone():
        raise delete_conflict("detach all policies")


def require_policy(conn: sqlite3.Connection, arn: str) -> None:
    """NoSuchEntity unless ``arn`` names an AWS managed policy or a customer managed policy of this store."""
    if arn in AWS_MANAGED or conn.execute("SELECT 1 FROM iam_policies WHERE arn = ?", (arn,)).fetchone():
        return
    raise AwsError("NoSuchEntity", f"Policy {arn} does not exist or is not attachable.", 404)


# -- tags ----------------------------------------------------------------------------------------------------


def _tags_json(tags: Tags) -> str:
    return json.dumps([[k, v] for k, v in tags], separators=(",", ":"))


def check_unique_keys(tags: Tags) -> None:
    """IAM user tag keys are case-insensitive: one request may not name a key twice."""
    if len({k.lower() for k, _ in tags}) != len(tags):
        raise AwsError("InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
                       400)


def merged_tags(existing: Tags, new: Tags) -> Tags:
    """``existing`` with ``new`` applied: a key equal case-insensitively replaces the old tag in place."""
    out = list(existing)
    index = {k.lower(): i for i, (k, _) in enumerate(out)}
    for key, value in new:
        at = index.get(key.lower())
        if at is None:
            index[key.lower()] = len(out)
            out.append((key, value))
        else:
            out[at] = (key, value)
    return out


def without_tags(existing: Tags, keys: Sequence[str]) -> Tags:
    gone = {k.lower() for k in keys}
    return [(k, v) for k, v in existing if k.lower() not in gone]


def tag_user_job(conn: sqlite3.Connection, user_id: str, name: str, new: Tags) -> None:
    user = get_user_by_id(conn, user_id)
    if user is None:
        raise no_such_user(name)
    tags = merged_tags(user.tags, new)
    if len(tags) > TAGS_PER_USER:
        raise quota_exceeded("TagsPerUser", TAGS_PER_USER)
    conn.execute("UPDATE iam_users SET tags = ? WHERE user_id = ?", (_tags_json(tags), user_id))


def untag_user_job(conn: sqlite3.Connection, user_id: str, name: str, keys: Sequence[str]) -> None:
    user = get_user_by_id(conn, user_id)
    if user is None:
        raise no_such_user(name)
    conn.execute("UPDATE iam_users SET tags = ? WHERE user_id = ?",
                 (_tags_json(without_tags(user.tags, keys)), user_id))


# -- access keys ---------------------------------------------------------------------------------------------

_KEY_COLUMNS = "access_key_id, principal, status, created, last_used, last_used_service, last_used_region"


def get_key(conn: sqlite3.Connection, access_key_id: str) -> Key | None:
    row = conn.execute(f"SELECT {_KEY_COLUMNS} FROM access_keys WHERE access_key_id = ?",
                       (access_key_id,)).fetchone()
    return None if row is None else Key(*row)


def keys_of(conn: sqlite3.Connection, principal: str) -> list[Key]:
    rows = conn.execute(f"SELECT {_KEY_COLUMNS} FROM access_keys WHERE principal = ? "
                        f"ORDER BY created, access_key_id", (principal,)).fetchall()
    return [Key(*r) for r in rows]


def create_key_job(conn: sqlite3.Connection, principal: str, owner_name: str, access_key_id: str,
                   sealed_secret: bytes, created: float) -> None:
    """Inactive keys count towards the quota, as in AWS."""
    if principal != ROOT and get_user_by_id(conn, principal) is None:
        raise no_such_user(owner_name)
    count = conn.execute("SELECT count(*) FROM access_keys WHERE principal = ?", (principal,)).fetchone()[0]
    if count >= ACCESS_KEYS_PER_USER:
        raise quota_exceeded("AccessKeysPerUser", ACCESS_KEYS_PER_USER)
    conn.execute("INSERT INTO access_keys(access_key_id, secret, principal, status, created) "
                 "VALUES (?, ?, ?, 'Active', ?)", (access_key_id, sealed_secret, principal, created))


def update_key_job(conn: sqlite3.Connection, principal: str, access_key_id: str, status: str) -> None:
    cursor = conn.execute("UPDATE access_keys SET status = ? WHERE access_key_id = ? AND principal = ?",
                          (status, access_key_id, principal))
    if cursor.rowcount == 0:
        raise no_such_key(access_key_id)


def delete_key_job(conn: sqlite3.Connection, principal: str, access_key_id: str) -> None:
    cursor = conn.execute("DELETE FROM access_keys WHERE access_key_id = ? AND principal = ?",
                          (access_key_id, principal))
    if cursor.rowcount == 0:
        raise no_such_key(access_key_id)


# -- groups --------------------------------------------------------------------------------------------------

_GROUP_COLUMNS = "group_id, name, path, created"


def get_group(conn: sqlite3.Connection, name: str) -> Group | None:
    row = conn.execute(f"SELECT {_GROUP_COLUMNS} FROM iam_groups WHERE name = ?", (name,)).fetchone()
    return None if row is None else Group(*row)


def list_groups(conn: sqlite3.Connection, path_prefix: str, after: str | None, limit: int) -> list[Group]:
    rows = conn.execute(
        f"SELECT {_GROUP_COLUMNS} FROM iam_groups WHERE substr(path, 1, ?) = ? AND name > ? ORDER BY name LIMIT ?",
        (len(path_prefix), path_prefix, after or "", limit),
    ).fetchall()
    return [Group(*r) for r in rows]


def members_of(conn: sqlite3.Connection, group_id: str, after: str | None, limit: int) -> list[User]:
    rows = conn.execute(
        "SELECT u.user_id, u.name, u.path, u.created, u.tags, u.boundary FROM iam_group_members m "
        "JOIN iam_users u ON u.user_id = m.user_id WHERE m.group_id = ? AND u.name > ? ORDER BY u.name LIMIT ?",
        (group_id, after or "", limit),
    ).fetchall()
    return [_user(r) for r in rows]


def groups_of(conn: sqlite3.Connection, user_id: str, after: str | None, limit: int) -> list[Group]:
    rows = conn.execute(
        "SELECT g.group_id, g.name, g.path, g.created FROM iam_group_members m "
        "JOIN iam_groups g ON g.group_id = m.group_id WHERE m.user_id = ? AND g.name > ? ORDER BY g.name LIMIT ?",
        (user_id, after or "", limit),
    ).fetchall()
    return [Group(*r) for r in rows]


def create_group_job(conn: sqlite3.Connection, group: Group) -> None:
    if get_group(conn, group.name) is not None:
        raise AwsError("EntityAlreadyExists", f"Group with name {group.name} already exists.", 409)
    if conn.execute("SELECT count(*) FROM iam_groups").fetchone()[0] >= GROUPS_QUOTA:
        raise quota_exceeded("GroupsPerAccount", GROUPS_QUOTA)
    conn.execute(f"INSERT INTO iam_groups({_GROUP_COLUMNS}) VALUES (?, ?, ?, ?)",
                 (group.group_id, group.name, group.path, group.created))


def update_group_job(conn: sqlite3.Connection, group_id: str, old_name: str, new_name: str, new_path: str) -> None:
    if conn.execute("SELECT 1 FROM iam_groups WHERE group_id = ?", (group_id,)).fetchone() is None:
        raise no_such_group(old_name)
    clash = get_group(conn, new_name)
    if clash is not None and clash.group_id != group_id:
        raise AwsError("EntityAlreadyExists", f"Group with name {new_name} already exists.", 409)
    conn.execute("UPDATE iam_groups SET name = ?, path = ? WHERE group_id = ?", (new_name, new_path, group_id))


def delete_group_job(conn: sqlite3.Connection, group_id: str, name: str) -> None:
    if conn.execute("SELECT 1 FROM iam_groups WHERE group_id = ?", (group_id,)).fetchone() is None:
        raise no_such_group(name)
    if conn.execute("SELECT 1 FROM iam_group_members WHERE group_id = ?", (group_id,)).fetchone():
        raise delete_conflict("remove users from group")
    _check_policies_gone(conn, "group", group_id)
    conn.execute("DELETE FROM iam_groups WHERE group_id = ?", (group_id,))


def add_member_job(conn: sqlite3.Connection, group: Group, user_name: str, now: float) -> None:
    """Idempotent, as in AWS; a user may be in at most GROUPS_PER_USER groups."""
    if conn.execute("SELECT 1 FROM iam_groups WHERE group_id = ?", (group.group_id,)).fetchone() is None:
        raise no_such_group(group.name)
    user = get_user(conn, user_name)
    if user is None:
        raise no_such_user(user_name)
    if conn.execute("SELECT 1 FROM iam_group_members WHERE group_id = ? AND user_id = ?",
                    (group.group_id, user.user_id)).fetchone():
        return
    if conn.execute("SELECT count(*) FROM iam_group_members WHERE user_id = ?",
                    (user.user_id,)).fetchone()[0] >= GROUPS_PER_USER:
        raise quota_exceeded("GroupsPerUser", GROUPS_PER_USER)
    conn.execute("INSERT INTO iam_group_members(group_id, user_id, added) VALUES (?, ?, ?)",
                 (group.group_id, user.user_id, now))


def remove_member_job(conn: sqlite3.Connection, group: Group, user_name: str) -> None:
    if conn.execute("SELECT 1 FROM iam_groups WHERE group_id = ?", (group.group_id,)).fetchone() is None:
        raise no_such_group(group.name)
    user = get_user(conn, user_name)
    if user is None:
        raise no_such_user(user_name)
    cursor = conn.execute("DELETE FROM iam_group_members WHERE group_id = ? AND user_id = ?",
                          (group.group_id, user.user_id))
    if cursor.rowcount == 0:
        raise no_such_user(user_name)  # not a member: AWS answers NoSuchEntity as well


# -- account summary -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    users: int
    groups: int
    policies: int
    attachments: int
    root_keys: int


def counts(conn: sqlite3.Connection) -> Counts:
    def one(sql: str, *args: str) -> int:
        return int(conn.execute(sql, args).fetchone()[0])

    return Counts(
        users=one("SELECT count(*) FROM iam_users"),
        groups=one("SELECT count(*) FROM iam_groups"),
        policies=one("SELECT count(*) FROM iam_policies"),
        attachments=one("SELECT count(*) FROM iam_attachments"),
        root_keys=one("SELECT count(*) FROM access_keys WHERE principal = ?", ROOT),
    )


def account_created(conn: sqlite3.Connection) -> float | None:
    """When the account came to be: its oldest root key (the account has no creation row of its own)."""
    row = conn.execute("SELECT min(created) FROM access_keys WHERE principal = ?", (ROOT,)).fetchone()
    return None if row is None or row[0] is None else float(row[0])
