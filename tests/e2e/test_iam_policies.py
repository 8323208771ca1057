"""IAM managed and inline policies, attachments, boundaries, GetAccountAuthorizationDetails and the policy
simulator, through boto3 against a real server (root credentials unless a test makes a user of its own)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.e2e.helpers import unique_name
from tests.e2e.iam_cleanup import delete_policy_fully

S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def doc(*statements: dict[str, Any], indent: int | None = None) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=indent)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def iam(endpoint: str):  # type: ignore[no-untyped-def]
    return make_client(endpoint, service="iam")


@pytest.fixture(scope="module")
def account(endpoint: str) -> str:
    return str(make_client(endpoint, service="sts").get_caller_identity()["Account"])


@pytest.fixture
def new_policy(iam) -> Iterator[Callable[..., dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """``new_policy(document=..., **create_policy kwargs)`` → the Policy; deleted (with its versions) after."""
    arns: list[str] = []

    def make(document: str | None = None, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("PolicyName", unique_name("p"))
        policy = iam.create_policy(PolicyDocument=document or doc(allow("s3:ListAllMyBuckets")), **kwargs)["Policy"]
        arns.append(policy["Arn"])
        return dict(policy)

    yield make
    for arn in arns:
        if _exists(iam, arn):
            delete_policy_fully(iam, arn)


def _exists(iam, arn: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        iam.get_policy(PolicyArn=arn)
        return True
    except ClientError:
        return False


def raw_body(iam, call: Callable[[], Any]) -> bytes:  # type: ignore[no-untyped-def]
    """The undecoded response body of ``call()`` (botocore URL-decodes policy documents when parsing)."""
    seen: list[bytes] = []

    def grab(http_response: Any, **_: Any) -> None:
        seen.append(http_response.content)

    iam.meta.events.register("after-call.iam", grab)
    try:
        call()
    finally:
        iam.meta.events.unregister("after-call.iam", grab)
    return seen[-1]


# -- managed policies ---------------------------------------------------------------------------------------------


def test_create_and_get_policy(iam, account: str, new_policy) -> None:  # type: ignore[no-untyped-def]
    name = unique_name("p")
    created = new_policy(PolicyName=name, Path="/team/a/", Description="reads buckets",
                         Tags=[{"Key": "team", "Value": "a"}])
    assert created["Arn"] == f"arn:aws:iam::{account}:policy/team/a/{name}"
    assert created["PolicyId"].startswith("ANPA") and len(created["PolicyId"]) == 21
    assert created["DefaultVersionId"] == "v1" and created["AttachmentCount"] == 0 and created["IsAttachable"]
    got = iam.get_policy(PolicyArn=created["Arn"])["Policy"]
    assert got["PolicyName"] == name and got["Path"] == "/team/a/" and got["Description"] == "reads buckets"
    assert got["Tags"] == [{"Key": "team", "Value": "a"}]
    assert got["PermissionsBoundaryUsageCount"] == 0
    assert got["CreateDate"] == got["UpdateDate"]


def test_create_policy_errors(iam, new_policy) -> None:  # type: ignore[no-untyped-def]
    name = unique_name("p")
    new_policy(PolicyName=name)
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=name.upper(), PolicyDocument=doc(allow("s3:*")))
    assert error_of(exc) == ("EntityAlreadyExists", f"A policy called {name.upper()} already exists. Duplicate "
                             f"names are not allowed.", 409)
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=unique_name("p"), PolicyDocument="{not json")
    assert error_of(exc)[0] == "MalformedPolicyDocument"
    big = doc(*[allow(f"s3:GetObject{i:04d}", f"arn:aws:s3:::bucket-{i:04d}/*") for i in range(120)])
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=unique_name("p"), PolicyDocument=big)
    assert error_of(exc) == ("LimitExceeded", "Cannot exceed quota for PolicySize: 6144", 409)


def test_policy_size_does_not_count_white_space(iam, new_policy) -> None:  # type: ignore[no-untyped-def]
    statements = [allow(f"s3:GetObject{i:03d}", f"arn:aws:s3:::b{i:03d}/*") for i in range(70)]
    compact = doc(*statements).replace(" ", "")
    assert len(compact) < 6144 < len(doc(*statements, indent=8))
    new_policy(document=doc(*statements, indent=8))


def test_get_policy_errors(iam, account: str) -> None:  # type: ignore[no-untyped-def]
    arn = f"arn:aws:iam::{account}:policy/{unique_name('missing')}"
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn=arn)
    assert error_of(exc) == ("NoSuchEntity", f"Policy {arn} was not found.", 404)
    # other operations word a missing policy otherwise (LocalStack's AWS-recorded err-get-version-nonexistent-policy,
    # err-set-default-nonexistent-policy, err-nonexistent-policy)
    for call, message in (
            (lambda: iam.get_policy_version(PolicyArn=arn, VersionId="v1"),
             f"Policy {arn} version v1 does not exist or is not attachable."),
            (lambda: iam.set_default_policy_version(PolicyArn=arn, VersionId="v1"),
             f"Policy {arn} version v1 does not exist or is not attachable."),
            (lambda: iam.list_entities_for_policy(PolicyArn=arn),
             f"Policy {arn} does not exist or is not attachable.")):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("NoSuchEntity", message, 404)
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn="arn:aws:iam::not-a-policy-arn")
    assert error_of(exc)[:1] == ("InvalidInput",)


def test_version_lifecycle(iam, new_policy) -> None:  # type: ignore[no-untyped-def]
    arn = new_policy(document=doc(allow("s3:GetObject")))["Arn"]
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(allow("s3:PutObject")))["PolicyVersion"]
    assert v2["VersionId"] == "v2" and not v2["IsDefaultVersion"]
    v3 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(allow("s3:DeleteObject")),
                                   SetAsDefault=True)["PolicyVersion"]
    assert v3["VersionId"] == "v3" and v3["IsDefaultVersion"]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v3", True), ("v2", False),
                                                                         ("v1", False)]
    got = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert got["Document"] == json.loads(doc(allow("s3:GetObject"))) and not got["IsDefaultVersion"]

    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    with pytest.raises(ClientError) as exc:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert error_of(exc) == ("DeleteConflict", "Cannot delete the default version of a policy.", 409)
    for missing in (lambda: iam.get_policy_version(PolicyArn=arn, VersionId="v9"),
                    lambda: iam.set_default_policy_version(PolicyArn=arn, VersionId="v9"),
                    lambda: iam.delete_policy_version(PolicyArn=arn, VersionId="v9")):
        with pytest.raises(ClientError) as exc:
            missing()
        assert error_of(exc) == ("NoSuchEntity", f"Policy {arn} version v9 does not exist or is not attachable.",
                                 404)

    iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(allow("s3:A")))
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(allow("s3:B")))
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(allow("s3:C")))
    assert error_of(exc) == ("LimitExceeded", "A managed policy can have up to 5 versions. Before you create a new "
                             "version, you must delete an existing version.", 409)
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    again = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(allow("s3:C")))["PolicyVersion"]
    assert again["VersionId"] == "v6"  # version numbers are never reused

    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert error_of(exc) == ("DeleteConflict", "This policy has more than one version. Before you delete a policy, "
                             "you must delete the policy's versions. The default version is deleted with the "
                             "policy.", 409)
    for v in ("v3", "v4", "v5", "v6"):
        iam.delete_policy_version(PolicyArn=arn, VersionId=v)
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn=arn)
    assert error_of(exc)[0] == "NoSuchEntity"


def test_list_policy_versions_pages(iam, new_policy) -> None:  # type: ignore[no-untyped-def]
    arn = new_policy()["Arn"]
    for i in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(allow(f"s3:Get{i}")))
    pages = list(iam.get_paginator("list_policy_versions").paginate(PolicyArn=arn, PaginationConfig={"PageSize": 3}))
    assert [len(p["Versions"]) for p in pages] == [3, 1] and pages[0]["IsTruncated"]
    assert [v["VersionId"] for p in pages for v in p["Versions"]] == ["v4", "v3", "v2", "v1"]


def test_documents_are_url_encoded_on_the_wire(iam, new_policy) -> None:  # type: ignore[no-untyped-def]
    text = doc(allow("s3:*", "arn:aws:s3:::b/*"), indent=2)
    arn = new_policy(document=text)["Arn"]
    body = raw_body(iam, lambda: iam.get_policy_version(PolicyArn=arn, VersionId="v1")).decode()
    assert "%7B%0A%20%20%22Version%22%3A%20%222012-10-17%22%2C" in body
    assert "s3%3A%2A" in body and "arn%3Aaws%3As3%3A%3A%3Ab%2F%2A" in body
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["Document"] == json.loads(text)


def test_list_policies_scope_path_and_pages(iam, new_policy) -> None:  # type: ignore[no-untyped-def]
    path = f"/{unique_name('path')}/"
    names = sorted(new_policy(Path=path)["PolicyName"] for _ in range(3))
    listed = iam.list_policies(Scope="Local", PathPrefix=path)
    assert [p["PolicyName"] for p in listed["Policies"]] == names and not listed["IsTruncated"]
    assert "Description" not in listed["Policies"][0] and "Tags" not in listed["Policies"][0]
    # CreatePolicy answers no Description, GetPolicy does, and Tags [] when none (LocalStack's AWS-recorded)
    described = new_policy(Description="the policy")
    assert "Description" not in described
    got = iam.get_policy(PolicyArn=described["Arn"])["Policy"]
    assert (got["Description"], got["Tags"]) == ("the policy", [])
    first = iam.list_policies(Scope="Local", PathPrefix=path, MaxItems=2)
    assert first["IsTruncated"] and len(first["Policies"]) == 2
    rest = iam.list_policies(Scope="Local", PathPrefix=path, MaxItems=2, Marker=first["Marker"])
    assert not rest["IsTruncated"] and [p["PolicyName"] for p in first["Policies"] + rest["Policies"]] == names
    assert iam.list_policies(Scope="AWS", PathPrefix=path)["Policies"] == []
    assert iam.list_policies(Scope="Local", PathPrefix=path, OnlyAttached=True)["Policies"] == []


def test_markers_are_short_and_survive_deletions(iam, new_policy) -> None:  # type: ignore[no-untyped-def]
    path = "/" + "/".join(unique_name("seg") for _ in range(20)) + "/"
    names = sorted(new_policy(Path=path, PolicyName=unique_name("p") + "x" * 100)["PolicyName"] for _ in range(3))
    first = iam.list_policies(Scope="Local", PathPrefix=path, MaxItems=2)
    assert len(first["Marker"]) <= 320
    # the first page's first policy goes away before the next page is asked for: nothing is skipped
    arn = first["Policies"][0]["Arn"]
    iam.delete_policy(PolicyArn=arn)
    rest = iam.list_policies(Scope="Local", PathPrefix=path, MaxItems=2, Marker=first["Marker"])
    assert [p["PolicyName"] for p in rest["Policies"]] == names[2:]
    with pytest.raises(ClientError) as exc:
        iam.list_policies(Scope="Local", Marker="garbage")
    assert error_of(exc)[0] == "ValidationError"


def test_aws_managed_policies(iam) -> None:  # type: ignore[no-untyped-def]
    policy = iam.get_policy(PolicyArn=S3_FULL)["Policy"]
    assert policy["PolicyName"] == "AmazonS3FullAccess" and policy["Arn"] == S3_FULL
    version = iam.get_policy_version(PolicyArn=S3_FULL, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    assert version["IsDefaultVersion"] and version["Document"]["Statement"]
    names = [p["PolicyName"] for page in iam.get_paginator("list_policies").paginate(Scope="AWS")
             for p in page["Policies"]]
    assert "AmazonS3FullAccess" in names
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=S3_FULL)
    assert error_of(exc)[0] == "NoSuchEntity"


# -- attachments ------------------------------------------------------------------------------------------------


def test_attach_detach_user_and_group(iam, new_policy, new_user, new_group) -> None:  # type: ignore[no-untyped-def]
    policy = new_policy()
    arn = policy["Arn"]
    user, group = new_user(), new_group()
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)  # attaching twice is a no-op
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == [
        {"PolicyName": policy["PolicyName"], "PolicyArn": arn}]
    assert iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"] == [
        {"PolicyName": policy["PolicyName"], "PolicyArn": arn}]
    assert iam.list_attached_user_policies(UserName=user, PathPrefix="/other/")["AttachedPolicies"] == []
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 2
    entities = iam.list_entities_for_policy(PolicyArn=arn)
    assert [u["UserName"] for u in entities["PolicyUsers"]] == [user]
    assert [g["GroupName"] for g in entities["PolicyGroups"]] == [group] and entities["PolicyRoles"] == []
    only_users = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="User")
    assert only_users["PolicyGroups"] == [] and len(only_users["PolicyUsers"]) == 1
    # The filter picks a kind of entity: a policy is attached to none that is a policy (AWS's recording)
    local = iam.list_entities_for_policy(PolicyArn=arn, EntityFilter="LocalManagedPolicy")
    assert (local["PolicyUsers"], local["PolicyGroups"], local["PolicyRoles"]) == ([], [], [])
    assert arn in [p["Arn"] for p in iam.list_policies(Scope="Local", OnlyAttached=True, MaxItems=1000)["Policies"]]

    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert error_of(exc) == ("DeleteConflict", "Cannot delete a policy attached to entities.", 409)
    iam.detach_user_policy(UserName=user, PolicyArn=arn)
    iam.detach_group_policy(GroupName=group, PolicyArn=arn)
    assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == []
    with pytest.raises(ClientError) as exc:
        iam.detach_user_policy(UserName=user, PolicyArn=arn)
    assert error_of(exc) == ("NoSuchEntity", f"Policy {arn} was not found.", 404)
    iam.delete_policy(PolicyArn=arn)


def test_attach_errors(iam, account: str, new_policy, new_user) -> None:  # type: ignore[no-untyped-def]
    user = new_user()
    missing = f"arn:aws:iam::{account}:policy/{unique_name('nope')}"
    with pytest.raises(ClientError) as exc:
        iam.attach_user_policy(UserName=user, PolicyArn=missing)
    assert error_of(exc) == ("NoSuchEntity", f"Policy {missing} does not exist or is not attachable.", 404)
    nobody = unique_name("nobody")
    with pytest.raises(ClientError) as exc:
        iam.attach_user_policy(UserName=nobody, PolicyArn=new_policy()["Arn"])
    assert error_of(exc) == ("NoSuchEntity", f"The user with name {nobody} cannot be found.", 404)
    with pytest.raises(ClientError) as exc:
        iam.attach_group_policy(GroupName=nobody, PolicyArn=new_policy()["Arn"])
    assert error_of(exc) == ("NoSuchEntity", f"The group with name {nobody} cannot be found.", 404)


def test_managed_policies_per_user_quota(iam, new_policy, new_user) -> None:  # type: ignore[no-untyped-def]
    user = new_user()
    for _ in range(10):
        iam.attach_user_policy(UserName=user, PolicyArn=new_policy()["Arn"])
    with pytest.raises(ClientError) as exc:
        iam.attach_user_policy(UserName=user, PolicyArn=new_policy()["Arn"])
    assert error_of(exc) == ("LimitExceeded", "Cannot exceed quota for PoliciesPerUser: 10", 409)
    first = iam.list_attached_user_policies(UserName=user, MaxItems=4)
    assert first["IsTruncated"] and len(first["AttachedPolicies"]) == 4
    pages = list(iam.get_paginator("list_attached_user_policies").paginate(UserName=user,
                                                                          PaginationConfig={"PageSize": 4}))
    assert sum(len(p["AttachedPolicies"]) for p in pages) == 10 and len(pages) == 3


def test_attach_aws_managed_policy(iam, new_user) -> None:  # type: ignore[no-untyped-def]
    user = new_user()
    iam.attach_user_policy(UserName=user, PolicyArn=S3_FULL)
    assert iam.list_attached_user_policies(UserName=user)["AttachedPolicies"] == [
        {"PolicyName": "AmazonS3FullAccess", "PolicyArn": S3_FULL}]
    assert user in [u["UserName"] for u in iam.list_entities_for_policy(PolicyArn=S3_FULL)["PolicyUsers"]]
    attached = iam.list_policies(Scope="AWS", OnlyAttached=True)["Policies"]
    assert S3_FULL in [p["Arn"] for p in attached]
    iam.detach_user_policy(UserName=user, PolicyArn=S3_FULL)


# -- inline policies ---------------------------------------------------------------------------------------------


def test_user_inline_policies(iam, new_user) -> None:  # type: ignore[no-untyped-def]
    user = new_user()
    text = doc(allow("s3:GetObject", "arn:aws:s3:::b/*"))
    for name in ("b-policy", "a-policy", "c-policy"):
        iam.put_user_policy(UserName=user, PolicyName=name, PolicyDocument=text)
    iam.put_user_policy(UserName=user, PolicyName="a-policy", PolicyDocument=doc(allow("s3:PutObject")))  # replace
    got = iam.get_user_policy(UserName=user, PolicyName="a-policy")
    assert got["UserName"] == user and got["PolicyName"] == "a-policy"
    assert got["PolicyDocument"] == json.loads(doc(allow("s3:PutObject")))
    assert "%7B%22Version%22" in raw_body(iam, lambda: iam.get_user_policy(UserName=user,
                                                                          PolicyName="b-policy")).decode()
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["a-policy", "b-policy", "c-policy"]
    first = iam.list_user_policies(UserName=user, MaxItems=2)
    rest = iam.list_user_policies(UserName=user, Marker=first["Marker"])
    assert first["IsTruncated"] and first["PolicyNames"] + rest["PolicyNames"] == ["a-policy", "b-policy",
                                                                                     "c-policy"]
    iam.delete_user_policy(UserName=user, PolicyName="b-policy")
    with pytest.raises(ClientError) as exc:
        iam.get_user_policy(UserName=user, PolicyName="b-policy")
    assert error_of(exc) == ("NoSuchEntity", "The user policy with name b-policy cannot be found.", 404)
    with pytest.raises(ClientError) as exc:
        iam.delete_user_policy(UserName=user, PolicyName="b-policy")
    assert error_of(exc)[0] == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        iam.put_user_policy(UserName=user, PolicyName="bad", PolicyDocument="[]")
    assert error_of(exc)[0] == "MalformedPolicyDocument"


def test_group_inline_policies(iam, new_group) -> None:  # type: ignore[no-untyped-def]
    group = new_group()
    iam.put_group_policy(GroupName=group, PolicyName="p1", PolicyDocument=doc(allow("s3:GetObject")))
    got = iam.get_group_policy(GroupName=group, PolicyName="p1")
    assert got["GroupName"] == group and got["PolicyDocument"] == json.loads(doc(allow("s3:GetObject")))
    assert iam.list_group_policies(GroupName=group)["PolicyNames"] == ["p1"]
    iam.delete_group_policy(GroupName=group, PolicyName="p1")
    assert iam.list_group_policies(GroupName=group)["PolicyNames"] == []
    with pytest.raises(ClientError) as exc:
        iam.get_group_policy(GroupName=group, PolicyName="p1")
    assert error_of(exc) == ("NoSuchEntity", "The group policy with name p1 cannot be found.", 404)


def _sized(n_statements: int) -> str:
    return doc(*[allow(f"s3:GetObject{i:03d}", f"arn:aws:s3:::bucket{i:03d}/*") for i in range(n_statements)])


def test_inline_size_quotas(iam, new_user, new_group) -> None:  # type: ignore[no-untyped-def]
    """The quota is on all of an entity's inline policies together, white space not counted."""
    user, group = new_user(), new_group()
    piece = _sized(8)
    size = sum(1 for c in piece if not c.isspace())
    assert 2048 // size == 2 and 5120 // size == 7
    for i in range(2):
        iam.put_user_policy(UserName=user, PolicyName=f"p{i}", PolicyDocument=piece)
    iam.put_user_policy(UserName=user, PolicyName="p1", PolicyDocument=piece)  # a replacement counts once
    with pytest.raises(ClientError) as exc:
        iam.put_user_policy(UserName=user, PolicyName="p2", PolicyDocument=piece)
    assert error_of(exc) == ("LimitExceeded", f"Maximum policy size of 2048 bytes exceeded for user {user}", 409)
    with pytest.raises(ClientError) as exc:
        for i in range(8):
            iam.put_group_policy(GroupName=group, PolicyName=f"p{i}", PolicyDocument=piece)
    assert error_of(exc) == ("LimitExceeded", f"Maximum policy size of 5120 bytes exceeded for group {group}", 409)
    assert len(iam.list_group_policies(GroupName=group)["PolicyNames"]) == 7


