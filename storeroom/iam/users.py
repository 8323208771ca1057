"""IAM users, access keys, groups and the account summary (handlers for storeroom/iam/api.py).

Each handler looks the target up, authorizes against the resource AWS's Service Authorization Reference names
for the action (the user's or group's ARN; ``*`` for account-wide lists) and only then reveals whether the
target exists.  A name that is not found is authorized as ``<kind>/<name>`` at path ``/``.  SQL lives in
:mod:`storeroom.iam.user_store`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, TypeVar

from storeroom.errors import AwsError
from storeroom.iam import login_store, role_store
from storeroom.iam import user_store as store
from storeroom.iam.api import BOUNDARY_TYPE, Handler, IamCall, new_id
from storeroom.iam.pagination import keyset_page, list_page
from storeroom.iam.policies import check_boundary_arn
from storeroom.iam.user_store import Group, Key, Tags, User
from storeroom.identity import new_access_key_id, new_secret_access_key
from storeroom.policy.tags import request_tag_keys, tag_keys

HANDLERS: dict[str, Handler] = {}
T = TypeVar("T")
Result = dict[str, Any] | None


def action(fn: Handler) -> Handler:
    """Registers ``async def CreateUser(call)`` as the handler of its action."""
    HANDLERS[fn.__name__] = fn
    return fn


# -- shared pieces -------------------------------------------------------------------------------------------


def _root_arn(call: IamCall) -> str:
    return f"arn:aws:iam::{call.account_id}:root"


def _user_arn(call: IamCall, user: User) -> str:
    return call.arn("user", user.path, user.name)


def _group_arn(call: IamCall, group: Group) -> str:
    return call.arn("group", group.path, group.name)


def _resource_context(user: User | None) -> dict[str, Sequence[str]]:
    if user is None:
        return {}
    return {**tag_keys("aws:resourcetag", user.tags), **tag_keys("iam:resourcetag", user.tags)}


async def _require_user(call: IamCall, name: str, context: dict[str, Sequence[str]] | None = None) -> User:
    """Authorize on the user's ARN, then NoSuchEntity if there is no such user."""
    user = await store.get_user(call.db, name)
    arn = call.arn("user", "/", name) if user is None else _user_arn(call, user)
    await call.require(arn, context={**_resource_context(user), **(context or {})})
    if user is None:
        raise store.no_such_user(name)
    return user


async def _require_group(call: IamCall, name: str) -> Group:
    group = await store.get_group(call.db, name)
    await call.require(call.arn("group", "/", name) if group is None else _group_arn(call, group))
    if group is None:
        raise store.no_such_group(name)
    return group


def _tags_param(call: IamCall) -> Tags:
    tags = [(t["Key"], t.get("Value", "")) for t in call.params.get("Tags", [])]
    store.check_unique_keys(tags)
    return tags


async def _user_out(call: IamCall, user: User, *, full: bool = False) -> dict[str, Any]:
    """The ``User`` shape; ListUsers and GetGroup leave out tags and boundary, as AWS does."""
    out: dict[str, Any] = {"Path": user.path, "UserName": user.name, "UserId": user.user_id,
                           "Arn": _user_arn(call, user), "CreateDate": user.created}
    used = await _password_last_used(call, user.user_id)
    if used is not None:
        out["PasswordLastUsed"] = used
    if full and user.boundary is not None:
        out["PermissionsBoundary"] = {"PermissionsBoundaryType": BOUNDARY_TYPE,
                                      "PermissionsBoundaryArn": user.boundary}
    if full and user.tags:
        out["Tags"] = [{"Key": k, "Value": v} for k, v in user.tags]
    return out


async def _password_last_used(call: IamCall, principal: str) -> float | None:
    """When the user (or root) last signed in with a password; absent if never (as AWS leaves it out)."""
    profile = await login_store.get_login_profile(call.db, principal)
    return None if profile is None else profile.last_used


def _group_out(call: IamCall, group: Group) -> dict[str, Any]:
    return {"Path": group.path, "GroupName": group.name, "GroupId": group.group_id,
            "Arn": _group_arn(call, group), "CreateDate": group.created}


# -- users ---------------------------------------------------------------------------------------------------


