"""Console passwords through the IAM API with boto3 (and the AWS CLI): login profiles, ChangePassword, the
account password policy and its enforcement, the account alias, DeleteUser conflicts, PasswordLastUsed.

These change account-wide settings (password policy, alias), so they run on a server of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from storeroom.signin import BadCredentials, SignInRequest
from tests.conftest import StoreroomServer, make_client, meta_url_for
from tests.e2e.console_signin import account_id, sign_in
from tests.e2e.helpers import unique_name
from tests.e2e.iam_cleanup import delete_user_fully
from tests.e2e.test_guide import user_env

GOOD = "Corr3ct-Horse-Battery"
VIOLATION = (400, "PasswordPolicyViolation", "Password does not conform to the account password policy.")


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
        meta_backend: str) -> Iterator[StoreroomServer]:
    srv = StoreroomServer(tmp_path_factory.mktemp("logins") / "data", workers=1,
                          meta_url=meta_url_for(request, meta_backend))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def iam(own: StoreroomServer) -> Any:
    return make_client(own.endpoint, service="iam")


@pytest.fixture(scope="module")
def raw_iam(own: StoreroomServer) -> Any:
    """Without botocore's own checks of the model's limits, so that the server's answer shows."""
    return make_client(own.endpoint, service="iam", parameter_validation=False)


@pytest.fixture
def no_policy(iam: Any) -> Iterator[None]:
    """The test changes the account password policy: remove it afterwards."""
    yield
    try:
        iam.delete_account_password_policy()
    except ClientError:
        pass


@pytest.fixture
def user(own: StoreroomServer, iam: Any) -> Iterator[Callable[..., tuple[str, Any]]]:
    """``user(policies=[arn…], inline={…})`` → (name, an IAM client signed with the user's own key)."""
    made: list[str] = []

    def make(policies: tuple[str, ...] = (), inline: dict[str, str] | None = None) -> tuple[str, Any]:
        name = unique_name("u")
        iam.create_user(UserName=name)
        made.append(name)
        for arn in policies:
            iam.attach_user_policy(UserName=name, PolicyArn=arn)
        for policy_name, document in (inline or {}).items():
            iam.put_user_policy(UserName=name, PolicyName=policy_name, PolicyDocument=document)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return name, make_client(own.endpoint, service="iam", access_key=key["AccessKeyId"],
                                 secret_key=key["SecretAccessKey"])

    yield make
    for name in made:
        delete_user_fully(iam, name)


# -- login profiles ------------------------------------------------------------------------------------------


def test_login_profile_lifecycle(iam: Any, user: Callable[..., tuple[str, Any]]) -> None:
    name, _ = user()
    with pytest.raises(ClientError) as exc:
        iam.get_login_profile(UserName=name)
    assert error(exc) == (404, "NoSuchEntity", f"Login Profile for User {name} cannot be found.")
    created = iam.create_login_profile(UserName=name, Password=GOOD, PasswordResetRequired=True)
    assert created["LoginProfile"]["UserName"] == name and created["LoginProfile"]["PasswordResetRequired"]
    assert GOOD not in json.dumps(created, default=str)  # the password never comes back
    got = iam.get_login_profile(UserName=name)["LoginProfile"]
    assert got["CreateDate"] == created["LoginProfile"]["CreateDate"] and got["PasswordResetRequired"] is True
    with pytest.raises(ClientError) as exc:
        iam.create_login_profile(UserName=name, Password=GOOD)
    assert error(exc) == (409, "EntityAlreadyExists", f"Login Profile for user {name} already exists.")
    iam.update_login_profile(UserName=name, PasswordResetRequired=False)
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    iam.update_login_profile(UserName=name, Password="An0ther-Passw0rd")
    iam.delete_login_profile(UserName=name)
    for call in (lambda: iam.delete_login_profile(UserName=name),
                 lambda: iam.update_login_profile(UserName=name, PasswordResetRequired=True)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == (404, "NoSuchEntity", f"Login Profile for User {name} cannot be found.")
    ghost = unique_name("ghost")
    with pytest.raises(ClientError) as exc:
        iam.create_login_profile(UserName=ghost, Password=GOOD)
    assert error(exc) == (404, "NoSuchEntity", f"The user with name {ghost} cannot be found.")


def test_passwords_are_checked_against_the_default_policy(iam: Any, user: Callable[..., tuple[str, Any]]) -> None:
    """No custom policy: AWS's default rules (8 characters, three kinds of characters)."""
    name, _ = user()
    for weak in ("Sh0rt!", "alllowercaseletters", "lowercase123"):
        with pytest.raises(ClientError) as exc:
            iam.create_login_profile(UserName=name, Password=weak)
        assert error(exc) == VIOLATION
    with pytest.raises(ClientError) as exc:  # the model's pattern: tab, newline and Latin-1 characters only
        iam.create_login_profile(UserName=name, Password="Passw0rd-\u20ac")
    assert error(exc)[:2] == (400, "ValidationError")
    iam.create_login_profile(UserName=name, Password="lowercase123!")


def test_delete_user_refused_while_a_login_profile_remains(iam: Any, user: Callable[..., tuple[str, Any]]) -> None:
    name, _ = user()
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.create_login_profile(UserName=name, Password=GOOD)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=name)
    assert error(exc) == (409, "DeleteConflict", "Cannot delete entity, must delete login profile first.")
    iam.delete_login_profile(UserName=name)
    iam.delete_user(UserName=name)