# -- permissions boundaries ---------------------------------------------------------------------------------------


def test_permissions_boundary(iam, account: str, new_policy, new_user) -> None:  # type: ignore[no-untyped-def]
    user = new_user()
    arn = new_policy()["Arn"]
    iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["PermissionsBoundaryUsageCount"] == 1
    as_boundary = iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsBoundary")
    assert [u["UserName"] for u in as_boundary["PolicyUsers"]] == [user]
    assert iam.list_entities_for_policy(PolicyArn=arn, PolicyUsageFilter="PermissionsPolicy")["PolicyUsers"] == []
    assert arn in [p["Arn"] for p in iam.list_policies(Scope="Local", OnlyAttached=True,
                                                       PolicyUsageFilter="PermissionsBoundary")["Policies"]]
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert error_of(exc) == ("DeleteConflict", "Cannot delete a policy attached to entities.", 409)
    details = iam.get_account_authorization_details(Filter=["User"])
    mine = next(u for u in details["UserDetailList"] if u["UserName"] == user)
    assert mine["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn
    # no tags: Tags []; no inline policy: no UserPolicyList (LocalStack's AWS-recorded no-filter-result)
    assert mine["Tags"] == [] and "UserPolicyList" not in mine

    missing = f"arn:aws:iam::{account}:policy/{unique_name('nope')}"
    with pytest.raises(ClientError) as exc:
        iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=missing)
    assert error_of(exc) == ("NoSuchEntity", f"Scope ARN: {missing} does not exist or is not attachable.", 404)
    # no policy ARN at all, and a policy's name where its ARN goes: IAM's own answers (LocalStack's AWS-recorded
    # put-invalid-boundary-error, create-role-invalid-boundary-error, non-existent-malformed-policy-arn)
    bad = f"arn:aws:iam::{account}:not_a_policy/invalid"
    for call in (lambda: iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=bad),
                 lambda: iam.create_user(UserName=unique_name("nb"), PermissionsBoundary=bad)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == ("InvalidInput", f"ARN {bad} is not valid.", 400)
    with pytest.raises(ClientError) as exc:
        iam.attach_user_policy(UserName=user, PolicyArn="longpolicynamebutnoarn")
    assert error_of(exc) == ("ValidationError", "ARN longpolicynamebutnoarn is not valid.", 400)
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=unique_name("nb"), PermissionsBoundary=missing)
    assert error_of(exc) == ("NoSuchEntity", f"Scope ARN: {missing} does not exist or is not attachable.", 404)
    iam.delete_user_permissions_boundary(UserName=user)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["PermissionsBoundaryUsageCount"] == 0
    iam.delete_policy(PolicyArn=arn)