@action
async def CreateUser(call: IamCall) -> Result:
    p = call.params
    tags = _tags_param(call)
    check_boundary_arn(p.get("PermissionsBoundary"))
    user = User(new_id("AIDA"), p["UserName"], p.get("Path", "/"), time.time(), tags, p.get("PermissionsBoundary"))
    arn = _user_arn(call, user)
    context = {"iam:permissionsboundary": (user.boundary,)} if user.boundary else {}
    await call.require_creation(arn, tags, "iam:TagUser", context)
    await call.write(lambda conn: store.create_user_job(conn, user))
    return {"User": await _user_out(call, user, full=True)}


@action
async def GetUser(call: IamCall) -> Result:
    name = call.params.get("UserName")
    if name is None:
        return await _get_caller(call)
    return {"User": await _user_out(call, await _require_user(call, name), full=True)}


async def _get_caller(call: IamCall) -> Result:
    """GetUser without a name: the caller.  For root AWS answers the account id, the root ARN and the
    account's creation date, without Path or UserName."""
    caller = call.caller
    if caller.is_root:
        await call.require(_root_arn(call))
        root: dict[str, Any] = {"UserId": call.account_id, "Arn": _root_arn(call),
                                "CreateDate": await store.account_created(call.db)}
        used = await _password_last_used(call, store.ROOT)
        if used is not None:
            root["PasswordLastUsed"] = used
        return {"User": root}
    call.user_caller()
    await call.require(caller.arn)
    user = await store.get_user_by_id(call.db, caller.principal_id)
    if user is None:
        raise store.no_such_user(caller.user_name or caller.principal_id)
    return {"User": await _user_out(call, user, full=True)}


@action
async def ListUsers(call: IamCall) -> Result:
    """Authorized on ``user<PathPrefix>`` (``arn:aws:iam::<account>:user/``), the resource AWS names."""
    prefix = call.params.get("PathPrefix", "/")
    await call.require(call.arn("user", prefix, ""))
    users, page = await keyset_page(call, lambda after, n: store.list_users(call.db, prefix, after, n),
                                    lambda u: u.name)
    return {"Users": [await _user_out(call, u) for u in users], **page}


@action
async def UpdateUser(call: IamCall) -> Result:
    """Renaming needs permission on the user under its old and its new name (AWS checks both)."""
    p = call.params
    user = await _require_user(call, p["UserName"])
    new_name, new_path = p.get("NewUserName", user.name), p.get("NewPath", user.path)
    if (new_name, new_path) != (user.name, user.path):
        await call.require(call.arn("user", new_path, new_name))
    await call.write(lambda conn: store.update_user_job(conn, user.user_id, user.name, new_name, new_path))
    return None


@action
async def DeleteUser(call: IamCall) -> Result:
    user = await _require_user(call, call.params["UserName"])
    await call.write(lambda conn: store.delete_user_job(conn, user.user_id, user.name))
    return None


@action
async def TagUser(call: IamCall) -> Result:
    tags = _tags_param(call)
    user = await _require_user(call, call.params["UserName"], request_tag_keys(tags))
    await call.write(lambda conn: store.tag_user_job(conn, user.user_id, user.name, tags))
    return None


@action
async def UntagUser(call: IamCall) -> Result:
    keys: list[str] = call.params["TagKeys"]
    user = await _require_user(call, call.params["UserName"], {"aws:tagkeys": tuple(keys)})
    await call.write(lambda conn: store.untag_user_job(conn, user.user_id, user.name, keys))
    return None


@action
async def ListUserTags(call: IamCall) -> Result:
    user = await _require_user(call, call.params["UserName"])
    tags, page = list_page(call, user.tags, lambda t: [t[0].lower()])
    return {"Tags": [{"Key": k, "Value": v} for k, v in tags], **page}


# -- access keys ---------------------------------------------------------------------------------------------


async def _key_owner(call: IamCall) -> tuple[str, str | None]:
    """(access_keys.principal, user name) of the keys an action is about: ``UserName``, or else the caller
    (root without ``UserName`` manages the root keys).  Authorizes on the owner's ARN."""
    name = call.params.get("UserName")
    if name is not None:
        return (await _require_user(call, name)).user_id, name
    caller = call.caller
    if caller.is_root:
        await call.require(_root_arn(call))
        return store.ROOT, None
    call.user_caller()
    await call.require(caller.arn)
    user = await store.get_user_by_id(call.db, caller.principal_id)
    if user is None:
        raise store.no_such_user(caller.user_name or caller.principal_id)
    return user.user_id, user.name


def _key_out(key: Key, user_name: str | None) -> dict[str, Any]:
    """AccessKeyMetadata; root keys have no user name."""
    return {"UserName": user_name, "AccessKeyId": key.access_key_id, "Status": key.status,
            "CreateDate": key.created}


