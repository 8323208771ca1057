"""The IAM pages beyond the guide: an IAM user's console sign-in and its explained denials, groups, policies,
the policy simulator, account settings, access key actions."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_client
from tests.e2e.console import new_page, screenshot, sign_in_root, sign_in_user

# SQLite only: the console calls the same service code the API suites run on both backends.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")

READER_PASSWORD = "Reader-Passw0rd!"


@pytest.fixture(scope="module")
def root_iam(console_server):  # type: ignore[no-untyped-def]
    return make_client(console_server.endpoint, "iam")


@pytest.fixture(scope="module")
def account(console_server) -> str:
    return str(make_client(console_server.endpoint, "sts").get_caller_identity()["Account"])


def test_read_only_user_sees_users_but_not_create(console_server, browser, root_iam, account) -> None:
    """(3) An IAM user with a console password and IAMReadOnlyAccess: the users list, then "Create user" is
    refused with AWS's reason and, once an explicit Deny decides it, that statement."""
    root_iam.create_user(UserName="reader")
    root_iam.create_login_profile(UserName="reader", Password=READER_PASSWORD, PasswordResetRequired=False)
    root_iam.attach_user_policy(UserName="reader", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")

    page = sign_in_user(browser, console_server, account, "reader", READER_PASSWORD)
    page.get_by_role("link", name="IAM", exact=True).click()
    page.get_by_role("navigation", name="IAM").get_by_role("link", name="Users", exact=True).click()
    assert page.get_by_role("link", name="reader", exact=True).is_visible()

    def try_create() -> str:
        page.get_by_role("navigation", name="IAM").get_by_role("link", name="Users", exact=True).click()
        page.get_by_role("link", name="Create user").click()
        page.get_by_label("User name").fill("intruder")
        page.get_by_role("button", name="Next").click()
        page.get_by_role("button", name="Next").click()
        page.get_by_role("button", name="Create user").click()
        return page.get_by_role("alert").inner_text()

    text = try_create()
    assert (f"User: arn:aws:iam::{account}:user/reader is not authorized to perform: iam:CreateUser on resource: "
            "user intruder because no identity-based policy allows the iam:CreateUser action") in text
    assert "Implicitly denied" in text
    screenshot(page, "access-denied")

    deny = {"Version": "2012-10-17", "Statement": [{"Sid": "NoNewUsers", "Effect": "Deny",
                                                    "Action": "iam:CreateUser", "Resource": "*"}]}
    root_iam.put_user_policy(UserName="reader", PolicyName="no-new-users", PolicyDocument=json.dumps(deny))
    text = try_create()
    assert "with an explicit deny in an identity-based policy" in text and "Explicitly denied" in text
    statement = page.get_by_label("Deciding statement").inner_text()
    assert json.loads(statement) == deny["Statement"][0]
    assert root_iam.list_users()["Users"] and all(u["UserName"] != "intruder" for u in root_iam.list_users()["Users"])


def test_key_actions_deactivate_activate_delete(console_server, browser, root_iam) -> None:
    root_iam.create_user(UserName="keyholder")
    key_id = root_iam.create_access_key(UserName="keyholder")["AccessKey"]["AccessKeyId"]
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    page.goto("/iam/users/keyholder?tab=security")
    page.get_by_label(f"Actions for {key_id}").click()
    page.get_by_role("link", name="Deactivate").click()
    # asked first, as AWS's console asks (console probe, finding 12); Cancel changes nothing
    page.get_by_role("heading", name="Deactivate access key?").wait_for()
    page.get_by_role("link", name="Cancel").click()
    assert root_iam.list_access_keys(UserName="keyholder")["AccessKeyMetadata"][0]["Status"] == "Active"
    page.get_by_label(f"Actions for {key_id}").click()
    page.get_by_role("link", name="Deactivate").click()
    page.get_by_role("button", name="Deactivate").click()
    assert page.get_by_role("status").inner_text() == f"Access key {key_id} deactivated."
    assert root_iam.list_access_keys(UserName="keyholder")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    page.get_by_label(f"Actions for {key_id}").click()
    page.get_by_role("button", name="Activate").click()
    assert root_iam.list_access_keys(UserName="keyholder")["AccessKeyMetadata"][0]["Status"] == "Active"
    # a second key, then no third: IAM's two keys
    root_iam.create_access_key(UserName="keyholder")
    page.reload()
    assert page.get_by_role("link", name="Create access key").count() == 0
    assert page.get_by_text("At most 2 access keys").is_visible()
    page.get_by_label(f"Actions for {key_id}").click()
    page.get_by_role("row", name=key_id).get_by_role("link", name="Delete").click()
    # AWS's dialog: an active key is deactivated there first; until then its id cannot be typed
    confirm = page.get_by_label("To confirm deletion, enter the access key ID in the text input field.")
    assert confirm.is_disabled()
    page.get_by_role("button", name="Deactivate").click()
    assert page.get_by_role("status").inner_text() == f"Access key {key_id} deactivated."
    assert {k["AccessKeyId"]: k["Status"] for k in root_iam.list_access_keys(UserName="keyholder")[
        "AccessKeyMetadata"]}[key_id] == "Inactive"
    delete = page.get_by_role("button", name="Delete")
    assert delete.is_disabled()                                   # until the key id is typed
    page.get_by_label("To confirm deletion, enter the access key ID in the text input field.").fill(key_id)
    delete.click()
    assert page.get_by_role("status").inner_text() == f"Access key {key_id} deleted."
    assert key_id not in [k["AccessKeyId"] for k in root_iam.list_access_keys(UserName="keyholder")[
        "AccessKeyMetadata"]]


def test_policy_editor_groups_and_simulator(console_server, browser, root_iam) -> None:
    """Create policy: the API's validation message at its line and column, then the policy; a group with it and
    a member; the simulator shows the decision per action and highlights the deciding statement."""
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    page.goto("/iam/policies")
    page.get_by_role("link", name="Create policy").click()
    editor = page.get_by_label("Policy editor")
    editor.fill('{\n  "Version": "2012-10-17",\n  "Statement": [\n'
                '    {"Effect": "Allow" "Action": "s3:GetObject"}\n  ]\n}')
    page.get_by_label("Policy name").fill("read-reports")
    page.get_by_role("button", name="Create policy").click()
    alert = page.get_by_role("alert").inner_text()
    assert "MalformedPolicyDocument: Syntax errors in policy." in alert and "Line 4, column 24" in alert
    document = {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadReports", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"},
        {"Sid": "NeverDelete", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}]}
    page.get_by_label("Policy editor").fill(json.dumps(document, indent=2))
    page.get_by_role("button", name="Create policy").click()
    assert page.get_by_role("status").inner_text() == "Policy read-reports created."
    screenshot(page, "policy")

    page.goto("/iam/groups")
    page.get_by_role("link", name="Create group").click()
    page.get_by_label("User group name").fill("analysts")
    root_iam.create_user(UserName="analyst")
    page.reload()
    page.get_by_label("User group name").fill("analysts")
    page.get_by_label("analyst", exact=True).check()
    page.get_by_role("checkbox", name="read-reports").check()
    page.get_by_role("button", name="Create user group").click()
    assert page.get_by_role("status").inner_text() == "analysts user group created."
    assert [u["UserName"] for u in root_iam.get_group(GroupName="analysts")["Users"]] == ["analyst"]

    page.goto("/iam/policies?type=customer")
    page.get_by_role("link", name="read-reports").click()
    page.get_by_role("tab", name="Entities attached").click()
    assert page.get_by_role("cell", name="analysts").is_visible()

    page.goto("/iam/simulator")
    page.get_by_label("Principal").select_option(label="analyst")
    page.get_by_label("Actions").fill("s3:GetObject, s3:DeleteObject, s3:PutObject")
    page.get_by_label("Resource ARNs").fill("arn:aws:s3:::reports/q1.csv")
    page.get_by_role("button", name="Run simulation").click()
    rows = page.locator("#simulation-results tbody tr")
    assert rows.nth(0).get_by_role("cell").nth(2).inner_text() == "Allowed"
    assert rows.nth(1).get_by_role("cell").nth(2).inner_text() == "Explicitly denied"
    assert rows.nth(2).get_by_role("cell").nth(2).inner_text() == "Implicitly denied"
    assert "with an explicit deny in an identity-based policy" in rows.nth(1).inner_text()
    assert "because no identity-based policy allows the s3:PutObject action" in rows.nth(2).inner_text()
    deciding = rows.nth(1).locator("mark").inner_text()
    assert json.loads(deciding) == document["Statement"][1]
    screenshot(page, "policy-simulator")


