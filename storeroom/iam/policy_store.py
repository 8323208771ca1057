"""Reading customer managed policies, inline policies, attachments and boundaries (the SQL behind
storeroom/iam/policies.py), and :func:`load_principal_policies`, the loader enforcement uses.

One loader, two callers: :class:`storeroom.authz.Authorizer` calls :func:`load_principal_policies` on a cache
miss (cached per user until the IAM generation moves), and SimulatePrincipalPolicy calls the very same function
and hands the result to the same :func:`storeroom.policy.evaluate`, so the simulator cannot disagree with
enforcement about which policies apply.

Source names follow the simulator's ``SourcePolicyId`` / ``SourcePolicyType``: inline policies are
``user_<user>_<policy>`` / ``group_<group>_<policy>`` of type ``user`` / ``group``; managed policies are named by
their policy name, of type ``aws-managed`` or ``user-managed`` (with the ARN); the boundary is of type
``permissions-boundary``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from storeroom.errors import AwsError
from storeroom.iam.user_store import merged_tags, require_policy, without_tags
from storeroom.policy import Policy, PolicySource, PrincipalPolicies, parse_policy
from storeroom.policy.managed import AWS_MANAGED, ManagedPolicy
from storeroom.store.sql import Conn

# a boundary whose policy vanished from the catalog must not widen access: it then allows nothing
_DENY_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}'


@dataclass(frozen=True, slots=True)
class Entity:
    """An IAM user or group, as the policy handlers need it."""

    kind: str           # "user" | "group" | "role"
    entity_id: str
    name: str
    path: str
    arn: str
    boundary: str | None = None     # a user's or role's permissions boundary ARN


@dataclass(frozen=True, slots=True)
class ManagedInfo:
    """A managed policy, customer (row of iam_policies) or AWS (entry of the AWS_MANAGED catalog)."""

    arn: str
    name: str
    path: str
    policy_id: str
    default_version: str
    description: str
    created: float
    updated: float
    tags: tuple[tuple[str, str], ...]
    aws_managed: bool
    document: str                   # the default version's text


@dataclass(frozen=True, slots=True)
class Version:
    version_id: str
    document: str
    created: float


# -- the AWS managed catalog ----------------------------------------------------------------------------------


def aws_catalog() -> Mapping[str, ManagedPolicy]:
    return AWS_MANAGED


def _aws_info(entry: ManagedPolicy) -> ManagedInfo:
    return ManagedInfo(entry.arn, entry.name, entry.path, entry.policy_id, entry.default_version_id,
                       entry.description, entry.create_date, entry.update_date, (), True, entry.document)


@functools.lru_cache(maxsize=4096)
def compile_policy(text: str, kind: str) -> Policy:
    """Stored documents were validated when written; policies are immutable, so one compile per text.
    ``kind``: "identity" for inline policies, "managed" for managed policy versions and boundaries."""
    return parse_policy(text, kind, stored=True)  # rules tightened since (Sid format) must not lock users out


# -- entities ---------------------------------------------------------------------------------------------------


def _arn(account_id: str, kind: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:{kind}{path}{name}"


async def find_user(conn: Conn, account_id: str, name: str) -> Entity | None:
    row = await conn.one("SELECT user_id, name, path, boundary FROM iam_users WHERE name = ?", (name,))
    return None if row is None else Entity("user", row[0], row[1], row[2], _arn(account_id, "user", row[2], row[1]),
                                           row[3])


async def find_group(conn: Conn, account_id: str, name: str) -> Entity | None:
    row = await conn.one("SELECT group_id, name, path FROM iam_groups WHERE name = ?", (name,))
    return None if row is None else Entity("group", row[0], row[1], row[2],
                                           _arn(account_id, "group", row[2], row[1]))


async def find_role(conn: Conn, account_id: str, name: str) -> Entity | None:
    row = await conn.one("SELECT role_id, name, path, boundary FROM iam_roles WHERE name = ?", (name,))
    return None if row is None else Entity("role", row[0], row[1], row[2], _arn(account_id, "role", row[2], row[1]),
                                           row[3])


_TABLES = {"user": ("iam_users", "user_id"), "group": ("iam_groups", "group_id"), "role": ("iam_roles", "role_id")}


async def entity_exists(conn: Conn, kind: str, entity_id: str) -> bool:
    table, column = _TABLES[kind]
    return await conn.one(f"SELECT 1 FROM {table} WHERE {column} = ?", (entity_id,)) is not None


# -- managed policies -------------------------------------------------------------------------------------------

_POLICY_COLUMNS = ("p.arn, p.name, p.path, p.policy_id, p.default_version, p.description, p.created, p.updated, "
                   "p.tags, v.document")
_POLICY_FROM = ("iam_policies p JOIN iam_policy_versions v "
                "ON v.policy_id = p.policy_id AND v.version_id = p.default_version")


def _customer_info(row: tuple[Any, ...]) -> ManagedInfo:
    tags = tuple((k, v) for k, v in json.loads(row[8]))
    return ManagedInfo(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], tags, False, row[9])


async def find_policy(conn: Conn, arn: str) -> ManagedInfo | None:
    """A customer managed policy of this account or an AWS managed policy, by ARN."""
    entry = aws_catalog().get(arn)
    if entry is not None:
        return _aws_info(entry)
    row = await conn.one(f"SELECT {_POLICY_COLUMNS} FROM {_POLICY_FROM} WHERE p.arn = ?", (arn,))
    return None if row is None else _customer_info(row)


async def customer_policies(conn: Conn) -> list[ManagedInfo]:
    return [_customer_info(r) for r in await conn.all(f"SELECT {_POLICY_COLUMNS} FROM {_POLICY_FROM}")]


def aws_policies() -> list[ManagedInfo]:
    return [_aws_info(e) for e in aws_catalog().values()]


async def policy_versions(conn: Conn, policy: ManagedInfo) -> list[Version]:
    """Newest first, as ListPolicyVersions answers (AWS managed policies: their default version only)."""
    if policy.aws_managed:
        return [Version(policy.default_version, policy.document, policy.created)]
    rows = await conn.all("SELECT version_id, document, created FROM iam_policy_versions WHERE policy_id = ?",
                          (policy.policy_id,))
    return sorted((Version(*r) for r in rows), key=lambda v: -version_number(v.version_id))


def version_number(version_id: str) -> int:
    return int(version_id[1:].split(".")[0])


async def usage_counts(conn: Conn) -> tuple[dict[str, int], dict[str, int]]:
    """(attachments per policy ARN, permissions-boundary uses per policy ARN)."""
    attached: dict[str, int] = dict(await conn.all(
        "SELECT policy_arn, count(*) FROM iam_attachments GROUP BY policy_arn"))
    boundaries: dict[str, int] = {}
    for table in ("iam_users", "iam_roles"):
        for arn, count in await conn.all(
                f"SELECT boundary, count(*) FROM {table} WHERE boundary IS NOT NULL GROUP BY boundary"):
            boundaries[arn] = boundaries.get(arn, 0) + int(count)
    return attached, boundaries


async def policy_in_use(conn: Conn, arn: str) -> bool:
    return (await conn.one("SELECT 1 FROM iam_attachments WHERE policy_arn = ? LIMIT 1", (arn,)) is not None
            or await conn.one("SELECT 1 FROM iam_users WHERE boundary = ? LIMIT 1", (arn,)) is not None
            or await conn.one("SELECT 1 FROM iam_roles WHERE boundary = ? LIMIT 1", (arn,)) is not None)


# -- attachments and inline policies ----------------------------------------------------------------------------


async def attached_arns(conn: Conn, kind: str, entity_id: str) -> list[str]:
    rows = await conn.all("SELECT policy_arn FROM iam_attachments WHERE entity_type = ? AND entity_id = ?",
                          (kind, entity_id))
    return [r[0] for r in rows]


async def inline_policies(conn: Conn, kind: str, entity_id: str) -> list[tuple[str, str]]:
    """(name, document) of the entity's inline policies, by name."""
    rows = await conn.all("SELECT name, document FROM iam_inline_policies WHERE entity_type = ? AND entity_id = ? "
                          "ORDER BY name", (kind, entity_id))
    return [(r[0], r[1]) for r in rows]


