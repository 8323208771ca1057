"""Console passwords (login profiles, ChangePassword), the account password policy and the account alias
(handlers for storeroom/iam/api.py; SQL in storeroom/iam/login_store.py, rules in storeroom/iam/passwords.py).

Passwords arrive in the request, are checked against the policy, hashed with Argon2id off the event loop and
forgotten; nothing returns or logs them.  Authorization follows the Service Authorization Reference: the
user's ARN for login profiles and ChangePassword, ``*`` for the account's policy and alias.

Root: without ``UserName``, Get/Create/DeleteLoginProfile act on the caller — for root, on root's own
password, as AWS allows root sessions to (the IAM password policy never applies to root's password, AWS's
root password rules do: those of the default policy).  The root password is otherwise managed with
``storeroom root reset-password`` and the console.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from storeroom.errors import AwsError
from storeroom.iam import login_store as store
from storeroom.iam import passwords, throttle
from storeroom.iam.api import Handler, IamCall
from storeroom.iam.pagination import list_page
from storeroom.iam.user_store import ROOT, get_user_by_id, no_such_user
from storeroom.iam.users import _require_user, _root_arn, _user_arn
from storeroom.store.sql import Conn

HANDLERS: dict[str, Handler] = {}
Result = dict[str, Any] | None


def action(fn: Handler) -> Handler:
    HANDLERS[fn.__name__] = fn
    return fn


async def _owner(call: IamCall) -> tuple[str, str]:
    """(principal, user name) of the login profile an action is about: ``UserName``, else the caller (root:
    ``'root'``).  Authorizes on the owner's ARN."""
    name = call.params.get("UserName")
    if name is not None:
        user = await _require_user(call, name)
        return user.user_id, user.name
    caller = call.caller
    if caller.is_root:
        await call.require(_root_arn(call))
        return ROOT, "root"
    call.user_caller()
    await call.require(caller.arn)
    found = await get_user_by_id(call.db, caller.principal_id)
    if found is None:
        raise no_such_user(caller.user_name or caller.principal_id)
    return found.user_id, found.name


async def _policy_for(call: IamCall, principal: str) -> passwords.PasswordPolicy | None:
    """The account's policy for IAM users; root's password follows AWS's default rules whatever it says."""
    return None if principal == ROOT else await store.password_policy(call.db)


async def _check_new(call: IamCall, principal: str, password: str) -> passwords.PasswordPolicy | None:
    policy = await _policy_for(call, principal)
    passwords.check(policy, password, await store.account_names(call.db, call.account_id))
    return policy


async def _check_reuse(call: IamCall, principal: str, policy: passwords.PasswordPolicy | None,
                       password: str) -> None:
    """PasswordReusePrevention: each earlier password costs an Argon2 verification, done off the loop."""
    if policy is None or not policy.reuse_prevention:
        return
    previous = await store.password_history(call.db, principal)
    if await asyncio.to_thread(passwords.reused, policy, password, previous):
        raise passwords.policy_violation()


def _profile_out(name: str, profile: store.LoginProfile) -> dict[str, Any]:
    return {"UserName": name, "CreateDate": profile.created, "PasswordResetRequired": profile.reset_required}


# -- login profiles ------------------------------------------------------------------------------------------


@action
async def CreateLoginProfile(call: IamCall) -> Result:
    principal, name = await _owner(call)
    password = call.params.get("Password")
    if password is None:
        raise AwsError("ValidationError", "1 validation error detected: Value null at 'password' failed to "
                       "satisfy constraint: Member must not be null", 400)
    await _check_new(call, principal, password)
    reset = bool(call.params.get("PasswordResetRequired", False))
    hashed, now = await asyncio.to_thread(passwords.hash_password, password), time.time()
    await call.write(lambda conn: store.create_login_profile_job(conn, principal, name, hashed, now, reset))
    return {"LoginProfile": {"UserName": name, "CreateDate": now, "PasswordResetRequired": reset}}


@action
async def GetLoginProfile(call: IamCall) -> Result:
    principal, name = await _owner(call)
    profile = await store.get_login_profile(call.db, principal)
    if profile is None:
        raise store.no_login_profile(name)
    return {"LoginProfile": _profile_out(name, profile)}


@action
async def UpdateLoginProfile(call: IamCall) -> Result:
    """A new password (an administrator's reset) and/or PasswordResetRequired."""
    principal, name = await _owner(call)
    password: str | None = call.params.get("Password")
    hashed = None
    if password is not None:
        policy = await _check_new(call, principal, password)
        if await store.get_login_profile(call.db, principal) is None:
            raise store.no_login_profile(name)
        await _check_reuse(call, principal, policy, password)
        hashed = await asyncio.to_thread(passwords.hash_password, password)
    reset: bool | None = call.params.get("PasswordResetRequired")
    now = time.time()
    await call.write(lambda conn: store.set_password_job(conn, principal, name, hashed, now, reset))
    return None


