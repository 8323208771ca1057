"""IAM managed and inline policies, attachments, permissions boundaries, the policy simulator and
GetAccountAuthorizationDetails (handlers for storeroom/iam/api.py; the SQL is in storeroom/iam/policy_store.py).

Every handler authorizes on the resource AWS's Service Authorization Reference names for its action before it
says whether anything exists: the policy ARN for policy actions, the user or group ARN for attachments, inline
policies and boundaries (with ``iam:PolicyARN`` / ``iam:PermissionsBoundary`` in the context), "*" for the
account-wide reads and SimulateCustomPolicy.  Policy documents come back URL-encoded (RFC 3986), as IAM returns
them; botocore decodes them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from storeroom.errors import AwsError
from storeroom.iam import policy_store as store
from storeroom.iam.api import BOUNDARY_TYPE, Handler, IamCall, new_id
from storeroom.iam.pagination import list_page, range_page
from storeroom.iam.policy_store import Entity, ManagedInfo
from storeroom.iam.user_store import check_unique_keys
from storeroom.policy import (
    AuthRequest,
    Evaluation,
    Policy,
    PolicySource,
    PrincipalPolicies,
    context_keys,
    evaluate,
    parse_policy,
)
from storeroom.policy.tags import request_tag_keys

HANDLERS: dict[str, Handler] = {}
T = TypeVar("T")

MANAGED_POLICY_SIZE = 6144
_POLICY_ARN = re.compile(r"arn:aws:iam::(?P<account>\d{12}|aws):policy(?P<path>/(?:[^/]+/)*)(?P<name>[^/]+)")
_ENTITY_ARN = re.compile(r"arn:aws:iam::(?P<account>\d{12}):(?P<kind>user|group|role)(?:/[^/]+)*/(?P<name>[^/]+)")
_USER_ARN = re.compile(r"arn:aws:iam::\d{12}:user(?:/[^/]+)*/[^/]+")


def _action(fn: Handler) -> Handler:
    """Registers ``fn`` under its action name (the function name in CamelCase)."""
    HANDLERS["".join(part.capitalize() for part in fn.__name__.split("_"))] = fn
    return fn


def invalid_input(message: str) -> AwsError:
    return AwsError("InvalidInput", message, 400)


def encoded(document: str) -> str:
    """A policy document as IAM returns it: URL-encoded per RFC 3986."""
    return quote(document, safe="")


def _padded(number: int) -> str:
    return f"{number:012d}"


# -- lookups that authorize first ---------------------------------------------------------------------------------


def check_boundary_arn(arn: str | None) -> None:
    """A permissions boundary that is no policy ARN: IAM's 400 InvalidInput "ARN X is not valid." (LocalStack's
    AWS-recorded put-invalid-boundary-error, create-role-invalid-boundary-error), not a missing policy's 404."""
    if arn is not None and _POLICY_ARN.fullmatch(arn) is None:
        raise invalid_input(f"ARN {arn} is not valid.")


def _policy_arn(arn: str) -> re.Match[str]:
    match = _POLICY_ARN.fullmatch(arn)
    if match is None:
        raise invalid_input(f"ARN {arn} is not valid.")
    return match


async def _policy(call: IamCall, arn: str | None = None) -> ManagedInfo:
    """The managed policy named by ``PolicyArn``, once the caller may act on it."""
    arn = arn or call.params["PolicyArn"]
    await call.require(arn)
    _policy_arn(arn)
    policy = await store.find_policy(call.db, arn)
    if policy is None:
        raise store.policy_not_found(arn)
    return policy


def _missing_as(err: AwsError, message: str) -> AwsError:
    """A missing policy in the words of the operation that looked for it (IAM words it per operation:
    LocalStack's AWS-recorded err-get-version-nonexistent-policy, err-nonexistent-policy)."""
    return store.no_such_entity(message) if err.code == "NoSuchEntity" else err


async def _customer_arn(call: IamCall) -> str:
    """``PolicyArn`` of a policy the account may change (AWS managed policies are read-only)."""
    arn: str = call.params["PolicyArn"]
    await call.require(arn)
    if _policy_arn(arn)["account"] != call.account_id:
        raise store.policy_not_found(arn)
    return arn


_NAME_PARAM = {"user": "UserName", "group": "GroupName", "role": "RoleName"}
_FIND = {"user": store.find_user, "group": store.find_group, "role": store.find_role}