async def entities_for_policy(conn: Conn, account_id: str, arn: str, attached: bool,
                              boundary: bool) -> list[Entity]:
    """Users, groups and roles the policy is attached to (``attached``) or that use it as boundary
    (``boundary``)."""
    found: dict[str, Entity] = {}
    if attached:
        for kind, (table, column) in _TABLES.items():
            rows = await conn.all(f"SELECT e.{column}, e.name, e.path FROM iam_attachments a JOIN {table} e "
                                  f"ON e.{column} = a.entity_id WHERE a.policy_arn = ? AND a.entity_type = ?",
                                  (arn, kind))
            for r in rows:
                found[r[0]] = Entity(kind, r[0], r[1], r[2], _arn(account_id, kind, r[2], r[1]))
    if boundary:
        for r in await conn.all("SELECT user_id, name, path FROM iam_users WHERE boundary = ?", (arn,)):
            found[r[0]] = Entity("user", r[0], r[1], r[2], _arn(account_id, "user", r[2], r[1]))
        for r in await conn.all("SELECT role_id, name, path FROM iam_roles WHERE boundary = ?", (arn,)):
            found[r[0]] = Entity("role", r[0], r[1], r[2], _arn(account_id, "role", r[2], r[1]))
    return list(found.values())


# -- whole-account reads (GetAccountAuthorizationDetails) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserRow:
    user_id: str
    name: str
    path: str
    created: float
    tags: tuple[tuple[str, str], ...]
    boundary: str | None