def test_deleting_a_policy_detaches_it_from_roles_too(console_server, browser, root_iam) -> None:
    """AWS detaches a policy from every user, group and role before DeletePolicy; roles were left, so the
    deletion failed after users and groups had lost it and its older versions were gone."""
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    arn = root_iam.create_policy(PolicyName="everywhere", PolicyDocument=document)["Policy"]["Arn"]
    root_iam.create_policy_version(PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
    root_iam.create_role(RoleName="everywhere-role", AssumeRolePolicyDocument=trust)
    root_iam.attach_role_policy(RoleName="everywhere-role", PolicyArn=arn)
    root_iam.create_user(UserName="everywhere-user")
    root_iam.attach_user_policy(UserName="everywhere-user", PolicyArn=arn)
    root_iam.create_user(UserName="everywhere-bounded")
    root_iam.put_user_permissions_boundary(UserName="everywhere-bounded", PermissionsBoundary=arn)
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    page.goto("/iam/policies?type=customer")
    page.get_by_role("link", name="everywhere", exact=True).click()
    page.get_by_label("Type the policy name to delete it").fill("everywhere")
    page.locator("#delete-policy").click()
    # a boundary is not detached: refused before anything changes
    assert "permissions boundary of everywhere-bounded" in page.get_by_role("status").inner_text()
    assert len(root_iam.list_attached_role_policies(RoleName="everywhere-role")["AttachedPolicies"]) == 1
    assert len(root_iam.list_policy_versions(PolicyArn=arn)["Versions"]) == 2
    root_iam.delete_user_permissions_boundary(UserName="everywhere-bounded")
    page.get_by_label("Type the policy name to delete it").fill("everywhere")
    page.locator("#delete-policy").click()
    assert page.get_by_role("status").inner_text() == "Policy everywhere deleted."
    assert root_iam.list_attached_role_policies(RoleName="everywhere-role")["AttachedPolicies"] == []
    assert arn not in [p["Arn"] for p in root_iam.list_policies(Scope="Local")["Policies"]]


def test_a_group_with_more_policies_than_iam_allows_is_not_made(console_server, browser, root_iam) -> None:
    """IAM refuses an 11th policy on a group: the wizard made the group, then failed, and a retry found the name
    taken."""
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    for i in range(11):
        root_iam.create_policy(PolicyName=f"many-{i}", PolicyDocument=document)
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    for path, label, name, button, made in (
            ("/iam/groups/create", "User group name", "too-many", "Create user group",
             lambda: [g["GroupName"] for g in root_iam.list_groups()["Groups"]]),
            ("/iam/roles/create", "Role name", "too-many-role", "Create role",
             lambda: [r["RoleName"] for r in root_iam.list_roles()["Roles"]])):
        page.goto(path)
        page.get_by_label(label).fill(name)
        for i in range(11):
            page.get_by_role("checkbox", name=f"many-{i}", exact=True).check()
        page.get_by_role("button", name=button).click()
        assert "up to 10 policies" in page.get_by_role("alert").inner_text()
        assert name not in made()


def test_account_alias_signs_a_user_in(console_server, browser, root_iam) -> None:
    root_iam.create_user(UserName="aliased")
    root_iam.create_login_profile(UserName="aliased", Password=READER_PASSWORD, PasswordResetRequired=True)
    root_iam.attach_user_policy(UserName="aliased", PolicyArn="arn:aws:iam::aws:policy/IAMUserChangePassword")
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    page.goto("/iam/account-settings")
    page.get_by_role("textbox", name="Account alias").fill("storeroom-console-test")
    page.get_by_role("button", name="Create").click()
    assert page.get_by_role("status").inner_text() == "Account alias set to storeroom-console-test."
    # the user signs in with the alias, and must change the password first
    page = sign_in_user(browser, console_server, "storeroom-console-test", "aliased", READER_PASSWORD)
    page.get_by_role("heading", name="Change password").wait_for()
    page.goto("/iam")
    assert page.get_by_role("heading", name="Change password").is_visible()      # nothing else until done
    # a password the policy refuses is told what it lacks (it said only "does not conform")
    page.get_by_label("Old password").fill(READER_PASSWORD)
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Retype new password").fill("short")
    page.get_by_role("button", name="Change password").click()
    assert "Password must be at least" in page.get_by_role("alert").inner_text()
    page.get_by_label("Old password").fill(READER_PASSWORD)
    page.get_by_label("New password", exact=True).fill("Changed-Passw0rd!")
    page.get_by_label("Retype new password").fill("Changed-Passw0rd!")
    page.get_by_role("button", name="Change password").click()
    assert page.get_by_role("status").inner_text() == "Your password has been changed."
    page.goto("/iam")
    assert page.get_by_role("heading", name="IAM dashboard").is_visible()
    assert "iam:GetAccountSummary" in page.get_by_role("alert").inner_text()   # IAMUserChangePassword only
    # the root-only page is not shown to an IAM user
    page.goto("/account/root-password")
    assert "Only the root user changes the root user's password" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Current password").count() == 0
    # an alias IAM refuses leaves the account's alias as it was (it was deleted before the new one was judged)
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    page.goto("/iam/account-settings")
    page.get_by_role("textbox", name="Account alias").fill("Bad_Alias!")
    page.get_by_role("button", name="Edit").click()
    assert "ValidationError" in page.get_by_role("alert").inner_text()
    assert root_iam.list_account_aliases()["AccountAliases"] == ["storeroom-console-test"]
    # the refused value stays in the field, and so does a refused password policy's (console probe, finding 3)
    assert page.get_by_role("textbox", name="Account alias").input_value() == "Bad_Alias!"
    page.get_by_label("Password minimum length").fill("5")
    page.get_by_label("Require at least one number").check()
    reuse = page.get_by_label("Prevent password reuse: remember this many passwords (empty: allow reuse)")
    reuse.fill("7")
    page.get_by_role("button", name="Save changes").click()
    assert "minimumPasswordLength" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Password minimum length").input_value() == "5"
    assert page.get_by_label("Require at least one number").is_checked()
    assert reuse.input_value() == "7"


def test_mfa_condition_applies_to_console_actions(console_server, browser, root_iam, account) -> None:
    """The session carries aws:MultiFactorAuthPresent: AWS's "deny unless signed in with MFA" statement refuses
    the users list to a password-only session (the deciding statement shown), not to one signed in with MFA."""
    import time

    import pyotp

    root_iam.create_user(UserName="careful")
    root_iam.create_login_profile(UserName="careful", Password=READER_PASSWORD, PasswordResetRequired=False)
    root_iam.attach_user_policy(UserName="careful", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    deny = {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyWithoutMFA", "Effect": "Deny", "Action": "iam:ListUsers", "Resource": "*",
        "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]}
    root_iam.put_user_policy(UserName="careful", PolicyName="mfa-or-nothing", PolicyDocument=json.dumps(deny))

    page = sign_in_user(browser, console_server, account, "careful", READER_PASSWORD)
    page.goto("/iam/users")
    assert "with an explicit deny in an identity-based policy" in page.get_by_role("alert").inner_text()
    assert json.loads(page.get_by_label("Deciding statement").inner_text())["Sid"] == "DenyWithoutMFA"

    device = root_iam.create_virtual_mfa_device(VirtualMFADeviceName="careful-phone")["VirtualMFADevice"]
    totp = pyotp.TOTP(device["Base32StringSeed"].decode())
    step = int(time.time() // 30)
    root_iam.enable_mfa_device(UserName="careful", SerialNumber=device["SerialNumber"],
                               AuthenticationCode1=totp.at((step - 2) * 30),
                               AuthenticationCode2=totp.at((step - 1) * 30))
    page = sign_in_user(browser, console_server, account, "careful", READER_PASSWORD)
    page.get_by_label("MFA code").fill(totp.now())
    page.get_by_role("button", name="Submit").click()
    page.get_by_role("heading", name="Console home").wait_for()
    page.goto("/iam/users")
    assert page.get_by_role("link", name="careful", exact=True).is_visible()
    # the records of console actions say so, and whether the session signed in with MFA, as CloudTrail's do
    trail = make_client(console_server.endpoint, "cloudtrail")
    by_user = [{"AttributeKey": "Username", "AttributeValue": "careful"}]
    deadline = time.monotonic() + 10
    records: list[dict[str, Any]] = []
    while len(records) < 2 and time.monotonic() < deadline:
        records = [json.loads(e["CloudTrailEvent"]) for e in trail.lookup_events(LookupAttributes=by_user)["Events"]
                   if e["EventName"] == "ListUsers"]
        time.sleep(0.3)
    assert {r["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"] for r in records} == {
        "true", "false"}
    assert all(r["sessionCredentialFromConsole"] == "true" for r in records)


def test_keyboard_and_phone_width(console_server, browser) -> None:
    """Signing in with the keyboard alone; the IAM pages fit a phone's width (tables scroll inside their box)."""
    from tests.e2e.console import ROOT_EMAIL, ROOT_PASSWORD, new_page

    page = new_page(browser, console_server)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/signin")
    page.get_by_label("Email address").focus()
    page.keyboard.type(ROOT_EMAIL)
    page.keyboard.press("Tab")
    page.keyboard.type(ROOT_PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Console home").wait_for()
    for path in ("/iam", "/iam/users", "/iam/users/create", "/iam/policies", "/iam/simulator"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    page.goto("/iam/users")
    screenshot(page, "phone-users")


def _user_details(browser, server, name: str, password: str | None = None, page=None):  # type: ignore[no-untyped-def]
    """Root's (or ``page``'s signed-in user's) "Create user" wizard, its details step filled: console access with
    an autogenerated password (``password`` None) or that custom one."""
    if page is None:
        page = sign_in_root(browser, server)
    page.wait_for_url("**/")
    page.goto("/iam/users/create")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Provide user access to the AWS Management Console").check()
    if password is None:
        page.get_by_label("Autogenerated password").check()
    else:
        page.get_by_label("Custom password").check()
        page.get_by_label("Password", exact=True).fill(password)
    return page


def _create_key(page, path: str, description: str) -> None:  # type: ignore[no-untyped-def]
    """The guide's "Create access key" steps at ``path``: Local code, the acknowledgement, the description."""
    page.goto(path)
    page.get_by_label("Local code").check()
    page.get_by_label("I understand the above recommendation and want to proceed to create an access key.").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Description tag value").fill(description)
    page.get_by_role("button", name="Create access key").click()


def test_create_user_with_console_password(console_server, browser, account, root_iam) -> None:
    """The wizard's "Provide user access to the AWS Management Console" with an autogenerated password: shown
    once, and the new user must choose another at first sign-in."""
    aliases = root_iam.list_account_aliases()["AccountAliases"]  # (another test of this server may set one)
    signs_in_as = aliases[0] if aliases else account
    page = _user_details(browser, console_server, "newcomer")
    assert page.get_by_label("Users must create a new password at next sign-in").is_checked()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Create user").click()
    page.get_by_role("heading", name="Retrieve password").wait_for()
    password = page.get_by_label("Console password").input_value()
    assert len(password) >= 20
    # the sign-in URL names the account (by its alias when it has one, as the dashboard's and AWS's
    # <account-id-or-alias>.signin.aws.amazon.com/console do)
    url = page.locator("dt:has-text('Console sign-in URL') + dd code").inner_text()
    assert url.endswith(f"/signin?account={signs_in_as}")
    invited = new_page(browser, console_server)
    invited.goto(url)
    assert invited.get_by_label("IAM user", exact=True).is_checked()
    assert invited.get_by_label("Account ID (12 digits) or account alias").input_value() == signs_in_as
    page.reload()
    assert "can no longer be shown" in page.get_by_role("alert").inner_text()
    newcomer = sign_in_user(browser, console_server, account, "newcomer", password)
    newcomer.get_by_role("heading", name="Change password").wait_for()
    # AWS's console attaches IAMUserChangePassword with the reset: without it the change was refused and the
    # new user could do nothing at all
    newcomer.get_by_label("Old password").fill(password)
    newcomer.get_by_label("New password", exact=True).fill("Newcomer-Passw0rd!")
    newcomer.get_by_label("Retype new password").fill("Newcomer-Passw0rd!")
    newcomer.get_by_role("button", name="Change password").click()
    assert newcomer.get_by_role("status").inner_text() == "Your password has been changed."


def test_an_admin_who_may_not_attach_policies_still_sees_the_password(console_server, browser, root_iam,
                                                                      account) -> None:
    """Attaching IAMUserChangePassword refused (a delegated admin without iam:AttachUserPolicy): the user and its
    password existed, and the password was never shown."""
    creates = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:CreateUser", "iam:CreateLoginProfile", "iam:DeleteUser", "iam:Get*",
                                       "iam:List*"], "Resource": "*"}]})
    root_iam.create_user(UserName="delegate")
    root_iam.create_login_profile(UserName="delegate", Password=READER_PASSWORD)
    root_iam.put_user_policy(UserName="delegate", PolicyName="creates", PolicyDocument=creates)
    delegate = sign_in_user(browser, console_server, account, "delegate", READER_PASSWORD)
    page = _user_details(browser, console_server, "delegated", page=delegate)
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Create user").click()
    page.get_by_role("heading", name="Retrieve password").wait_for()
    assert len(page.get_by_label("Console password").input_value()) >= 20
    assert "IAMUserChangePassword was not attached (AccessDenied)" in page.get_by_role("status").inner_text()


def test_a_custom_password_the_policy_refuses_creates_nothing(console_server, browser, root_iam) -> None:
    """AWS's console judges a custom password on the details step; the wizard made the user, then failed at
    CreateLoginProfile, leaving a user without password or permissions that blocked a second try."""
    page = _user_details(browser, console_server, "weak-password", "abc")
    page.get_by_role("button", name="Next").click()
    alert = page.get_by_role("alert").inner_text()
    assert "does not conform to the account password policy" in alert and "at least 8 characters" in alert
    assert "weak-password" not in [u["UserName"] for u in root_iam.list_users()["Users"]]


def test_a_password_csv_quotes_what_needs_quoting(console_server, browser, root_iam) -> None:
    """RFC 4180: a console password may hold a comma or a quote; the downloaded CSV split it into columns."""
    password = 'Abc,def"123!x'
    page = _user_details(browser, console_server, "csv-user", password)
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Create user").click()
    page.get_by_role("heading", name="Retrieve password").wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download .csv file").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0] == ["User name", "Password", "Console sign-in URL"]
    assert rows[1][:2] == ["csv-user", password] and len(rows[1]) == 3
    # the account's alias in the URL, as the page and the dashboard show it (it was the account ID)
    root_iam.create_account_alias(AccountAlias="csv-alias-test")
    try:
        page.goto("/iam")
        shown = page.locator("dt:has-text('Sign-in URL for IAM users in this account') + dd code").inner_text()
        assert shown.endswith("/signin?account=csv-alias-test")
        page = _user_details(browser, console_server, "csv-user-2", password)
        page.get_by_role("button", name="Next").click()
        page.get_by_role("button", name="Next").click()
        page.get_by_role("button", name="Create user").click()
        page.get_by_role("heading", name="Retrieve password").wait_for()
        assert page.locator("dt:has-text('Console sign-in URL') + dd code").inner_text() == shown
        with page.expect_download() as download:
            page.get_by_role("button", name="Download .csv file").click()
        assert list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))[1][2] == shown
    finally:
        root_iam.delete_account_alias(AccountAlias="csv-alias-test")


