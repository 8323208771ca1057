"""IAM roles, instance profiles and OpenID Connect providers through boto3's ``iam`` client: AWS's shapes, its
trust-policy validation and its errors (STS's use of roles: tests/e2e/test_sts*.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import trust_policy
from tests.e2e.helpers import unique_name

S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = exc.value.response
    err = response["Error"]
    return response["ResponseMetadata"]["HTTPStatusCode"], err["Code"], err.get("Message", "")


def account(iam: Any) -> str:
    return str(iam.get_user()["User"]["Arn"].split(":")[4])


def test_create_role_answers_the_short_shape_aws_answers(iam: Any) -> None:
    """CreateRole's Role has no MaxSessionDuration nor Description, even when given, and a boundary's type is
    "Policy" (LocalStack's AWS-recorded create-role-response, create-role-with-boundary)."""
    acct = account(iam)
    trust = trust_policy({"Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"})
    name = unique_name("short")
    made = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, Description="Role 0",
                           MaxSessionDuration=7200,
                           PermissionsBoundary="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")["Role"]
    try:
        assert set(made) - {"ResponseMetadata"} == {"Path", "RoleName", "RoleId", "Arn", "CreateDate",
                                                   "AssumeRolePolicyDocument", "PermissionsBoundary"}
        assert made["PermissionsBoundary"]["PermissionsBoundaryType"] == "Policy"
        profile = unique_name("p")
        iam.create_instance_profile(InstanceProfileName=profile)
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=name)
        listed = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
        assert "MaxSessionDuration" not in listed["Roles"][0] and "Description" not in listed["Roles"][0]
        iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=name)
        iam.delete_instance_profile(InstanceProfileName=profile)
    finally:
        iam.delete_role(RoleName=name)


def test_create_get_list_update_delete_role(iam: Any, new_role: Callable[..., str]) -> None:
    acct = account(iam)
    trust = trust_policy({"Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"})
    name = new_role(trust, Path="/app/", Description="the app", MaxSessionDuration=7200,
                    Tags=[{"Key": "team", "Value": "blue"}])
    role = iam.get_role(RoleName=name)["Role"]
    assert role["Arn"] == f"arn:aws:iam::{acct}:role/app/{name}" and role["RoleId"].startswith("AROA")
    assert role["Path"] == "/app/" and role["Description"] == "the app" and role["MaxSessionDuration"] == 7200
    assert role["AssumeRolePolicyDocument"] == json.loads(trust)  # botocore decodes IAM's URL-encoded document
    assert role["Tags"] == [{"Key": "team", "Value": "blue"}] and role["RoleLastUsed"] == {}
    listed = iam.list_roles(PathPrefix="/app/")["Roles"]
    assert [r["RoleName"] for r in listed] == [name] and "Tags" not in listed[0]
    iam.update_role(RoleName=name, MaxSessionDuration=3600)
    updated = iam.update_role_description(RoleName=name, Description="renamed")["Role"]
    # AWS's shape (LocalStack's AWS-recorded update-role-description-response): no MaxSessionDuration,
    # no RoleLastUsed; GetRole has both
    assert updated["Description"] == "renamed" and "MaxSessionDuration" not in updated
    assert "RoleLastUsed" not in updated and iam.get_role(RoleName=name)["Role"]["MaxSessionDuration"] == 3600
    iam.tag_role(RoleName=name, Tags=[{"Key": "env", "Value": "prod"}])
    iam.untag_role(RoleName=name, TagKeys=["team"])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "env", "Value": "prod"}]
    new_trust = trust_policy({"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=new_trust)
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == json.loads(new_trust)
    with pytest.raises(ClientError) as exc:  # LocalStack's AWS recording (test_iam_roles.py)
        iam.update_assume_role_policy(RoleName=name, PolicyDocument="{not json")
    assert error(exc) == (400, "MalformedPolicyDocument", "This policy contains invalid Json")
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=name.upper(), AssumeRolePolicyDocument=trust)
    assert error(exc) == (409, "EntityAlreadyExists", f"Role with name {name.upper()} already exists.")
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName=name)
    assert error(exc) == (404, "NoSuchEntity", f"The role with name {name} cannot be found.")