@dataclass(frozen=True, slots=True)
class GroupRow:
    group_id: str
    name: str
    path: str
    created: float


async def all_users(conn: Conn) -> list[UserRow]:
    rows = await conn.all("SELECT user_id, name, path, created, tags, boundary FROM iam_users")
    return [UserRow(r[0], r[1], r[2], r[3], tuple((k, v) for k, v in json.loads(r[4])), r[5]) for r in rows]


async def all_groups(conn: Conn) -> list[GroupRow]:
    return [GroupRow(*r) for r in await conn.all("SELECT group_id, name, path, created FROM iam_groups")]


async def all_memberships(conn: Conn) -> list[tuple[str, str]]:
    """(user_id, group name) pairs, by group name."""
    rows = await conn.all("SELECT m.user_id, g.name FROM iam_group_members m JOIN iam_groups g "
                          "ON g.group_id = m.group_id ORDER BY g.name")
    return [(r[0], r[1]) for r in rows]


async def all_inline(conn: Conn) -> list[tuple[str, str, str, str]]:
    """(entity_type, entity_id, name, document), by name."""
    rows = await conn.all("SELECT entity_type, entity_id, name, document FROM iam_inline_policies ORDER BY name")
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def all_attachments(conn: Conn) -> list[tuple[str, str, str]]:
    """(entity_type, entity_id, policy_arn)."""
    rows = await conn.all("SELECT entity_type, entity_id, policy_arn FROM iam_attachments ORDER BY policy_arn")
    return [(r[0], r[1], r[2]) for r in rows]


# -- compiled policies for evaluation ---------------------------------------------------------------------------


async def _sources(conn: Conn, entities: list[tuple[str, str, str]]) -> tuple[PolicySource, ...]:
    """Inline then attached policies of each (kind, id, name) entity, in that order; a managed policy attached
    twice (to the user and to one of its groups) counts once."""
    ids = [e[1] for e in entities]
    marks = ",".join("?" * len(ids))
    inline: dict[str, list[tuple[str, str]]] = {}
    for entity_id, name, document in await conn.all(
            f"SELECT entity_id, name, document FROM iam_inline_policies WHERE entity_type IN ('user', 'group', 'role') "
            f"AND entity_id IN ({marks}) ORDER BY name", ids):
        inline.setdefault(entity_id, []).append((name, document))
    attached: dict[str, list[tuple[str, str | None, str | None]]] = {}
    for entity_id, arn, name, document in await conn.all(
            f"SELECT a.entity_id, a.policy_arn, p.name, v.document FROM iam_attachments a "
            f"LEFT JOIN iam_policies p ON p.arn = a.policy_arn "
            f"LEFT JOIN iam_policy_versions v ON v.policy_id = p.policy_id AND v.version_id = p.default_version "
            f"WHERE a.entity_type IN ('user', 'group', 'role') AND a.entity_id IN ({marks}) ORDER BY a.policy_arn",
            ids):
        attached.setdefault(entity_id, []).append((arn, name, document))
    out: list[PolicySource] = []
    seen: set[str] = set()
    for kind, entity_id, entity_name in entities:
        for name, document in inline.get(entity_id, ()):
            out.append(PolicySource(compile_policy(document, "identity"), f"{kind}_{entity_name}_{name}", kind))
        for arn, name, document in attached.get(entity_id, ()):
            source = _managed_source(arn, name, document)
            if source is not None and arn not in seen:
                seen.add(arn)
                out.append(source)
    return tuple(out)


