"""SQL for IAM users, groups, memberships and access keys (the tables of storeroom/iam/schema.py and the
``access_keys`` table of storeroom/store/meta.py).

Reads take the read connection (``call.db``); ``*_job`` functions run on the writer thread inside one
transaction (``await call.write(lambda conn: ...)``), so each check-then-write (name uniqueness, quotas, delete
conflicts) is atomic.  They raise :class:`AwsError` with IAM's codes and messages; the transaction of a job
that raises is rolled back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from storeroom.errors import AwsError
from storeroom.policy.managed import AWS_MANAGED
from storeroom.store.sql import Conn

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


async def get_user(conn: Conn, name: str) -> User | None:
    row = await conn.one(f"SELECT {_USER_COLUMNS} FROM iam_users WHERE name = ?", (name,))
    return None if row is None else _user(row)


async def get_user_by_id(conn: Conn, user_id: str) -> User | None:
    row = await conn.one(f"SELECT {_USER_COLUMNS} FROM iam_users WHERE user_id = ?", (user_id,))
    return None if row is None else _user(row)


async def list_users(conn: Conn, path_prefix: str, after: str | None, limit: int) -> list[User]:
    """Users whose path starts with ``path_prefix``, by name (case-insensitively), after the name ``after``."""
    rows = await conn.all(
        f"SELECT {_USER_COLUMNS} FROM iam_users WHERE substr(path, 1, ?) = ? AND name > ? ORDER BY name LIMIT ?",
        (len(path_prefix), path_prefix, after or "", limit),
    )
    return [_user(r) for r in rows]


async def create_user_job(conn: Conn, user: User) -> None:
    if await conn.one("SELECT 1 FROM iam_users WHERE name = ?", (user.name,)):
        raise AwsError("EntityAlreadyExists", f"User with name {user.name} already exists.", 409)
    if await conn.value("SELECT count(*) FROM iam_users") >= USERS_QUOTA:
        raise quota_exceeded("UsersPerAccount", USERS_QUOTA)
    if user.boundary is not None:
        await require_policy(conn, user.boundary, "Scope ARN: {arn} does not exist or is not attachable.")
    await conn.run(
        f"INSERT INTO iam_users({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (user.user_id, user.name, user.path, user.created, _tags_json(user.tags), user.boundary),
    )


async def update_user_job(conn: Conn, user_id: str, old_name: str, new_name: str, new_path: str) -> None:
    if await get_user_by_id(conn, user_id) is None:
        raise no_such_user(old_name)
    clash = await conn.one("SELECT user_id FROM iam_users WHERE name = ?", (new_name,))
    if clash is not None and clash[0] != user_id:
        raise AwsError("EntityAlreadyExists", f"User with name {new_name} already exists.", 409)
    await conn.run("UPDATE iam_users SET name = ?, path = ? WHERE user_id = ?", (new_name, new_path, user_id))


async def delete_user_job(conn: Conn, user_id: str, name: str) -> None:
    """DeleteConflict while anything still hangs off the user (AWS does not cascade)."""
    if await get_user_by_id(conn, user_id) is None:
        raise no_such_user(name)
    if await conn.one("SELECT 1 FROM iam_login_profiles WHERE principal = ?", (user_id,)):
        raise delete_conflict("delete login profile")
    if await conn.one("SELECT 1 FROM access_keys WHERE principal = ?", (user_id,)):
        raise delete_conflict("delete access keys")
    if await conn.one("SELECT 1 FROM iam_mfa_devices WHERE principal = ?", (user_id,)):
        raise delete_conflict("delete MFA device")
    await _check_policies_gone(conn, "user", user_id)
    if await conn.one("SELECT 1 FROM iam_group_members WHERE user_id = ?", (user_id,)):
        raise delete_conflict("remove users from group")
    await conn.run("DELETE FROM iam_users WHERE user_id = ?", (user_id,))


async def _check_policies_gone(conn: Conn, entity_type: str, entity_id: str) -> None:
    if await conn.one("SELECT 1 FROM iam_inline_policies WHERE entity_type = ? AND entity_id = ?",
                      (entity_type, entity_id)):
        raise delete_conflict("delete policies")
    if await conn.one("SELECT 1 FROM iam_attachments WHERE entity_type = ? AND entity_id = ?",
                      (entity_type, entity_id)):
        raise delete_conflict("detach all policies")


async def require_policy(conn: Conn, arn: str, message: str = "Policy {arn} does not exist or is not attachable."
                         ) -> None:
    """NoSuchEntity unless ``arn`` names an AWS managed policy or a customer managed policy of this store.  Asked
    inside the transaction that attaches it: a DeletePolicy committed meanwhile (another worker, another node)
    then makes one of the two fail, never both succeed with a policy attached that no longer exists."""
    if arn in AWS_MANAGED or await conn.one("SELECT 1 FROM iam_policies WHERE arn = ?", (arn,)):
        return
    raise AwsError("NoSuchEntity", message.format(arn=arn), 404)


# -- tags ----------------------------------------------------------------------------------------------------


def _tags_json(tags: Tags) -> str:
    return json.dumps([[k, v] for k, v in tags], separators=(",", ":"))


RESERVED_TAG_MESSAGE = "Tag keys and values beginning with 'aws:' are reserved for AWS use."


def reserved_tag(tags: Iterable[tuple[str, str]]) -> bool:
    """"You cannot create a tag key or value that begins with the text aws:" (any case), in IAM and STS
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html#id_tags_rules)."""
    return any(k[:4].lower() == "aws:" or v[:4].lower() == "aws:" for k, v in tags)