# -- the account password policy -----------------------------------------------------------------------------


def test_password_policy_get_update_delete(iam: Any, raw_iam: Any, own: StoreroomServer, no_policy: None) -> None:
    account = account_id(own)
    with pytest.raises(ClientError) as exc:
        iam.get_account_password_policy()
    assert error(exc) == (404, "NoSuchEntity", f"The Password Policy with domain name {account} cannot be found.")
    iam.update_account_password_policy(MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True,
                                       RequireUppercaseCharacters=True, RequireLowercaseCharacters=True,
                                       AllowUsersToChangePassword=True, MaxPasswordAge=90,
                                       PasswordReusePrevention=24, HardExpiry=True)
    assert iam.get_account_password_policy()["PasswordPolicy"] == {
        "MinimumPasswordLength": 14, "RequireSymbols": True, "RequireNumbers": True,
        "RequireUppercaseCharacters": True, "RequireLowercaseCharacters": True,
        "AllowUsersToChangePassword": True, "ExpirePasswords": True, "MaxPasswordAge": 90,
        "PasswordReusePrevention": 24, "HardExpiry": True}
    # no partial updates: what is not given reverts to its default; HardExpiry not given is not named
    # (LocalStack's AWS-recorded password policy defaults)
    iam.update_account_password_policy(MinimumPasswordLength=10)
    assert iam.get_account_password_policy()["PasswordPolicy"] == {
        "MinimumPasswordLength": 10, "RequireSymbols": False, "RequireNumbers": False,
        "RequireUppercaseCharacters": False, "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False, "ExpirePasswords": False}
    for bad in ({"MinimumPasswordLength": 5}, {"MaxPasswordAge": 1096}, {"PasswordReusePrevention": 25}):
        with pytest.raises(ClientError) as exc:
            raw_iam.update_account_password_policy(**bad)
        assert error(exc)[:2] == (400, "ValidationError")
    iam.delete_account_password_policy()
    with pytest.raises(ClientError) as exc:
        iam.delete_account_password_policy()
    assert error(exc) == (404, "NoSuchEntity", "The account policy with name PasswordPolicy cannot be found.")


def test_the_policy_is_enforced(iam: Any, user: Callable[..., tuple[str, Any]], no_policy: None) -> None:
    iam.update_account_password_policy(MinimumPasswordLength=12, RequireSymbols=True, RequireNumbers=True,
                                       RequireUppercaseCharacters=True, RequireLowercaseCharacters=True,
                                       AllowUsersToChangePassword=True, PasswordReusePrevention=2)
    name, own_iam = user()
    for weak in ("Sh0rt-Pass!", "no-upper-case-1!", "NO-LOWER-CASE-1!", "No-Numbers-Here!", "NoSymbols12345"):
        with pytest.raises(ClientError) as exc:
            iam.create_login_profile(UserName=name, Password=weak)
        assert error(exc) == VIOLATION, weak
    iam.create_login_profile(UserName=name, Password="First-Passw0rd!")
    with pytest.raises(ClientError) as exc:
        iam.update_login_profile(UserName=name, Password="weak")
    assert error(exc) == VIOLATION
    with pytest.raises(ClientError) as exc:
        own_iam.change_password(OldPassword="First-Passw0rd!", NewPassword="no-upper-passw0rd!")
    assert error(exc) == VIOLATION
    own_iam.change_password(OldPassword="First-Passw0rd!", NewPassword="Second-Passw0rd!")
    # PasswordReusePrevention=2: the current and the previous one are refused, an older one is not
    for reused in ("Second-Passw0rd!", "First-Passw0rd!"):
        with pytest.raises(ClientError) as exc:
            own_iam.change_password(OldPassword="Second-Passw0rd!", NewPassword=reused)
        assert error(exc) == VIOLATION, reused
    own_iam.change_password(OldPassword="Second-Passw0rd!", NewPassword="Third-Passw0rd!!")
    own_iam.change_password(OldPassword="Third-Passw0rd!!", NewPassword="First-Passw0rd!")


# -- ChangePassword ------------------------------------------------------------------------------------------


def test_change_password_needs_the_old_one_and_permission(iam: Any, own: StoreroomServer,
                                                          user: Callable[..., tuple[str, Any]],
                                                          no_policy: None) -> None:
    name, own_iam = user(policies=("arn:aws:iam::aws:policy/IAMUserChangePassword",))
    iam.create_login_profile(UserName=name, Password=GOOD, PasswordResetRequired=True)
    with pytest.raises(ClientError) as exc:
        own_iam.change_password(OldPassword="Not-the-0ld-one", NewPassword="New-Passw0rd!")
    assert error(exc) == (403, "AccessDenied", "The old password is incorrect.")
    own_iam.change_password(OldPassword=GOOD, NewPassword="New-Passw0rd!")
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    account = account_id(own)
    assert sign_in(own, SignInRequest.iam_user(account, name, "New-Passw0rd!")).principal.user_name == name
    with pytest.raises(BadCredentials):
        sign_in(own, SignInRequest.iam_user(account, name, GOOD))
    # without iam:ChangePassword: refused, unless the password policy lets every user change their own
    other, other_iam = user()
    iam.create_login_profile(UserName=other, Password=GOOD)
    with pytest.raises(ClientError) as exc:
        other_iam.change_password(OldPassword=GOOD, NewPassword="New-Passw0rd!")
    assert error(exc)[:2] == (403, "AccessDenied")
    assert f"is not authorized to perform: iam:ChangePassword on resource: user {other}" in error(exc)[2]
    iam.update_account_password_policy(MinimumPasswordLength=8, AllowUsersToChangePassword=True)
    assert other_iam.get_account_password_policy()["PasswordPolicy"]["AllowUsersToChangePassword"] is True
    other_iam.change_password(OldPassword=GOOD, NewPassword="New-Passw0rd!")
    # ... but an explicit Deny still wins
    iam.put_user_policy(UserName=other, PolicyName="no", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:ChangePassword", "Resource": "*"}]}))
    with pytest.raises(ClientError) as exc:
        other_iam.change_password(OldPassword="New-Passw0rd!", NewPassword="Newer-Passw0rd!")
    assert error(exc)[:2] == (403, "AccessDenied")
    # root has no IAM user password to change this way
    with pytest.raises(ClientError) as exc:
        iam.change_password(OldPassword=GOOD, NewPassword="New-Passw0rd!")
    assert error(exc)[:2] == (400, "InvalidUserType")


def test_guessing_the_old_password_is_slowed_down(iam: Any, user: Callable[..., tuple[str, Any]]) -> None:
    name, own_iam = user(policies=("arn:aws:iam::aws:policy/IAMUserChangePassword",))
    iam.create_login_profile(UserName=name, Password=GOOD)
    for i in range(6):  # five free failures, the sixth imposes a one-second wait
        with pytest.raises(ClientError) as exc:
            own_iam.change_password(OldPassword=f"Guess-{i}-Passw0rd", NewPassword="New-Passw0rd!")
        assert error(exc)[:2] == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:  # even the right one is not looked at now
        own_iam.change_password(OldPassword=GOOD, NewPassword="New-Passw0rd!")
    assert error(exc)[:2] == (409, "LimitExceeded")
    time.sleep(1.2)
    own_iam.change_password(OldPassword=GOOD, NewPassword="New-Passw0rd!")


# -- the account alias ---------------------------------------------------------------------------------------


def test_account_alias(iam: Any, raw_iam: Any, own: StoreroomServer, user: Callable[..., tuple[str, Any]]) -> None:
    assert iam.list_account_aliases()["AccountAliases"] == []
    alias = unique_name("shop")[:30]
    iam.create_account_alias(AccountAlias=alias)
    assert iam.list_account_aliases()["AccountAliases"] == [alias]
    # the alias signs IAM users in, like the account id
    name, _ = user()
    iam.create_login_profile(UserName=name, Password=GOOD)
    assert sign_in(own, SignInRequest.iam_user(alias, name, GOOD)).principal.user_name == name
    iam.create_account_alias(AccountAlias="second-alias")  # one alias per account: it replaces the first
    assert iam.list_account_aliases()["AccountAliases"] == ["second-alias"]
    with pytest.raises(BadCredentials):
        sign_in(own, SignInRequest.iam_user(alias, name, GOOD))
    with pytest.raises(ClientError) as exc:
        iam.delete_account_alias(AccountAlias=alias)
    assert error(exc) == (404, "NoSuchEntity", f"The account alias {alias} cannot be found.")
    for bad in ("-leading", "trailing-", "double--hyphen", "Upper", "ab", "under_score"):
        with pytest.raises(ClientError) as exc:
            raw_iam.create_account_alias(AccountAlias=bad)
        assert error(exc)[:2] == (400, "ValidationError"), bad
    iam.delete_account_alias(AccountAlias="second-alias")
    assert iam.list_account_aliases()["AccountAliases"] == []


# -- PasswordLastUsed ----------------------------------------------------------------------------------------


def test_password_last_used_follows_console_sign_ins(iam: Any, own: StoreroomServer,
                                                     user: Callable[..., tuple[str, Any]]) -> None:
    name, _ = user()
    iam.create_login_profile(UserName=name, Password=GOOD)
    assert "PasswordLastUsed" not in iam.get_user(UserName=name)["User"]
    before = time.time()
    sign_in(own, SignInRequest.iam_user(account_id(own), name, GOOD))
    used = iam.get_user(UserName=name)["User"]["PasswordLastUsed"].timestamp()
    assert before - 1 <= used <= time.time() + 1
    listed = {u["UserName"]: u for u in iam.list_users()["Users"]}
    assert listed[name]["PasswordLastUsed"].timestamp() == used
    # root, with the password its first start saved
    root_password = (own.data_dir / "root-password.txt").read_text().strip()
    sign_in(own, SignInRequest.root("root@localhost", root_password))
    assert "PasswordLastUsed" in iam.get_user()["User"]
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["AccountPasswordPresent"] == 1


# -- the AWS CLI ---------------------------------------------------------------------------------------------


def test_aws_cli_sets_a_password_and_policy(own: StoreroomServer, iam: Any, tmp_path: Path,
                                             no_policy: None) -> None:
    name = unique_name("cli")

    def aws(*args: str) -> Any:
        p = subprocess.run([sys.executable, "-m", "awscli", "iam", *args, "--output", "json"], cwd=tmp_path,
                           env=user_env(own.endpoint, tmp_path), capture_output=True, timeout=120)
        assert p.returncode == 0, (args, p.stdout.decode(), p.stderr.decode())
        return json.loads(p.stdout) if p.stdout.strip() else None

    try:
        aws("update-account-password-policy", "--minimum-password-length", "10", "--require-numbers",
            "--allow-users-to-change-password")
        policy = aws("get-account-password-policy")["PasswordPolicy"]
        assert (policy["MinimumPasswordLength"], policy["RequireNumbers"]) == (10, True)
        aws("create-user", "--user-name", name)
        profile = aws("create-login-profile", "--user-name", name, "--password", "Cli-Passw0rd",
                      "--password-reset-required")["LoginProfile"]
        assert profile["PasswordResetRequired"] is True
        assert aws("get-login-profile", "--user-name", name)["LoginProfile"]["UserName"] == name
        assert sign_in(own, SignInRequest.iam_user(account_id(own), name,
                                                            "Cli-Passw0rd")).password_reset_required
    finally:
        delete_user_fully(iam, name)
    assert os.environ.get("AWS_ACCESS_KEY_ID") != "Cli-Passw0rd"  # nothing leaked into this process


# -- the API is itself authorized ----------------------------------------------------------------------------


def test_an_iam_user_needs_permission(iam: Any, own: StoreroomServer, user: Callable[..., tuple[str, Any]],
                                      no_policy: None) -> None:
    account = account_id(own)
    target, _ = user()
    name, own_iam = user()
    for call, action, resource in (
            # a user named as IAM's refusals name one: "user NAME" (AWS's answers)
            (lambda: own_iam.create_login_profile(UserName=target, Password=GOOD), "iam:CreateLoginProfile",
             f"user {target}"),
            (lambda: own_iam.get_login_profile(), "iam:GetLoginProfile", f"user {name}"),
            (lambda: own_iam.update_account_password_policy(MinimumPasswordLength=6),
             "iam:UpdateAccountPasswordPolicy", "*"),
            (lambda: own_iam.get_account_password_policy(), "iam:GetAccountPasswordPolicy", "*"),
            (lambda: own_iam.create_account_alias(AccountAlias="not-mine"), "iam:CreateAccountAlias", "*")):
        with pytest.raises(ClientError) as exc:
            call()
        status, code, message = error(exc)
        assert (status, code) == (403, "AccessDenied")
        assert f"is not authorized to perform: {action} on resource: {resource}" in message
    iam.put_user_policy(UserName=name, PolicyName="logins", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "iam:CreateLoginProfile", "iam:GetLoginProfile", "iam:DeleteLoginProfile"],
            "Resource": f"arn:aws:iam::{account}:user/*"}]}))
    own_iam.create_login_profile(UserName=target, Password=GOOD)
    assert own_iam.get_login_profile(UserName=target)["LoginProfile"]["UserName"] == target
    own_iam.delete_login_profile(UserName=target)