@action
async def DeleteLoginProfile(call: IamCall) -> Result:
    principal, name = await _owner(call)
    await call.write(lambda conn: store.delete_login_profile_job(conn, principal, name))
    return None


@action
async def ChangePassword(call: IamCall) -> Result:
    """The caller's own password (https://docs.aws.amazon.com/IAM/latest/APIReference/API_ChangePassword.html:
    "Changes the password of the IAM user who is calling this operation ... The root user password is not
    affected by this operation").  Allowed by ``iam:ChangePassword`` on the user's own ARN, or for everyone by
    the password policy's AllowUsersToChangePassword.  Wrong old passwords count towards the same backoff as
    failed sign-ins, so this is no side door for guessing a password with a stolen access key."""
    caller = call.caller
    if caller.type != "IAMUser":
        raise AwsError("InvalidUserType", "Only an IAM user can change their password with ChangePassword; "
                       "the root user's password is changed in the console or with `storeroom root "
                       "reset-password`.", 400)
    user = await get_user_by_id(call.db, caller.principal_id)
    if user is None:
        raise no_such_user(caller.user_name or caller.principal_id)
    policy = await store.password_policy(call.db)
    await call.require(_user_arn(call, user), granted=policy is not None and policy.allow_users_to_change)
    subject, now = throttle.user_subject("iam", user.name, call.iam.box), time.time()
    wait = await throttle.retry_after(call.db, [subject], now)
    if wait > 0:
        raise AwsError("LimitExceeded", f"Too many failed attempts with this password; try again in "
                       f"{int(wait) + 1} seconds.", 409)
    profile = await store.get_login_profile(call.db, user.user_id)
    if profile is None:
        raise store.no_login_profile(user.name)
    old, new = call.params["OldPassword"], call.params["NewPassword"]
    if not await asyncio.to_thread(passwords.verify_password, profile.hash, old):
        await call.meta.db.write(lambda conn: throttle.note_failure_job(conn, subject, throttle.PER_USER, now))
        raise AwsError("AccessDenied", "The old password is incorrect.", 403)
    passwords.check(policy, new, await store.account_names(call.db, call.account_id))
    await _check_reuse(call, user.user_id, policy, new)
    hashed = await asyncio.to_thread(passwords.hash_password, new)

    async def job(conn: Conn) -> None:
        await store.set_password_job(conn, user.user_id, user.name, hashed, time.time(), False)
        await throttle.clear_job(conn, subject)
    await call.write(job)
    return None


# -- the account password policy -----------------------------------------------------------------------------


@action
async def GetAccountPasswordPolicy(call: IamCall) -> Result:
    policy = await store.password_policy(call.db)
    await call.require("*", granted=policy is not None and policy.allow_users_to_change)
    if policy is None:
        raise AwsError("NoSuchEntity", f"The Password Policy with domain name {call.account_id} cannot be found.",
                       404)
    return {"PasswordPolicy": policy.shape()}


@action
async def UpdateAccountPasswordPolicy(call: IamCall) -> Result:
    await call.require("*")
    policy = passwords.PasswordPolicy.from_params(call.params)
    await call.write(lambda conn: store.set_password_policy_job(conn, policy))
    return None


@action
async def DeleteAccountPasswordPolicy(call: IamCall) -> Result:
    await call.require("*")
    await call.write(store.delete_password_policy_job)
    return None


# -- the account alias ---------------------------------------------------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/console-account-alias.html: "Your AWS account can have only
# one alias. If you create a new alias for your AWS account, the new alias overwrites the previous alias";
# "The account alias must contain only digits, lowercase letters, and hyphens" (the model's pattern, checked
# by storeroom/query.py: 3-63 characters, no leading, trailing or double hyphen).


@action
async def CreateAccountAlias(call: IamCall) -> Result:
    await call.require("*")
    alias: str = call.params["AccountAlias"]
    await call.write(lambda conn: store.set_account_alias_job(conn, alias))
    return None


@action
async def DeleteAccountAlias(call: IamCall) -> Result:
    await call.require("*")
    alias: str = call.params["AccountAlias"]
    await call.write(lambda conn: store.delete_account_alias_job(conn, alias))
    return None


@action
async def ListAccountAliases(call: IamCall) -> Result:
    await call.require("*")
    alias = await store.account_alias(call.db)
    aliases, page = list_page(call, [alias] if alias else [], lambda a: [a])
    return {"AccountAliases": aliases, **page}
