"""IAM roles and instance profiles (handlers for storeroom/iam/api.py; SQL in storeroom/iam/role_store.py).

A role's permissions policies (Put/Get/List/DeleteRolePolicy, Attach/DetachRolePolicy, its boundary) are handled
with the users' and groups' in storeroom/iam/policies.py; STS's use of roles (AssumeRole…) is storeroom/sts/.

Handlers authorize on the resource the Service Authorization Reference names (the role's ARN
``arn:aws:iam::<account>:role<path><name>``, the instance profile's ``…:instance-profile<path><name>``, ``*`` for
account-wide lists) before they reveal whether the target exists.

Trust policies are validated as IAM validates them (storeroom/policy/document.py, kind "trust"), and then against
the account: a principal naming a user or role of this account that does not exist, or an OpenID Connect
provider that is not registered, is refused ("Invalid principal in policy"), because IAM stores principals by
their unique ids and cannot resolve one that does not exist.  Storeroom stores them so too
(storeroom/iam/principal_ids.py): a user or role deleted and made again is not trusted, and the document reads
back with the id where the principal's ARN was once it is gone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from storeroom import container
from storeroom.errors import AwsError
from storeroom.iam import policy_store, principal_ids
from storeroom.iam import role_store as store
from storeroom.iam.api import BOUNDARY_TYPE, Handler, IamCall, new_id
from storeroom.iam.pagination import keyset_page, list_page
from storeroom.iam.policies import check_boundary_arn, encoded
from storeroom.iam.role_store import InstanceProfile, Role
from storeroom.iam.user_store import Tags, check_unique_keys
from storeroom.policy import parse_policy
from storeroom.policy.tags import request_tag_keys, tag_keys

HANDLERS: dict[str, Handler] = {}
Result = dict[str, Any] | None

# "Cannot exceed quota for ACLSizePerRole: 2048": a trust policy's characters, white space not counted
TRUST_POLICY_SIZE = 2048
DEFAULT_MAX_SESSION = 3600


def action(fn: Handler) -> Handler:
    HANDLERS[fn.__name__] = fn
    return fn


# -- shapes ----------------------------------------------------------------------------------------------------


def role_arn(call: IamCall, role: Role) -> str:
    return call.arn("role", role.path, role.name)


# What AWS's answers leave out of a Role (LocalStack's AWS-recorded create-role-response, get-with-role,
# update-role-description-response): CreateRole's role, and an instance profile's roles, have no
# MaxSessionDuration and no Description; UpdateRoleDescription's no MaxSessionDuration and no RoleLastUsed.
_CREATED_LEAVES_OUT = ("MaxSessionDuration", "Description")


def _without(shape: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in shape.items() if k not in names}


def role_shape(call: IamCall, role: Role, *, listing: bool) -> dict[str, Any]:
    """The ``Role`` shape.  ListRoles leaves out tags, the boundary and RoleLastUsed, as AWS does."""
    out: dict[str, Any] = {"Path": role.path, "RoleName": role.name, "RoleId": role.role_id,
                           "Arn": role_arn(call, role), "CreateDate": role.created,
                           "AssumeRolePolicyDocument": encoded(role.trust_policy),
                           "MaxSessionDuration": role.max_session}
    if role.description:
        out["Description"] = role.description
    if listing:
        return out
    if role.boundary is not None:
        out["PermissionsBoundary"] = {"PermissionsBoundaryType": BOUNDARY_TYPE,
                                      "PermissionsBoundaryArn": role.boundary}
    if role.tags:
        out["Tags"] = _tags_out(role.tags)
    used: dict[str, Any] = {}
    if role.last_used is not None:
        used = {"LastUsedDate": role.last_used, "Region": role.last_used_region}
    out["RoleLastUsed"] = used
    return out


def profile_shape(call: IamCall, profile: InstanceProfile, tags: bool = True) -> dict[str, Any]:
    """``tags``: False for ListInstanceProfiles, which "does not return tags" (IAM's listings give a subset)."""
    out: dict[str, Any] = {"Path": profile.path, "InstanceProfileName": profile.name,
                           "InstanceProfileId": profile.profile_id,
                           "Arn": call.arn("instance-profile", profile.path, profile.name),
                           "CreateDate": profile.created,
                           "Roles": [_without(role_shape(call, r, listing=True), *_CREATED_LEAVES_OUT)
                                     for r in profile.roles]}
    if profile.tags and tags:
        out["Tags"] = _tags_out(profile.tags)
    return out


async def shown_roles(call: IamCall, roles: Sequence[Role]) -> list[Role]:
    """``roles`` with their trust policies as they read back: principals stored by id shown by their current
    ARN, or by the bare id once deleted (storeroom/iam/principal_ids.py)."""
    texts = await principal_ids.shown(call.db, call.account_id, [r.trust_policy for r in roles])
    return [r if text is r.trust_policy else replace(r, trust_policy=text)
            for r, text in zip(roles, texts, strict=True)]


async def shown_profiles(call: IamCall, profiles: Sequence[InstanceProfile]) -> list[InstanceProfile]:
    """``profiles`` with their roles' trust policies as they read back (:func:`shown_roles`)."""
    roles = await shown_roles(call, [r for p in profiles for r in p.roles])
    out = []
    for profile in profiles:
        mine, roles = roles[:len(profile.roles)], roles[len(profile.roles):]
        out.append(replace(profile, roles=tuple(mine)) if profile.roles else profile)
    return out


def _tags_out(tags: Tags) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags]