def _managed_source(arn: str, name: str | None, document: str | None) -> PolicySource | None:
    if document is not None and name is not None:
        return PolicySource(compile_policy(document, "managed"), name, "user-managed", arn)
    entry = aws_catalog().get(arn)
    if entry is None:  # an AWS managed policy the catalog no longer has grants nothing
        return None
    return PolicySource(entry.policy, entry.name, "aws-managed", arn)


async def boundary_source(conn: Conn, arn: str) -> PolicySource:
    entry = aws_catalog().get(arn)
    if entry is not None:
        return PolicySource(entry.policy, entry.name, "permissions-boundary", arn)
    row = await conn.one(f"SELECT p.name, v.document FROM {_POLICY_FROM} WHERE p.arn = ?", (arn,))
    if row is None:
        return PolicySource(compile_policy(_DENY_ALL, "managed"), arn.rpartition("/")[2], "permissions-boundary",
                            arn)
    return PolicySource(compile_policy(row[1], "managed"), row[0], "permissions-boundary", arn)


async def group_policies(conn: Conn, group_id: str, group_name: str) -> PrincipalPolicies:
    """A group's inline and attached policies (what SimulatePrincipalPolicy evaluates for a group ARN)."""
    return PrincipalPolicies(await _sources(conn, [("group", group_id, group_name)]))


async def load_principal_policies(conn: Conn, user_id: str) -> PrincipalPolicies | None:
    """Every policy that applies to the user (inline + attached managed policies of the user and of each of
    its groups, compiled) and its permissions boundary; None if the user does not exist.

    Four indexed queries: the user, its groups, their inline policies, their attachments with the customer
    policies' default versions (plus one for a customer managed boundary)."""
    row = await conn.one("SELECT name, boundary FROM iam_users WHERE user_id = ?", (user_id,))
    if row is None:
        return None
    user_name, boundary_arn = row
    groups = await conn.all("SELECT g.group_id, g.name FROM iam_group_members m JOIN iam_groups g "
                            "ON g.group_id = m.group_id WHERE m.user_id = ? ORDER BY g.name", (user_id,))
    entities = [("user", user_id, user_name), *(("group", gid, gname) for gid, gname in groups)]
    boundary = None if boundary_arn is None else await boundary_source(conn, boundary_arn)
    return PrincipalPolicies(await _sources(conn, entities), boundary)


async def load_role_policies(conn: Conn, role_id: str) -> PrincipalPolicies | None:
    """Every policy of the role (inline + attached, compiled) and its permissions boundary; None if the role does
    not exist.  What a session of the role is allowed before its session policies narrow it."""
    row = await conn.one("SELECT name, boundary FROM iam_roles WHERE role_id = ?", (role_id,))
    if row is None:
        return None
    role_name, boundary_arn = row
    boundary = None if boundary_arn is None else await boundary_source(conn, boundary_arn)
    return PrincipalPolicies(await _sources(conn, [("role", role_id, role_name)]), boundary)


def policy_size(document: str) -> int:
    """IAM's size of a policy: its characters, white space not counted."""
    return sum(1 for c in document if not c.isspace())


def total_size(documents: Iterable[str]) -> int:
    return sum(policy_size(d) for d in documents)


# -- errors ----------------------------------------------------------------------------------------------------


def no_such_entity(message: str) -> AwsError:
    return AwsError("NoSuchEntity", message, 404)


def no_such_entity_of(kind: str, name: str) -> AwsError:
    return no_such_entity(f"The {kind} with name {name} cannot be found.")


def policy_not_found(arn: str) -> AwsError:
    return no_such_entity(f"Policy {arn} was not found.")


def version_not_found(arn: str, version_id: str) -> AwsError:
    return no_such_entity(f"Policy {arn} version {version_id} does not exist or is not attachable.")


def limit_exceeded(message: str) -> AwsError:
    return AwsError("LimitExceeded", message, 409)


def delete_conflict(message: str) -> AwsError:
    return AwsError("DeleteConflict", message, 409)


# -- writes (each a job for ``IamCall.write``: checks and change in one transaction) --------------------------

MAX_VERSIONS = 5


