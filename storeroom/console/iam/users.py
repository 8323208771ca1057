"""Users: the list, the "Create user" wizard (the guide's steps 2-6), a user's page and its tabs."""

from __future__ import annotations

import asyncio
import secrets
import string
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from storeroom import query
from storeroom.console.iam.common import all_pages, optional, policies, policy_type, target
from storeroom.console.services import Caller, ServiceError, allowed
from storeroom.console.web import Page, Routes, stash_once, take_once
from storeroom.errors import AwsError
from storeroom.iam.passwords import PasswordPolicy, violations

routes = Routes()
TABS = {"permissions": "Permissions", "groups": "Groups", "tags": "Tags", "security": "Security credentials"}


# -- the list --------------------------------------------------------------------------------------------------


@routes.get("/iam/users")
async def users(page: Page) -> Response:
    caller = page.caller
    found = await all_pages(caller, "ListUsers", "Users")
    rows = await asyncio.gather(*(_row(caller, user) for user in found))
    return page.render("iam/users.html", rows=rows)


async def _row(caller: Caller, user: dict[str, Any]) -> dict[str, Any]:
    """One line of the users list: groups, last activity, MFA, password age, active key age."""
    name = user["UserName"]
    groups = await caller.iam("ListGroupsForUser", UserName=name)
    mfa = await caller.iam("ListMFADevices", UserName=name)
    profile = await optional(caller.iam("GetLoginProfile", UserName=name))
    keys = (await caller.iam("ListAccessKeys", UserName=name)).get("AccessKeyMetadata", [])
    last_uses = [user.get("PasswordLastUsed")]
    for key in keys:
        used = await caller.iam("GetAccessKeyLastUsed", AccessKeyId=key["AccessKeyId"])
        last_uses.append(used.get("AccessKeyLastUsed", {}).get("LastUsedDate"))
    active = [k["CreateDate"] for k in keys if k["Status"] == "Active"]
    return {
        "name": name, "arn": user["Arn"], "created": user["CreateDate"],
        "groups": [g["GroupName"] for g in groups.get("Groups", [])],
        "last_activity": max((t for t in last_uses if t), default=None),
        "mfa": [d["SerialNumber"].rpartition("/")[2] for d in mfa.get("MFADevices", [])],
        "password_created": profile["LoginProfile"]["CreateDate"] if profile else None,
        "key_created": min(active) if active else None,
    }


# -- the Create user wizard ----------------------------------------------------------------------------------

POLICY_OPTIONS = {"group": "Add user to group", "copy": "Copy permissions", "policies": "Attach policies directly"}


@dataclass(slots=True)
class Draft:
    """What the wizard has gathered so far; carried from step to step in the form (the password sealed)."""

    user_name: str = ""
    console: bool = False
    password_kind: str = "auto"          # "auto" | "custom"
    password: str = ""
    reset_required: bool = True
    option: str = "policies"
    groups: list[str] = field(default_factory=list)
    copy_from: str = ""
    policies: list[str] = field(default_factory=list)
    boundary: str = ""
    tags: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, page: Page) -> Draft:
        sealed = page.console.sealer.open(page.field("password_sealed"), "draft-password")
        password = page.field("password") or (str(sealed.get("p", "")) if sealed and page.session and
                                              sealed.get("sid") == page.session.sid else "")
        tags = [(k.strip(), v) for k, v in zip(page.fields("tag_key"), page.fields("tag_value"), strict=False)
                if k.strip()]
        return cls(page.field("user_name").strip(), page.field("console") == "on",
                   "custom" if page.field("password_kind") == "custom" else "auto", password,
                   page.field("reset_required") == "on", page.field("option") or "policies",
                   page.fields("group"), page.field("copy_from"), page.fields("policy"),
                   page.field("boundary") if page.field("use_boundary") == "on" else "", tags)

    def sealed_password(self, page: Page) -> str:
        assert page.session is not None
        return page.console.sealer.seal({"p": self.password, "sid": page.session.sid}, "draft-password")


@routes.get("/iam/users/create")
async def create_form(page: Page) -> Response:
    return page.render("iam/create_user_details.html", draft=Draft(), error=None)


@routes.post("/iam/users/create")
async def create_step(page: Page) -> Response:
    """The wizard's buttons say where to go (``go``): details → permissions → review → create."""
    draft, go = Draft.read(page), page.field("go") or "create"
    if go == "details":
        return page.render("iam/create_user_details.html", draft=draft, error=None)
    if go == "permissions":
        error = (_details_error(draft) or await _password_error(page, draft)) if page.field("from") == "details" \
            else None
        if error:
            return page.render("iam/create_user_details.html", status=400, draft=draft, error=error)
        return await _permissions(page, draft)
    if go in ("review", "add_tag"):
        return await _review(page, draft, extra_tag_rows=1 if go == "add_tag" else 0)
    return await _create(page, draft)