def _tags_param(call: IamCall) -> Tags:
    tags = [(t["Key"], t.get("Value", "")) for t in call.params.get("Tags", [])]
    check_unique_keys(tags)
    return tags


# -- lookups that authorize first -------------------------------------------------------------------------------


async def require_role(call: IamCall, name: str, context: dict[str, Sequence[str]] | None = None) -> Role:
    """Authorize on the role's ARN (with its tags as ``aws:ResourceTag/…``), then NoSuchEntity if absent."""
    role = await store.get_role(call.db, name)
    arn = call.arn("role", "/", name) if role is None else role_arn(call, role)
    resource = {} if role is None else {**tag_keys("aws:resourcetag", role.tags),
                                        **tag_keys("iam:resourcetag", role.tags)}
    await call.require(arn, context={**resource, **(context or {})})
    if role is None:
        raise store.no_such_role(name)
    return role


async def _require_profile(call: IamCall, name: str) -> InstanceProfile:
    profile = await store.get_profile(call.db, name)
    path = "/" if profile is None else profile.path
    await call.require(call.arn("instance-profile", path, name))
    if profile is None:
        raise store.no_such_profile(name)
    return profile


# -- trust policies ---------------------------------------------------------------------------------------------


def _invalid_principal(kind: str, name: str) -> AwsError:
    return AwsError("MalformedPolicyDocument", f"Invalid principal in policy: {json.dumps(kind)}:{json.dumps(name)}",
                    400)


async def validated_trust(call: IamCall, document: str) -> str:
    """IAM's checks of a trust policy: the grammar, its size, and principals that exist.  Returns the document
    to store: this account's users and roles named by unique id (storeroom/iam/principal_ids.py)."""
    policy = parse_policy(document, "trust")
    if policy_store.policy_size(document) > TRUST_POLICY_SIZE:
        raise AwsError("LimitExceeded", f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}", 409)
    for st in policy.statements:
        element = st.raw.get("Principal", st.raw.get("NotPrincipal"))
        if not isinstance(element, dict):
            continue
        for kind, names in element.items():
            for name in [names] if isinstance(names, str) else names:
                if not await _principal_exists(call, kind, name):
                    raise _invalid_principal(kind, name)
    try:
        return await principal_ids.to_ids(call.db, call.account_id, document)
    except principal_ids.UnknownPrincipal as exc:
        raise _invalid_principal("AWS", exc.name) from None


async def _principal_exists(call: IamCall, kind: str, name: str) -> bool:
    """Principals IAM resolves when it stores a trust policy: users, roles and OIDC providers of this account.
    Other accounts, service principals and well-known identity providers are taken as written."""
    prefix = f"arn:aws:iam::{call.account_id}:"
    if kind == "AWS":
        if name == "*" or (name.isdigit() and len(name) == 12):
            return True
        if not name.startswith(("arn:aws:iam::", "arn:aws:sts::")):
            return False
        if not name.startswith(prefix):
            return True
        resource = name[len(prefix):]
        if principal_ids.names_own_entity(call.account_id, name):
            return True  # looked up once, by principal_ids.to_ids, which refuses one that does not exist
        return resource == "root"
    if kind == "Federated" and name.startswith(prefix + "oidc-provider/"):
        return await store.get_provider(call.db, name) is not None
    return True