# -- GetAccountAuthorizationDetails --------------------------------------------------------------------------------


def _all_details(iam, **kwargs: Any) -> dict[str, list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    out: dict[str, list[dict[str, Any]]] = {"UserDetailList": [], "GroupDetailList": [], "Policies": []}
    for page in iam.get_paginator("get_account_authorization_details").paginate(**kwargs):
        for key in out:
            out[key] += page.get(key, [])
    return out


def test_account_authorization_details(iam, new_policy, new_user, new_group) -> None:  # type: ignore[no-untyped-def]
    policy = new_policy(document=doc(allow("s3:GetObject")))
    iam.create_policy_version(PolicyArn=policy["Arn"], PolicyDocument=doc(allow("s3:PutObject")))
    user, group = new_user(Tags=[{"Key": "team", "Value": "blue"}]), new_group()
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="inline", PolicyDocument=doc(allow("s3:ListBucket")))
    iam.attach_user_policy(UserName=user, PolicyArn=policy["Arn"])
    iam.put_group_policy(GroupName=group, PolicyName="ginline", PolicyDocument=doc(deny("s3:DeleteObject")))
    iam.attach_group_policy(GroupName=group, PolicyArn=policy["Arn"])

    details = _all_details(iam, PaginationConfig={"PageSize": 2})
    u = next(d for d in details["UserDetailList"] if d["UserName"] == user)
    assert u["UserPolicyList"] == [{"PolicyName": "inline", "PolicyDocument": json.loads(doc(allow("s3:ListBucket")))}]
    assert u["GroupList"] == [group] and u["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert u["AttachedManagedPolicies"] == [{"PolicyName": policy["PolicyName"], "PolicyArn": policy["Arn"]}]
    assert u["Arn"].endswith(f":user/{user}") and "PermissionsBoundary" not in u
    g = next(d for d in details["GroupDetailList"] if d["GroupName"] == group)
    assert g["GroupPolicyList"][0]["PolicyName"] == "ginline"
    assert g["AttachedManagedPolicies"] == [{"PolicyName": policy["PolicyName"], "PolicyArn": policy["Arn"]}]
    p = next(d for d in details["Policies"] if d["Arn"] == policy["Arn"])
    assert p["AttachmentCount"] == 2 and p["DefaultVersionId"] == "v1"
    assert {v["VersionId"]: v["Document"] for v in p["PolicyVersionList"]} == {
        "v2": json.loads(doc(allow("s3:PutObject"))), "v1": json.loads(doc(allow("s3:GetObject")))}

    only_groups = iam.get_account_authorization_details(Filter=["Group"])
    assert only_groups["UserDetailList"] == [] and only_groups["Policies"] == []
    local = _all_details(iam, Filter=["LocalManagedPolicy"])
    assert policy["Arn"] in [d["Arn"] for d in local["Policies"]]
    assert all(":aws:policy/" not in d["Arn"] for d in local["Policies"])


# -- the simulator -------------------------------------------------------------------------------------------------


def _decisions(results: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in results}


def test_simulate_custom_policy_decisions(iam) -> None:  # type: ignore[no-untyped-def]
    policies = [doc(allow("s3:*", "arn:aws:s3:::b/*")), doc(deny("s3:DeleteObject", "arn:aws:s3:::b/*"))]
    out = iam.simulate_custom_policy(PolicyInputList=policies,
                                     ActionNames=["s3:GetObject", "s3:DeleteObject", "iam:CreateUser"],
                                     ResourceArns=["arn:aws:s3:::b/k"])
    results = {r["EvalActionName"]: r for r in out["EvaluationResults"]}
    assert results["s3:GetObject"]["EvalDecision"] == "allowed"
    assert results["s3:DeleteObject"]["EvalDecision"] == "explicitDeny"
    assert results["iam:CreateUser"]["EvalDecision"] == "implicitDeny"
    assert results["iam:CreateUser"]["MatchedStatements"] == []
    allowed = results["s3:GetObject"]["MatchedStatements"]
    assert [(m["SourcePolicyId"], m["StartPosition"]["Line"]) for m in allowed] == [("PolicyInputList.1", 1)]
    denied = results["s3:DeleteObject"]["MatchedStatements"]
    assert [m["SourcePolicyId"] for m in denied] == ["PolicyInputList.2"]
    assert all(r["EvalResourceName"] == "arn:aws:s3:::b/k" for r in out["EvaluationResults"])


def test_simulate_context_entries(iam) -> None:  # type: ignore[no-untyped-def]
    policy = doc(allow("s3:GetObject", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))

    def decide(**kwargs: Any) -> dict[str, Any]:
        return dict(iam.simulate_custom_policy(PolicyInputList=[policy], ActionNames=["s3:GetObject"],
                                               **kwargs)["EvaluationResults"][0])

    inside = decide(ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.1.2.3"],
                                     "ContextKeyType": "ip"}])
    outside = decide(ContextEntries=[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["192.168.1.1"],
                                      "ContextKeyType": "ip"}])
    assert (inside["EvalDecision"], outside["EvalDecision"]) == ("allowed", "implicitDeny")
    missing = decide()
    assert missing["EvalDecision"] == "implicitDeny"
    assert [v.lower() for v in missing["MissingContextValues"]] == ["aws:sourceip"]