def test_a_key_description_iam_refuses_creates_no_key(console_server, browser, root_iam) -> None:
    """The description is judged before CreateAccessKey (IAM's tag value characters), and a key whose tag IAM
    then refuses (the user's 50 tags) is taken back: a key was left active whose secret nobody ever saw."""
    root_iam.create_user(UserName="described", Tags=[{"Key": f"t{i}", "Value": "v"} for i in range(50)])
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")

    def create(description: str) -> str:
        _create_key(page, "/iam/users/described/access-keys/create", description)
        return page.get_by_role("alert").inner_text()

    assert "Allowed characters are letters, numbers" in create("Bob's key! (prod)")
    assert "TagsPerUser" in create("a valid description")
    assert root_iam.list_access_keys(UserName="described")["AccessKeyMetadata"] == []


def test_an_iam_users_own_key_keeps_its_description(console_server, browser, root_iam, account) -> None:
    """"My security credentials": the description becomes the user's own tag, as AWS does; it was dropped."""
    root_iam.create_user(UserName="selfie")
    root_iam.create_login_profile(UserName="selfie", Password=READER_PASSWORD, PasswordResetRequired=False)
    root_iam.attach_user_policy(UserName="selfie", PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")
    page = sign_in_user(browser, console_server, account, "selfie", READER_PASSWORD)
    page.wait_for_url("**/")
    _create_key(page, "/iam/security-credentials/access-keys/create", "my own laptop key")
    page.get_by_role("heading", name="Retrieve access keys").wait_for()
    key_id = page.get_by_label("Access key", exact=True).input_value()
    assert root_iam.list_user_tags(UserName="selfie")["Tags"] == [{"Key": key_id, "Value": "my own laptop key"}]


def test_security_credentials_show_each_section_the_user_may_see(console_server, browser, root_iam,
                                                                  account) -> None:
    """AWS's "manage only your own MFA device" policy (reference_policies_examples_aws_my-sec-creds-self-manage-
    mfa-only): the page was a 403 (ListAccessKeys refused), so "Assign MFA device" could not be reached."""
    mfa_only = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowManageOwnVirtualMFADevice", "Effect": "Allow",
         "Action": ["iam:CreateVirtualMFADevice"], "Resource": "arn:aws:iam::*:mfa/*"},
        {"Sid": "AllowManageOwnUserMFA", "Effect": "Allow",
         "Action": ["iam:DeactivateMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:ListMFADevices",
                    "iam:ResyncMFADevice"], "Resource": "arn:aws:iam::*:user/${aws:username}"}]})
    root_iam.create_user(UserName="mfa-only")
    root_iam.create_login_profile(UserName="mfa-only", Password=READER_PASSWORD)
    root_iam.put_user_policy(UserName="mfa-only", PolicyName="mfa-only", PolicyDocument=mfa_only)
    page = sign_in_user(browser, console_server, account, "mfa-only", READER_PASSWORD)
    page.wait_for_url("**/")
    response = page.goto("/iam/security-credentials")
    assert response is not None and response.status == 200
    assert page.get_by_role("link", name="Assign MFA device").is_visible()
    refusals = page.get_by_role("alert").all_inner_texts()
    assert any("iam:ListAccessKeys" in text for text in refusals)
    assert "No MFA devices" in page.get_by_role("table", name="MFA devices").inner_text()
    # AWS's own "manage your access keys" policy has no iam:ListUserTags: the keys are listed anyway, their
    # descriptions unknown (the whole section was refused)
    keys_only = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
        "iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:GetAccessKeyLastUsed", "iam:GetUser",
        "iam:ListAccessKeys", "iam:UpdateAccessKey", "iam:TagUser"],
        "Resource": "arn:aws:iam::*:user/${aws:username}"}]})
    root_iam.create_user(UserName="keys-only")
    root_iam.create_login_profile(UserName="keys-only", Password=READER_PASSWORD)
    root_iam.put_user_policy(UserName="keys-only", PolicyName="keys-only", PolicyDocument=keys_only)
    key = root_iam.create_access_key(UserName="keys-only")["AccessKey"]["AccessKeyId"]
    page = sign_in_user(browser, console_server, account, "keys-only", READER_PASSWORD)
    page.wait_for_url("**/")
    page.goto("/iam/security-credentials")
    row = page.locator("#access-keys tbody tr").first.inner_text()
    assert key in row and "Unknown" in row and "Never" in row