def _details_error(draft: Draft) -> str | None:
    if not draft.user_name:
        return "Enter a user name."
    try:  # the name judged on this step, as AWS's console does, by IAM's own rules and words (its model)
        query.parse_params(query.service_model("iam").operation_model("CreateUser"), {"UserName": draft.user_name})
    except AwsError as err:
        return f"{err.code}: {err.message}"
    if draft.console and draft.password_kind == "custom" and not draft.password:
        return "Enter a custom password, or choose an autogenerated one."
    return None


async def _password_error(page: Page, draft: Draft) -> str | None:
    """A custom password is judged against the account's password policy on this step, as AWS's console does:
    nothing is created until it passes (CreateLoginProfile comes after CreateUser)."""
    if not (draft.console and draft.password_kind == "custom"):
        return None
    problems = await password_problems(page.caller, draft.password)
    return " ".join(["The password does not conform to the account password policy."] + problems) \
        if problems else None


async def password_problems(caller: Caller, password: str) -> list[str]:
    """What ``password`` lacks for the account's password policy, in words (empty when it conforms, or when the
    caller may not read the policy: IAM judges it anyway)."""
    try:
        found = await optional(caller.iam("GetAccountPasswordPolicy"))
    except ServiceError:
        return []
    return violations(PasswordPolicy.from_params(found["PasswordPolicy"]) if found else None, password)


async def _permissions(page: Page, draft: Draft) -> Response:
    caller = page.caller
    groups = await all_pages(caller, "ListGroups", "Groups")
    others = await all_pages(caller, "ListUsers", "Users")
    return page.render("iam/create_user_permissions.html", draft=draft, options=POLICY_OPTIONS, groups=groups,
                       users=others, policies=await policies(caller), error=None)


async def _review(page: Page, draft: Draft, extra_tag_rows: int = 0) -> Response:
    rows = draft.tags + [("", "")] * (extra_tag_rows + (0 if draft.tags else 1))
    return page.render("iam/create_user_review.html", draft=draft, options=POLICY_OPTIONS, tag_rows=rows,
                       error=None, policy_type=policy_type)


async def _create(page: Page, draft: Draft) -> Response:
    """CreateUser, then its password, groups and policies, in the order AWS's console makes the calls; a
    refusal part way says what was done (the user exists from the first call on)."""
    caller = page.caller
    tags = [{"Key": k, "Value": v} for k, v in draft.tags]
    try:
        await caller.iam("CreateUser", UserName=draft.user_name, Tags=tags or None,
                         PermissionsBoundary=draft.boundary or None)
    except ServiceError as err:
        return page.render("iam/create_user_review.html", status=403 if err.denial else 400, draft=draft,
                           options=POLICY_OPTIONS, tag_rows=draft.tags or [("", "")], error=err,
                           policy_type=policy_type)
    password = draft.password if draft.password_kind == "custom" else await generated_password(caller)
    if draft.console:
        try:
            await caller.iam("CreateLoginProfile", UserName=draft.user_name, Password=password,
                             PasswordResetRequired=draft.reset_required)
        except ServiceError as err:  # a password refused: no half-made user left behind to block a retry
            try:
                await caller.iam("DeleteUser", UserName=draft.user_name)
            except ServiceError:  # (a caller who may create users but not delete them)
                return page.error(err, title=f"User {draft.user_name} was created, but not all of it",
                                  back=user_url(draft.user_name))
            return page.render("iam/create_user_details.html", status=403 if err.denial else 400, draft=draft,
                               error=err.message)
    try:
        await _grant(caller, draft)
    except ServiceError as err:
        if not draft.console:
            return page.error(err, title=f"User {draft.user_name} was created, but not all of it",
                              back=user_url(draft.user_name))
        # the password exists now: it must be shown, with what was not done
        return show_password(page, draft.user_name, password, f"User {draft.user_name} was created, but not "
                              f"all of its permissions were given ({err.code}: {err.message}).")
    message = f"User {draft.user_name} created successfully."
    if draft.console:
        if draft.reset_required:
            message += await allow_password_change(caller, draft.user_name)
        return show_password(page, draft.user_name, password, message)
    return page.redirect("/iam/users", flash=message)


def show_password(page: Page, user_name: str, password: str, message: str) -> Response:
    """The new console password's one showing (GET …/password), with ``message`` above it."""
    stash_once(page, "password", {"user": user_name, "password": password})
    return page.redirect(user_url(user_name) + "/password", flash=message)


