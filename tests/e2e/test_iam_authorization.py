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