async def _entity(call: IamCall, kind: str, context: dict[str, Sequence[str]] | None = None,
                  boundary_key: bool = False) -> Entity:
    """The user (``UserName``), group (``GroupName``) or role (``RoleName``), once the caller may act on it.
    ``boundary_key``: the action takes ``iam:PermissionsBoundary``, the entity's current boundary
    (Attach/Detach/Put/Delete…Policy)."""
    name: str = call.params[_NAME_PARAM[kind]]
    find = _FIND[kind]
    entity = await find(call.db, call.account_id, name)
    if boundary_key and entity is not None and entity.boundary:
        context = {**(context or {}), "iam:permissionsboundary": (entity.boundary,)}
    await call.require(entity.arn if entity else call.arn(kind, "/", name), context=context)
    if entity is None:
        raise store.no_such_entity_of(kind, name)
    return entity


async def _attachable(call: IamCall, arn: str, message: str) -> ManagedInfo:
    policy = await store.find_policy(call.db, arn) if _POLICY_ARN.fullmatch(arn) else None
    if policy is None:
        raise store.no_such_entity(message.format(arn=arn))
    return policy


def _validated(document: str, kind: str, limit: int | None = None) -> str:
    parse_policy(document, kind)  # MalformedPolicyDocument propagates as IAM words it
    if limit is not None and store.policy_size(document) > limit:
        raise store.limit_exceeded(f"Cannot exceed quota for PolicySize: {limit}")
    return document


# -- managed policies -----------------------------------------------------------------------------------------


def _policy_shape(policy: ManagedInfo, attached: int, boundaries: int, full: bool = True) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "PolicyName": policy.name, "PolicyId": policy.policy_id, "Arn": policy.arn, "Path": policy.path,
        "DefaultVersionId": policy.default_version, "AttachmentCount": attached,
        "PermissionsBoundaryUsageCount": boundaries, "IsAttachable": True,
        "CreateDate": policy.created, "UpdateDate": policy.updated,
    }
    if full:
        if policy.description:
            shape["Description"] = policy.description
        if policy.tags:
            shape["Tags"] = _tags(policy.tags)
    return shape


def _tags(tags: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags]