def check_unique_keys(tags: Sequence[tuple[str, str]], *, case_sensitive: bool = False) -> None:
    """IAM user tag keys are case-insensitive: one request may not name a key twice; none may be AWS's.
    ``case_sensitive``: a managed policy's, where ``a`` and ``A`` are two tags (LocalStack's AWS-recorded
    create-with-case-sensitive-tags)."""
    if case_sensitive:
        if len({k for k, _ in tags}) != len(tags):
            raise AwsError("InvalidInput", "Duplicate tag keys found.", 400)
    elif len({k.lower() for k, _ in tags}) != len(tags):
        raise AwsError("InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
                       400)
    if reserved_tag(tags):
        raise AwsError("InvalidInput", RESERVED_TAG_MESSAGE, 400)


def merged_tags(existing: Tags, new: Tags, *, case_sensitive: bool = False) -> Tags:
    """``existing`` with ``new`` applied: a key equal (case-insensitively, but for ``case_sensitive``) replaces
    the old tag in place."""
    def fold(key: str) -> str:
        return key if case_sensitive else key.lower()
    out = list(existing)
    index = {fold(k): i for i, (k, _) in enumerate(out)}
    for key, value in new:
        at = index.get(fold(key))
        if at is None:
            index[fold(key)] = len(out)
            out.append((key, value))
        else:
            out[at] = (key, value)
    return out


def without_tags(existing: Tags, keys: Sequence[str], *, case_sensitive: bool = False) -> Tags:
    if case_sensitive:
        named = set(keys)
        return [(k, v) for k, v in existing if k not in named]
    gone = {k.lower() for k in keys}
    return [(k, v) for k, v in existing if k.lower() not in gone]


async def tag_user_job(conn: Conn, user_id: str, name: str, new: Tags) -> None:
    user = await get_user_by_id(conn, user_id)
    if user is None:
        raise no_such_user(name)
    tags = merged_tags(user.tags, new)
    if len(tags) > TAGS_PER_USER:
        raise quota_exceeded("TagsPerUser", TAGS_PER_USER)
    await conn.run("UPDATE iam_users SET tags = ? WHERE user_id = ?", (_tags_json(tags), user_id))


async def untag_user_job(conn: Conn, user_id: str, name: str, keys: Sequence[str]) -> None:
    user = await get_user_by_id(conn, user_id)
    if user is None:
        raise no_such_user(name)
    await conn.run("UPDATE iam_users SET tags = ? WHERE user_id = ?",
                   (_tags_json(without_tags(user.tags, keys)), user_id))


