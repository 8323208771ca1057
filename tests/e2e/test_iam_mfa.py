"""Virtual MFA devices through the IAM API, with real TOTP codes (pyotp): create (seed and QR code), enable
with two consecutive codes, list, resync, deactivate, delete, tags, DeleteUser conflicts, the account summary,
users managing their own device, root's device; and the sign-in asking for and checking the codes.

Account-wide counts are asserted, so these run on a server of their own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import segno
from botocore.exceptions import ClientError

from storeroom.signin import BadMfaCode, MfaRequired, SignInRequest
from tests.conftest import StoreroomServer, make_client, meta_url_for
from tests.e2e.console_signin import account_id, sign_in
from tests.e2e.helpers import unique_name
from tests.e2e.iam_cleanup import delete_user_fully
from tests.e2e.test_guide import user_env

PASSWORD = "Corr3ct-Horse-Battery"


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
        meta_backend: str) -> Iterator[StoreroomServer]:
    srv = StoreroomServer(tmp_path_factory.mktemp("mfa") / "data", workers=1,
                          meta_url=meta_url_for(request, meta_backend))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def iam(own: StoreroomServer) -> Any:
    return make_client(own.endpoint, service="iam")


@pytest.fixture(scope="module")
def account(own: StoreroomServer) -> str:
    return account_id(own)


@pytest.fixture
def user(own: StoreroomServer, iam: Any) -> Iterator[Callable[..., tuple[str, Any]]]:
    made: list[str] = []

    def make(inline: dict[str, str] | None = None, password: bool = True) -> tuple[str, Any]:
        name = unique_name("u")
        iam.create_user(UserName=name)
        made.append(name)
        if password:
            iam.create_login_profile(UserName=name, Password=PASSWORD)
        for policy_name, document in (inline or {}).items():
            iam.put_user_policy(UserName=name, PolicyName=policy_name, PolicyDocument=document)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return name, make_client(own.endpoint, service="iam", access_key=key["AccessKeyId"],
                                 secret_key=key["SecretAccessKey"])

    yield make
    for name in made:
        delete_user_fully(iam, name)


def new_device(iam: Any, name: str | None = None, **kwargs: Any) -> tuple[str, pyotp.TOTP]:
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name or unique_name("mfa"), **kwargs)
    found = device["VirtualMFADevice"]
    return found["SerialNumber"], pyotp.TOTP(found["Base32StringSeed"].decode())


def enable(iam: Any, user_name: str, serial: str, app: pyotp.TOTP) -> None:
    """As a person does: the code now on the phone, then the next one (here: the previous and the current)."""
    now = time.time()
    iam.enable_mfa_device(UserName=user_name, SerialNumber=serial, AuthenticationCode1=app.at(now - 30),
                          AuthenticationCode2=app.at(now))


# -- creating ------------------------------------------------------------------------------------------------


def test_create_virtual_device_returns_seed_and_qr_code(iam: Any, account: str) -> None:
    name = unique_name("phone")
    created = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="/team/",
                                            Tags=[{"Key": "owner", "Value": "ops"}])["VirtualMFADevice"]
    serial, seed = created["SerialNumber"], created["Base32StringSeed"].decode()
    assert serial == f"arn:aws:iam::{account}:mfa/team/{name}"
    assert len(seed) == 64 and set(seed) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert created["Tags"] == [{"Key": "owner", "Value": "ops"}]
    # the QR code is AWS's otpauth URI (AccountName: the account id, root created it), as segno draws it
    expected = segno.make(f"otpauth://totp/{name}@{account}?secret={seed}", error="m", micro=False)
    buffer = __import__("io").BytesIO()
    expected.save(buffer, kind="png", scale=4, border=4)
    assert created["QRCodePNG"] == buffer.getvalue()
    listed = {d["SerialNumber"]: d for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]}
    assert "Base32StringSeed" not in listed[serial] and "User" not in listed[serial]  # shown once only
    assert "Tags" not in listed[serial]  # IAM's listing "does not return tags" (ListMFADeviceTags does)
    with pytest.raises(ClientError) as exc:
        iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="/team/")
    assert error(exc) == (409, "EntityAlreadyExists", "MFA device already exists.")  # LocalStack's AWS-recorded
    with pytest.raises(ClientError) as exc:
        iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="team")
    assert error(exc)[:2] == (400, "ValidationError")
    with pytest.raises(ClientError) as exc:  # a serial number longer than EnableMFADevice could take
        iam.create_virtual_mfa_device(VirtualMFADeviceName="d" * 300)
    assert error(exc)[:2] == (400, "ValidationError") and "serialNumber" in error(exc)[2]
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "owner", "Value": "ops"}]
    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "site", "Value": "paris"}])
    iam.untag_mfa_device(SerialNumber=serial, TagKeys=["owner"])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "site", "Value": "paris"}]
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    with pytest.raises(ClientError) as exc:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert error(exc) == (404, "NoSuchEntity", f"MFA Device with serial number {serial} does not exist.")


# -- enabling and using ----------------------------------------------------------------------------------------


def test_enable_with_two_consecutive_codes_then_sign_in_asks_for_one(
        iam: Any, own: StoreroomServer, account: str, user: Callable[..., tuple[str, Any]]) -> None:
    name, _ = user()
    serial, app = new_device(iam)
    now = time.time()
    for codes in ((app.at(now), app.at(now - 30)),         # the wrong order
                  (app.at(now - 60), app.at(now)),          # not consecutive
                  ("123456", "654321")):
        with pytest.raises(ClientError) as exc:
            iam.enable_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1=codes[0],
                                  AuthenticationCode2=codes[1])
        assert error(exc) == (403, "InvalidAuthenticationCode", "Authentication code for device is not valid.")
    enable(iam, name, serial, app)
    devices = iam.list_mfa_devices(UserName=name)["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in devices] == [(name, serial)]
    assert abs(devices[0]["EnableDate"].timestamp() - now) < 5
    got = iam.get_mfa_device(SerialNumber=serial, UserName=name)
    assert (got["UserName"], got["SerialNumber"]) == (name, serial)
    with pytest.raises(ClientError) as exc:
        enable(iam, name, serial, app)
    assert error(exc) == (409, "EntityAlreadyExists", "MFA Device is already in use.")
    assigned = {d["SerialNumber"]: d for d in iam.list_virtual_mfa_devices(
        AssignmentStatus="Assigned")["VirtualMFADevices"]}
    assert assigned[serial]["User"]["UserName"] == name and "EnableDate" in assigned[serial]
    unassigned = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    assert serial not in [d["SerialNumber"] for d in unassigned]
    # the console's sign-in now wants a code, a fresh one, once
    with pytest.raises(MfaRequired):
        sign_in(own, SignInRequest.iam_user(account, name, PASSWORD))
    code = app.at(time.time() + 30)  # the enable used the current step: the next one (clock drift allows it)
    assert sign_in(own, SignInRequest.iam_user(account, name, PASSWORD, code)).mfa_used
    with pytest.raises(BadMfaCode):
        sign_in(own, SignInRequest.iam_user(account, name, PASSWORD, code))


def test_deactivate_delete_and_delete_user_conflicts(iam: Any, user: Callable[..., tuple[str, Any]]) -> None:
    name, _ = user(password=False)
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    serial, app = new_device(iam)
    enable(iam, name, serial, app)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=name)
    assert error(exc) == (409, "DeleteConflict", "Cannot delete entity, must delete MFA device first.")
    with pytest.raises(ClientError) as exc:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert error(exc) == (409, "DeleteConflict", "MFA Device is still in use.")
    iam.deactivate_mfa_device(UserName=name, SerialNumber=serial)
    assert iam.list_mfa_devices(UserName=name)["MFADevices"] == []
    with pytest.raises(ClientError) as exc:
        iam.deactivate_mfa_device(UserName=name, SerialNumber=serial)
    assert error(exc) == (404, "NoSuchEntity", f"MFA Device with serial number {serial} does not exist.")
    unassigned = [d["SerialNumber"] for d in iam.list_virtual_mfa_devices(
        AssignmentStatus="Unassigned")["VirtualMFADevices"]]
    assert serial in unassigned
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    iam.delete_user(UserName=name)


def test_resync_learns_the_device_clock(iam: Any, own: StoreroomServer, account: str,
                                        user: Callable[..., tuple[str, Any]]) -> None:
    name, _ = user()
    serial, app = new_device(iam)
    enable(iam, name, serial, app)
    fast = 8 * 30  # the phone's clock is four minutes fast
    now = time.time()
    with pytest.raises(ClientError) as exc:
        iam.resync_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1="000000",
                              AuthenticationCode2="000001")
    assert error(exc)[:2] == (403, "InvalidAuthenticationCode")
    with pytest.raises(BadMfaCode):  # too far off for the sign-in window
        sign_in(own, SignInRequest.iam_user(account, name, PASSWORD, app.at(now + fast + 30)))
    iam.resync_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1=app.at(now + fast - 30),
                          AuthenticationCode2=app.at(now + fast))
    drifted = app.at(now + fast + 30)  # the step after those the resync used (wherever the clock is now)
    assert sign_in(own, SignInRequest.iam_user(account, name, PASSWORD, drifted)).mfa_used


def test_account_summary_counts_devices(iam: Any, user: Callable[..., tuple[str, Any]]) -> None:
    before = iam.get_account_summary()["SummaryMap"]
    name, _ = user()
    serial, app = new_device(iam)
    new_device(iam)  # another, never assigned
    enable(iam, name, serial, app)
    after = iam.get_account_summary()["SummaryMap"]
    assert after["MFADevices"] == before["MFADevices"] + 2
    assert after["MFADevicesInUse"] == before["MFADevicesInUse"] + 1
    assert after["AccountMFAEnabled"] == before["AccountMFAEnabled"] == 0


# -- who may manage which device -----------------------------------------------------------------------------

# AWS's example policy "allows IAM users to self-manage an MFA device"
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_iam_mfa-selfmanage.html)
SELF_MANAGE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "AllowManageOwnVirtualMFADevice", "Effect": "Allow",
     "Action": ["iam:CreateVirtualMFADevice", "iam:DeleteVirtualMFADevice"],
     "Resource": "arn:aws:iam::*:mfa/${aws:username}"},
    {"Sid": "AllowManageOwnUserMFA", "Effect": "Allow",
     "Action": ["iam:DeactivateMFADevice", "iam:EnableMFADevice", "iam:ListMFADevices", "iam:ResyncMFADevice"],
     "Resource": "arn:aws:iam::*:user/${aws:username}"},
    {"Sid": "AllowListActions", "Effect": "Allow", "Action": ["iam:ListUsers", "iam:ListVirtualMFADevices"],
     "Resource": "*"},
]})


def test_users_manage_their_own_device(iam: Any, user: Callable[..., tuple[str, Any]]) -> None:
    name, own_iam = user(inline={"self": SELF_MANAGE})
    other, _ = user()
    serial, app = new_device(own_iam, name)
    with pytest.raises(ClientError) as exc:
        new_device(own_iam, other)
    assert error(exc)[:2] == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        enable(own_iam, other, serial, app)
    assert error(exc)[:2] == (403, "AccessDenied")
    enable(own_iam, name, serial, app)
    assert [d["SerialNumber"] for d in own_iam.list_mfa_devices()["MFADevices"]] == [serial]
    own_iam.deactivate_mfa_device(UserName=name, SerialNumber=serial)
    own_iam.delete_virtual_mfa_device(SerialNumber=serial)


def test_root_enables_mfa_on_itself(iam: Any, own: StoreroomServer, account: str,
                                    user: Callable[..., tuple[str, Any]]) -> None:
    """AWS's name for root's device; the console enables it through this same API."""
    admin, admin_iam = user(inline={"all": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]})})
    with pytest.raises(ClientError) as exc:  # root's device is root's alone
        new_device(admin_iam, "root-account-mfa-device")
    assert error(exc)[:2] == (403, "AccessDenied")
    serial, app = new_device(iam, "root-account-mfa-device")
    assert serial == f"arn:aws:iam::{account}:mfa/root-account-mfa-device"
    enable(iam, "root", serial, app)
    assert [(d["UserName"], d["SerialNumber"]) for d in iam.list_mfa_devices()["MFADevices"]] == [("root", serial)]
    assert iam.get_account_summary()["SummaryMap"]["AccountMFAEnabled"] == 1
    listed = {d["SerialNumber"]: d for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]}
    assert listed[serial]["User"]["Arn"] == f"arn:aws:iam::{account}:root"
    for call in (lambda: admin_iam.deactivate_mfa_device(UserName="root", SerialNumber=serial),
                 lambda: admin_iam.delete_virtual_mfa_device(SerialNumber=serial)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc)[:2] == (403, "AccessDenied")
    root_password = (own.data_dir / "root-password.txt").read_text().strip()
    with pytest.raises(MfaRequired):
        sign_in(own, SignInRequest.root("root@localhost", root_password))
    assert sign_in(own, SignInRequest.root("root@localhost", root_password,
                                                    app.at(time.time() + 30))).mfa_used
    iam.deactivate_mfa_device(SerialNumber=serial)
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert iam.get_account_summary()["SummaryMap"]["AccountMFAEnabled"] == 0


# -- the AWS CLI ---------------------------------------------------------------------------------------------


def test_aws_cli_assigns_a_device(own: StoreroomServer, iam: Any, tmp_path: Path) -> None:
    name = unique_name("cli")

    def aws(*args: str) -> Any:
        p = subprocess.run([sys.executable, "-m", "awscli", "iam", *args, "--output", "json"], cwd=tmp_path,
                           env=user_env(own.endpoint, tmp_path), capture_output=True, timeout=120)
        assert p.returncode == 0, (args, p.stdout.decode(), p.stderr.decode())
        return json.loads(p.stdout) if p.stdout.strip() else None

    iam.create_user(UserName=name)
    try:
        serial = aws("create-virtual-mfa-device", "--virtual-mfa-device-name", name, "--outfile",
                     str(tmp_path / "seed.txt"), "--bootstrap-method", "Base32StringSeed")["VirtualMFADevice"][
            "SerialNumber"]
        app = pyotp.TOTP((tmp_path / "seed.txt").read_text().strip())
        aws("create-virtual-mfa-device", "--virtual-mfa-device-name", name + "-qr", "--outfile",
            str(tmp_path / "qr.png"), "--bootstrap-method", "QRCodePNG")
        assert (tmp_path / "qr.png").read_bytes().startswith(b"\x89PNG")
        now = time.time()
        aws("enable-mfa-device", "--user-name", name, "--serial-number", serial, "--authentication-code1",
            app.at(now - 30), "--authentication-code2", app.at(now))
        assert aws("list-mfa-devices", "--user-name", name)["MFADevices"][0]["SerialNumber"] == serial
    finally:
        delete_user_fully(iam, name)
        for device in iam.list_virtual_mfa_devices()["VirtualMFADevices"]:
            if device["SerialNumber"].endswith(name + "-qr"):
                iam.delete_virtual_mfa_device(SerialNumber=device["SerialNumber"])