def test_policy_variables_are_context_keys_of_the_simulator(iam) -> None:  # type: ignore[no-untyped-def]
    """A policy variable names a context key as a condition does: GetContextKeysFor…Policy lists it (the AWS CLI's
    own example answers ``["aws:username", "aws:CurrentTime"]``), and a simulation without it says it is missing
    instead of a bare implicitDeny (IAM probe, finding 1).  Escapes (``${*}``) name no key; a 2008 policy has no
    variables."""
    example = json.dumps({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "dynamodb:*",
        "Resource": "arn:aws:dynamodb:us-west-2:123456789012:table/${aws:username}",
        "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2015-08-16T12:00:00Z"}}}})
    assert iam.get_context_keys_for_custom_policy(PolicyInputList=[example])["ContextKeyNames"] == [
        "aws:username", "aws:CurrentTime"]
    home = doc(allow("s3:PutObject", "arn:aws:s3:::b/${aws:username}/*"), allow("s3:GetObject", "arn:aws:s3:::b/${*}"),
               allow("s3:ListBucket", "arn:aws:s3:::b",
                     Condition={"StringLike": {"s3:prefix": "${aws:PrincipalTag/team, 'none'}/*"}}))
    assert iam.get_context_keys_for_custom_policy(PolicyInputList=[home])["ContextKeyNames"] == [
        "aws:username", "s3:prefix", "aws:PrincipalTag/team"]
    old = json.dumps({"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                              "Resource": "arn:aws:s3:::b/${aws:username}"}]})
    assert iam.get_context_keys_for_custom_policy(PolicyInputList=[old])["ContextKeyNames"] == []

    def simulate(**kwargs: Any) -> dict[str, Any]:
        return dict(iam.simulate_custom_policy(PolicyInputList=[home], ActionNames=["s3:PutObject"],
                                               ResourceArns=["arn:aws:s3:::b/sim/x"], **kwargs)["EvaluationResults"][0])

    missing = simulate()
    assert (missing["EvalDecision"], missing["MissingContextValues"]) == ("implicitDeny", ["aws:username"])
    given = simulate(ContextEntries=[{"ContextKeyName": "aws:username", "ContextKeyValues": ["sim"],
                                      "ContextKeyType": "string"}])
    assert (given["EvalDecision"], given["MissingContextValues"]) == ("allowed", [])
    # a variable with a default value is never missing (the review's finding 9)
    listing = dict(iam.simulate_custom_policy(PolicyInputList=[home], ActionNames=["s3:ListBucket"],
                                              ResourceArns=["arn:aws:s3:::b"])["EvaluationResults"][0])
    assert [k.lower() for k in listing["MissingContextValues"]] == ["s3:prefix"]


def test_simulate_boundary_caps_allow(iam) -> None:  # type: ignore[no-untyped-def]
    out = iam.simulate_custom_policy(PolicyInputList=[doc(allow("s3:*"))],
                                     PermissionsBoundaryPolicyInputList=[doc(allow("s3:GetObject"))],
                                     ActionNames=["s3:GetObject", "s3:PutObject"])
    results = {r["EvalActionName"]: r for r in out["EvaluationResults"]}
    assert results["s3:GetObject"]["EvalDecision"] == "allowed"
    assert results["s3:GetObject"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    assert results["s3:PutObject"]["EvalDecision"] == "implicitDeny"
    assert results["s3:PutObject"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_simulate_pagination(iam) -> None:  # type: ignore[no-untyped-def]
    actions = [f"s3:Action{i}" for i in range(5)]
    first = iam.simulate_custom_policy(PolicyInputList=[doc(allow("s3:*"))], ActionNames=actions, MaxItems=2)
    assert first["IsTruncated"] and len(first["EvaluationResults"]) == 2
    pages = list(iam.get_paginator("simulate_custom_policy").paginate(
        PolicyInputList=[doc(allow("s3:*"))], ActionNames=actions, PaginationConfig={"PageSize": 2}))
    assert [r["EvalActionName"] for p in pages for r in p["EvaluationResults"]] == actions


def test_only_the_page_asked_for_is_simulated(endpoint: str, iam) -> None:  # type: ignore[no-untyped-def]
    """3,000 actions × 3,000 resources are 9 million simulations: every one was evaluated (and kept) before the
    first page was cut, freezing the worker for hours (fuzzing, 2026-12-07)."""
    patient = make_client(endpoint, service="iam", read_timeout=60)
    actions = [f"s3:GetObject{i}" for i in range(3000)]
    resources = [f"arn:aws:s3:::b/k{i}" for i in range(3000)]
    first = patient.simulate_custom_policy(PolicyInputList=[doc(allow("s3:*"))], ActionNames=actions,
                                           ResourceArns=resources, MaxItems=2)
    assert [(r["EvalActionName"], r["EvalResourceName"]) for r in first["EvaluationResults"]] == [
        ("s3:GetObject0", "arn:aws:s3:::b/k0"), ("s3:GetObject0", "arn:aws:s3:::b/k1")]
    later = patient.simulate_custom_policy(PolicyInputList=[doc(allow("s3:*"))], ActionNames=actions,
                                           ResourceArns=resources, MaxItems=3, Marker=first["Marker"])
    assert [(r["EvalActionName"], r["EvalResourceName"]) for r in later["EvaluationResults"]] == [
        ("s3:GetObject0", f"arn:aws:s3:::b/k{i}") for i in (2, 3, 4)]
    with pytest.raises(ClientError) as exc:
        patient.simulate_custom_policy(PolicyInputList=[doc(allow("s3:*"))], ActionNames=actions,
                                       ResourceArns=resources, Marker="5.0000000000000000")
    assert error_of(exc)[:2] == ("ValidationError", "Invalid Marker.")


def test_simulate_rejects_malformed_input(iam) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        iam.simulate_custom_policy(PolicyInputList=["{nope"], ActionNames=["s3:GetObject"])
    assert error_of(exc)[0] == "MalformedPolicyDocument"


def test_simulate_principal_policy(iam, account: str, new_policy, new_user, new_group) -> None:  # type: ignore[no-untyped-def]
    user, group = new_user(), new_group()
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="reads", PolicyDocument=doc(allow(["s3:GetObject",
                                                                                     "s3:DeleteObject"])))
    iam.put_group_policy(GroupName=group, PolicyName="nodelete", PolicyDocument=doc(deny("s3:DeleteObject")))
    managed = new_policy(document=doc(allow("s3:PutObject")))
    iam.attach_user_policy(UserName=user, PolicyArn=managed["Arn"])
    user_arn = iam.get_user(UserName=user)["User"]["Arn"]

    out = iam.simulate_principal_policy(PolicySourceArn=user_arn, ActionNames=[
        "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"])
    results = {r["EvalActionName"]: r for r in out["EvaluationResults"]}
    assert {a: r["EvalDecision"] for a, r in results.items()} == {
        "s3:GetObject": "allowed", "s3:PutObject": "allowed", "s3:DeleteObject": "explicitDeny",
        "s3:ListBucket": "implicitDeny"}
    assert [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in results["s3:GetObject"]["MatchedStatements"]] \
        == [(f"user_{user}_reads", "IAM Policy")]
    assert [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in results["s3:PutObject"]["MatchedStatements"]] \
        == [(managed["PolicyName"], "IAM Policy")]
    assert [m["SourcePolicyId"] for m in results["s3:DeleteObject"]["MatchedStatements"]] == [
        f"group_{group}_nodelete"]
    assert "PermissionsBoundaryDecisionDetail" not in results["s3:GetObject"]

    # a boundary caps what the identity policies allow
    boundary = new_policy(document=doc(allow("s3:GetObject")))
    iam.put_user_permissions_boundary(UserName=user, PermissionsBoundary=boundary["Arn"])
    capped = iam.simulate_principal_policy(PolicySourceArn=user_arn, ActionNames=["s3:GetObject", "s3:PutObject"])
    assert _decisions(capped["EvaluationResults"]) == {("s3:GetObject", "*"): "allowed",
                                                       ("s3:PutObject", "*"): "implicitDeny"}
    assert [r["PermissionsBoundaryDecisionDetail"]["AllowedByPermissionsBoundary"]
            for r in capped["EvaluationResults"]] == [True, False]
    # PolicyInputList adds to the user's policies; a group ARN simulates the group's own policies
    extra = iam.simulate_principal_policy(PolicySourceArn=user_arn, ActionNames=["s3:ListBucket"],
                                          PolicyInputList=[doc(allow("s3:ListBucket"))],
                                          PermissionsBoundaryPolicyInputList=[doc(allow("s3:*"))])
    assert extra["EvaluationResults"][0]["EvalDecision"] == "allowed"
    group_arn = f"arn:aws:iam::{account}:group/{group}"
    as_group = iam.simulate_principal_policy(PolicySourceArn=group_arn, ActionNames=["s3:DeleteObject"])
    assert as_group["EvaluationResults"][0]["EvalDecision"] == "explicitDeny"


def test_simulation_results_are_shaped_as_aws_records_them(iam, new_policy, new_user) -> None:  # type: ignore[no-untyped-def]
    """LocalStack's AWS recording: test_iam.py TestIAMIntegrations::test_simulate_principle_policy[user]."""
    text = json.dumps({"Version": "2012-10-17",
                       "Statement": {"Sid": "", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}})
    assert len(text) == 113 and text.index('{"Sid"') == 39  # the statement's "{" is the 40th character
    policy = new_policy(document=text)
    user = new_user()
    iam.attach_user_policy(UserName=user, PolicyArn=policy["Arn"])
    out = iam.simulate_principal_policy(PolicySourceArn=iam.get_user(UserName=user)["User"]["Arn"],
                                        ActionNames=["s3:PutObject", "s3:GetObjectVersion"],
                                        ResourceArns=["arn:aws:s3:::bucket"])
    statement = {"SourcePolicyId": policy["PolicyName"], "SourcePolicyType": "IAM Policy",
                 "StartPosition": {"Line": 1, "Column": 41}, "EndPosition": {"Line": 1, "Column": 113}}
    assert out["EvaluationResults"] == [
        {"EvalActionName": action, "EvalResourceName": "arn:aws:s3:::bucket", "EvalDecision": decision,
         "MatchedStatements": matched, "MissingContextValues": [], "EvalDecisionDetails": {},
         "OrganizationsDecisionDetail": {"AllowedByOrganizations": True},
         "ResourceSpecificResults": [{"EvalResourceName": "arn:aws:s3:::bucket", "EvalResourceDecision": decision,
                                      "MatchedStatements": matched, "MissingContextValues": []}]}
        for action, decision, matched in (("s3:PutObject", "allowed", [statement]),
                                          ("s3:GetObjectVersion", "implicitDeny", []))]


def test_simulate_principal_policy_errors(iam, account: str) -> None:  # type: ignore[no-untyped-def]
    nobody = unique_name("nobody")
    with pytest.raises(ClientError) as exc:
        iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{account}:user/{nobody}",
                                      ActionNames=["s3:GetObject"])
    assert error_of(exc) == ("NoSuchEntity", f"The user with name {nobody} cannot be found.", 404)
    with pytest.raises(ClientError) as exc:
        iam.simulate_principal_policy(PolicySourceArn="arn:aws:s3:::not-an-iam-entity", ActionNames=["s3:Get"])
    assert error_of(exc)[0] == "InvalidInput"


def test_the_simulators_caller_is_an_iam_user(iam, account: str, new_role) -> None:  # type: ignore[no-untyped-def]
    """CallerArn: "You can specify only the ARN of an IAM user ... CallerArn is required if you include a
    ResourcePolicy and the PolicySourceArn is not the ARN for an IAM user" (IAM probe, finding 3)."""
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}]})
    role = f"arn:aws:iam::{account}:role/{new_role(trust)}"
    bucket_policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": {"AWS": role}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]})
    for call in (lambda: iam.simulate_custom_policy(PolicyInputList=[doc(allow("s3:GetObject"))],
                                                    ActionNames=["s3:GetObject"], CallerArn=role),
                 lambda: iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["s3:GetObject"],
                                                       ResourceArns=["arn:aws:s3:::b/k"],
                                                       ResourcePolicy=bucket_policy)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc)[0] == "InvalidInput"