def test_list_roles_pages(iam: Any, new_role: Callable[..., str]) -> None:
    path = f"/{unique_name('p')}/"
    trust = trust_policy({"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    names = sorted(new_role(trust, Path=path) for _ in range(3))
    pages = list(iam.get_paginator("list_roles").paginate(PathPrefix=path, PaginationConfig={"PageSize": 2}))
    assert [len(p["Roles"]) for p in pages] == [2, 1]
    assert [r["RoleName"] for p in pages for r in p["Roles"]] == names


@pytest.mark.parametrize(("document", "message"), [
    ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}',
     "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: The passed in policy has a "
     "statement with no principals!"),
    ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, '
     '"Action": "s3:GetObject"}]}',
     "AssumeRole policy may only specify STS AssumeRole actions."),
    ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, '
     '"Action": "sts:AssumeRole", "Resource": "*"}]}', "Has prohibited field Resource"),
    # no JSON: IAM's words for a trust policy (LocalStack's AWS recording, ...malformed_assume_role_policy_document)
    ("not json", "This policy contains invalid Json"),
    ('{"Version": "2012-10-17", "Statement": [{"Action": "sts:AssumeRole", "Principal": "*", "Effect": "Allow",}]}',
     "This policy contains invalid Json"),
])
def test_trust_policies_are_validated_as_iam_does(iam: Any, document: str, message: str) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=unique_name("r"), AssumeRolePolicyDocument=document)
    assert error(exc) == (400, "MalformedPolicyDocument", message)


def test_trust_policy_principals_must_exist(iam: Any, new_role: Callable[..., str]) -> None:
    acct = account(iam)
    ghost = f"arn:aws:iam::{acct}:user/{unique_name('nobody')}"
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=unique_name("r"), AssumeRolePolicyDocument=trust_policy(
            {"Principal": {"AWS": ghost}, "Action": "sts:AssumeRole"}))
    assert error(exc) == (400, "MalformedPolicyDocument", f'Invalid principal in policy: "AWS":"{ghost}"')
    # a name no database can look up (JSON spells a lone surrogate) was a 500 (fuzzing, 2026-12-07)
    odd = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::'
           + acct + ':user/\\ud800"}, "Action": "sts:AssumeRole"}]}')
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=unique_name("r"), AssumeRolePolicyDocument=odd)
    assert error(exc)[:2] == (400, "MalformedPolicyDocument")
    # another account's principals, services and well-known identity providers are taken as written
    new_role(trust_policy({"Principal": {"AWS": "arn:aws:iam::111122223333:root", "Service": "ec2.amazonaws.com",
                                         "Federated": "accounts.google.com"},
                           "Action": ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:TagSession"]}))
    big = trust_policy(*({"Sid": f"S{i}", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                         for i in range(40)))
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=unique_name("r"), AssumeRolePolicyDocument=big)
    assert error(exc) == (409, "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048")


def test_role_policies_and_delete_conflicts(iam: Any, new_role: Callable[..., str]) -> None:
    name = new_role(trust_policy({"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    inline = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket",
                                                                 "Resource": "*"}]})
    iam.put_role_policy(RoleName=name, PolicyName="list", PolicyDocument=inline)
    got = iam.get_role_policy(RoleName=name, PolicyName="list")
    assert got["RoleName"] == name and got["PolicyDocument"] == json.loads(inline)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["list"]
    iam.attach_role_policy(RoleName=name, PolicyArn=S3_READ)
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == [
        {"PolicyName": "AmazonS3ReadOnlyAccess", "PolicyArn": S3_READ}]
    assert [r["RoleName"] for r in iam.list_entities_for_policy(PolicyArn=S3_READ)["PolicyRoles"]] == [name] \
        or name in [r["RoleName"] for r in iam.list_entities_for_policy(PolicyArn=S3_READ)["PolicyRoles"]]
    iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=S3_READ)
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == S3_READ
    iam.delete_role_permissions_boundary(RoleName=name)
    profile = unique_name("ip")
    iam.create_instance_profile(InstanceProfileName=profile)
    try:
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=name)
        with pytest.raises(ClientError) as exc:
            iam.delete_role(RoleName=name)
        assert error(exc) == (409, "DeleteConflict", "Cannot delete entity, must remove roles from instance "
                                                     "profile first.")
        iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=name)
    finally:
        iam.delete_instance_profile(InstanceProfileName=profile)
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=name)
    assert error(exc) == (409, "DeleteConflict", "Cannot delete entity, must delete policies first.")
    iam.delete_role_policy(RoleName=name, PolicyName="list")
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=name)
    assert error(exc) == (409, "DeleteConflict", "Cannot delete entity, must detach all policies first.")
    iam.detach_role_policy(RoleName=name, PolicyArn=S3_READ)
    iam.delete_role(RoleName=name)