# -- roles ------------------------------------------------------------------------------------------------------


@action
async def CreateRole(call: IamCall) -> Result:
    p = call.params
    tags = _tags_param(call)
    check_boundary_arn(p.get("PermissionsBoundary"))
    role = Role(new_id("AROA"), p["RoleName"], p.get("Path", "/"), time.time(), p.get("Description", ""),
                int(p.get("MaxSessionDuration", DEFAULT_MAX_SESSION)), p["AssumeRolePolicyDocument"], tags,
                p.get("PermissionsBoundary"))
    arn = role_arn(call, role)
    context: dict[str, Sequence[str]] = {"iam:permissionsboundary": (role.boundary,)} if role.boundary else {}
    await call.require_creation(arn, tags, "iam:TagRole", context)
    stored = replace(role, trust_policy=await validated_trust(call, role.trust_policy))
    await call.write(lambda conn: store.create_role_job(conn, stored))
    return {"Role": _without(role_shape(call, role, listing=False), "RoleLastUsed", *_CREATED_LEAVES_OUT)}


@action
async def GetRole(call: IamCall) -> Result:
    role = await require_role(call, call.params["RoleName"])
    return {"Role": role_shape(call, (await shown_roles(call, [role]))[0], listing=False)}


@action
async def ListRoles(call: IamCall) -> Result:
    prefix = call.params.get("PathPrefix", "/")
    await call.require(call.arn("role", prefix, ""))
    roles, page = await keyset_page(call, lambda after, n: store.list_roles(call.db, prefix, after, n),
                                    lambda r: r.name)
    return {"Roles": [role_shape(call, r, listing=True) for r in await shown_roles(call, roles)], **page}


@action
async def UpdateRole(call: IamCall) -> Result:
    role = await require_role(call, call.params["RoleName"])
    description, max_session = call.params.get("Description"), call.params.get("MaxSessionDuration")
    await call.write(lambda conn: store.update_role_job(conn, role.role_id, role.name, description, max_session))
    return None


@action
async def UpdateRoleDescription(call: IamCall) -> Result:
    role = await require_role(call, call.params["RoleName"])
    description = call.params["Description"]
    await call.write(lambda conn: store.update_role_job(conn, role.role_id, role.name, description, None))
    updated = await store.get_role_by_id(call.db, role.role_id)
    return {"Role": _without(role_shape(call, (await shown_roles(call, [updated or role]))[0], listing=False),
                             "MaxSessionDuration", "RoleLastUsed")}


@action
async def UpdateAssumeRolePolicy(call: IamCall) -> Result:
    role = await require_role(call, call.params["RoleName"])
    document = await validated_trust(call, call.params["PolicyDocument"])
    await call.write(lambda conn: store.update_trust_job(conn, role.role_id, role.name, document))
    return None


@action
async def DeleteRole(call: IamCall) -> Result:
    role = await require_role(call, call.params["RoleName"])
    await call.write(lambda conn: store.delete_role_job(conn, role.role_id, role.name))
    return None


@action
async def TagRole(call: IamCall) -> Result:
    tags = _tags_param(call)
    role = await require_role(call, call.params["RoleName"], request_tag_keys(tags))
    await call.write(lambda conn: store.tag_role_job(conn, role.role_id, role.name, tags))
    return None


@action
async def UntagRole(call: IamCall) -> Result:
    keys: list[str] = call.params["TagKeys"]
    role = await require_role(call, call.params["RoleName"], {"aws:tagkeys": tuple(keys)})
    await call.write(lambda conn: store.untag_role_job(conn, role.role_id, role.name, keys))
    return None


@action
async def ListRoleTags(call: IamCall) -> Result:
    role = await require_role(call, call.params["RoleName"])
    tags, page = list_page(call, role.tags, lambda t: [t[0].lower()])
    return {"Tags": _tags_out(tags), **page}


# -- instance profiles ------------------------------------------------------------------------------------------