async def _grant(caller: Caller, draft: Draft) -> None:
    if draft.option == "group":
        for group in draft.groups:
            await caller.iam("AddUserToGroup", UserName=draft.user_name, GroupName=group)
    elif draft.option == "copy" and draft.copy_from:
        source = draft.copy_from
        for group in (await caller.iam("ListGroupsForUser", UserName=source)).get("Groups", []):
            await caller.iam("AddUserToGroup", UserName=draft.user_name, GroupName=group["GroupName"])
        for policy in await all_pages(caller, "ListAttachedUserPolicies", "AttachedPolicies", UserName=source):
            await caller.iam("AttachUserPolicy", UserName=draft.user_name, PolicyArn=policy["PolicyArn"])
    elif draft.option == "policies":
        for arn in draft.policies:
            await caller.iam("AttachUserPolicy", UserName=draft.user_name, PolicyArn=arn)


# AWS's console: "Users automatically get the IAMUserChangePassword policy to allow them to change their own
# password" when they must make a new one at next sign-in (else the change itself is refused and they are stuck).
CHANGE_PASSWORD_POLICY = "arn:aws:iam::aws:policy/IAMUserChangePassword"


async def allow_password_change(caller: Caller, user_name: str) -> str:
    """Attaches IAMUserChangePassword; "" or, when that was refused, a sentence saying so (the password is set
    by then, and must still be shown)."""
    try:
        await caller.iam("AttachUserPolicy", UserName=user_name, PolicyArn=CHANGE_PASSWORD_POLICY)
    except ServiceError as err:
        return f" IAMUserChangePassword was not attached ({err.code}): {user_name} needs iam:ChangePassword " \
               "from another policy to set a new password."
    return ""


async def generated_password(caller: Caller) -> str:
    """An autogenerated password long enough for the account's password policy (when the caller may read it)."""
    try:
        found = await optional(caller.iam("GetAccountPasswordPolicy"))
    except ServiceError:
        found = None
    minimum = int(found["PasswordPolicy"].get("MinimumPasswordLength", 8)) if found else 8
    return generate_password(max(20, minimum))


def generate_password(length: int = 20) -> str:
    """An autogenerated console password with every kind of character (passes any password policy's kinds)."""
    kinds = (string.ascii_uppercase, string.ascii_lowercase, string.digits, "!@#$%^&*()_+-=[]{}|'")
    chars = [secrets.choice(k) for k in kinds] + [secrets.choice("".join(kinds)) for _ in range(length - 4)]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


@routes.get("/iam/users/{name}/password")
async def retrieve_password(page: Page) -> Response:
    """The new user's console password, shown on this one page view only."""
    note = await take_once(page, "password")
    # the sign-in URL by the account's alias when it has one, as the dashboard's (and AWS's) is
    found = await allowed(page.caller.iam("ListAccountAliases"))
    aliases = (found or {}).get("AccountAliases", [])
    return page.render("iam/retrieve_password.html", name=page.param("name"), note=note,
                       alias=aliases[0] if aliases else None)


# -- a user's page -----------------------------------------------------------------------------------------


def user_url(name: str) -> str:
    return f"/iam/users/{quote(name)}"


@routes.get("/iam/users/{name}")
async def user(page: Page) -> Response:
    name, caller = page.param("name"), page.caller
    tab = page.field("tab") if page.field("tab") in TABS else "permissions"
    found = (await caller.iam("GetUser", UserName=name))["User"]
    profile = await optional(caller.iam("GetLoginProfile", UserName=name))
    context: dict[str, Any] = {"user": found, "profile": profile, "tab": tab, "tabs": TABS, "url": user_url(name)}
    if tab == "permissions":
        context.update(await _permissions_tab(caller, name))
    elif tab == "groups":
        context["groups"] = (await caller.iam("ListGroupsForUser", UserName=name)).get("Groups", [])
        context["all_groups"] = await all_pages(caller, "ListGroups", "Groups")
    elif tab == "tags":
        context["tags"] = (await caller.iam("ListUserTags", UserName=name)).get("Tags", [])
    else:
        from storeroom.console.iam import credentials
        context.update(await credentials.security_context(page, name), page_target=target(page))
    return page.render("iam/user.html", **context)


async def _permissions_tab(caller: Caller, name: str) -> dict[str, Any]:
    attached = await all_pages(caller, "ListAttachedUserPolicies", "AttachedPolicies", UserName=name)
    inline = await all_pages(caller, "ListUserPolicies", "PolicyNames", UserName=name)
    inherited = []
    for group in (await caller.iam("ListGroupsForUser", UserName=name)).get("Groups", []):
        for policy in await all_pages(caller, "ListAttachedGroupPolicies", "AttachedPolicies",
                                      GroupName=group["GroupName"]):
            inherited.append({**policy, "Group": group["GroupName"]})
    return {"attached": attached, "inline": inline, "inherited": inherited, "policy_type": policy_type}