# -- access keys ---------------------------------------------------------------------------------------------

_KEY_COLUMNS = "access_key_id, principal, status, created, last_used, last_used_service, last_used_region"


async def get_key(conn: Conn, access_key_id: str) -> Key | None:
    row = await conn.one(f"SELECT {_KEY_COLUMNS} FROM access_keys WHERE access_key_id = ?",
                         (access_key_id,))
    return None if row is None else Key(*row)


async def keys_of(conn: Conn, principal: str) -> list[Key]:
    rows = await conn.all(f"SELECT {_KEY_COLUMNS} FROM access_keys WHERE principal = ? "
                          f"ORDER BY created, access_key_id", (principal,))
    return [Key(*r) for r in rows]


async def create_key_job(conn: Conn, principal: str, owner_name: str, access_key_id: str,
                         sealed_secret: bytes, created: float) -> None:
    """Inactive keys count towards the quota, as in AWS."""
    if principal != ROOT and await get_user_by_id(conn, principal) is None:
        raise no_such_user(owner_name)
    count = await conn.value("SELECT count(*) FROM access_keys WHERE principal = ?", (principal,))
    if count >= ACCESS_KEYS_PER_USER:
        raise quota_exceeded("AccessKeysPerUser", ACCESS_KEYS_PER_USER)
    await conn.run("INSERT INTO access_keys(access_key_id, secret, principal, status, created) "
                   "VALUES (?, ?, ?, 'Active', ?)", (access_key_id, sealed_secret, principal, created))


async def update_key_job(conn: Conn, principal: str, access_key_id: str, status: str) -> None:
    changed = await conn.run("UPDATE access_keys SET status = ? WHERE access_key_id = ? AND principal = ?",
                             (status, access_key_id, principal))
    if changed == 0:
        raise no_such_key(access_key_id)


async def delete_key_job(conn: Conn, principal: str, access_key_id: str) -> None:
    changed = await conn.run("DELETE FROM access_keys WHERE access_key_id = ? AND principal = ?",
                             (access_key_id, principal))
    if changed == 0:
        raise no_such_key(access_key_id)


# -- groups --------------------------------------------------------------------------------------------------

_GROUP_COLUMNS = "group_id, name, path, created"


async def get_group(conn: Conn, name: str) -> Group | None:
    row = await conn.one(f"SELECT {_GROUP_COLUMNS} FROM iam_groups WHERE name = ?", (name,))
    return None if row is None else Group(*row)


async def list_groups(conn: Conn, path_prefix: str, after: str | None, limit: int) -> list[Group]:
    rows = await conn.all(
        f"SELECT {_GROUP_COLUMNS} FROM iam_groups WHERE substr(path, 1, ?) = ? AND name > ? ORDER BY name LIMIT ?",
        (len(path_prefix), path_prefix, after or "", limit),
    )
    return [Group(*r) for r in rows]


async def members_of(conn: Conn, group_id: str, after: str | None, limit: int) -> list[User]:
    rows = await conn.all(
        "SELECT u.user_id, u.name, u.path, u.created, u.tags, u.boundary FROM iam_group_members m "
        "JOIN iam_users u ON u.user_id = m.user_id WHERE m.group_id = ? AND u.name > ? ORDER BY u.name LIMIT ?",
        (group_id, after or "", limit),
    )
    return [_user(r) for r in rows]


async def groups_of(conn: Conn, user_id: str, after: str | None, limit: int) -> list[Group]:
    rows = await conn.all(
        "SELECT g.group_id, g.name, g.path, g.created FROM iam_group_members m "
        "JOIN iam_groups g ON g.group_id = m.group_id WHERE m.user_id = ? AND g.name > ? ORDER BY g.name LIMIT ?",
        (user_id, after or "", limit),
    )
    return [Group(*r) for r in rows]


