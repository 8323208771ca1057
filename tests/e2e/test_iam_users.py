"""IAM users, access keys, groups, tags and the account summary through boto3 (and the AWS CLI), against a real
server: AWS's shapes, pagination, errors and messages."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.e2e.helpers import unique_name
from tests.e2e.iam_cleanup import delete_user_fully
from tests.e2e.test_guide import user_env


@pytest.fixture(scope="module")
def iam(endpoint: str) -> Any:
    return make_client(endpoint, service="iam")


@pytest.fixture(scope="module")
def account(endpoint: str) -> str:
    return str(make_client(endpoint, service="sts").get_caller_identity()["Account"])


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    """(HTTP status, code, message) of a botocore ClientError."""
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


# -- users ---------------------------------------------------------------------------------------------------


def test_user_lifecycle(iam: Any, account: str, new_user: Callable[..., str]) -> None:
    name = unique_name("alice")
    created = iam.create_user(UserName=name, Path="/dev/", Tags=[{"Key": "team", "Value": "storage"}])["User"]
    assert created["UserName"] == name and created["Path"] == "/dev/"
    assert created["UserId"].startswith("AIDA") and len(created["UserId"]) == 21
    assert created["Arn"] == f"arn:aws:iam::{account}:user/dev/{name}"
    assert created["Tags"] == [{"Key": "team", "Value": "storage"}]

    got = iam.get_user(UserName=name)["User"]
    assert {k: got[k] for k in ("UserName", "UserId", "Arn", "Path")} == \
        {k: created[k] for k in ("UserName", "UserId", "Arn", "Path")}
    assert got["CreateDate"] == created["CreateDate"]
    assert got["Tags"] == [{"Key": "team", "Value": "storage"}]

    listed = iam.list_users(PathPrefix="/dev/")["Users"]
    assert [u["UserName"] for u in listed if u["UserName"] == name] == [name]
    assert "Tags" not in next(u for u in listed if u["UserName"] == name)  # AWS lists without tags

    renamed = name + "-2"
    iam.update_user(UserName=name, NewUserName=renamed, NewPath="/ops/")
    after = iam.get_user(UserName=renamed)["User"]
    assert after["UserId"] == created["UserId"]
    assert after["Arn"] == f"arn:aws:iam::{account}:user/ops/{renamed}"
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName=name)
    assert error(exc) == (404, "NoSuchEntity", f"The user with name {name} cannot be found.")

    iam.delete_user(UserName=renamed)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=renamed)
    assert error(exc) == (404, "NoSuchEntity", f"The user with name {renamed} cannot be found.")


def test_default_path_and_no_tags(iam: Any, new_user: Callable[..., str]) -> None:
    name = new_user()
    user = iam.get_user(UserName=name)["User"]
    assert user["Path"] == "/"
    assert "Tags" not in user and "PermissionsBoundary" not in user


def test_names_are_case_insensitive(iam: Any, new_user: Callable[..., str]) -> None:
    name = new_user(UserName=unique_name("Bob"))
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=name.upper())
    assert error(exc) == (409, "EntityAlreadyExists", f"User with name {name.upper()} already exists.")
    assert iam.get_user(UserName=name.lower())["User"]["UserName"] == name  # stored case is kept

    other = new_user()
    with pytest.raises(ClientError) as exc:
        iam.update_user(UserName=other, NewUserName=name.lower())
    assert error(exc)[:2] == (409, "EntityAlreadyExists")
    iam.update_user(UserName=name, NewUserName=name.upper())  # a user may change the case of its own name
    assert iam.get_user(UserName=name)["User"]["UserName"] == name.upper()


def test_get_user_without_name_as_root(iam: Any, account: str) -> None:
    user = iam.get_user()["User"]
    assert user["UserId"] == account
    assert user["Arn"] == f"arn:aws:iam::{account}:root"
    assert "CreateDate" in user
    assert "UserName" not in user and "Path" not in user


def test_list_users_pagination(iam: Any, new_user: Callable[..., str]) -> None:
    path = f"/{unique_name('page')}/"
    names = sorted((new_user(Path=path) for _ in range(5)), key=str.lower)
    first = iam.list_users(PathPrefix=path, MaxItems=2)
    assert [u["UserName"] for u in first["Users"]] == names[:2]
    assert first["IsTruncated"] is True and first["Marker"]
    second = iam.list_users(PathPrefix=path, MaxItems=2, Marker=first["Marker"])
    assert [u["UserName"] for u in second["Users"]] == names[2:4]
    last = iam.list_users(PathPrefix=path, MaxItems=2, Marker=second["Marker"])
    assert [u["UserName"] for u in last["Users"]] == names[4:]
    assert last["IsTruncated"] is False and "Marker" not in last
    paged = [u["UserName"] for page in iam.get_paginator("list_users").paginate(
        PathPrefix=path, PaginationConfig={"PageSize": 3}) for u in page["Users"]]
    assert paged == names


def test_unknown_permissions_boundary_is_refused(iam: Any, account: str) -> None:
    arn = f"arn:aws:iam::{account}:policy/{unique_name('nope')}"
    name = unique_name("u")
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=name, PermissionsBoundary=arn)
    # as IAM words a missing boundary policy (LocalStack's AWS-recorded create-role-nonexistent-policy-error)
    assert error(exc) == (404, "NoSuchEntity", f"Scope ARN: {arn} does not exist or is not attachable.")
    with pytest.raises(ClientError):
        iam.get_user(UserName=name)


def test_aws_managed_permissions_boundary(iam: Any, new_user: Callable[..., str]) -> None:
    arn = "arn:aws:iam::aws:policy/AdministratorAccess"
    name = new_user(PermissionsBoundary=arn)
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}
    assert "PermissionsBoundary" not in next(u for u in iam.list_users()["Users"] if u["UserName"] == name)


def test_validation_is_the_models(iam: Any) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="bad name!")
    assert error(exc)[:2] == (400, "ValidationError")
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=unique_name("u"), Path="no-slashes")
    assert error(exc)[:2] == (400, "ValidationError")


def test_delete_user_conflicts(iam: Any, new_user: Callable[..., str], new_group: Callable[..., str]) -> None:
    name = new_user()
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=name)
    assert error(exc) == (409, "DeleteConflict", "Cannot delete entity, must delete access keys first.")
    iam.delete_access_key(UserName=name, AccessKeyId=key)

    group = new_group()
    iam.add_user_to_group(GroupName=group, UserName=name)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=name)
    assert error(exc) == (409, "DeleteConflict", "Cannot delete entity, must remove users from group first.")
    iam.remove_user_from_group(GroupName=group, UserName=name)
    iam.delete_user(UserName=name)


def test_delete_user_with_policies_conflicts(iam: Any, new_user: Callable[..., str]) -> None:
    """Inline and attached policies are another module's actions: checked once they exist."""
    name = new_user()
    document = json.dumps({"Version": "2012-10-17",
                           "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]})
    _put_user_policy(iam, name, document)
    with pytest.raises(ClientError) as info:
        iam.delete_user(UserName=name)
    assert error(info) == (409, "DeleteConflict", "Cannot delete entity, must delete policies first.")
    iam.delete_user_policy(UserName=name, PolicyName="self")


# -- tags ----------------------------------------------------------------------------------------------------


def test_user_tags(iam: Any, new_user: Callable[..., str]) -> None:
    name = new_user(Tags=[{"Key": "Dept", "Value": "finance"}])
    iam.tag_user(UserName=name, Tags=[{"Key": "env", "Value": "prod"}, {"Key": "dept", "Value": "hr"}])
    # keys are case-insensitive for users: dept replaces Dept instead of adding a tag
    assert iam.list_user_tags(UserName=name)["Tags"] == [{"Key": "dept", "Value": "hr"},
                                                         {"Key": "env", "Value": "prod"}]
    iam.untag_user(UserName=name, TagKeys=["DEPT", "absent"])
    listed = iam.list_user_tags(UserName=name)
    assert listed["Tags"] == [{"Key": "env", "Value": "prod"}] and listed["IsTruncated"] is False

    with pytest.raises(ClientError) as exc:
        iam.tag_user(UserName=name, Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    assert error(exc) == (400, "InvalidInput",
                          "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    with pytest.raises(ClientError) as exc:
        iam.tag_user(UserName=unique_name("ghost"), Tags=[{"Key": "a", "Value": "1"}])
    assert error(exc)[:2] == (404, "NoSuchEntity")


def test_user_tag_limit_and_pagination(iam: Any, new_user: Callable[..., str]) -> None:
    name = new_user()
    iam.tag_user(UserName=name, Tags=[{"Key": f"k{i:02}", "Value": str(i)} for i in range(50)])
    with pytest.raises(ClientError) as exc:
        iam.tag_user(UserName=name, Tags=[{"Key": "one-more", "Value": ""}])
    assert error(exc) == (409, "LimitExceeded", "Cannot exceed quota for TagsPerUser: 50")
    iam.tag_user(UserName=name, Tags=[{"Key": "K00", "Value": "replaced"}])  # a replacement is no new tag
    page = iam.list_user_tags(UserName=name, MaxItems=20)
    assert len(page["Tags"]) == 20 and page["IsTruncated"] is True
    assert page["Tags"][0] == {"Key": "K00", "Value": "replaced"}
    everything = [t for p in iam.get_paginator("list_user_tags").paginate(
        UserName=name, PaginationConfig={"PageSize": 20}) for t in p["Tags"]]
    assert len(everything) == 50


# -- access keys ---------------------------------------------------------------------------------------------


def test_access_keys(iam: Any, new_user: Callable[..., str]) -> None:
    name = new_user()
    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert key["UserName"] == name and key["Status"] == "Active"
    assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
    assert len(key["SecretAccessKey"]) == 40

    listed = iam.list_access_keys(UserName=name)
    assert listed["AccessKeyMetadata"] == [{"UserName": name, "AccessKeyId": key["AccessKeyId"],
                                            "Status": "Active", "CreateDate": key["CreateDate"]}]
    assert key["SecretAccessKey"] not in json.dumps(listed, default=str)

    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    second = iam.create_access_key(UserName=name)["AccessKey"]
    with pytest.raises(ClientError) as exc:  # the inactive key still counts
        iam.create_access_key(UserName=name)
    assert error(exc) == (409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
    statuses = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}
    assert statuses == {key["AccessKeyId"]: "Inactive", second["AccessKeyId"]: "Active"}

    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as exc:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    assert error(exc) == (404, "NoSuchEntity", f"The Access Key with id {key['AccessKeyId']} cannot be found.")
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]] == \
        [second["AccessKeyId"]]


def test_access_key_errors(iam: Any, new_user: Callable[..., str]) -> None:
    alice, bob = new_user(), new_user()
    bobs = iam.create_access_key(UserName=bob)["AccessKey"]["AccessKeyId"]
    for call in (lambda: iam.update_access_key(UserName=alice, AccessKeyId=bobs, Status="Inactive"),
                 lambda: iam.delete_access_key(UserName=alice, AccessKeyId=bobs)):
        with pytest.raises(ClientError) as exc:  # another user's key is not found under this user
            call()
        assert error(exc) == (404, "NoSuchEntity", f"The Access Key with id {bobs} cannot be found.")
    ghost = unique_name("ghost")
    with pytest.raises(ClientError) as exc:
        iam.create_access_key(UserName=ghost)
    assert error(exc) == (404, "NoSuchEntity", f"The user with name {ghost} cannot be found.")
    with pytest.raises(ClientError) as exc:
        iam.list_access_keys(UserName=ghost)
    assert error(exc)[:2] == (404, "NoSuchEntity")
    with pytest.raises(ClientError) as exc:
        iam.update_access_key(UserName=alice, AccessKeyId=bobs, Status="Disabled")
    assert error(exc)[:2] == (400, "ValidationError")


def test_access_key_last_used_when_never_used(iam: Any, new_user: Callable[..., str]) -> None:
    name = new_user()
    key_id = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    last = iam.get_access_key_last_used(AccessKeyId=key_id)
    assert last["UserName"] == name
    assert last["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}
    with pytest.raises(ClientError) as exc:
        iam.get_access_key_last_used(AccessKeyId="AKIAAAAAAAAAAAAAAAAA")
    # IAM refuses rather than tells that no such key exists (LocalStack's AWS-recorded
    # get-last-used-nonexistent-key-error)
    assert error(exc)[:2] == (403, "AccessDenied")
    assert error(exc)[2].endswith(" is not authorized to perform iam:GetAccessKeyLastUsed on resource: access key "
                                  "AKIAAAAAAAAAAAAAAAAA")


def test_root_manages_its_own_keys(iam: Any) -> None:
    """Root without UserName acts on the root keys (the session's own root key is one of them)."""
    before = iam.list_access_keys()["AccessKeyMetadata"]
    assert before and all("UserName" not in k for k in before)
    made = iam.create_access_key()["AccessKey"]
    try:
        assert "UserName" not in made and len(made["SecretAccessKey"]) == 40
        assert made["AccessKeyId"] in [k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"]]
        assert iam.get_account_summary()["SummaryMap"]["AccountAccessKeysPresent"] == 1
    finally:
        iam.delete_access_key(AccessKeyId=made["AccessKeyId"])
    assert iam.list_access_keys()["AccessKeyMetadata"] == before


def test_created_key_authenticates_as_the_user(endpoint: str, iam: Any, account: str,
                                               new_user: Callable[..., str]) -> None:
    name = new_user(Path="/team/")
    key = iam.create_access_key(UserName=name)["AccessKey"]
    sts = make_client(endpoint, service="sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    identity = sts.get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{account}:user/team/{name}"
    assert identity["UserId"] == iam.get_user(UserName=name)["User"]["UserId"]
    last = _eventually(lambda: iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"]),
                       lambda r: "LastUsedDate" in r["AccessKeyLastUsed"])
    assert last["UserName"] == name
    assert {k: last["AccessKeyLastUsed"][k] for k in ("ServiceName", "Region")} == \
        {"ServiceName": "sts", "Region": "us-east-1"}
    # the user's own view: GetUser without a name needs iam:GetUser, which a user without policies lacks
    own = make_client(endpoint, service="iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        own.list_users()
    assert error(exc)[:2] == (403, "AccessDenied")
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert error(exc)[1] == "InvalidClientTokenId"


def test_users_manage_their_own_keys_under_a_policy(endpoint: str, iam: Any, new_user: Callable[..., str]) -> None:
    """The IAM user guide's self-service policy: key actions are authorized on the owner's ARN, and a
    user denied a target learns nothing of whether it exists."""
    me, other = new_user(), new_user()
    document = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["iam:*AccessKey*", "iam:GetUser"],
        "Resource": "arn:aws:iam::*:user/${aws:username}"}]})
    _put_user_policy(iam, me, document)
    key = iam.create_access_key(UserName=me)["AccessKey"]
    mine = make_client(endpoint, service="iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])

    assert mine.get_user()["User"]["UserName"] == me
    second = mine.create_access_key()["AccessKey"]  # no UserName: the caller's own
    assert second["UserName"] == me
    listed = {k["AccessKeyId"] for k in mine.list_access_keys(UserName=me)["AccessKeyMetadata"]}
    assert listed == {key["AccessKeyId"], second["AccessKeyId"]}
    mine.update_access_key(AccessKeyId=second["AccessKeyId"], Status="Inactive")
    mine.delete_access_key(AccessKeyId=second["AccessKeyId"])

    for target in (other, unique_name("ghost")):  # denied alike, whether the user exists or not
        with pytest.raises(ClientError) as exc:
            mine.list_access_keys(UserName=target)
        assert error(exc)[:2] == (403, "AccessDenied")
        with pytest.raises(ClientError) as exc:
            mine.get_user(UserName=target)
        assert error(exc)[:2] == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        mine.list_users()
    assert error(exc)[:2] == (403, "AccessDenied")
    iam.delete_user_policy(UserName=me, PolicyName="self")


def _put_user_policy(iam: Any, user: str, document: str) -> None:
    try:
        iam.put_user_policy(UserName=user, PolicyName="self", PolicyDocument=document)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NotImplemented":
            pytest.skip("PutUserPolicy is not built yet")
        raise


def _eventually(fetch: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 5.0) -> Any:
    """Last use is recorded off the request path: poll briefly."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if ok(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


# -- groups --------------------------------------------------------------------------------------------------


def test_group_lifecycle(iam: Any, account: str, new_group: Callable[..., str],
                         new_user: Callable[..., str]) -> None:
    name = unique_name("devs")
    group = iam.create_group(GroupName=name, Path="/eng/")["Group"]
    assert group["GroupId"].startswith("AGPA") and len(group["GroupId"]) == 21
    assert group["Arn"] == f"arn:aws:iam::{account}:group/eng/{name}"
    with pytest.raises(ClientError) as exc:
        iam.create_group(GroupName=name.upper())
    assert error(exc) == (409, "EntityAlreadyExists", f"Group with name {name.upper()} already exists.")

    alice, bob = new_user(), new_user()
    iam.add_user_to_group(GroupName=name, UserName=alice)
    iam.add_user_to_group(GroupName=name, UserName=bob)
    iam.add_user_to_group(GroupName=name, UserName=bob)  # idempotent
    got = iam.get_group(GroupName=name)
    assert got["Group"]["GroupName"] == name and got["IsTruncated"] is False
    assert sorted(u["UserName"] for u in got["Users"]) == sorted([alice, bob])
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=alice)["Groups"]] == [name]
    assert name in [g["GroupName"] for g in iam.list_groups(PathPrefix="/eng/")["Groups"]]

    with pytest.raises(ClientError) as exc:
        iam.delete_group(GroupName=name)
    assert error(exc) == (409, "DeleteConflict", "Cannot delete entity, must remove users from group first.")

    renamed = name + "-x"
    iam.update_group(GroupName=name, NewGroupName=renamed, NewPath="/ops/")
    assert iam.get_group(GroupName=renamed)["Group"]["Arn"] == f"arn:aws:iam::{account}:group/ops/{renamed}"
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=bob)["Groups"]] == [renamed]

    iam.remove_user_from_group(GroupName=renamed, UserName=alice)
    iam.remove_user_from_group(GroupName=renamed, UserName=bob)
    assert iam.list_groups_for_user(UserName=alice)["Groups"] == []
    iam.delete_group(GroupName=renamed)
    with pytest.raises(ClientError) as exc:
        iam.get_group(GroupName=renamed)
    assert error(exc) == (404, "NoSuchEntity", f"The group with name {renamed} cannot be found.")


def test_group_errors(iam: Any, new_group: Callable[..., str], new_user: Callable[..., str]) -> None:
    group, user = new_group(), new_user()
    ghost = unique_name("ghost")
    with pytest.raises(ClientError) as exc:
        iam.add_user_to_group(GroupName=group, UserName=ghost)
    assert error(exc) == (404, "NoSuchEntity", f"The user with name {ghost} cannot be found.")
    with pytest.raises(ClientError) as exc:
        iam.add_user_to_group(GroupName=ghost, UserName=user)
    assert error(exc) == (404, "NoSuchEntity", f"The group with name {ghost} cannot be found.")
    iam.remove_user_from_group(GroupName=group, UserName=user)  # not a member: a success, as IAM answers it
    with pytest.raises(ClientError) as exc:
        iam.delete_group(GroupName=ghost)
    assert error(exc)[:2] == (404, "NoSuchEntity")
    with pytest.raises(ClientError) as exc:
        iam.list_groups_for_user(UserName=ghost)
    assert error(exc)[:2] == (404, "NoSuchEntity")
    other = new_group()
    with pytest.raises(ClientError) as exc:
        iam.update_group(GroupName=group, NewGroupName=other.upper())
    assert error(exc)[:2] == (409, "EntityAlreadyExists")


def test_group_pagination(iam: Any, new_group: Callable[..., str], new_user: Callable[..., str]) -> None:
    path = f"/{unique_name('gp')}/"
    groups = sorted((new_group(Path=path) for _ in range(3)), key=str.lower)
    first = iam.list_groups(PathPrefix=path, MaxItems=2)
    assert [g["GroupName"] for g in first["Groups"]] == groups[:2] and first["IsTruncated"] is True
    rest = iam.list_groups(PathPrefix=path, MaxItems=2, Marker=first["Marker"])
    assert [g["GroupName"] for g in rest["Groups"]] == groups[2:] and rest["IsTruncated"] is False

    users = sorted((new_user() for _ in range(3)), key=str.lower)
    for user in users:
        iam.add_user_to_group(GroupName=groups[0], UserName=user)
        for group in groups[1:]:
            iam.add_user_to_group(GroupName=group, UserName=users[0])
    page = iam.get_group(GroupName=groups[0], MaxItems=2)
    assert [u["UserName"] for u in page["Users"]] == users[:2] and page["IsTruncated"] is True
    page = iam.get_group(GroupName=groups[0], MaxItems=2, Marker=page["Marker"])
    assert [u["UserName"] for u in page["Users"]] == users[2:] and page["IsTruncated"] is False
    mine = [g["GroupName"] for p in iam.get_paginator("list_groups_for_user").paginate(
        UserName=users[0], PaginationConfig={"PageSize": 1}) for g in p["Groups"]]
    assert mine == groups


def test_groups_per_user_quota(iam: Any, new_group: Callable[..., str], new_user: Callable[..., str]) -> None:
    user = new_user()
    for _ in range(10):
        iam.add_user_to_group(GroupName=new_group(), UserName=user)
    with pytest.raises(ClientError) as exc:
        iam.add_user_to_group(GroupName=new_group(), UserName=user)
    assert error(exc) == (409, "LimitExceeded", "Cannot exceed quota for GroupsPerUser: 10")


# -- account summary and the CLI -----------------------------------------------------------------------------


def test_account_summary(iam: Any, new_user: Callable[..., str], new_group: Callable[..., str]) -> None:
    before = iam.get_account_summary()["SummaryMap"]
    for key, value in {"UsersQuota": 5000, "GroupsQuota": 300, "PoliciesQuota": 1500, "AccessKeysPerUserQuota": 2,
                       "AttachedPoliciesPerUserQuota": 10, "AttachedPoliciesPerGroupQuota": 10,
                       "GroupsPerUserQuota": 10, "PolicySizeQuota": 6144, "PolicyVersionsInUseQuota": 10000,
                       "VersionsPerPolicyQuota": 5, "AccountAccessKeysPresent": 1, "AccountMFAEnabled": 0,
                       "MFADevices": 0}.items():
        assert before[key] == value, key
    for key in ("Users", "Groups", "Policies", "PolicyVersionsInUse", "ServerCertificates"):
        assert isinstance(before[key], int), key
    new_user()
    new_group()
    after = iam.get_account_summary()["SummaryMap"]
    # other tests of this module may run in between on the same server: at least our own additions show
    assert after["Users"] >= 1 and after["Groups"] >= 1


def test_aws_cli_creates_and_lists_users(endpoint: str, tmp_path: Path, iam: Any) -> None:
    name = unique_name("cli")

    def aws(*args: str) -> Any:
        p = subprocess.run([sys.executable, "-m", "awscli", "iam", *args, "--output", "json"], cwd=tmp_path,
                           env=user_env(endpoint, tmp_path), capture_output=True, timeout=120)
        assert p.returncode == 0, (args, p.stdout.decode(), p.stderr.decode())
        return json.loads(p.stdout) if p.stdout.strip() else None

    try:
        assert aws("create-user", "--user-name", name, "--path", "/cli/")["User"]["UserName"] == name
        listed = aws("list-users", "--path-prefix", "/cli/")["Users"]
        assert name in [u["UserName"] for u in listed]
        assert aws("get-user", "--user-name", name)["User"]["Path"] == "/cli/"
        aws("delete-user", "--user-name", name)
    finally:
        delete_user_fully(iam, name)


def test_credentials_storeroom_does_not_have_are_answered_truthfully(iam: Any, new_user: Callable[..., str]) -> None:
    """Tools read these while managing users (Terraform lists MFA devices, SSH keys, signing certificates and
    service credentials before deleting a user): empty, and NoSuchEntity where AWS answers so for none.
    (Passwords, MFA devices and roles are built: tests/e2e/test_iam_logins.py, test_iam_mfa.py, test_iam_roles.py.)"""
    name = new_user()
    assert iam.list_mfa_devices(UserName=name)["MFADevices"] == []
    assert iam.list_ssh_public_keys(UserName=name)["SSHPublicKeys"] == []
    assert iam.list_signing_certificates(UserName=name)["Certificates"] == []
    assert iam.list_service_specific_credentials(UserName=name)["ServiceSpecificCredentials"] == []
    assert iam.list_account_aliases()["AccountAliases"] == []
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []
    with pytest.raises(ClientError) as exc:
        iam.get_login_profile(UserName=name)
    assert error(exc) == (404, "NoSuchEntity", f"Login Profile for User {name} cannot be found.")
    with pytest.raises(ClientError) as exc:
        iam.list_mfa_devices(UserName=unique_name("ghost"))
    assert error(exc)[:2] == (404, "NoSuchEntity")
    with pytest.raises(ClientError) as exc:
        iam.get_account_password_policy()
    assert error(exc)[:2] == (404, "NoSuchEntity")
    with pytest.raises(ClientError) as exc:
        iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody="ssh-rsa AAAAB3NzaC1yc2E= x@y")
    assert error(exc)[:2] == (501, "NotImplemented")