@action
async def CreateInstanceProfile(call: IamCall) -> Result:
    p = call.params
    tags = _tags_param(call)
    profile = InstanceProfile(new_id("AIPA"), p["InstanceProfileName"], p.get("Path", "/"), time.time(), tags)
    arn = call.arn("instance-profile", profile.path, profile.name)
    await call.require_creation(arn, tags, "iam:TagInstanceProfile")
    await call.write(lambda conn: store.create_profile_job(conn, profile))
    return {"InstanceProfile": profile_shape(call, profile)}


@action
async def GetInstanceProfile(call: IamCall) -> Result:
    profile = await _require_profile(call, call.params["InstanceProfileName"])
    shape = profile_shape(call, (await shown_profiles(call, [profile]))[0])
    shape.setdefault("Tags", [])  # [] when none, as IAM answers GetInstanceProfile (AWS-recorded, LocalStack)
    return {"InstanceProfile": shape}


@action
async def ListInstanceProfiles(call: IamCall) -> Result:
    prefix = call.params.get("PathPrefix", "/")
    await call.require(call.arn("instance-profile", prefix, ""))
    profiles, page = await keyset_page(call, lambda after, n: store.list_profiles(call.db, prefix, after, n),
                                       lambda i: i.name)
    return {"InstanceProfiles": [profile_shape(call, i, tags=False) for i in await shown_profiles(call, profiles)],
            **page}


@action
async def DeleteInstanceProfile(call: IamCall) -> Result:
    profile = await _require_profile(call, call.params["InstanceProfileName"])
    await call.write(lambda conn: store.delete_profile_job(conn, profile.name))
    return None


async def _require_pass_role(call: IamCall, role: Role) -> None:
    """``iam:PassRole`` on the role: handing a role to whatever holds an instance profile (a machine on AWS, an
    application's token here: storeroom/container.py) is passing it, as AddRoleToInstanceProfile's reference
    says ("The caller of this operation must be granted the PassRole permission on the IAM role")."""
    await call.require(role_arn(call, role), "iam:PassRole", {
        **tag_keys("aws:resourcetag", role.tags), **tag_keys("iam:resourcetag", role.tags),
        "iam:passedtoservice": [container.SERVICE]})


@action
async def AddRoleToInstanceProfile(call: IamCall) -> Result:
    profile = await _require_profile(call, call.params["InstanceProfileName"])
    role_name = call.params["RoleName"]
    role = await store.get_role(call.db, role_name)
    if role is None:
        raise store.no_such_role(role_name)
    await _require_pass_role(call, role)
    await call.write(lambda conn: store.add_role_to_profile_job(conn, profile.name, role_name, role.role_id))
    return None


@action
async def RemoveRoleFromInstanceProfile(call: IamCall) -> Result:
    profile = await _require_profile(call, call.params["InstanceProfileName"])
    role_name = call.params["RoleName"]
    await call.write(lambda conn: store.remove_role_from_profile_job(conn, profile.name, role_name))
    return None


@action
async def ListInstanceProfilesForRole(call: IamCall) -> Result:
    role = await require_role(call, call.params["RoleName"])
    profiles, page = await keyset_page(call, lambda after, n: store.profiles_of_role(call.db, role.role_id, after, n),
                                       lambda i: i.name)
    return {"InstanceProfiles": [profile_shape(call, i) for i in await shown_profiles(call, profiles)], **page}


@action
async def TagInstanceProfile(call: IamCall) -> Result:
    tags = _tags_param(call)
    profile = await _require_profile(call, call.params["InstanceProfileName"])
    judged: tuple[str, ...] = ()
    if store.carries_tokens(tags):
        for role in profile.roles:  # a token tag hands the profile's role to whoever holds the token
            await _require_pass_role(call, role)
        judged = tuple(r.role_id for r in profile.roles)
    await call.write(lambda conn: store.tag_profile_job(conn, profile.name, tags, judged))
    return None


@action
async def UntagInstanceProfile(call: IamCall) -> Result:
    keys: list[str] = call.params["TagKeys"]
    profile = await _require_profile(call, call.params["InstanceProfileName"])
    await call.write(lambda conn: store.untag_profile_job(conn, profile.name, keys))
    return None


@action
async def ListInstanceProfileTags(call: IamCall) -> Result:
    profile = await _require_profile(call, call.params["InstanceProfileName"])
    tags, page = list_page(call, profile.tags, lambda t: [t[0].lower()])
    return {"Tags": _tags_out(tags), **page}