def test_openid_connect_provider_errors_in_iams_words(iam: Any) -> None:
    """As LocalStack's AWS-recorded answers have them: invalid-url, too-many-thumbprints, deletion-not-found-error,
    tags-limit-error."""
    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url="example.org", ThumbprintList=["a" * 40])
    assert error(exc) == (400, "ValidationError", "Invalid Open ID Connect Provider URL")
    # what urlsplit cannot read was a 500; a port that is none was stored (fuzzing, 2026-12-07)
    for url in ("https://[::1", "https://]x", "https://x:abc", "https://x:-1", "https://x:65536/p", "https://x:0"):
        with pytest.raises(ClientError) as exc:
            iam.create_open_id_connect_provider(Url=url, ThumbprintList=["a" * 40])
        assert error(exc) == (400, "ValidationError", "Invalid Open ID Connect Provider URL"), url
    host = f"{unique_name('idp')}.example.com"
    with pytest.raises(ClientError) as exc:
        iam.create_open_id_connect_provider(Url=f"https://{host}", ThumbprintList=[c * 40 for c in "abcdef"])
    assert error(exc) == (400, "InvalidInput", "Thumbprint list must contain fewer than 5 entries.")
    arn = iam.create_open_id_connect_provider(Url=f"https://{host}", ThumbprintList=[c * 40 for c in "abcde"],
                                              Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)],
                                              )["OpenIDConnectProviderArn"]
    with pytest.raises(ClientError) as exc:
        iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=[{"Key": "one", "Value": "more"}])
    assert error(exc) == (409, "LimitExceeded", "The number of tags has reached the maximum limit.")
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert error(exc) == (404, "NoSuchEntity", f"OpenId connect Provider {arn} cannot be found.")