def test_the_mfa_device_name_pattern_is_one_the_browser_takes(console_server, browser, root_iam) -> None:
    """Chromium compiles ``pattern`` with the ``v`` flag, where a ``-`` closing a class must be escaped: the
    device name's pattern was dropped with a console error, and nothing was checked before the server (console
    probe, finding 11)."""
    root_iam.create_user(UserName="patterned")
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    page.goto("/iam/users/patterned/mfa/assign")
    field = page.get_by_label("Device name")
    field.fill("bad name!")
    assert field.evaluate("i => i.validity.patternMismatch") is True
    field.fill("my-phone_1@x.y")
    assert field.evaluate("i => i.validity.patternMismatch") is False


def test_create_user_checks_the_name_on_its_first_step(console_server, browser, root_iam) -> None:
    """A name IAM refuses is said on the details step, as AWS's console says it, not after Set permissions and
    Review (console probe, finding 6)."""
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    page.goto("/iam/users/create")
    page.get_by_label("User name").fill("bad name\"q")
    page.get_by_role("button", name="Next").click()
    assert ("ValidationError: The specified value for userName is invalid. It must contain only alphanumeric "
            "characters and/or the following: +=,.@_-") in page.get_by_role("alert").inner_text()
    assert page.get_by_label("User name").input_value() == "bad name\"q"
    assert "bad name\"q" not in [u["UserName"] for u in root_iam.list_users()["Users"]]


