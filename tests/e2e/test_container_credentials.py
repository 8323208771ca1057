"""Credentials that rotate themselves: ``storeroom role bind`` and the container-credentials endpoint driving
boto3's default credential chain (and its refresh), the tokens' listing and revocation, ``storeroom role
revoke-sessions``, ``storeroom credentials --role-arn`` as a ``credential_process``, and the standard
``role_arn`` + ``source_profile`` (+ ``mfa_serial``) profiles of ``~/.aws/config``."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.credentials
import pyotp
import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import REGION
from tests.e2e.cli import json_of, one_line_error, storeroom
from tests.e2e.conftest import IamUser, trust_policy
from tests.e2e.helpers import unique_name

S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
MACHINES = {"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}


def bind(endpoint: str, role: str, app: str) -> dict[str, str]:
    result = storeroom(endpoint, "role", "bind", role, "--name", app, "--json")
    assert result.returncode == 0, result.stderr
    return dict(json_of(result))


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[dict[str, str]], None]:
    """The environment of an application that has no key at all: only the endpoint and the two variables."""
    def use(values: dict[str, str]) -> None:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                     "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"):
            monkeypatch.setenv(name, values[name])
    return use


@pytest.fixture
def binding(endpoint: str, iam: Any, new_role: Callable[..., str]) -> Iterator[tuple[str, str, dict[str, str]]]:
    role = new_role(trust_policy(MACHINES), managed=[S3_FULL])
    app = unique_name("app")
    values = bind(endpoint, role, app)
    yield role, app, values
    storeroom(endpoint, "role", "unbind", "--name", app, "--all")


def test_an_application_without_keys_uploads_and_its_credentials_refresh(
        endpoint: str, iam: Any, bucket: str, binding: tuple[str, str, dict[str, str]],
        app_env: Callable[[dict[str, str]], None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    role, app, values = binding
    assert values["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == f"{endpoint}/_storeroom/credentials/{app}"
    app_env(values)
    session = boto3.Session(region_name=REGION)
    s3 = session.client("s3", endpoint_url=endpoint)
    (tmp_path / "local_file.txt").write_text("hello")
    s3.upload_file(str(tmp_path / "local_file.txt"), bucket, "uploaded_file.txt")
    who = session.client("sts", endpoint_url=endpoint).get_caller_identity()
    assert who["Arn"].endswith(f":assumed-role/{role}/{app}")
    first = session.get_credentials().get_frozen_credentials().access_key
    assert first.startswith("ASIA")
    # 50 minutes later for botocore's refresh logic (not for signing): it fetches new credentials by itself
    refreshable = session.get_credentials()   # the clients share it
    assert isinstance(refreshable, botocore.credentials.RefreshableCredentials)
    monkeypatch.setattr(refreshable, "_time_fetcher",
                        lambda: botocore.credentials._local_now() + dt.timedelta(minutes=50))
    assert s3.get_object(Bucket=bucket, Key="uploaded_file.txt")["Body"].read() == b"hello"
    second = session.get_credentials().get_frozen_credentials().access_key
    assert second.startswith("ASIA") and second != first


def test_tokens_are_checked_listed_and_revoked(endpoint: str, iam: Any, binding: tuple[str, str, dict[str, str]],
                                               new_role: Callable[..., str]) -> None:
    role, app, values = binding
    url, token = values["AWS_CONTAINER_CREDENTIALS_FULL_URI"], values["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    answer = requests.get(url, headers={"Authorization": token}, timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"RoleArn", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert body["RoleArn"].endswith(f":role/{role}") and body["Expiration"].endswith("Z")
    for headers in ({}, {"Authorization": token[:-2] + "xx"}, {"Authorization": "nonsense"}):
        assert requests.get(url, headers=headers, timeout=10).status_code == 401
    other = requests.get(f"{endpoint}/_storeroom/credentials/{unique_name('none')}",
                         headers={"Authorization": token}, timeout=10)
    assert other.status_code == 401   # an unknown application looks like a bad token
    second = bind(endpoint, role, app)
    listed = json_of(storeroom(endpoint, "role", "list-bindings", "--json"))
    mine = sorted(r["TokenId"] for r in listed if r["Application"] == app)
    assert mine == sorted([values["TokenId"], second["TokenId"]])
    result = storeroom(endpoint, "role", "unbind", "--name", app, "--token", values["TokenId"])
    assert result.returncode == 0, result.stderr
    assert requests.get(url, headers={"Authorization": token}, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": second["AWS_CONTAINER_AUTHORIZATION_TOKEN"]},
                        timeout=10).status_code == 200
    # a role that does not trust machines is neither bound nor served
    private = new_role(trust_policy({"Principal": {"AWS": f"arn:aws:iam::{body['RoleArn'].split(':')[4]}:root"},
                                     "Action": "sts:AssumeRole"}))
    assert "does not allow ec2.amazonaws.com" in one_line_error(
        storeroom(endpoint, "role", "bind", private, "--name", unique_name("app")))
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=trust_policy(
        {"Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    refused = requests.get(url, headers={"Authorization": second["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}, timeout=10)
    assert refused.status_code == 403 and "ec2.amazonaws.com" in refused.json()["message"]


def test_revoke_sessions(endpoint: str, iam: Any, binding: tuple[str, str, dict[str, str]]) -> None:
    role, _, values = binding
    issued = requests.get(values["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                          headers={"Authorization": values["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}, timeout=10).json()
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=issued["AccessKeyId"],
                      aws_secret_access_key=issued["SecretAccessKey"], aws_session_token=issued["Token"])
    s3.list_buckets()
    time.sleep(1.1)
    result = storeroom(endpoint, "role", "revoke-sessions", role)
    assert result.returncode == 0 and "Revoked the sessions of" in result.stdout, result.stderr
    with pytest.raises(ClientError) as exc:
        s3.list_buckets()
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert "AWSRevokeOlderSessions" in iam.list_role_policies(RoleName=role)["PolicyNames"]
    time.sleep(1.1)
    fresh = requests.get(values["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                         headers={"Authorization": values["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}, timeout=10).json()
    boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=fresh["AccessKeyId"],
                 aws_secret_access_key=fresh["SecretAccessKey"], aws_session_token=fresh["Token"]).list_buckets()


def test_credential_process_and_standard_profiles(endpoint: str, iam: Any, iam_user: Callable[..., IamUser],
                                                  new_role: Callable[..., str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    user = iam_user()
    role = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}))
    arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=unique_name("mfa"))["VirtualMFADevice"]
    app = pyotp.TOTP(device["Base32StringSeed"].decode())
    now = time.time()
    iam.enable_mfa_device(UserName=user.name, SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=app.at(now - 60), AuthenticationCode2=app.at(now - 30))
    config = tmp_path / "config"
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[base]\naws_access_key_id = {user.key_id}\naws_secret_access_key = {user.secret}\n")
    config.write_text(
        f"[profile process]\ncredential_process = {_storeroom_command(endpoint, user)} credentials --role-arn {arn}\n"
        f"[profile chained]\nrole_arn = {arn}\nsource_profile = base\nrole_session_name = chained\n"
        f"[profile with-mfa]\nrole_arn = {arn}\nsource_profile = base\nmfa_serial = {device['SerialNumber']}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    for profile in ("process", "chained"):
        who = boto3.Session(profile_name=profile, region_name=REGION).client("sts").get_caller_identity()
        assert f":assumed-role/{role}/" in who["Arn"], profile
    mfa = boto3.Session(profile_name="with-mfa", region_name=REGION)
    provider = mfa._session.get_component("credential_provider").get_provider("assume-role")
    provider._prompter = lambda prompt: app.now()
    assert f":assumed-role/{role}/" in mfa.client("sts").get_caller_identity()["Arn"]


def _storeroom_command(endpoint: str, user: IamUser) -> str:
    """The command line a credential_process runs: this Python's storeroom with the user's keys (a profile
    would name them; the keys must not be the profile's own, which would recurse)."""
    import sys

    from tests.e2e.cli import REPO

    return (f"env PYTHONPATH={REPO} AWS_CONFIG_FILE=/dev/null AWS_ACCESS_KEY_ID={user.key_id} "
            f"AWS_SECRET_ACCESS_KEY={user.secret} AWS_ENDPOINT_URL={endpoint} {sys.executable} -m storeroom")


def test_credentials_command_prints_credential_process_json(endpoint: str, iam: Any, iam_user: Callable[..., IamUser],
                                                             new_role: Callable[..., str]) -> None:
    user = iam_user()
    role = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}))
    arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    from tests.e2e.cli import cli_env

    env = cli_env(endpoint, AWS_ACCESS_KEY_ID=user.key_id, AWS_SECRET_ACCESS_KEY=user.secret)
    printed = json.loads(storeroom(endpoint, "credentials", "--role-arn", arn, env=env).stdout)
    assert printed["Version"] == 1 and printed["AccessKeyId"].startswith("ASIA") and printed["SessionToken"]
    assert printed["Expiration"].endswith("Z")
    root = storeroom(endpoint, "credentials", "--role-arn", arn)
    assert one_line_error(root) == "storeroom: AccessDenied: Roles may not be assumed by root accounts."