# -- enforcement and authorization of the policy API itself ----------------------------------------------------


@pytest.fixture
def user_client(iam, endpoint: str, new_user):  # type: ignore[no-untyped-def]
    """(user name, an IAM client signed with a fresh access key of that user)."""
    def make() -> tuple[str, Any]:
        name = new_user()
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return name, make_client(endpoint, service="iam", access_key=key["AccessKeyId"],
                                 secret_key=key["SecretAccessKey"])
    return make


def test_policy_api_authorizes_before_revealing(iam, account: str, user_client) -> None:  # type: ignore[no-untyped-def]
    name, client = user_client()
    missing = f"arn:aws:iam::{account}:policy/{unique_name('nope')}"
    with pytest.raises(ClientError) as exc:
        client.get_policy(PolicyArn=missing)
    assert error_of(exc)[0] == "AccessDenied"  # not NoSuchEntity: existence is not revealed
    iam.put_user_policy(UserName=name, PolicyName="get", PolicyDocument=doc(allow("iam:GetPolicy", missing)))
    with pytest.raises(ClientError) as exc:
        client.get_policy(PolicyArn=missing)
    assert error_of(exc)[0] == "NoSuchEntity"  # the generation bump made the new policy effective at once


def test_attached_aws_managed_policy_is_enforced(iam, endpoint: str, new_user) -> None:  # type: ignore[no-untyped-def]
    name = new_user()
    key = iam.create_access_key(UserName=name)["AccessKey"]
    s3 = make_client(endpoint, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        s3.list_buckets()
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    iam.attach_user_policy(UserName=name, PolicyArn=S3_FULL)
    s3.list_buckets()


def test_condition_keys_of_attachments(iam, new_policy, new_user, user_client) -> None:  # type: ignore[no-untyped-def]
    """The delegated-admin pattern: attach only a given policy, only to users held by a given boundary."""
    admin_name, admin = user_client()
    boundary, granted, other = new_policy(), new_policy(), new_policy()
    iam.put_user_policy(UserName=admin_name, PolicyName="delegate", PolicyDocument=doc(allow(
        "iam:AttachUserPolicy", Condition={"StringEquals": {"iam:PermissionsBoundary": boundary["Arn"],
                                                            "iam:PolicyARN": granted["Arn"]}})))
    bounded, free = new_user(), new_user()
    iam.put_user_permissions_boundary(UserName=bounded, PermissionsBoundary=boundary["Arn"])
    admin.attach_user_policy(UserName=bounded, PolicyArn=granted["Arn"])
    for user, arn in ((bounded, other["Arn"]), (free, granted["Arn"])):
        with pytest.raises(ClientError) as exc:
            admin.attach_user_policy(UserName=user, PolicyArn=arn)
        assert error_of(exc)[0] == "AccessDenied"


def test_context_keys_for_principal_and_custom_policies(iam, new_user, new_group, account) -> None:  # type: ignore[no-untyped-def]
    user = new_user()
    iam.put_user_policy(UserName=user, PolicyName="list-home", PolicyDocument=doc(allow(
        "s3:ListBucket", "arn:aws:s3:::b", Condition={"StringLike": {"s3:prefix": "home/*"},
                                                     "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})))
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    group = new_group()
    iam.put_group_policy(GroupName=group, PolicyName="https", PolicyDocument=doc(
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}, "IpAddress": {"AWS:SourceIP": "1.2.3.4"}}}))
    iam.add_user_to_group(GroupName=group, UserName=user)
    extra = doc(allow("s3:GetObject", Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}}))
    keys = iam.get_context_keys_for_principal_policy(PolicySourceArn=f"arn:aws:iam::{account}:user/{user}",
                                                     PolicyInputList=[extra])["ContextKeyNames"]
    assert sorted(k.lower() for k in keys) == ["aws:principaltag/team", "aws:securetransport", "aws:sourceip",
                                               "s3:prefix"]
    custom = iam.get_context_keys_for_custom_policy(PolicyInputList=[extra])["ContextKeyNames"]
    assert [k.lower() for k in custom] == ["aws:principaltag/team"]
    with pytest.raises(ClientError) as exc:
        iam.get_context_keys_for_principal_policy(PolicySourceArn=f"arn:aws:iam::{account}:user/nobody-here")
    assert exc.value.response["Error"]["Code"] == "NoSuchEntity"
