"""The console's framework in a real browser: sign-in, sign-out, refusals, CSRF, the security headers.

Chromium (Debian's) through Playwright, against `storeroom serve --console-listen` (tests/e2e/console.py).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from tests.e2e.console import ROOT_EMAIL, new_page, screenshot, sign_in_root

# SQLite only: the console calls the same service code the API suites run on both backends.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")


def test_root_signs_in_and_out(console_server, browser) -> None:
    page = new_page(browser, console_server)
    page.goto("/iam")
    assert page.url.endswith("/signin?next=%2Fiam")       # signed-out visitors go to the sign-in page
    screenshot(page, "signin")
    page.get_by_label("Root user").check()
    page.get_by_label("Email address").fill(ROOT_EMAIL)
    page.get_by_label("Password").fill("Console-Root-Pa55!")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/iam")                              # and come back where they were going
    cookie = next(c for c in page.context.cookies() if c["name"] == "storeroom-session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")
    assert page.get_by_role("status").inner_text() == "You have signed out."
    page.goto("/iam")
    assert "/signin" in page.url


def test_signed_out_cookie_stays_signed_out(console_server, browser) -> None:
    """Sign-out is server-side: the old cookie, replayed, opens nothing."""
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    old = [c for c in page.context.cookies() if c["name"] == "storeroom-session"]
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")
    page.context.add_cookies(old)
    page.goto("/iam")
    assert "/signin" in page.url


def test_wrong_password_is_refused(console_server, browser) -> None:
    page = new_page(browser, console_server)
    page.goto("/signin")
    page.get_by_label("Email address").fill(ROOT_EMAIL)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Your authentication information is incorrect. Please try again."
    assert "/signin" in page.url


def test_form_post_without_csrf_token_is_refused(console_server, browser) -> None:
    """(5) A signed-in browser posting a form without its token (what a forged cross-site form would be):
    refused with 403, nothing done."""
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    change = {"old_password": "x", "new_password": "Y-1aaaaa", "confirm_password": "Y-1aaaaa"}
    for path, form in (("/signout", {}), ("/change-password", change)):
        response = page.request.post(path, form=form)
        assert response.status == 403
        assert "without a valid security token" in response.text()
        forged = page.request.post(path, form={**form, "csrf_token": "0" * 64})
        assert forged.status == 403
        # a token with a character compare_digest refuses in a str was a 500 (fuzzing, 2026-12-07)
        assert page.request.post(path, form={**form, "csrf_token": "\u00e9" * 64}).status == 403
    page.goto("/iam")                                           # still signed in: the sign-out was refused
    assert page.get_by_role("heading", name="IAM dashboard").is_visible()


def test_sign_in_with_a_non_ascii_token_is_refused_not_failed(console_server) -> None:
    """Anyone could make the sign-in form answer 500 (and drop the connection) with a non-ASCII csrf_token."""
    import requests
    session = requests.Session()
    session.get(f"{console_server.console_url}/signin", timeout=10)
    r = session.post(f"{console_server.console_url}/signin", data={"csrf_token": "\u00e9", "kind": "root",
                                                                   "email": ROOT_EMAIL, "password": "x"},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 403 and "without a valid security token" in r.text


def test_security_headers(console_server) -> None:
    with urllib.request.urlopen(f"{console_server.console_url}/signin") as r:
        headers = r.headers
        body = r.read().decode()
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    assert not re.search(r"<script>|<script [^>]*>[^<]", body) and " on" + "click=" not in body  # no inline script
    try:
        urllib.request.urlopen(f"{console_server.console_url}/no/such/page")
    except urllib.error.HTTPError as err:
        assert err.code == 404


def test_root_changes_its_password(console_server, browser) -> None:
    """Account settings → the root user's password (no IAM API for it, as in AWS): the old one is checked,
    the new one signs in."""
    old, new = "Console-Root-Pa55!", "Console-Root-Pa55!-2"
    for current, changed in ((old, new), (new, old)):
        page = sign_in_root(browser, console_server, password=current)
        page.wait_for_url("**/")
        page.goto("/iam/account-settings")
        page.get_by_role("link", name="Change the root user's password").click()
        page.get_by_label("Current password").fill("wrong-" + current)
        page.get_by_label("New password", exact=True).fill(changed)
        page.get_by_label("Confirm new password").fill(changed)
        page.get_by_role("button", name="Change password").click()
        assert page.get_by_role("alert").inner_text() == "The old password is incorrect."
        page.get_by_label("Current password").fill(current)
        page.get_by_label("New password", exact=True).fill(changed)
        page.get_by_label("Confirm new password").fill(changed)
        page.get_by_role("button", name="Change password").click()
        assert page.get_by_role("status").inner_text() == "Your password has been changed."
        page.context.close()


def test_a_deleted_password_ends_the_users_console_sessions(console_server, browser) -> None:
    """DeleteLoginProfile "terminates the user's ability to access AWS services through the AWS Management
    Console": a session signed in before kept working until it expired; so did one signed in before the password
    was deleted and made again."""
    from tests.conftest import make_client
    from tests.e2e.console import sign_in_user

    iam = make_client(console_server.endpoint, "iam")
    account = make_client(console_server.endpoint, "sts").get_caller_identity()["Account"]
    iam.create_user(UserName="console-leaver")
    for recreate in (False, True):
        iam.create_login_profile(UserName="console-leaver", Password="Leaver-Passw0rd!", PasswordResetRequired=False)
        page = sign_in_user(browser, console_server, account, "console-leaver", "Leaver-Passw0rd!")
        page.wait_for_url(re.compile(r".*/$"))
        page.goto("/iam")
        assert "/signin" not in page.url
        iam.delete_login_profile(UserName="console-leaver")
        if recreate:
            iam.create_login_profile(UserName="console-leaver", Password="Other-Passw0rd!",
                                     PasswordResetRequired=False)
        page.goto("/iam")
        assert "/signin" in page.url
        page.context.close()
    iam.delete_login_profile(UserName="console-leaver")
    iam.delete_user(UserName="console-leaver")