@action
async def CreateAccessKey(call: IamCall) -> Result:
    """The secret is returned here and never again (it is stored sealed)."""
    principal, user_name = await _key_owner(call)
    key_id, secret, now = new_access_key_id(), new_secret_access_key(), time.time()
    sealed = call.iam.box.seal(secret, key_id)
    await call.write(lambda conn: store.create_key_job(conn, principal, user_name or "", key_id, sealed, now))
    return {"AccessKey": {"UserName": user_name, "AccessKeyId": key_id, "Status": "Active",
                          "SecretAccessKey": secret, "CreateDate": now}}


@action
async def ListAccessKeys(call: IamCall) -> Result:
    principal, user_name = await _key_owner(call)
    keys, page = list_page(call, await store.keys_of(call.db, principal), lambda k: [k.access_key_id])
    return {"AccessKeyMetadata": [_key_out(k, user_name) for k in keys], **page}


@action
async def UpdateAccessKey(call: IamCall) -> Result:
    principal, _ = await _key_owner(call)
    key_id, status = call.params["AccessKeyId"], call.params["Status"]
    await call.write(lambda conn: store.update_key_job(conn, principal, key_id, status))
    return None


@action
async def DeleteAccessKey(call: IamCall) -> Result:
    principal, _ = await _key_owner(call)
    key_id = call.params["AccessKeyId"]
    await call.write(lambda conn: store.delete_key_job(conn, principal, key_id))
    return None


@action
async def GetAccessKeyLastUsed(call: IamCall) -> Result:
    """Authorized on the key owner's ARN; an unknown key on ``user/*`` (no owner to name)."""
    key_id = call.params["AccessKeyId"]
    key = await store.get_key(call.db, key_id)
    owner = None if key is None or key.principal == store.ROOT else await store.get_user_by_id(call.db, key.principal)
    if key is not None and key.principal == store.ROOT:
        await call.require(_root_arn(call))
    else:
        await call.require(call.arn("user", "/", "*") if owner is None else _user_arn(call, owner))
    if key is None:  # IAM refuses rather than tells a key is not there (LocalStack's AWS-recorded answer)
        raise AwsError("AccessDenied", f"User: {call.caller.arn} is not authorized to perform "
                       f"iam:GetAccessKeyLastUsed on resource: access key {key_id}", 403)
    used: dict[str, Any] = {"ServiceName": key.last_used_service or "N/A", "Region": key.last_used_region or "N/A"}
    if key.last_used is not None:
        used["LastUsedDate"] = key.last_used
    return {"UserName": None if owner is None else owner.name, "AccessKeyLastUsed": used}


# -- groups --------------------------------------------------------------------------------------------------


@action
async def CreateGroup(call: IamCall) -> Result:
    p = call.params
    group = Group(new_id("AGPA"), p["GroupName"], p.get("Path", "/"), time.time())
    await call.require(_group_arn(call, group))
    await call.write(lambda conn: store.create_group_job(conn, group))
    return {"Group": _group_out(call, group)}


@action
async def GetGroup(call: IamCall) -> Result:
    group = await _require_group(call, call.params["GroupName"])
    users, page = await keyset_page(call, lambda after, n: store.members_of(call.db, group.group_id, after, n),
                        lambda u: u.name)
    return {"Group": _group_out(call, group), "Users": [await _user_out(call, u) for u in users], **page}


@action
async def ListGroups(call: IamCall) -> Result:
    prefix = call.params.get("PathPrefix", "/")
    await call.require(call.arn("group", prefix, ""))
    groups, page = await keyset_page(call, lambda after, n: store.list_groups(call.db, prefix, after, n),
                                     lambda g: g.name)
    return {"Groups": [_group_out(call, g) for g in groups], **page}


@action
async def UpdateGroup(call: IamCall) -> Result:
    p = call.params
    group = await _require_group(call, p["GroupName"])
    new_name, new_path = p.get("NewGroupName", group.name), p.get("NewPath", group.path)
    if (new_name, new_path) != (group.name, group.path):
        await call.require(call.arn("group", new_path, new_name))
    await call.write(lambda conn: store.update_group_job(conn, group.group_id, group.name, new_name, new_path))
    return None


@action
async def DeleteGroup(call: IamCall) -> Result:
    group = await _require_group(call, call.params["GroupName"])
    await call.write(lambda conn: store.delete_group_job(conn, group.group_id, group.name))
    return None


