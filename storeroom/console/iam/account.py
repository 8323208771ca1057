"""Account settings: the password policy and the account alias; root's own password (no IAM API: AWS changes
it on the account page, here storeroom/iam/root.py)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from storeroom.console.iam.common import optional
from storeroom.console.services import ServiceError
from storeroom.console.web import Page, Routes
from storeroom.errors import AwsError
from storeroom.iam.root import change_root_password

routes = Routes()
CHECKS = [("RequireUppercaseCharacters", "Require at least one uppercase letter from the Latin alphabet (A-Z)"),
          ("RequireLowercaseCharacters", "Require at least one lowercase letter from the Latin alphabet (a-z)"),
          ("RequireNumbers", "Require at least one number"),
          ("RequireSymbols",
           "Require at least one nonalphanumeric character ( ! @ # $ % ^ & * ( ) _ + - = [ ] { } | ' )"),
          ("AllowUsersToChangePassword", "Allow users to change their own password"),
          ("HardExpiry", "Require administrator reset after the password expires (hard expiry)")]
_NUMBERS = ("MinimumPasswordLength", "MaxPasswordAge", "PasswordReusePrevention")


async def _settings(page: Page, error: ServiceError | str | None = None, status: int = 200, *,
                    policy_draft: dict[str, Any] | None = None, alias_draft: str | None = None) -> Response:
    """The page; after a refusal, the refused form's values as typed (``policy_draft``, ``alias_draft``), not the
    stored ones, so nothing has to be typed again."""
    caller = page.caller
    found = await optional(caller.iam("GetAccountPasswordPolicy"))
    aliases = (await caller.iam("ListAccountAliases")).get("AccountAliases", [])
    policy = found["PasswordPolicy"] if found else None
    alias = aliases[0] if aliases else None
    return page.render("iam/account_settings.html", status=status, policy=policy, shown=policy_draft or policy,
                       alias=alias, alias_shown=alias if alias_draft is None else alias_draft, checks=CHECKS,
                       error=error)


@routes.get("/iam/account-settings")
async def settings(page: Page) -> Response:
    return await _settings(page)


@routes.post("/iam/account-settings/password-policy")
async def password_policy(page: Page) -> Response:
    caller = page.caller
    try:
        if page.field("action") == "default":
            if await optional(caller.iam("GetAccountPasswordPolicy")):
                await caller.iam("DeleteAccountPasswordPolicy")
            return page.redirect("/iam/account-settings", flash="The IAM default password policy applies.")
        params: dict[str, Any] = {name: page.field(name) == "on" for name, _ in CHECKS}
        for name in _NUMBERS:
            if page.field(name).strip():
                params[name] = page.field(name).strip()
        await caller.iam("UpdateAccountPasswordPolicy", **params)
    except ServiceError as err:
        if err.denial is not None:
            raise  # the error page names the refused action (re-rendering the form could be refused another)
        draft: dict[str, Any] = {name: page.field(name) == "on" for name, _ in CHECKS}
        draft.update({name: page.field(name).strip() for name in _NUMBERS})
        return await _settings(page, err, 400, policy_draft=draft)
    return page.redirect("/iam/account-settings", flash="Password policy updated.")


@routes.post("/iam/account-settings/alias")
async def alias(page: Page) -> Response:
    """CreateAccountAlias replaces the account's alias, and only once the new one is accepted: deleting the old one
    first would leave none when the new one is refused (IAM users who sign in by alias locked out)."""
    caller = page.caller
    try:
        if page.field("action") == "delete":
            for name in (await caller.iam("ListAccountAliases")).get("AccountAliases", []):
                await caller.iam("DeleteAccountAlias", AccountAlias=name)
            return page.redirect("/iam/account-settings", flash="Account alias deleted.")
        new = page.field("alias").strip()
        await caller.iam("CreateAccountAlias", AccountAlias=new)
    except ServiceError as err:
        if err.denial is not None:
            raise  # the error page names the refused action (re-rendering the form could be refused another)
        return await _settings(page, err, 400, alias_draft=page.field("alias"))
    return page.redirect("/iam/account-settings", flash=f"Account alias set to {new}.")


_ROOT_ONLY = "Only the root user changes the root user's password. IAM users: use Change password."


@routes.get("/account/root-password")
async def root_password_form(page: Page) -> Response:
    if page.principal is None or not page.principal.is_root:  # a root-only page, as on AWS's account page
        return page.render("iam/root_password.html", status=403, error=_ROOT_ONLY, refused=True)
    return page.render("iam/root_password.html", error=None)


@routes.post("/account/root-password")
async def root_password(page: Page) -> Response:
    assert page.principal is not None
    if not page.principal.is_root:
        return page.render("iam/root_password.html", status=403, error=_ROOT_ONLY, refused=True)
    new = page.field("new_password")
    if new != page.field("confirm_password"):
        return page.render("iam/root_password.html", status=400, error="The new passwords do not match.")
    try:
        await change_root_password(page.services.meta, page.services.account_id, page.field("current_password"), new)
    except AwsError as err:
        return page.render("iam/root_password.html", status=400, error=err.message)
    return page.redirect("/iam/security-credentials", flash="Your password has been changed.")