async def create_group_job(conn: Conn, group: Group) -> None:
    if await get_group(conn, group.name) is not None:
        raise AwsError("EntityAlreadyExists", f"Group with name {group.name} already exists.", 409)
    if await conn.value("SELECT count(*) FROM iam_groups") >= GROUPS_QUOTA:
        raise quota_exceeded("GroupsPerAccount", GROUPS_QUOTA)
    await conn.run(f"INSERT INTO iam_groups({_GROUP_COLUMNS}) VALUES (?, ?, ?, ?)",
                   (group.group_id, group.name, group.path, group.created))


async def update_group_job(conn: Conn, group_id: str, old_name: str, new_name: str, new_path: str) -> None:
    if await conn.one("SELECT 1 FROM iam_groups WHERE group_id = ?", (group_id,)) is None:
        raise no_such_group(old_name)
    clash = await get_group(conn, new_name)
    if clash is not None and clash.group_id != group_id:
        raise AwsError("EntityAlreadyExists", f"Group with name {new_name} already exists.", 409)
    await conn.run("UPDATE iam_groups SET name = ?, path = ? WHERE group_id = ?", (new_name, new_path, group_id))


async def delete_group_job(conn: Conn, group_id: str, name: str) -> None:
    if await conn.one("SELECT 1 FROM iam_groups WHERE group_id = ?", (group_id,)) is None:
        raise no_such_group(name)
    if await conn.one("SELECT 1 FROM iam_group_members WHERE group_id = ?", (group_id,)):
        raise delete_conflict("remove users from group")
    await _check_policies_gone(conn, "group", group_id)
    await conn.run("DELETE FROM iam_groups WHERE group_id = ?", (group_id,))


async def add_member_job(conn: Conn, group: Group, user_name: str, now: float) -> None:
    """Idempotent, as in AWS; a user may be in at most GROUPS_PER_USER groups."""
    if await conn.one("SELECT 1 FROM iam_groups WHERE group_id = ?", (group.group_id,)) is None:
        raise no_such_group(group.name)
    user = await get_user(conn, user_name)
    if user is None:
        raise no_such_user(user_name)
    if await conn.one("SELECT 1 FROM iam_group_members WHERE group_id = ? AND user_id = ?",
                      (group.group_id, user.user_id)):
        return
    if await conn.value("SELECT count(*) FROM iam_group_members WHERE user_id = ?",
                        (user.user_id,)) >= GROUPS_PER_USER:
        raise quota_exceeded("GroupsPerUser", GROUPS_PER_USER)
    await conn.run("INSERT INTO iam_group_members(group_id, user_id, added) VALUES (?, ?, ?)",
                   (group.group_id, user.user_id, now))


async def remove_member_job(conn: Conn, group: Group, user_name: str) -> None:
    if await conn.one("SELECT 1 FROM iam_groups WHERE group_id = ?", (group.group_id,)) is None:
        raise no_such_group(group.name)
    user = await get_user(conn, user_name)
    if user is None:
        raise no_such_user(user_name)
    # not a member (any more): a success, as IAM answers it (LocalStack's AWS-recorded
    # remove-nonmember-user-from-group: "does NOT raise an error in AWS")
    await conn.run("DELETE FROM iam_group_members WHERE group_id = ? AND user_id = ?", (group.group_id, user.user_id))


# -- account summary -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    users: int
    groups: int
    policies: int
    attachments: int
    root_keys: int


async def counts(conn: Conn) -> Counts:
    async def one(sql: str, *args: str) -> int:
        return int(await conn.value(sql, args))

    return Counts(
        users=await one("SELECT count(*) FROM iam_users"),
        groups=await one("SELECT count(*) FROM iam_groups"),
        policies=await one("SELECT count(*) FROM iam_policies"),
        attachments=await one("SELECT count(*) FROM iam_attachments"),
        root_keys=await one("SELECT count(*) FROM access_keys WHERE principal = ?", ROOT),
    )


async def account_created(conn: Conn) -> float | None:
    """When the account came to be: its oldest root key (the account has no creation row of its own)."""
    row = await conn.one("SELECT min(created) FROM access_keys WHERE principal = ?", (ROOT,))
    return None if row is None or row[0] is None else float(row[0])
