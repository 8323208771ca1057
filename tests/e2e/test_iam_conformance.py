"""IAM's answers in AWS's exact words, shapes and statuses, where AWS's behaviour is on record (AWS's API
reference, and AWS's messages as users have quoted them): validation wording, AccessDenied resources, the
entity errors, response shapes and the Query protocol's edges."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.e2e.conftest import IamUser
from tests.e2e.helpers import signed_request, unique_name

DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                          "Resource": "*"}]})


@pytest.fixture(scope="module")
def account(endpoint: str) -> str:
    return str(make_client(endpoint, service="sts").get_caller_identity()["Account"])


def error_of(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        call()
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


@pytest.fixture
def user_name(iam: Any) -> Iterator[str]:
    name = unique_name("conf")
    iam.create_user(UserName=name)
    yield name
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=name)


# -- ValidationError ---------------------------------------------------------------------------------------------


def test_a_name_too_long_is_a_constraint_violation(iam: Any) -> None:
    name = "u" * 65
    assert error_of(lambda: iam.create_user(UserName=name)) == (
        400, "ValidationError", "1 validation error detected: Value at 'userName' failed to satisfy "
        "constraint: Member must have length less than or equal to 64")  # IAM names no value (AWS's recordings)


@pytest.mark.parametrize("call, message", [
    (lambda iam: iam.create_user(UserName="bad name"),
     "The specified value for userName is invalid. It must contain only alphanumeric characters and/or the "
     "following: +=,.@_-"),
    (lambda iam: iam.create_user(UserName="bad", Path="team/"),
     "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric "
     "characters and/or / characters."),
    (lambda iam: iam.list_users(PathPrefix="team"),
     "The specified value for pathPrefix is invalid. It must begin with the / character and contain only "
     "alphanumeric characters and/or / characters."),
    (lambda iam: iam.list_policies(PathPrefix="foo"),
     "The specified value for pathPrefix is invalid. It must begin with the / character and contain only "
     "alphanumeric characters and/or / characters."),
    (lambda iam: iam.create_group(GroupName="ünïcode"),
     "The specified value for groupName is invalid. It must contain only alphanumeric characters and/or the "
     "following: +=,.@_-"),
])
def test_names_and_paths_are_refused_in_iam_words(iam: Any, call: Callable[[Any], Any], message: str) -> None:
    assert error_of(lambda: call(iam)) == (400, "ValidationError", message)


def test_nested_members_are_named_by_their_path(iam: Any, user_name: str) -> None:
    assert error_of(lambda: iam.tag_user(UserName=user_name, Tags=[{"Key": "a#", "Value": "v"}])) == (
        400, "ValidationError", "1 validation error detected: Value at 'tags.1.member.key' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+")


def test_a_list_too_long_is_named_without_its_members(iam: Any, user_name: str) -> None:
    """LocalStack's AWS recording (test_iam_roles.py TestRoleTags::test_role_tag_errors): no value, and never the
    members' Python form ("[{'Key': '0', ...}]")."""
    assert error_of(lambda: iam.tag_user(UserName=user_name, Tags=[{"Key": str(i), "Value": "v"} for i in range(51)])
                    ) == (400, "ValidationError", "1 validation error detected: Value at 'tags' failed to satisfy "
                          "constraint: Member must have length less than or equal to 50")


def test_unicode_letters_are_valid_in_tags(iam: Any, user_name: str) -> None:
    iam.tag_user(UserName=user_name, Tags=[{"Key": "équipe", "Value": "données 1"}])
    assert iam.list_user_tags(UserName=user_name)["Tags"] == [{"Key": "équipe", "Value": "données 1"}]