@routes.get("/iam/users/{name}/add-permissions")
async def add_permissions_form(page: Page) -> Response:
    name = page.param("name")
    attached = {p["PolicyArn"] for p in await all_pages(page.caller, "ListAttachedUserPolicies",
                                                          "AttachedPolicies", UserName=name)}
    return page.render("iam/add_permissions.html", name=name, url=user_url(name), attached=attached,
                       policies=await policies(page.caller), error=None)


@routes.post("/iam/users/{name}/add-permissions")
async def add_permissions(page: Page) -> Response:
    name = page.param("name")
    for arn in page.fields("policy"):
        await page.caller.iam("AttachUserPolicy", UserName=name, PolicyArn=arn)
    count = len(page.fields("policy"))
    return page.redirect(user_url(name), flash=f"{count} policy attached." if count == 1 else
                         f"{count} policies attached.")


@routes.post("/iam/users/{name}/detach")
async def detach(page: Page) -> Response:
    name, arn = page.param("name"), page.field("policy_arn")
    await page.caller.iam("DetachUserPolicy", UserName=name, PolicyArn=arn)
    return page.redirect(user_url(name), flash=f"Policy {arn.rpartition('/')[2]} removed.")


@routes.post("/iam/users/{name}/groups")
async def change_groups(page: Page) -> Response:
    name = page.param("name")
    if page.field("remove"):
        await page.caller.iam("RemoveUserFromGroup", UserName=name, GroupName=page.field("remove"))
        return page.redirect(user_url(name) + "?tab=groups", flash=f"Removed from {page.field('remove')}.")
    for group in page.fields("group"):
        await page.caller.iam("AddUserToGroup", UserName=name, GroupName=group)
    return page.redirect(user_url(name) + "?tab=groups", flash="Groups updated.")


@routes.post("/iam/users/{name}/tags")
async def change_tags(page: Page) -> Response:
    name = page.param("name")
    if page.field("remove"):
        await page.caller.iam("UntagUser", UserName=name, TagKeys=[page.field("remove")])
        return page.redirect(user_url(name) + "?tab=tags", flash=f"Tag {page.field('remove')} removed.")
    key = page.field("tag_key").strip()
    if key:
        await page.caller.iam("TagUser", UserName=name, Tags=[{"Key": key, "Value": page.field("tag_value")}])
    return page.redirect(user_url(name) + "?tab=tags", flash=f"Tag {key} saved." if key else None)


@routes.get("/iam/users/{name}/delete")
async def delete_form(page: Page) -> Response:
    return page.render("iam/delete_user.html", name=page.param("name"), error=None)


@routes.post("/iam/users/{name}/delete")
async def delete(page: Page) -> Response:
    """As AWS's console does: the user's keys, password, MFA devices, group memberships and policies go first,
    then the user (DeleteUser refuses while any remains)."""
    name, caller = page.param("name"), page.caller
    if page.field("confirm").strip() != name:
        return page.render("iam/delete_user.html", status=400, name=name,
                           error="To confirm deletion, enter the user name in the text input field.")
    for key in (await caller.iam("ListAccessKeys", UserName=name)).get("AccessKeyMetadata", []):
        await caller.iam("DeleteAccessKey", UserName=name, AccessKeyId=key["AccessKeyId"])
    if await optional(caller.iam("GetLoginProfile", UserName=name)):
        await caller.iam("DeleteLoginProfile", UserName=name)
    for device in (await caller.iam("ListMFADevices", UserName=name)).get("MFADevices", []):
        await caller.iam("DeactivateMFADevice", UserName=name, SerialNumber=device["SerialNumber"])
        await caller.iam("DeleteVirtualMFADevice", SerialNumber=device["SerialNumber"])
    for group in (await caller.iam("ListGroupsForUser", UserName=name)).get("Groups", []):
        await caller.iam("RemoveUserFromGroup", UserName=name, GroupName=group["GroupName"])
    for policy in await all_pages(caller, "ListAttachedUserPolicies", "AttachedPolicies", UserName=name):
        await caller.iam("DetachUserPolicy", UserName=name, PolicyArn=policy["PolicyArn"])
    for policy_name in await all_pages(caller, "ListUserPolicies", "PolicyNames", UserName=name):
        await caller.iam("DeleteUserPolicy", UserName=name, PolicyName=policy_name)
    if (await caller.iam("GetUser", UserName=name))["User"].get("PermissionsBoundary"):
        await caller.iam("DeleteUserPermissionsBoundary", UserName=name)
    await caller.iam("DeleteUser", UserName=name)
    return page.redirect("/iam/users", flash=f"User {name} deleted.")