@dataclass(frozen=True, slots=True)
class NewPolicy:
    policy_id: str
    arn: str
    name: str
    path: str
    description: str
    document: str
    created: float
    tags: tuple[tuple[str, str], ...]


async def create_policy(conn: Conn, new: NewPolicy) -> None:
    if await conn.one("SELECT 1 FROM iam_policies WHERE name = ?", (new.name,)) is not None:
        raise AwsError("EntityAlreadyExists", f"A policy called {new.name} already exists. Duplicate names are "
                       f"not allowed.", 409)
    await conn.run("INSERT INTO iam_policies(policy_id, arn, name, path, description, default_version, next_version, "
                   "created, updated, tags) VALUES (?, ?, ?, ?, ?, 'v1', 2, ?, ?, ?)",
                   (new.policy_id, new.arn, new.name, new.path, new.description, new.created, new.created,
                  json.dumps([list(t) for t in new.tags])))
    await conn.run("INSERT INTO iam_policy_versions(policy_id, version_id, document, created) VALUES (?, 'v1', ?, ?)",
                   (new.policy_id, new.document, new.created))


async def _policy_row(conn: Conn, arn: str) -> tuple[str, str, int]:
    """(policy_id, default_version, next_version) of a customer managed policy, or NoSuchEntity."""
    row = await conn.one("SELECT policy_id, default_version, next_version FROM iam_policies WHERE arn = ?",
                         (arn,))
    if row is None:
        raise policy_not_found(arn)
    return row[0], row[1], row[2]


async def create_version(conn: Conn, arn: str, document: str, set_default: bool, now: float) -> str:
    policy_id, _, next_version = await _policy_row(conn, arn)
    count = await conn.value("SELECT count(*) FROM iam_policy_versions WHERE policy_id = ?", (policy_id,))
    if count >= MAX_VERSIONS:
        raise limit_exceeded("A managed policy can have up to 5 versions. Before you create a new version, you must "
                             "delete an existing version.")
    version_id = f"v{next_version}"
    await conn.run("INSERT INTO iam_policy_versions(policy_id, version_id, document, created) VALUES (?, ?, ?, ?)",
                   (policy_id, version_id, document, now))
    # UpdateDate is when the newest version was created
    await conn.run("UPDATE iam_policies SET next_version = next_version + 1, updated = ? WHERE policy_id = ?",
                   (now, policy_id))
    if set_default:
        await conn.run("UPDATE iam_policies SET default_version = ? WHERE policy_id = ?", (version_id, policy_id))
    return version_id


async def _version_exists(conn: Conn, policy_id: str, version_id: str) -> bool:
    return await conn.one("SELECT 1 FROM iam_policy_versions WHERE policy_id = ? AND version_id = ?",
                          (policy_id, version_id)) is not None


async def set_default_version(conn: Conn, arn: str, version_id: str) -> None:
    policy_id, _, _ = await _policy_row(conn, arn)
    if not await _version_exists(conn, policy_id, version_id):
        raise version_not_found(arn, version_id)
    await conn.run("UPDATE iam_policies SET default_version = ? WHERE policy_id = ?", (version_id, policy_id))


async def delete_version(conn: Conn, arn: str, version_id: str) -> None:
    policy_id, default_version, _ = await _policy_row(conn, arn)
    if not await _version_exists(conn, policy_id, version_id):
        raise version_not_found(arn, version_id)
    if version_id == default_version:
        raise delete_conflict("Cannot delete the default version of a policy.")
    await conn.run("DELETE FROM iam_policy_versions WHERE policy_id = ? AND version_id = ?", (policy_id, version_id))


async def delete_policy(conn: Conn, arn: str) -> None:
    policy_id, _, _ = await _policy_row(conn, arn)
    if await policy_in_use(conn, arn):
        raise delete_conflict("Cannot delete a policy attached to entities.")
    if await conn.value("SELECT count(*) FROM iam_policy_versions WHERE policy_id = ?", (policy_id,)) > 1:
        raise delete_conflict("This policy has more than one version. Before you delete a policy, you must delete "
                              "the policy's versions. The default version is deleted with the policy.")
    await conn.run("DELETE FROM iam_policy_versions WHERE policy_id = ?", (policy_id,))
    await conn.run("DELETE FROM iam_policies WHERE policy_id = ?", (policy_id,))


TAGS_PER_POLICY = 50


