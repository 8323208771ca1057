"""Sign-in pages: root or IAM user, the MFA code step, the forced password change, sign-out.

The checks themselves are storeroom/signin.py's (passwords, MFA codes, throttling, ConsoleLogin events); this
module only asks and answers.  Between the password and the MFA code the typed credentials wait in a sealed,
HttpOnly cookie that lives five minutes (the sign-in needs them again with the code), never in the page.
"""

from __future__ import annotations

import time

from starlette.responses import Response

from storeroom.console.iam.users import password_problems
from storeroom.console.services import ServiceError
from storeroom.console.sessions import COOKIE, MAX_AGE, PENDING_MAX_AGE, PRE_COOKIE
from storeroom.console.web import Page, Routes, local_path
from storeroom.signin import MfaRequired, SignedIn, SignInError, SignInRequest, Throttled

PENDING_COOKIE = "storeroom-pending"
routes = Routes()


def _request(page: Page, *, kind: str, email: str = "", account: str = "", user_name: str = "",
             password: str = "", mfa_code: str | None = None) -> SignInRequest:
    client = page.request.client
    where = {"source_ip": client.host if client else "127.0.0.1",
             "user_agent": page.request.headers.get("user-agent", "")}
    if kind == "root":
        return SignInRequest.root(email, password, mfa_code, **where)
    return SignInRequest.iam_user(account, user_name, password, mfa_code, **where)


@routes.get("/signin", public=True)
async def signin_form(page: Page) -> Response:
    if page.session is not None:
        return page.redirect(local_path(page.field("next", "/")))
    # /signin?account=<id or alias>: the account's sign-in URL for IAM users (AWS's <account>.signin.aws…/console)
    account = page.field("account").strip()
    kind = "iam" if account else page.field("kind", "root")
    return page.render("signin/signin.html", kind=kind, values={"account": account} if account else {},
                       error=None, next=local_path(page.field("next", "/")))


@routes.post("/signin", public=True)
async def signin(page: Page) -> Response:
    kind = "iam" if page.field("kind") == "iam" else "root"
    values = {"email": page.field("email").strip(), "account": page.field("account").strip(),
              "user_name": page.field("user_name").strip()}
    target = local_path(page.field("next", "/"))
    request = _request(page, kind=kind, password=page.field("password"), **values)
    try:
        signed_in = await page.services.signin.sign_in(request)
    except MfaRequired:
        pending = {**values, "kind": kind, "password": request.password, "next": target,
                   "expires": time.time() + PENDING_MAX_AGE}
        page.set_cookie(PENDING_COOKIE, page.console.sealer.seal(pending, "pending"), PENDING_MAX_AGE)
        return page.redirect("/signin/mfa")
    except SignInError as err:
        return page.render("signin/signin.html", status=429 if isinstance(err, Throttled) else 401, kind=kind,
                           values=values, error=err.message, next=target)
    return _signed_in(page, kind, signed_in, target)


@routes.get("/signin/mfa", public=True)
async def mfa_form(page: Page) -> Response:
    if _pending(page) is None:
        return page.redirect("/signin")
    return page.render("signin/mfa.html", error=None)


@routes.post("/signin/mfa", public=True)
async def mfa(page: Page) -> Response:
    pending = _pending(page)
    if pending is None:
        return page.redirect("/signin")
    kind = str(pending["kind"])
    request = _request(page, kind=kind, email=pending["email"], account=pending["account"],
                       user_name=pending["user_name"], password=pending["password"],
                       mfa_code=page.field("mfa_code").strip())
    try:
        signed_in = await page.services.signin.sign_in(request)
    except MfaRequired:
        return page.render("signin/mfa.html", status=401, error="Enter the code from your MFA device.")
    except SignInError as err:
        return page.render("signin/mfa.html", status=429 if isinstance(err, Throttled) else 401,
                           error=err.message)
    page.set_cookie(PENDING_COOKIE, "", 0)
    return _signed_in(page, kind, signed_in, local_path(str(pending["next"])))


def _pending(page: Page) -> dict[str, str] | None:
    found = page.console.sealer.open(page.request.cookies.get(PENDING_COOKIE), "pending")
    if found is None or float(found.get("expires", 0)) < time.time():
        return None
    return {k: str(v) for k, v in found.items()}


def _signed_in(page: Page, kind: str, signed_in: SignedIn, target: str) -> Response:
    principal = signed_in.principal
    session = page.console.sessions.new("root" if kind == "root" else "user", principal.principal_id,
                                        signed_in.auth_time, signed_in.mfa_used, signed_in.must_change_password,
                                        signed_in.profile_created)
    page.set_cookie(COOKIE, page.console.sessions.cookie_value(session), MAX_AGE)
    page.set_cookie(PRE_COOKIE, "", 0)
    page.session, page.principal = session, principal
    if signed_in.must_change_password:
        return page.redirect("/change-password")
    return page.redirect(target)


@routes.post("/signout")
async def signout(page: Page) -> Response:
    assert page.session is not None
    await page.console.sessions.sign_out(page.session)
    page.set_cookie(COOKIE, "", 0)
    page.session = page.principal = None
    return page.redirect("/signin", flash="You have signed out.")


# -- the password change a session may be held to ---------------------------------------------------------


@routes.get("/change-password")
async def change_password_form(page: Page) -> Response:
    return page.render("signin/change_password.html", error=None)


@routes.post("/change-password")
async def change_password(page: Page) -> Response:
    assert page.session is not None and page.principal is not None
    new = page.field("new_password")
    if new != page.field("confirm_password"):
        return page.render("signin/change_password.html", status=400,
                           error="The new passwords do not match. Type the same password twice.")
    if page.principal.is_root:
        return page.redirect("/account/root-password")
    try:
        await page.caller.iam("ChangePassword", OldPassword=page.field("old_password"), NewPassword=new)
    except ServiceError as err:
        if err.denial is not None:
            return page.error(err)
        message = err.message
        if err.code == "PasswordPolicyViolation":  # say what the policy asks, as AWS's page lists it
            message = " ".join([message, *await password_problems(page.caller, new)])
        return page.render("signin/change_password.html", status=400, error=message)
    if page.session.must_change:
        await page.console.sessions.sign_out(page.session)   # the held session's cookie is no use any more
        changed = page.console.sessions.new(page.session.kind, page.session.principal_id, page.session.auth_time,
                                            page.session.mfa, False, page.session.profile_created)
        page.set_cookie(COOKIE, page.console.sessions.cookie_value(changed), MAX_AGE)
        page.session = changed
    return page.redirect("/", flash="Your password has been changed.")