def _check_tags(tags: list[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    if len(tags) > 50:
        raise store.limit_exceeded("Cannot exceed quota for TagsPerPolicy: 50")
    pairs = tuple((t["Key"], t["Value"]) for t in tags)
    check_unique_keys(pairs, case_sensitive=True)  # IAM's tag rules, but a policy's keys keep their case
    return pairs


@_action
async def create_policy(call: IamCall) -> dict[str, Any]:
    name: str = call.params["PolicyName"]
    path: str = call.params.get("Path", "/")
    arn = f"arn:aws:iam::{call.account_id}:policy{path}{name}"
    tags = _check_tags(call.params.get("Tags", []))
    await call.require_creation(arn, tags, "iam:TagPolicy")
    document = _validated(call.params["PolicyDocument"], "managed", MANAGED_POLICY_SIZE)
    new = store.NewPolicy(new_id("ANPA"), arn, name, path, call.params.get("Description", ""), document,
                          time.time(), tags)
    await call.write(lambda conn: store.create_policy(conn, new))
    policy = ManagedInfo(arn, name, path, new.policy_id, "v1", new.description, new.created, new.created, tags,
                         False, document)
    shape = _policy_shape(policy, 0, 0)
    shape.pop("Description", None)  # CreatePolicy answers none, GetPolicy does (AWS-recorded, LocalStack)
    return {"Policy": shape}


@_action
async def get_policy(call: IamCall) -> dict[str, Any]:
    policy = await _policy(call)
    attached, boundaries = await store.usage_counts(call.db)
    shape = _policy_shape(policy, attached.get(policy.arn, 0), boundaries.get(policy.arn, 0))
    shape.setdefault("Tags", [])  # [] when none, as IAM answers GetPolicy (AWS-recorded, LocalStack)
    return {"Policy": shape}


@_action
async def list_policies(call: IamCall) -> dict[str, Any]:
    prefix = call.params.get("PathPrefix", "/")
    await call.require("*", shown=f"policy path {prefix}")  # AWS's words: "on resource: policy path /"
    scope = call.params.get("Scope", "All")
    policies: list[ManagedInfo] = []
    if scope in ("All", "Local"):
        policies += await store.customer_policies(call.db)
    if scope in ("All", "AWS"):
        policies += store.aws_policies()
    attached, boundaries = await store.usage_counts(call.db)
    policies = [p for p in policies if p.path.startswith(prefix)]
    if call.params.get("OnlyAttached"):
        usage = call.params.get("PolicyUsageFilter")
        policies = [p for p in policies
                    if (usage != "PermissionsBoundary" and attached.get(p.arn))
                    or (usage != "PermissionsPolicy" and boundaries.get(p.arn))]
    policies.sort(key=lambda p: (p.name, p.arn))
    page, extra = list_page(call, policies, lambda p: [p.name, p.arn])
    # listings return a subset of the attributes: no description, no tags
    return {"Policies": [_policy_shape(p, attached.get(p.arn, 0), boundaries.get(p.arn, 0), full=False)
                         for p in page], **extra}


@_action
async def delete_policy(call: IamCall) -> None:
    arn = await _customer_arn(call)
    await call.write(lambda conn: store.delete_policy(conn, arn))
    return None


@_action
async def list_entities_for_policy(call: IamCall) -> dict[str, Any]:
    try:
        policy = await _policy(call)
    except AwsError as err:
        raise _missing_as(err, f"Policy {call.params['PolicyArn']} does not exist or is not attachable.") from None
    usage = call.params.get("PolicyUsageFilter")
    entities = await store.entities_for_policy(call.db, call.account_id, policy.arn, usage != "PermissionsBoundary",
                                               usage != "PermissionsPolicy")
    kind_filter = call.params.get("EntityFilter")
    if kind_filter is not None:
        # The filter picks a kind of entity; none attached to a policy is a policy, so LocalManagedPolicy (and
        # AWSManagedPolicy) list nothing (LocalStack's AWS recording: test_iam_policies.py
        # TestListEntitiesForPolicy::test_list_entities_for_policy -> filter-local-managed-policy).
        entities = [e for e in entities if e.kind == kind_filter.lower()]
    prefix = call.params.get("PathPrefix", "/")
    entities = sorted((e for e in entities if e.path.startswith(prefix)), key=lambda e: (e.kind, e.name.lower()))
    page, extra = list_page(call, entities, lambda e: [e.kind, e.name.lower()])
    return {"PolicyGroups": [{"GroupName": e.name, "GroupId": e.entity_id} for e in page if e.kind == "group"],
            "PolicyUsers": [{"UserName": e.name, "UserId": e.entity_id} for e in page if e.kind == "user"],
            "PolicyRoles": [{"RoleName": e.name, "RoleId": e.entity_id} for e in page if e.kind == "role"],
            **extra}


@_action
async def tag_policy(call: IamCall) -> None:
    arn: str = call.params["PolicyArn"]
    tags = list(_check_tags(call.params["Tags"]))
    await call.require(arn, context=request_tag_keys(tags))
    _policy_arn(arn)
    await call.write(lambda conn: store.tag_policy(conn, arn, tags))
    return None


@_action
async def untag_policy(call: IamCall) -> None:
    arn: str = call.params["PolicyArn"]
    keys: list[str] = call.params["TagKeys"]
    await call.require(arn, context={"aws:tagkeys": tuple(keys)})
    _policy_arn(arn)
    await call.write(lambda conn: store.untag_policy(conn, arn, keys))
    return None


@_action
async def list_policy_tags(call: IamCall) -> dict[str, Any]:
    policy = await _policy(call)
    page, extra = list_page(call, list(policy.tags), lambda t: [t[0].lower()])
    return {"Tags": _tags(page), **extra}


# -- versions ---------------------------------------------------------------------------------------------------


def _version_shape(version: store.Version, default: str, document: bool) -> dict[str, Any]:
    shape: dict[str, Any] = {"VersionId": version.version_id, "IsDefaultVersion": version.version_id == default,
                             "CreateDate": version.created}
    if document:
        shape["Document"] = encoded(version.document)
    return shape


@_action
async def get_policy_version(call: IamCall) -> dict[str, Any]:
    version_id = call.params["VersionId"]
    try:
        policy = await _policy(call)
    except AwsError as err:
        raise _missing_as(err, f"Policy {call.params['PolicyArn']} version {version_id} does not exist or is not "
                          "attachable.") from None
    for version in await store.policy_versions(call.db, policy):
        if version.version_id == version_id:
            return {"PolicyVersion": _version_shape(version, policy.default_version, True)}
    raise store.version_not_found(policy.arn, version_id)


@_action
async def list_policy_versions(call: IamCall) -> dict[str, Any]:
    policy = await _policy(call)
    versions = await store.policy_versions(call.db, policy)
    page, extra = list_page(call, versions, lambda v: [_padded(10**9 - store.version_number(v.version_id))])
    return {"Versions": [_version_shape(v, policy.default_version, False) for v in page], **extra}


@_action
async def create_policy_version(call: IamCall) -> dict[str, Any]:
    arn = await _customer_arn(call)
    document = _validated(call.params["PolicyDocument"], "managed", MANAGED_POLICY_SIZE)
    set_default = bool(call.params.get("SetAsDefault", False))
    now = time.time()
    version_id = await call.write(lambda conn: store.create_version(conn, arn, document, set_default, now))
    return {"PolicyVersion": {"VersionId": version_id, "IsDefaultVersion": set_default, "CreateDate": now}}


@_action
async def set_default_policy_version(call: IamCall) -> None:
    arn, version_id = await _customer_arn(call), call.params["VersionId"]
    try:
        await call.write(lambda conn: store.set_default_version(conn, arn, version_id))
    except AwsError as err:
        if err.message != store.policy_not_found(arn).message:  # the version's own NoSuchEntity keeps its words
            raise
        raise _missing_as(err, f"Policy {arn} version {version_id} does not exist or is not attachable.") from None
    return None


@_action
async def delete_policy_version(call: IamCall) -> None:
    arn, version_id = await _customer_arn(call), call.params["VersionId"]
    await call.write(lambda conn: store.delete_version(conn, arn, version_id))
    return None


# -- attachments ------------------------------------------------------------------------------------------------


async def _attach(call: IamCall, kind: str) -> None:
    arn: str = call.params["PolicyArn"]
    if not arn.startswith("arn:"):  # a policy's name, say: IAM's ValidationError (AWS-recorded, LocalStack)
        raise AwsError("ValidationError", f"ARN {arn} is not valid.", 400)
    entity = await _entity(call, kind, {"iam:policyarn": (arn,)}, boundary_key=True)
    await _attachable(call, arn, "Policy {arn} does not exist or is not attachable.")
    now = time.time()
    await call.write(lambda conn: store.attach(conn, entity, arn, now))


async def _detach(call: IamCall, kind: str) -> None:
    arn: str = call.params["PolicyArn"]
    entity = await _entity(call, kind, {"iam:policyarn": (arn,)}, boundary_key=True)
    await call.write(lambda conn: store.detach(conn, entity, arn))


async def _list_attached(call: IamCall, kind: str) -> dict[str, Any]:
    entity = await _entity(call, kind)
    prefix = call.params.get("PathPrefix", "/")
    rows = []
    for arn in await store.attached_arns(call.db, kind, entity.entity_id):
        match = _POLICY_ARN.fullmatch(arn)
        if match is not None and match["path"].startswith(prefix):
            rows.append((match["name"], arn))
    rows.sort()
    page, extra = list_page(call, rows, lambda r: [r[0], r[1]])
    return {"AttachedPolicies": [{"PolicyName": name, "PolicyArn": arn} for name, arn in page], **extra}


@_action
async def attach_user_policy(call: IamCall) -> None:
    await _attach(call, "user")
    return None


@_action
async def detach_user_policy(call: IamCall) -> None:
    await _detach(call, "user")
    return None


@_action
async def list_attached_user_policies(call: IamCall) -> dict[str, Any]:
    return await _list_attached(call, "user")


@_action
async def attach_group_policy(call: IamCall) -> None:
    await _attach(call, "group")
    return None


@_action
async def detach_group_policy(call: IamCall) -> None:
    await _detach(call, "group")
    return None


@_action
async def list_attached_group_policies(call: IamCall) -> dict[str, Any]:
    return await _list_attached(call, "group")


# -- inline policies --------------------------------------------------------------------------------------------


async def _put_inline(call: IamCall, kind: str) -> None:
    entity = await _entity(call, kind, boundary_key=True)
    name, document = call.params["PolicyName"], _validated(call.params["PolicyDocument"], "identity")
    await call.write(lambda conn: store.put_inline(conn, entity, name, document))


async def _get_inline(call: IamCall, kind: str) -> dict[str, Any]:
    entity = await _entity(call, kind)
    name = call.params["PolicyName"]
    for policy_name, document in await store.inline_policies(call.db, kind, entity.entity_id):
        if policy_name == name:
            return {_NAME_PARAM[kind]: entity.name, "PolicyName": policy_name, "PolicyDocument": encoded(document)}
    raise store.no_such_entity(f"The {kind} policy with name {name} cannot be found.")


async def _list_inline(call: IamCall, kind: str) -> dict[str, Any]:
    entity = await _entity(call, kind)
    names = [name for name, _ in await store.inline_policies(call.db, kind, entity.entity_id)]
    page, extra = list_page(call, names, lambda n: [n])
    return {"PolicyNames": page, **extra}


async def _delete_inline(call: IamCall, kind: str) -> None:
    entity = await _entity(call, kind, boundary_key=True)
    name = call.params["PolicyName"]
    await call.write(lambda conn: store.delete_inline(conn, entity, name))


@_action
async def put_user_policy(call: IamCall) -> None:
    await _put_inline(call, "user")
    return None


@_action
async def get_user_policy(call: IamCall) -> dict[str, Any]:
    return await _get_inline(call, "user")


@_action
async def list_user_policies(call: IamCall) -> dict[str, Any]:
    return await _list_inline(call, "user")


@_action
async def delete_user_policy(call: IamCall) -> None:
    await _delete_inline(call, "user")
    return None


@_action
async def put_group_policy(call: IamCall) -> None:
    await _put_inline(call, "group")
    return None


@_action
async def get_group_policy(call: IamCall) -> dict[str, Any]:
    return await _get_inline(call, "group")


@_action
async def list_group_policies(call: IamCall) -> dict[str, Any]:
    return await _list_inline(call, "group")


@_action
async def delete_group_policy(call: IamCall) -> None:
    await _delete_inline(call, "group")
    return None


# -- permissions boundaries -------------------------------------------------------------------------------------


@_action
async def put_user_permissions_boundary(call: IamCall) -> None:
    arn: str = call.params["PermissionsBoundary"]
    check_boundary_arn(arn)
    user = await _entity(call, "user", {"iam:permissionsboundary": (arn,)})
    await _attachable(call, arn, "Scope ARN: {arn} does not exist or is not attachable.")
    await call.write(lambda conn: store.set_boundary(conn, user, arn))
    return None


@_action
async def delete_user_permissions_boundary(call: IamCall) -> None:
    user = await _entity(call, "user", boundary_key=True)
    await call.write(lambda conn: store.set_boundary(conn, user, None))
    return None


@_action
async def put_role_permissions_boundary(call: IamCall) -> None:
    arn: str = call.params["PermissionsBoundary"]
    check_boundary_arn(arn)
    role = await _entity(call, "role", {"iam:permissionsboundary": (arn,)})
    await _attachable(call, arn, "Scope ARN: {arn} does not exist or is not attachable.")
    await call.write(lambda conn: store.set_boundary(conn, role, arn))
    return None


@_action
async def delete_role_permissions_boundary(call: IamCall) -> None:
    role = await _entity(call, "role", boundary_key=True)
    await call.write(lambda conn: store.set_boundary(conn, role, None))
    return None


# -- role policies (the role's own handlers are in storeroom/iam/roles.py) ------------------------------------


@_action
async def put_role_policy(call: IamCall) -> None:
    await _put_inline(call, "role")
    return None


@_action
async def get_role_policy(call: IamCall) -> dict[str, Any]:
    return await _get_inline(call, "role")


@_action
async def list_role_policies(call: IamCall) -> dict[str, Any]:
    return await _list_inline(call, "role")


@_action
async def delete_role_policy(call: IamCall) -> None:
    await _delete_inline(call, "role")
    return None


@_action
async def attach_role_policy(call: IamCall) -> None:
    await _attach(call, "role")
    return None


@_action
async def detach_role_policy(call: IamCall) -> None:
    await _detach(call, "role")
    return None


@_action
async def list_attached_role_policies(call: IamCall) -> dict[str, Any]:
    return await _list_attached(call, "role")


# -- GetAccountAuthorizationDetails -----------------------------------------------------------------------------

_DETAIL_KINDS = ("User", "Group", "Role", "LocalManagedPolicy", "AWSManagedPolicy")


@_action
async def get_account_authorization_details(call: IamCall) -> dict[str, Any]:
    await call.require("*")
    wanted = set(call.params.get("Filter") or _DETAIL_KINDS)
    entries: list[tuple[list[str], str, dict[str, Any]]] = []  # (sort key, output list, detail)
    if "User" in wanted:
        entries += [([_padded(0), d["UserName"].lower()], "UserDetailList", d) for d in await _user_details(call)]
    if "Group" in wanted:
        entries += [([_padded(1), d["GroupName"].lower()], "GroupDetailList", d) for d in await _group_details(call)]
    if "Role" in wanted:
        entries += [([_padded(2), d["RoleName"].lower()], "RoleDetailList", d) for d in await _role_details(call)]
    entries += [([_padded(3), d["PolicyName"], d["Arn"]], "Policies", d) for d in await _policy_details(call, wanted)]
    entries.sort(key=lambda e: e[0])
    page, extra = list_page(call, entries, lambda e: e[0])
    out: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    for _, target, detail in page:
        out[target].append(detail)
    return {**out, **extra}


def _attached_shape(arns: list[str]) -> list[dict[str, str]]:
    return [{"PolicyName": arn.rpartition("/")[2], "PolicyArn": arn} for arn in arns]


async def _by_entity(call: IamCall) -> tuple[dict[str, list[dict[str, str]]], dict[str, list[str]]]:
    inline: dict[str, list[dict[str, str]]] = {}
    for _, entity_id, name, document in await store.all_inline(call.db):
        inline.setdefault(entity_id, []).append({"PolicyName": name, "PolicyDocument": encoded(document)})
    attached: dict[str, list[str]] = {}
    for _, entity_id, arn in await store.all_attachments(call.db):
        attached.setdefault(entity_id, []).append(arn)
    return inline, attached


async def _user_details(call: IamCall) -> list[dict[str, Any]]:
    inline, attached = await _by_entity(call)
    groups: dict[str, list[str]] = {}
    for user_id, group_name in await store.all_memberships(call.db):
        groups.setdefault(user_id, []).append(group_name)
    details = []
    for user in await store.all_users(call.db):
        detail: dict[str, Any] = {
            "Path": user.path, "UserName": user.name, "UserId": user.user_id,
            "Arn": call.arn("user", user.path, user.name), "CreateDate": user.created,
            "GroupList": groups.get(user.user_id, []),
            "AttachedManagedPolicies": _attached_shape(attached.get(user.user_id, [])),
            "Tags": _tags(user.tags or ()),  # [] when none, and no empty UserPolicyList: AWS's recorded shape
        }
        if inline.get(user.user_id):
            detail["UserPolicyList"] = inline[user.user_id]
        if user.boundary:
            detail["PermissionsBoundary"] = {"PermissionsBoundaryType": BOUNDARY_TYPE,
                                             "PermissionsBoundaryArn": user.boundary}
        details.append(detail)
    return details


async def _group_details(call: IamCall) -> list[dict[str, Any]]:
    inline, attached = await _by_entity(call)
    return [{"Path": g.path, "GroupName": g.name, "GroupId": g.group_id, "Arn": call.arn("group", g.path, g.name),
             "CreateDate": g.created, "GroupPolicyList": inline.get(g.group_id, []),
             "AttachedManagedPolicies": _attached_shape(attached.get(g.group_id, []))}
            for g in await store.all_groups(call.db)]


async def _role_details(call: IamCall) -> list[dict[str, Any]]:
    from storeroom.iam import role_store, roles  # roles.py imports this module

    inline, attached = await _by_entity(call)
    profiles: dict[str, list[dict[str, Any]]] = {}
    listed = await role_store.list_profiles(call.db, "/", None, role_store.INSTANCE_PROFILES_QUOTA)
    for profile in await roles.shown_profiles(call, listed):
        for role in profile.roles:
            profiles.setdefault(role.role_id, []).append(roles.profile_shape(call, profile))
    details = []
    for role in await roles.shown_roles(call, await role_store.all_roles(call.db)):
        detail = roles.role_shape(call, role, listing=False)
        detail.pop("Description", None)
        detail.pop("MaxSessionDuration", None)
        detail.setdefault("Tags", [])  # [] when none, as AWS answers (LocalStack's AWS-recorded no-filter-result)
        detail["InstanceProfileList"] = profiles.get(role.role_id, [])
        detail["RolePolicyList"] = inline.get(role.role_id, [])
        detail["AttachedManagedPolicies"] = _attached_shape(attached.get(role.role_id, []))
        details.append(detail)
    return details


async def _policy_details(call: IamCall, wanted: set[str]) -> list[dict[str, Any]]:
    """Customer managed policies, and the AWS managed policies in use, with every version."""
    attached, boundaries = await store.usage_counts(call.db)
    policies: list[ManagedInfo] = []
    if "LocalManagedPolicy" in wanted:
        policies += await store.customer_policies(call.db)
    if "AWSManagedPolicy" in wanted:
        policies += [p for p in store.aws_policies() if attached.get(p.arn) or boundaries.get(p.arn)]
    details = []
    for policy in policies:
        detail = _policy_shape(policy, attached.get(policy.arn, 0), boundaries.get(policy.arn, 0), full=False)
        if policy.description:
            detail["Description"] = policy.description
        detail["PolicyVersionList"] = [_version_shape(v, policy.default_version, True)
                                       for v in await store.policy_versions(call.db, policy)]
        details.append(detail)
    return details


# -- the policy simulator ---------------------------------------------------------------------------------------


async def _source_policies(call: IamCall) -> tuple[PrincipalPolicies, str | None]:
    """The policies of the user, group or role named by ``PolicySourceArn`` (authorized on it first), and the
    ARN to simulate as: a user's own (a group or a role is no caller: "You can specify only the ARN of an IAM
    user" as CallerArn)."""
    source_arn: str = call.params["PolicySourceArn"]
    await call.require(source_arn)
    match = _ENTITY_ARN.fullmatch(source_arn)
    if match is None or match["account"] != call.account_id:
        raise invalid_input(f"ARN {source_arn} is not valid.")
    kind, name = match["kind"], match["name"]
    entity = await _FIND[kind](call.db, call.account_id, name)
    if entity is None:
        raise store.no_such_entity_of(kind, name)
    loaded = (await store.load_principal_policies(call.db, entity.entity_id) if kind == "user"
              else await store.load_role_policies(call.db, entity.entity_id) if kind == "role"
              else await store.group_policies(call.db, entity.entity_id, entity.name))
    if loaded is None:  # deleted between the two reads
        raise store.no_such_entity_of(kind, name)
    return loaded, (entity.arn if kind == "user" else None)


@_action
async def simulate_principal_policy(call: IamCall) -> dict[str, Any]:
    loaded, user_arn = await _source_policies(call)
    return _simulate(call, loaded, call.params.get("CallerArn") or user_arn)


@_action
async def get_context_keys_for_principal_policy(call: IamCall) -> dict[str, Any]:
    """The condition keys of every policy that applies to the user or group (boundary included), plus those
    of ``PolicyInputList``: what a simulation would want as ContextEntries."""
    loaded, _ = await _source_policies(call)
    policies = [src.policy for src in loaded.identity]
    if loaded.boundary is not None:
        policies.append(loaded.boundary.policy)
    return {"ContextKeyNames": _context_keys(policies + _input_policies(call))}


@_action
async def get_context_keys_for_custom_policy(call: IamCall) -> dict[str, Any]:
    await call.require("*")
    return {"ContextKeyNames": _context_keys(_input_policies(call))}


def _input_policies(call: IamCall) -> list[Policy]:
    return [parse_policy(text, "identity") for text in call.params.get("PolicyInputList", [])]


def _context_keys(policies: list[Policy]) -> list[str]:
    """Each key once (names are case-insensitive), in the order the policies mention them."""
    seen: dict[str, str] = {}
    for policy in policies:
        for key in context_keys(policy):
            seen.setdefault(key.lower(), key)
    return list(seen.values())


@_action
async def simulate_custom_policy(call: IamCall) -> dict[str, Any]:
    await call.require("*")
    return _simulate(call, PrincipalPolicies(()), call.params.get("CallerArn"))


def _simulate(call: IamCall, loaded: PrincipalPolicies, caller: str | None) -> dict[str, Any]:
    """Adds the request's PolicyInputList / PermissionsBoundaryPolicyInputList (which replaces the entity's
    boundary) / ResourcePolicy to the loaded policies, then evaluates every action × resource with the engine
    that enforces requests."""
    params = call.params
    if params.get("CallerArn") and not _USER_ARN.fullmatch(params["CallerArn"]):
        raise invalid_input("CallerArn must be the ARN of an IAM user: you cannot specify the ARN of an assumed "
                            "role, federated user, or a service principal.")
    inputs = tuple(PolicySource(parse_policy(text, "identity"), f"PolicyInputList.{i}", "user")
                   for i, text in enumerate(params.get("PolicyInputList", []), 1))
    boundaries = params.get("PermissionsBoundaryPolicyInputList", [])
    if len(boundaries) > 1:
        raise invalid_input("Only one permissions boundary policy can be specified.")
    boundary = loaded.boundary
    if boundaries:
        boundary = PolicySource(parse_policy(boundaries[0], "managed"), "PermissionsBoundaryPolicyInputList.1",
                                "permissions-boundary")
    principal = PrincipalPolicies(loaded.identity + inputs, boundary)
    resource_policy = None
    if params.get("ResourcePolicy"):
        if caller is None:
            raise invalid_input("CallerArn is required when you include a ResourcePolicy and the PolicySourceArn "
                                "is not the ARN of an IAM user.")
        resource_policy = PolicySource(parse_policy(params["ResourcePolicy"], "resource"), "ResourcePolicy",
                                       "resource")
    owner = _account_of(params.get("ResourceOwner")) or call.account_id
    context = {e["ContextKeyName"].lower(): tuple(e.get("ContextKeyValues", []))
               for e in params.get("ContextEntries", []) if "ContextKeyName" in e}
    actions, resources = params["ActionNames"], params.get("ResourceArns") or ["*"]
    # every action × every resource, in that order; only the page asked for is evaluated
    page, extra = range_page(call, len(actions) * len(resources))
    results = []
    for i in page:
        request = AuthRequest(actions[i // len(resources)], resources[i % len(resources)], "IAMUser",
                              caller or f"arn:aws:iam::{call.account_id}:root", call.account_id, context)
        evaluation = evaluate(request, principal, resource_policy, owner)
        results.append(_result(request, evaluation, principal.boundary, owner))
    return {"EvaluationResults": results, **extra}


def _account_of(owner: str | None) -> str | None:
    """ResourceOwner: an account id or an ARN naming one."""
    if not owner:
        return None
    parts = owner.split(":")
    return parts[4] if len(parts) > 4 else owner


# What IAM's simulator calls an identity-based policy's source, managed or inline or given in PolicyInputList
# (LocalStack's AWS recording, test_simulate_principle_policy, and the answers users quote: "IAM Policy")
_IDENTITY_SOURCE = "IAM Policy"
_OTHER_SOURCES = ("resource", "permissions-boundary")


def _result(request: AuthRequest, evaluation: Evaluation, boundary: PolicySource | None,
            owner: str) -> dict[str, Any]:
    """One EvaluationResult, shaped as AWS's (recorded: EvalDecisionDetails, OrganizationsDecisionDetail -- no
    organization here, so allowed -- and the resource's own result in ResourceSpecificResults)."""
    # a statement starts at the column just past its "{" (the recording: the 40th character is named 41; another
    # answer of 2021 says 41 alike) and ends just past its "}"
    matched = [
        {"SourcePolicyId": m.source_id,
         "SourcePolicyType": m.source_type if m.source_type in _OTHER_SOURCES else _IDENTITY_SOURCE,
         "StartPosition": {"Line": m.start[0], "Column": m.start[1] + 1},
         "EndPosition": {"Line": m.end[0], "Column": m.end[1]}}
        for m in evaluation.matched]
    missing = list(evaluation.missing_context)
    result: dict[str, Any] = {
        "EvalActionName": request.action, "EvalResourceName": request.resource, "EvalDecision": evaluation.decision,
        "MatchedStatements": matched, "MissingContextValues": missing, "EvalDecisionDetails": {},
        "OrganizationsDecisionDetail": {"AllowedByOrganizations": True},
        "ResourceSpecificResults": [{"EvalResourceName": request.resource, "EvalResourceDecision": evaluation.decision,
                                     "MatchedStatements": matched, "MissingContextValues": missing}],
    }
    if boundary is not None:
        # the boundary on its own: does it allow what was asked?
        alone = evaluate(request, PrincipalPolicies((boundary,)), None, owner)
        result["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": alone.allowed}
    return result