@action
async def AddUserToGroup(call: IamCall) -> Result:
    group = await _require_group(call, call.params["GroupName"])
    user_name, now = call.params["UserName"], time.time()
    await call.write(lambda conn: store.add_member_job(conn, group, user_name, now))
    return None


@action
async def RemoveUserFromGroup(call: IamCall) -> Result:
    group = await _require_group(call, call.params["GroupName"])
    user_name = call.params["UserName"]
    await call.write(lambda conn: store.remove_member_job(conn, group, user_name))
    return None


@action
async def ListGroupsForUser(call: IamCall) -> Result:
    user = await _require_user(call, call.params["UserName"])
    groups, page = await keyset_page(call, lambda after, n: store.groups_of(call.db, user.user_id, after, n),
                         lambda g: g.name)
    return {"Groups": [_group_out(call, g) for g in groups], **page}


# -- account -------------------------------------------------------------------------------------------------

# The quotas GetAccountSummary reports (AWS's defaults); the entity counts come from the store.
_QUOTAS = {
    "UsersQuota": store.USERS_QUOTA, "GroupsQuota": store.GROUPS_QUOTA, "PoliciesQuota": 1500,
    "AccessKeysPerUserQuota": store.ACCESS_KEYS_PER_USER, "GroupsPerUserQuota": store.GROUPS_PER_USER,
    "AttachedPoliciesPerUserQuota": 10, "AttachedPoliciesPerGroupQuota": 10, "AttachedPoliciesPerRoleQuota": 10,
    "PolicySizeQuota": 6144, "UserPolicySizeQuota": 2048, "GroupPolicySizeQuota": 5120,
    "RolePolicySizeQuota": 10240, "AssumeRolePolicySizeQuota": 2048, "PolicyVersionsInUseQuota": 10000,
    "VersionsPerPolicyQuota": 5, "ServerCertificatesQuota": 20, "SigningCertificatesPerUserQuota": 2,
    "InstanceProfilesQuota": 1000, "RolesQuota": 1000,
}


@action
async def GetAccountSummary(call: IamCall) -> Result:
    await call.require("*")
    c, m = await store.counts(call.db), await login_store.mfa_counts(call.db)
    roles, profiles, providers = await role_store.role_counts(call.db)
    summary = {
        "Users": c.users, "Groups": c.groups, "Policies": c.policies, "PolicyVersionsInUse": c.attachments,
        "AccountAccessKeysPresent": 1 if c.root_keys else 0, "AccountMFAEnabled": 1 if m.root_enabled else 0,
        "AccountPasswordPresent": 1 if m.root_password else 0, "AccountSigningCertificatesPresent": 0,
        "MFADevices": m.devices, "MFADevicesInUse": m.in_use, "ServerCertificates": 0,
        "Roles": roles, "InstanceProfiles": profiles, "Providers": providers, "GlobalEndpointTokenVersion": 1,
        **_QUOTAS,
    }
    return {"SummaryMap": summary}


# -- credentials and entities Storeroom does not have ----------------------------------------------------------
# Tools read these while managing users (Terraform's aws_iam_user lists a user's SSH keys, signing certificates
# and service credentials before deleting it).  Storeroom has none of these, so the truthful answers are empty
# lists; creating them answers 501.  (Passwords, MFA and the alias: storeroom/iam/logins.py and mfa.py.)


async def _credential_owner(call: IamCall) -> None:
    """Authorize on the user named by ``UserName`` (NoSuchEntity if absent), else on the caller."""
    if call.params.get("UserName") is not None:
        await _require_user(call, call.params["UserName"])
    else:
        if not call.caller.is_root:
            call.user_caller()
        await call.require(_root_arn(call) if call.caller.is_root else call.caller.arn)


def _empty_list(member: str, per_user: bool) -> Handler:
    async def handler(call: IamCall) -> Result:
        if per_user:
            await _credential_owner(call)
        else:
            await call.require("*")
        return {member: [], "IsTruncated": False}
    return handler


for _name, _member, _per_user in (
    ("ListSSHPublicKeys", "SSHPublicKeys", True), ("ListSigningCertificates", "Certificates", True),
    ("ListServiceSpecificCredentials", "ServiceSpecificCredentials", True),
    ("ListServerCertificates", "ServerCertificateMetadataList", False),
):
    HANDLERS[_name] = _empty_list(_member, _per_user)


@action
async def ListSAMLProviders(call: IamCall) -> Result:
    await call.require("*")
    return {"SAMLProviderList": []}