# -- AccessDenied ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, action, resource", [
    (lambda c: c.list_users(), "ListUsers", "arn:aws:iam::{account}:user/"),
    (lambda c: c.list_groups(), "ListGroups", "arn:aws:iam::{account}:group/"),
    (lambda c: c.list_policies(), "ListPolicies", "policy path /"),
])
def test_access_denied_names_the_resource_aws_names(iam_user: Callable[..., IamUser], account: str,
                                                    call: Callable[[Any], Any], action: str, resource: str) -> None:
    user = iam_user()
    status, code, message = error_of(lambda: call(user.iam))
    assert (status, code) == (403, "AccessDenied")
    assert message == (f"User: {user.arn} is not authorized to perform: iam:{action} on resource: "
                       f"{resource.format(account=account)} because no identity-based policy allows the "
                       f"iam:{action} action")


def test_list_users_is_authorized_on_the_user_path(iam_user: Callable[..., IamUser], account: str) -> None:
    """The resource is ``user/``: a policy on ``user/*`` opens ListUsers (it matched only ``*`` before)."""
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": f"arn:aws:iam::{account}:user/*"}]})
    user = iam_user(inline={"list": policy})
    assert any(u["UserName"] == user.name for u in user.iam.list_users()["Users"])


# -- entity errors -----------------------------------------------------------------------------------------------


def test_no_such_entity_messages(iam: Any, account: str, user_name: str) -> None:
    arn = f"arn:aws:iam::{account}:policy/nope-{user_name}"
    assert error_of(lambda: iam.get_user(UserName="nobody-here")) == (
        404, "NoSuchEntity", "The user with name nobody-here cannot be found.")
    assert error_of(lambda: iam.get_group(GroupName="nobody-here")) == (
        404, "NoSuchEntity", "The group with name nobody-here cannot be found.")
    assert error_of(lambda: iam.get_policy(PolicyArn=arn)) == (404, "NoSuchEntity", f"Policy {arn} was not found.")
    assert error_of(lambda: iam.delete_access_key(UserName=user_name, AccessKeyId="AKIAZZZZZZZZZZZZZZZZ")) == (
        404, "NoSuchEntity", "The Access Key with id AKIAZZZZZZZZZZZZZZZZ cannot be found.")
    assert error_of(lambda: iam.get_user_policy(UserName=user_name, PolicyName="p")) == (
        404, "NoSuchEntity", "The user policy with name p cannot be found.")
    managed = iam.create_policy(PolicyName=f"p-{user_name}", PolicyDocument=DOC)["Policy"]["Arn"]
    try:
        assert error_of(lambda: iam.get_policy_version(PolicyArn=managed, VersionId="v9")) == (
            404, "NoSuchEntity", f"Policy {managed} version v9 does not exist or is not attachable.")
    finally:
        iam.delete_policy(PolicyArn=managed)


def test_conflicts_and_limits(iam: Any, user_name: str) -> None:
    assert error_of(lambda: iam.create_user(UserName=user_name)) == (
        409, "EntityAlreadyExists", f"User with name {user_name} already exists.")
    iam.create_access_key(UserName=user_name)
    iam.create_access_key(UserName=user_name)
    assert error_of(lambda: iam.create_access_key(UserName=user_name)) == (
        409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
    assert error_of(lambda: iam.delete_user(UserName=user_name)) == (
        409, "DeleteConflict", "Cannot delete entity, must delete access keys first.")


def test_malformed_policy_document(iam: Any) -> None:
    status, code, _ = error_of(lambda: iam.create_policy(PolicyName=unique_name("p"), PolicyDocument="{"))
    assert (status, code) == (400, "MalformedPolicyDocument")


# -- response shapes ---------------------------------------------------------------------------------------------


def test_get_user_as_root_has_no_user_name(iam: Any, account: str) -> None:
    user = iam.get_user()["User"]
    assert user["Arn"] == f"arn:aws:iam::{account}:root" and user["UserId"] == account
    assert "UserName" not in user and "Path" not in user


def test_policy_version_document_is_url_encoded(endpoint: str, iam: Any) -> None:
    arn = iam.create_policy(PolicyName=unique_name("p"), PolicyDocument=DOC)["Policy"]["Arn"]
    try:
        response = _query(endpoint, {"Action": "GetPolicyVersion", "Version": "2010-05-08", "PolicyArn": arn,
                                     "VersionId": "v1"})
        document = ET.fromstring(response.content).findtext(".//{*}Document")
        assert document is not None and document.startswith("%7B%22Version%22")
    finally:
        iam.delete_policy(PolicyArn=arn)


def test_account_summary_has_aws_keys(iam: Any) -> None:
    summary = iam.get_account_summary()["SummaryMap"]
    for key in ("Users", "UsersQuota", "Groups", "GroupsQuota", "Policies", "PoliciesQuota",
                "AccessKeysPerUserQuota", "AccountAccessKeysPresent", "AccountMFAEnabled", "PolicySizeQuota"):
        assert isinstance(summary[key], int), key


def test_account_summary_has_every_key_of_the_model(iam: Any) -> None:
    """SummaryMap's keys are an enum of the IAM model (summaryKeyType): AWS answers all of them; the root has a
    console password (generated at first start: AccountPasswordPresent 1), no MFA, no signing certificate."""
    enum = iam.meta.service_model.shape_for("summaryKeyType").enum
    summary = iam.get_account_summary()["SummaryMap"]
    assert sorted(summary) == sorted(enum)
    assert (summary["AccountPasswordPresent"], summary["AccountMFAEnabled"],
            summary["AccountSigningCertificatesPresent"]) == (1, 0, 0)


# -- the Query protocol ------------------------------------------------------------------------------------------


def _query(endpoint: str, params: dict[str, str], method: str = "POST", in_query: tuple[str, ...] = (),
           content_type: str | None = "application/x-www-form-urlencoded; charset=utf-8") -> requests.Response:
    query = urlencode({k: v for k, v in params.items() if k in in_query or method == "GET"})
    body = b"" if method == "GET" else urlencode({k: v for k, v in params.items() if k not in in_query}).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    return signed_request(method, f"{endpoint}/" + (f"?{query}" if query else ""), headers, body, service="iam",
                          region="us-east-1")


def test_get_with_the_query_string(endpoint: str) -> None:
    response = _query(endpoint, {"Action": "ListUsers", "Version": "2010-05-08", "MaxItems": "1"}, method="GET")
    assert response.status_code == 200
    assert ET.fromstring(response.content).tag.endswith("ListUsersResponse")


def test_action_in_the_query_string_parameters_in_the_body(endpoint: str) -> None:
    response = _query(endpoint, {"Action": "GetUser", "Version": "2010-05-08", "UserName": "nobody-here"},
                      in_query=("Action", "Version"))
    assert response.status_code == 404 and b"The user with name nobody-here cannot be found." in response.content


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_content_type_variants(endpoint: str, content_type: str | None) -> None:
    response = _query(endpoint, {"Action": "ListGroups", "Version": "2010-05-08"}, content_type=content_type)
    assert response.status_code == 200


def test_unknown_action(endpoint: str) -> None:
    response = _query(endpoint, {"Action": "ListUnicorns", "Version": "2010-05-08"})
    assert response.status_code == 400
    error = ET.fromstring(response.content).find("{*}Error")
    assert error is not None and error.findtext("{*}Code") == "InvalidAction"
    assert error.findtext("{*}Message") == "Could not find operation ListUnicorns for version 2010-05-08"


@pytest.mark.parametrize(("version", "named"), [(None, "NO_VERSION_SPECIFIED"), ("2011-01-01", "2011-01-01"),
                                               ("", "")])
def test_the_version_must_be_iams(endpoint: str, version: str | None, named: str) -> None:
    """AWS finds an operation by Action and Version: "Could not find operation ListUsers for version
    NO_VERSION_SPECIFIED" (versitygw's IAM router test; Envoy quotes STS's); a client that left Version out
    worked here and failed on AWS."""
    params = {"Action": "ListUsers", "MaxItems": "1"} | ({} if version is None else {"Version": version})
    response = _query(endpoint, params)
    assert response.status_code == 400
    error = ET.fromstring(response.content).find("{*}Error")
    assert error is not None and error.findtext("{*}Code") == "InvalidAction"
    assert error.findtext("{*}Message") == f"Could not find operation ListUsers for version {named}"


def test_a_parameter_given_twice_takes_its_first_value(endpoint: str, iam: Any) -> None:
    """AWS's Query services take a repeated parameter's first value (recorded against STS:
    DurationSeconds=900&DurationSeconds=899 succeeds); the last one won here."""
    name = unique_name("first")
    iam.create_user(UserName=name)
    try:
        body = f"Action=GetUser&Version=2010-05-08&UserName={name}&UserName=nobody-{name}".encode()
        response = signed_request("POST", f"{endpoint}/", {"Content-Type": "application/x-www-form-urlencoded"},
                                  body, service="iam", region="us-east-1")
        assert response.status_code == 200, response.text
        assert f"<UserName>{name}</UserName>" in response.text
    finally:
        iam.delete_user(UserName=name)


def test_tags_beginning_with_aws_are_refused(iam: Any, new_user: Callable[..., str]) -> None:
    """"You cannot create a tag key or value that begins with the text aws:" (any case), in IAM and STS
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html#id_tags_rules); they were stored."""
    user = new_user()
    for tags in ([{"Key": "aws:team", "Value": "a"}], [{"Key": "AWS:x", "Value": "a"}],
                 [{"Key": "team", "Value": "aws:a"}]):
        assert error_of(lambda tags=tags: iam.tag_user(UserName=user, Tags=tags))[:2] == (400, "InvalidInput")
        assert error_of(lambda tags=tags: iam.create_policy(PolicyName=unique_name("p"), PolicyDocument=DOC,
                                                            Tags=tags))[:2] == (400, "InvalidInput")
    assert iam.list_user_tags(UserName=user)["Tags"] == []
    assert error_of(lambda: iam.create_user(UserName=unique_name("u"), Tags=[{"Key": "aws:x", "Value": "1"}]))[:2] \
        == (400, "InvalidInput")
    iam.tag_user(UserName=user, Tags=[{"Key": "team", "Value": "awsome"}])  # only the prefix "aws:" is AWS's


# -- policy tags -------------------------------------------------------------------------------------------------


def test_tag_untag_and_list_policy_tags(iam: Any, account: str) -> None:
    arn = iam.create_policy(PolicyName=unique_name("p"), PolicyDocument=DOC,
                            Tags=[{"Key": "team", "Value": "a"}])["Policy"]["Arn"]
    try:
        # a managed policy's tag keys keep their case: team and TEAM are two tags, untagged one by one (unlike a
        # user's; LocalStack's AWS-recorded create-with-case-sensitive-tags, list-after-untag-lowercase)
        iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "TEAM", "Value": "b"}, {"Key": "env", "Value": "dev"}])
        both = [{"Key": "team", "Value": "a"}, {"Key": "TEAM", "Value": "b"}, {"Key": "env", "Value": "dev"}]
        assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == both
        assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == both
        iam.untag_policy(PolicyArn=arn, TagKeys=["team"])
        assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == both[1:]
        many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
        assert error_of(lambda: iam.tag_policy(PolicyArn=arn, Tags=many)) == (
            409, "LimitExceeded", "Cannot exceed quota for TagsPerPolicy: 50")
        assert error_of(lambda: iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "a", "Value": "1"},
                                                                    {"Key": "a", "Value": "2"}])) == (
            400, "InvalidInput", "Duplicate tag keys found.")
    finally:
        iam.delete_policy(PolicyArn=arn)
    gone = f"arn:aws:iam::{account}:policy/{unique_name('gone')}"
    assert error_of(lambda: iam.tag_policy(PolicyArn=gone, Tags=[{"Key": "a", "Value": "b"}])) == (
        404, "NoSuchEntity", f"Policy {gone} was not found.")
    assert error_of(lambda: iam.list_policy_tags(PolicyArn=gone))[1] == "NoSuchEntity"
