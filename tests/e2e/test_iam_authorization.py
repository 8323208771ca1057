"""The IAM API is itself subject to IAM: a user without policies is refused every implemented IAM action with
AccessDenied (before anything is looked up or changed), and AWS managed IAM policies open exactly their doors."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from storeroom.iam.policies import HANDLERS as POLICY_HANDLERS
from storeroom.iam.users import HANDLERS as USER_HANDLERS
from tests.e2e.helpers import unique_name

DOCUMENT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
ACTIONS = sorted({*USER_HANDLERS, *POLICY_HANDLERS})
MODEL = botocore.session.get_session().get_service_model("iam")


def _value(name: str, shape: Any, account: str) -> Any:
    """A valid value for a required parameter: only authorization may stand in the way."""
    by_name: dict[str, Any] = {
        "PolicyArn": f"arn:aws:iam::{account}:policy/some-policy",
        "PermissionsBoundary": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        "PolicySourceArn": f"arn:aws:iam::{account}:user/some-user",
        "PolicyDocument": DOCUMENT, "PolicyInputList": [DOCUMENT],
        "AccessKeyId": "AKIAAAAAAAAAAAAAAAAA", "Status": "Active", "VersionId": "v1",
        "ActionNames": ["s3:GetObject"], "Tags": [{"Key": "team", "Value": "blue"}], "TagKeys": ["team"],
    }
    if name in by_name:
        return by_name[name]
    if shape.type_name == "string":
        return "some-name"
    if shape.type_name == "integer":
        return 10
    if shape.type_name == "boolean":
        return True
    raise AssertionError(f"no test value for {name} ({shape.type_name})")


def _params(action: str, account: str) -> dict[str, Any]:
    shape = MODEL.operation_model(action).input_shape
    if shape is None:
        return {}
    return {name: _value(name, shape.members[name], account) for name in shape.required_members}


@pytest.mark.parametrize("action", ACTIONS)
def test_a_user_without_policies_is_refused_every_iam_action(iam_user, action: str) -> None:  # type: ignore[no-untyped-def]
    user = iam_user()
    account = user.arn.split(":")[4]
    method = getattr(user.iam, botocore.xform_name(action))
    with pytest.raises(ClientError) as exc:
        method(**_params(action, account))
    err = exc.value.response
    assert (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]) == (403, "AccessDenied"), action
    assert f"is not authorized to perform: iam:{action} on resource: " in err["Error"]["Message"]


def test_iam_read_only_access_reads_but_does_not_write(iam_user) -> None:  # type: ignore[no-untyped-def]
    reader = iam_user(managed=["arn:aws:iam::aws:policy/IAMReadOnlyAccess"])
    assert any(u["UserName"] == reader.name for u in reader.iam.list_users()["Users"])
    reader.iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    with pytest.raises(ClientError) as exc:
        reader.iam.create_user(UserName=unique_name("nope"))
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_iam_full_access_administers_users(iam_user, iam) -> None:  # type: ignore[no-untyped-def]
    admin = iam_user(managed=["arn:aws:iam::aws:policy/IAMFullAccess"])
    name = unique_name("made-by-admin")
    admin.iam.create_user(UserName=name)
    admin.iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    admin.iam.detach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    admin.iam.delete_user(UserName=name)
    with pytest.raises(ClientError):
        iam.get_user(UserName=name)


def _tagged_creations(client, name: str, tags: list[dict[str, str]]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """CreatePolicy and CreateOpenIDConnectProvider with ``tags``: each one's error code, or None when made."""
    document = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket",
                                                                   "Resource": "*"}]})
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                 "Principal": {"Service": "ec2.amazonaws.com"}}]})
    calls = {"policy": lambda: client.create_policy(PolicyName=name, PolicyDocument=document, Tags=tags),
             "provider": lambda: client.create_open_id_connect_provider(
                 Url=f"https://{name}.example.com", ClientIDList=["storeroom"], ThumbprintList=["a" * 40],
                 Tags=tags),
             "user": lambda: client.create_user(UserName=name, Tags=tags),
             "role": lambda: client.create_role(RoleName=name, AssumeRolePolicyDocument=trust, Tags=tags),
             "profile": lambda: client.create_instance_profile(InstanceProfileName=name, Tags=tags)}
    outcome: dict[str, Any] = {}
    for kind, call in calls.items():
        try:
            call()
            outcome[kind] = None
        except ClientError as err:
            outcome[kind] = (err.response["Error"]["Code"], err.response["Error"]["Message"])
    return outcome


def _remove_made(iam, account: str, name: str) -> None:  # type: ignore[no-untyped-def]
    for call in (lambda: iam.delete_policy(PolicyArn=f"arn:aws:iam::{account}:policy/{name}"),
                 lambda: iam.delete_open_id_connect_provider(
                     OpenIDConnectProviderArn=f"arn:aws:iam::{account}:oidc-provider/{name}.example.com"),
                 lambda: iam.delete_user(UserName=name), lambda: iam.delete_role(RoleName=name),
                 lambda: iam.delete_instance_profile(InstanceProfileName=name)):
        try:
            call()
        except ClientError:
            pass


def test_a_policy_or_oidc_provider_made_with_tags_also_takes_the_tag_permission(iam_user, iam) -> None:  # type: ignore[no-untyped-def]
    """Creating a managed policy or an OIDC provider with tags takes iam:TagPolicy / iam:TagOpenIDConnectProvider,
    and its tags are aws:RequestTag / aws:TagKeys, as for users, roles, instance profiles and MFA devices (IAM
    probe, finding 4: the tags were set without either)."""
    account = iam.get_user()["User"]["Arn"].split(":")[4]
    create_only = iam_user(inline={"p": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["iam:CreatePolicy", "iam:CreateOpenIDConnectProvider", "iam:CreateUser",
                                      "iam:CreateRole", "iam:CreateInstanceProfile"], "Resource": "*"}]})})
    name = unique_name("tagged")
    try:
        refused = _tagged_creations(create_only.iam, name, [{"Key": "env", "Value": "dev"}])
        for kind, action in (("policy", "iam:TagPolicy"), ("provider", "iam:TagOpenIDConnectProvider"),
                             ("user", "iam:TagUser"), ("role", "iam:TagRole"), ("profile", "iam:TagInstanceProfile")):
            assert refused[kind][0] == "AccessDenied" and action in refused[kind][1], (kind, refused)
        assert set(_tagged_creations(create_only.iam, name, []).values()) == {None}
    finally:
        _remove_made(iam, account, name)
    dev_only = iam_user(inline={"p": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["iam:CreatePolicy", "iam:TagPolicy", "iam:CreateOpenIDConnectProvider",
                                      "iam:TagOpenIDConnectProvider", "iam:CreateUser", "iam:TagUser",
                                      "iam:CreateRole", "iam:TagRole", "iam:CreateInstanceProfile",
                                      "iam:TagInstanceProfile"], "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestTag/env": "dev"}}}]})})
    name = unique_name("tagged")
    try:
        assert set(_tagged_creations(dev_only.iam, name, [{"Key": "env", "Value": "prod"}]).values()) != {None}
        assert set(_tagged_creations(dev_only.iam, name, [{"Key": "env", "Value": "dev"}]).values()) == {None}
        assert iam.list_policy_tags(PolicyArn=f"arn:aws:iam::{account}:policy/{name}")["Tags"] == [
            {"Key": "env", "Value": "dev"}]
    finally:
        _remove_made(iam, account, name)