def test_handing_a_role_to_tokens_needs_pass_role(endpoint: str, iam: Any, iam_user: Callable[..., IamUser],
                                                   binding: tuple[str, str, dict[str, str]]) -> None:
    """A token is a tag of the instance profile: a user who could only tag profiles wrote the hash of a secret of
    their own and got the role's credentials, and AddRoleToInstanceProfile took no iam:PassRole (AWS requires it:
    handing a role to a machine, here to an application's tokens, is passing it)."""
    import hashlib

    role, app, values = binding
    profiles = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
        "iam:TagInstanceProfile", "iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile"], "Resource": "*"}]})
    tagger = iam_user(inline={"profiles": profiles})
    token_tag = [{"Key": "storeroom:token:mine", "Value": hashlib.sha256(b"chosen").hexdigest() + " x"}]
    with pytest.raises(ClientError) as refused:
        tagger.iam.tag_instance_profile(InstanceProfileName=app, Tags=token_tag)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "iam:PassRole on resource: arn:aws:iam::" in refused.value.response["Error"]["Message"]
    url = values["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    assert requests.get(url, headers={"Authorization": "mine.chosen"}, timeout=10).status_code == 401
    tagger.iam.tag_instance_profile(InstanceProfileName=app, Tags=[{"Key": "team", "Value": "x"}])  # other tags
    own = unique_name("own")
    # a token planted on a profile without a role would get whatever role is added later (storeroom role bind
    # adopts an existing profile): refused, whoever asks
    with pytest.raises(ClientError) as refused:
        tagger.iam.create_instance_profile(InstanceProfileName=own, Tags=token_tag)
    assert refused.value.response["Error"]["Code"] == "InvalidInput"
    tagger.iam.create_instance_profile(InstanceProfileName=own)
    with pytest.raises(ClientError) as refused:
        iam.tag_instance_profile(InstanceProfileName=own, Tags=token_tag)
    assert "holds no role" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as refused:
        tagger.iam.add_role_to_instance_profile(InstanceProfileName=own, RoleName=role)
    assert f":role/{role}" in refused.value.response["Error"]["Message"]
    assert "iam:PassRole" in refused.value.response["Error"]["Message"]
    iam.put_user_policy(UserName=tagger.name, PolicyName="pass", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
                                                "Condition": {"StringEquals": {
                                                    "iam:PassedToService": "ec2.amazonaws.com"}}}]}))
    tagger.iam.add_role_to_instance_profile(InstanceProfileName=own, RoleName=role)
    tagger.iam.tag_instance_profile(InstanceProfileName=own, Tags=token_tag)
    answer = requests.get(f"{endpoint}/_storeroom/credentials/{own}", headers={"Authorization": "mine.chosen"},
                          timeout=10)
    assert answer.status_code == 200
    # tokens left on a profile whose role was removed never get the next role
    iam.remove_role_from_instance_profile(InstanceProfileName=own, RoleName=role)
    with pytest.raises(ClientError) as refused:
        iam.add_role_to_instance_profile(InstanceProfileName=own, RoleName=role)
    assert "storeroom:token: tags" in refused.value.response["Error"]["Message"]
    iam.untag_instance_profile(InstanceProfileName=own, TagKeys=["storeroom:token:mine"])
    iam.delete_instance_profile(InstanceProfileName=own)
    iam.delete_user_policy(UserName=tagger.name, PolicyName="pass")