async def _policy_tags(conn: Conn, arn: str) -> list[tuple[str, str]]:
    row = await conn.one("SELECT tags FROM iam_policies WHERE arn = ?", (arn,))
    if row is None:
        raise policy_not_found(arn)
    return [(k, v) for k, v in json.loads(row[0])]


async def _set_policy_tags(conn: Conn, arn: str, tags: list[tuple[str, str]]) -> None:
    await conn.run("UPDATE iam_policies SET tags = ? WHERE arn = ?", (json.dumps([list(t) for t in tags]), arn))


async def tag_policy(conn: Conn, arn: str, new: list[tuple[str, str]]) -> None:
    """TagUser's rules: keys are case-insensitive, a known key takes the new value, at most 50 tags."""
    tags = merged_tags(await _policy_tags(conn, arn), new, case_sensitive=True)
    if len(tags) > TAGS_PER_POLICY:
        raise limit_exceeded(f"Cannot exceed quota for TagsPerPolicy: {TAGS_PER_POLICY}")
    await _set_policy_tags(conn, arn, tags)


async def untag_policy(conn: Conn, arn: str, keys: list[str]) -> None:
    await _set_policy_tags(conn, arn, without_tags(await _policy_tags(conn, arn), keys, case_sensitive=True))


async def _check_entity(conn: Conn, entity: Entity) -> None:
    """Inside a write: the user or group may have been deleted since the handler looked it up."""
    if not await entity_exists(conn, entity.kind, entity.entity_id):
        raise no_such_entity_of(entity.kind, entity.name)


# AWS's default quotas (IAM and AWS STS quotas): managed policies per user / group, inline bytes per entity
ATTACHED_QUOTA = {"user": ("PoliciesPerUser", 10), "group": ("PoliciesPerGroup", 10), "role": ("PoliciesPerRole", 10)}
INLINE_QUOTA = {"user": 2048, "group": 5120, "role": 10240}


async def attach(conn: Conn, entity: Entity, arn: str, now: float) -> None:
    await _check_entity(conn, entity)
    await require_policy(conn, arn)
    current = await attached_arns(conn, entity.kind, entity.entity_id)
    if arn in current:
        return
    quota, limit = ATTACHED_QUOTA[entity.kind]
    if len(current) >= limit:
        raise limit_exceeded(f"Cannot exceed quota for {quota}: {limit}")
    await conn.run("INSERT INTO iam_attachments(entity_type, entity_id, policy_arn, attached) VALUES (?, ?, ?, ?)",
                   (entity.kind, entity.entity_id, arn, now))


async def detach(conn: Conn, entity: Entity, arn: str) -> None:
    await _check_entity(conn, entity)
    deleted = await conn.run("DELETE FROM iam_attachments WHERE entity_type = ? AND entity_id = ? AND policy_arn = ?",
                             (entity.kind, entity.entity_id, arn))
    if not deleted:
        raise policy_not_found(arn)


async def put_inline(conn: Conn, entity: Entity, name: str, document: str) -> None:
    await _check_entity(conn, entity)
    others = [d for n, d in await inline_policies(conn, entity.kind, entity.entity_id) if n != name]
    limit = INLINE_QUOTA[entity.kind]
    if total_size([*others, document]) > limit:
        raise limit_exceeded(f"Maximum policy size of {limit} bytes exceeded for {entity.kind} {entity.name}")
    await conn.run("INSERT INTO iam_inline_policies(entity_type, entity_id, name, document) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT(entity_type, entity_id, name) DO UPDATE SET document = excluded.document",
                   (entity.kind, entity.entity_id, name, document))


async def delete_inline(conn: Conn, entity: Entity, name: str) -> None:
    await _check_entity(conn, entity)
    deleted = await conn.run("DELETE FROM iam_inline_policies WHERE entity_type = ? AND entity_id = ? AND name = ?",
                             (entity.kind, entity.entity_id, name))
    if not deleted:
        raise no_such_entity(f"The {entity.kind} policy with name {name} cannot be found.")


async def set_boundary(conn: Conn, entity: Entity, arn: str | None) -> None:
    await _check_entity(conn, entity)
    if arn is not None:
        await require_policy(conn, arn, "Scope ARN: {arn} does not exist or is not attachable.")
    table, column = _TABLES[entity.kind]
    await conn.run(f"UPDATE {table} SET boundary = ? WHERE {column} = ?", (arn, entity.entity_id))