def test_instance_profiles(iam: Any, new_role: Callable[..., str]) -> None:
    acct = account(iam)
    role = new_role(trust_policy({"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    other = new_role(trust_policy({"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    name = unique_name("ip")
    made = iam.create_instance_profile(InstanceProfileName=name, Path="/apps/",
                                       Tags=[{"Key": "k", "Value": "v"}])["InstanceProfile"]
    try:
        assert made["Arn"] == f"arn:aws:iam::{acct}:instance-profile/apps/{name}"
        assert made["InstanceProfileId"].startswith("AIPA") and made["Roles"] == []
        plain = unique_name("ip")
        iam.create_instance_profile(InstanceProfileName=plain)
        assert iam.get_instance_profile(InstanceProfileName=plain)["InstanceProfile"]["Tags"] == []  # AWS-recorded
        iam.delete_instance_profile(InstanceProfileName=plain)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
        with pytest.raises(ClientError) as exc:
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=other)
        assert error(exc) == (409, "LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
        got = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        assert [r["RoleName"] for r in got["Roles"]] == [role]
        listed = [p for p in iam.list_instance_profiles(PathPrefix="/apps/")["InstanceProfiles"]
                  if p["InstanceProfileName"] == name]
        assert len(listed) == 1 and "Tags" not in listed[0]  # the listing "does not return tags"
        assert [p["InstanceProfileName"] for p in
                iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]] == [name]
        iam.tag_instance_profile(InstanceProfileName=name, Tags=[{"Key": "k2", "Value": "v2"}])
        iam.untag_instance_profile(InstanceProfileName=name, TagKeys=["k"])
        assert iam.list_instance_profile_tags(InstanceProfileName=name)["Tags"] == [{"Key": "k2", "Value": "v2"}]
        with pytest.raises(ClientError) as exc:
            iam.delete_instance_profile(InstanceProfileName=name)
        assert error(exc)[:2] == (409, "DeleteConflict")
        iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
    finally:
        iam.delete_instance_profile(InstanceProfileName=name)
    with pytest.raises(ClientError) as exc:
        iam.get_instance_profile(InstanceProfileName=name)
    assert error(exc) == (404, "NoSuchEntity", f"Instance Profile {name} cannot be found.")


def test_openid_connect_providers(iam: Any) -> None:
    acct = account(iam)
    host = f"{unique_name('idp')}.example.com"
    arn = iam.create_open_id_connect_provider(Url=f"https://{host}/tenant", ClientIDList=["sts.amazonaws.com"],
                                              ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    try:
        assert arn == f"arn:aws:iam::{acct}:oidc-provider/{host}/tenant"
        assert {"Arn": arn} in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="ci")
        iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="sts.amazonaws.com")
        iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=["b" * 40])
        got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        assert got["Url"] == f"{host}/tenant" and got["ClientIDList"] == ["ci"] and got["ThumbprintList"] == ["b" * 40]
        assert got["Tags"] == []  # none yet: [] as IAM answers (LocalStack's AWS-recorded get-response)
        with pytest.raises(ClientError) as exc:  # the quota at creation too (AWS-recorded quota-error)
            iam.create_open_id_connect_provider(Url=f"https://more-{host}", ClientIDList=[str(i) for i in range(101)],
                                                ThumbprintList=["a" * 40])
        assert error(exc) == (409, "LimitExceeded", "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100")
        iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=[{"Key": "ci", "Value": "yes"}])
        assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"] == [
            {"Key": "ci", "Value": "yes"}]
        with pytest.raises(ClientError) as exc:
            iam.create_open_id_connect_provider(Url=f"https://{host}/tenant", ClientIDList=["x"])
        assert error(exc) == (409, "EntityAlreadyExists", f"Provider with url https://{host}/tenant already exists.")
    finally:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert error(exc)[:2] == (404, "NoSuchEntity")


def test_roles_in_account_views_and_the_simulator(iam: Any, new_role: Callable[..., str]) -> None:
    name = new_role(trust_policy({"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}),
                    managed=[S3_READ])
    details = iam.get_account_authorization_details(Filter=["Role"])
    mine = [r for r in details["RoleDetailList"] if r["RoleName"] == name]
    assert len(mine) == 1 and mine[0]["AttachedManagedPolicies"] == [
        {"PolicyName": "AmazonS3ReadOnlyAccess", "PolicyArn": S3_READ}]
    assert mine[0]["Tags"] == []  # as AWS answers a role without tags here (LocalStack's AWS-recorded details)
    assert details["UserDetailList"] == [] and details["GroupDetailList"] == []
    assert iam.get_account_summary()["SummaryMap"]["Roles"] >= 1
    arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    results = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject", "s3:PutObject"],
                                            ResourceArns=["arn:aws:s3:::b/k"])["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in results] == [
        ("s3:GetObject", "allowed"), ("s3:PutObject", "implicitDeny")]
    keys = iam.get_context_keys_for_principal_policy(PolicySourceArn=arn)["ContextKeyNames"]
    assert keys == []


def test_role_api_needs_iam_permissions(iam_user: Any, new_role: Callable[..., str]) -> None:
    user = iam_user()
    name = new_role(trust_policy({"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    with pytest.raises(ClientError) as exc:
        user.iam.get_role(RoleName=name)
    status, code, message = error(exc)
    assert (status, code) == (403, "AccessDenied") and "iam:GetRole on resource: role " in message  # IAM's words
    assert unquote(message).endswith(f"role {name} because no identity-based policy allows the iam:GetRole action")