def test_a_policy_naming_an_action_s3_does_not_have_is_warned_of(console_server, browser, root_iam) -> None:
    """IAM takes any action name, and a misspelt one allows (or denies) nothing: AWS's console flags it. The
    policy is made, with a warning naming the action (console probe, finding 5)."""
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    page.goto("/iam/policies/create")
    page.get_by_label("Policy editor").fill(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObjekt", "s3:GetObject", "s3:List*"], "Resource": "*"},
        {"Effect": "Deny", "NotAction": "iam:GetUser", "Resource": "arn:aws:iam::*:user/nobody"}]}))
    page.get_by_label("Policy name").fill("misspelt")
    page.get_by_role("button", name="Create policy").click()
    assert page.get_by_role("status").inner_text() == (
        "Policy misspelt created. Warning: s3:PutObjekt is not an action of Amazon S3: it matches no request.")


def test_the_delete_page_of_a_key_the_user_has_not_is_not_found(console_server, browser, root_iam) -> None:
    """"Delete AKIANOPE?" was offered for a key that does not exist (console probe, finding 13)."""
    root_iam.create_user(UserName="keyless")
    page = sign_in_root(browser, console_server)
    page.wait_for_url("**/")
    response = page.goto("/iam/users/keyless/access-keys/AKIANOPENOPENOPENOPE/delete")
    assert response is not None and response.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
