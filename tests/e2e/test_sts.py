"""STS's temporary credentials with real boto3 clients: AssumeRole and AWS's documented trust policies
(same-account, ExternalId, MFA required, ABAC with session tags), session policies, role chaining, bucket
policies naming roles and sessions, GetSessionToken, GetCallerIdentity for every caller, GetAccessKeyInfo,
DecodeAuthorizationMessage, revoked sessions, and what happens to bad tokens.  (Expiry: test_sts_expiry.py; web
identity: test_sts_web_identity.py; the container endpoint: test_container_credentials.py.)"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore
import pyotp
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import REGION, make_client
from tests.e2e.conftest import IamUser, trust_policy
from tests.e2e.helpers import unique_name

S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = exc.value.response
    err = response["Error"]
    return response["ResponseMetadata"]["HTTPStatusCode"], err["Code"], err.get("Message", "")


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow_assume(role_arn: str) -> str:
    return policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn})


def session_client(endpoint: str, credentials: dict[str, Any], service: str = "s3") -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"], config=Config(retries={"max_attempts": 1}))


def account(iam: Any) -> str:
    return str(iam.get_user()["User"]["Arn"].split(":")[4])


def role_arn(iam: Any, name: str) -> str:
    return str(iam.get_role(RoleName=name)["Role"]["Arn"])


# -- AssumeRole and the same-account rules --------------------------------------------------------------------


def test_assume_role_trusting_the_account_needs_the_callers_identity_policy(
        endpoint: str, iam: Any, iam_user: Callable[..., IamUser], new_role: Callable[..., str], bucket: str) -> None:
    acct = account(iam)
    name = new_role(trust_policy({"Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"}),
                    managed=[S3_FULL])
    arn = role_arn(iam, name)
    stranger = iam_user()
    with pytest.raises(ClientError) as exc:
        stranger.client("sts").assume_role(RoleArn=arn, RoleSessionName="s1")
    status, code, message = error(exc)
    assert (status, code) == (403, "AccessDenied")
    assert message.startswith(f"User: {stranger.arn} is not authorized to perform: sts:AssumeRole on resource: {arn}")
    user = iam_user(inline={"assume": allow_assume(arn)})
    answer = user.client("sts").assume_role(RoleArn=arn, RoleSessionName="app-session")
    role_id = iam.get_role(RoleName=name)["Role"]["RoleId"]
    assert answer["AssumedRoleUser"] == {"AssumedRoleId": f"{role_id}:app-session",
                                         "Arn": f"arn:aws:sts::{acct}:assumed-role/{name}/app-session"}
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA") and len(credentials["SecretAccessKey"]) == 40
    assert 3590 < (credentials["Expiration"].timestamp() - time.time()) <= 3600
    who = session_client(endpoint, credentials, "sts").get_caller_identity()
    assert (who["UserId"], who["Arn"], who["Account"]) == (f"{role_id}:app-session",
                                                          f"arn:aws:sts::{acct}:assumed-role/{name}/app-session", acct)
    s3 = session_client(endpoint, credentials)
    s3.put_object(Bucket=bucket, Key="by-role", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="by-role")["Body"].read() == b"x"
    # the role has no IAM permissions: the session has none either
    with pytest.raises(ClientError) as exc:
        session_client(endpoint, credentials, "iam").list_users()
    assert error(exc)[:2] == (403, "AccessDenied")
    assert f"arn:aws:sts::{acct}:assumed-role/{name}/app-session is not authorized" in error(exc)[2]


def test_a_trust_policy_naming_the_user_needs_no_identity_policy(
        endpoint: str, iam: Any, iam_user: Callable[..., IamUser], new_role: Callable[..., str]) -> None:
    user = iam_user()
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}))
    user.client("sts").assume_role(RoleArn=role_arn(iam, name), RoleSessionName="direct")
    # an explicit deny in the user's policies still wins
    iam.put_user_policy(UserName=user.name, PolicyName="no", PolicyDocument=policy(
        {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}))
    with pytest.raises(ClientError) as exc:
        user.client("sts").assume_role(RoleArn=role_arn(iam, name), RoleSessionName="direct")
    assert error(exc)[:2] == (403, "AccessDenied")


def test_roles_that_do_not_exist_look_like_refusals_and_root_may_not_assume(
        endpoint: str, iam: Any, iam_user: Callable[..., IamUser], new_role: Callable[..., str]) -> None:
    acct = account(iam)
    user = iam_user(inline={"assume": allow_assume("*")})
    ghost = f"arn:aws:iam::{acct}:role/{unique_name('ghost')}"
    with pytest.raises(ClientError) as exc:
        user.client("sts").assume_role(RoleArn=ghost, RoleSessionName="s1")
    assert error(exc)[:2] == (403, "AccessDenied")
    # a RoleArn that is no ARN at all is a ValidationError, as STS answers (LocalStack's AWS-recorded
    # test_sts_invalid_parameters); it tells nothing of the account's roles
    for bad in ("nothing-valid-in-here", "arn::b:::something/test-role", "arn:a:a::aaaaaaaaaa:"):
        with pytest.raises(ClientError) as exc:
            user.client("sts").assume_role(RoleArn=bad, RoleSessionName="s1")
        assert error(exc) == (400, "ValidationError", f"{bad} is invalid")
    name = new_role(trust_policy({"Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"}))
    with pytest.raises(ClientError) as exc:
        make_client(endpoint, "sts").assume_role(RoleArn=role_arn(iam, name), RoleSessionName="s1")
    assert error(exc) == (403, "AccessDenied", "Roles may not be assumed by root accounts.")


def test_duration_limits(iam: Any, iam_user: Callable[..., IamUser], new_role: Callable[..., str]) -> None:
    user = iam_user()
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}))
    arn = role_arn(iam, name)
    with pytest.raises(ClientError) as exc:
        user.client("sts").assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=7200)
    assert error(exc) == (400, "ValidationError",
                          "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    iam.update_role(RoleName=name, MaxSessionDuration=7200)
    creds = user.client("sts").assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=7200)["Credentials"]
    assert 7190 < creds["Expiration"].timestamp() - time.time() <= 7200


# -- AWS's trust policy examples --------------------------------------------------------------------------------


def test_external_id(iam: Any, iam_user: Callable[..., IamUser], new_role: Callable[..., str]) -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_common-scenarios_third-party.html"""
    user = iam_user()
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole",
                                  "Condition": {"StringEquals": {"sts:ExternalId": "Unique-ID-12345"}}}))
    arn, sts = role_arn(iam, name), user.client("sts")
    for extra in ({}, {"ExternalId": "wrong-id"}):
        with pytest.raises(ClientError) as exc:
            sts.assume_role(RoleArn=arn, RoleSessionName="vendor", **extra)
        assert error(exc)[:2] == (403, "AccessDenied")
    sts.assume_role(RoleArn=arn, RoleSessionName="vendor", ExternalId="Unique-ID-12345")


def test_mfa_required_by_the_trust_policy(endpoint: str, iam: Any, iam_user: Callable[..., IamUser],
                                          new_role: Callable[..., str]) -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_configure-api-require.html"""
    user = iam_user()
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole",
                                  "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}),
                    inline={"mfa-only": policy({"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*",
                                                "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}})})
    arn, sts = role_arn(iam, name), user.client("sts")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="s1")
    assert error(exc)[:2] == (403, "AccessDenied")
    serial, app = enabled_device(iam, user.name)
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="s1", SerialNumber=serial, TokenCode="000000"
                        if app.now() != "000000" else "111111")
    assert error(exc) == (403, "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass "
                                               "code. ")
    code = app.now()
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="s1", SerialNumber=serial, TokenCode=code)["Credentials"]
    session_client(endpoint, creds).list_buckets()   # aws:MultiFactorAuthAge is in the session's requests
    with pytest.raises(ClientError) as exc:   # a code is good once
        sts.assume_role(RoleArn=arn, RoleSessionName="s1", SerialNumber=serial, TokenCode=code)
    assert error(exc)[:2] == (403, "AccessDenied")


def enabled_device(iam: Any, user_name: str) -> tuple[str, pyotp.TOTP]:
    """An MFA device enabled for the user with past codes, so that the current one is still unused."""
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=unique_name("mfa"))["VirtualMFADevice"]
    app = pyotp.TOTP(device["Base32StringSeed"].decode())
    now = time.time()
    iam.enable_mfa_device(UserName=user_name, SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=app.at(now - 60), AuthenticationCode2=app.at(now - 30))
    return device["SerialNumber"], app


def test_abac_with_session_tags(endpoint: str, iam: Any, s3: Any, bucket: str, iam_user: Callable[..., IamUser],
                                new_role: Callable[..., str]) -> None:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/tutorial_abac-saml.html: the session's tags decide."""
    user = iam_user()
    tag_trust = trust_policy({"Principal": {"AWS": user.arn}, "Action": ["sts:AssumeRole", "sts:TagSession"],
                              "Condition": {"StringLike": {"aws:RequestTag/project": "*"}}})
    name = new_role(tag_trust, inline={"abac": policy({
        "Effect": "Allow", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/${{aws:PrincipalTag/project}}/*"})})
    for key in ("alpha/report", "beta/report"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    answer = user.client("sts").assume_role(RoleArn=role_arn(iam, name), RoleSessionName="abac",
                                            Tags=[{"Key": "project", "Value": "alpha"}])
    assert 0 < answer["PackedPolicySize"] <= 100
    mine = session_client(endpoint, answer["Credentials"])
    assert mine.get_object(Bucket=bucket, Key="alpha/report")["Body"].read() == b"alpha/report"
    with pytest.raises(ClientError) as exc:
        mine.get_object(Bucket=bucket, Key="beta/report")
    assert error(exc)[:2] == (403, "AccessDenied")
    # without sts:TagSession in the trust policy, tags are refused
    plain = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}))
    with pytest.raises(ClientError) as exc:
        user.client("sts").assume_role(RoleArn=role_arn(iam, plain), RoleSessionName="abac",
                                       Tags=[{"Key": "project", "Value": "alpha"}])
    status, code, message = error(exc)
    assert (status, code) == (403, "AccessDenied") and "sts:TagSession" in message
    with pytest.raises(ClientError) as exc:   # tags use up the packed space long before 50 of them
        user.client("sts").assume_role(RoleArn=role_arn(iam, name), RoleSessionName="abac",
                                       Tags=[{"Key": f"k{i}", "Value": os.urandom(96).hex()} for i in range(20)])
    status, code, message = error(exc)
    assert (status, code) == (400, "PackedPolicyTooLarge") and message.startswith("Packed size of session tags "
                                                                                   "consumes ")


def test_a_role_policy_on_existing_object_tags(endpoint: str, iam: Any, s3: Any, bucket: str,
                                               iam_user: Callable[..., IamUser], new_role: Callable[..., str]) -> None:
    """s3:ExistingObjectTag in a role's policy (and in a session policy): the object's tags are read for role
    sessions as for users."""
    user = iam_user()
    arn = f"arn:aws:s3:::{bucket}/*"
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}), inline={
        "by-tag": policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": arn,
                          "Condition": {"StringEquals": {"s3:ExistingObjectTag/classification": "public"}}})})
    s3.put_object(Bucket=bucket, Key="public", Body=b"p", Tagging="classification=public")
    s3.put_object(Bucket=bucket, Key="secret", Body=b"s", Tagging="classification=secret")
    sts = user.client("sts")
    mine = session_client(endpoint, sts.assume_role(RoleArn=role_arn(iam, name), RoleSessionName="tags")["Credentials"])
    assert mine.get_object(Bucket=bucket, Key="public")["Body"].read() == b"p"
    with pytest.raises(ClientError) as exc:
        mine.get_object(Bucket=bucket, Key="secret")
    assert error(exc)[:2] == (403, "AccessDenied")
    # a session policy that names the tag narrows a role whose own policy does not
    wide = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}), inline={
        "read": policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": arn})})
    narrowed = session_client(endpoint, sts.assume_role(
        RoleArn=role_arn(iam, wide), RoleSessionName="narrow", Policy=policy(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": arn,
             "Condition": {"StringEquals": {"s3:ExistingObjectTag/classification": "public"}}}))["Credentials"])
    assert narrowed.get_object(Bucket=bucket, Key="public")["Body"].read() == b"p"
    with pytest.raises(ClientError) as exc:
        narrowed.get_object(Bucket=bucket, Key="secret")
    assert error(exc)[:2] == (403, "AccessDenied")


# -- session policies, chaining ---------------------------------------------------------------------------------


def test_session_policies_narrow_the_role(endpoint: str, iam: Any, bucket: str, iam_user: Callable[..., IamUser],
                                          new_role: Callable[..., str]) -> None:
    user = iam_user()
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}), managed=[S3_FULL])
    arn, sts = role_arn(iam, name), user.client("sts")
    read_only = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
                       {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"})
    answer = sts.assume_role(RoleArn=arn, RoleSessionName="narrow", Policy=read_only)
    assert 0 < answer["PackedPolicySize"] <= 100
    narrow = session_client(endpoint, answer["Credentials"])
    narrow.list_objects_v2(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        narrow.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error(exc)[2].endswith("because no session policy allows the s3:PutObject action")
    # a session policy cannot widen the role
    iam_only = policy({"Effect": "Allow", "Action": "iam:*", "Resource": "*"})
    wide = session_client(endpoint, sts.assume_role(RoleArn=arn, RoleSessionName="w1", Policy=iam_only)["Credentials"],
                          "iam")
    with pytest.raises(ClientError) as exc:
        wide.list_users()
    assert error(exc)[:2] == (403, "AccessDenied")
    managed = sts.assume_role(RoleArn=arn, RoleSessionName="m1", PolicyArns=[{"arn": S3_READ}])["Credentials"]
    with pytest.raises(ClientError) as exc:
        session_client(endpoint, managed).put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error(exc)[:2] == (403, "AccessDenied")
    session_client(endpoint, managed).list_objects_v2(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="bad", Policy='{"Statement": []}')
    assert error(exc)[:2] == (400, "MalformedPolicyDocument")


def test_role_chaining(endpoint: str, iam: Any, iam_user: Callable[..., IamUser],
                       new_role: Callable[..., str]) -> None:
    user = iam_user()
    first = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": ["sts:AssumeRole", "sts:TagSession"]}),
                     MaxSessionDuration=14400)
    first_arn = role_arn(iam, first)
    second = new_role(trust_policy({"Principal": {"AWS": first_arn}, "Action": ["sts:AssumeRole", "sts:TagSession"]}),
                      MaxSessionDuration=14400, inline={"who": policy(
                          {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*",
                           "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}})})
    answer = user.client("sts").assume_role(RoleArn=first_arn, RoleSessionName="one", DurationSeconds=10800,
                                            Tags=[{"Key": "team", "Value": "blue"}], TransitiveTagKeys=["team"])
    first_sts = session_client(endpoint, answer["Credentials"], "sts")
    with pytest.raises(ClientError) as exc:
        first_sts.assume_role(RoleArn=role_arn(iam, second), RoleSessionName="two", DurationSeconds=7200)
    assert error(exc) == (400, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit "
                                                  "for roles assumed by role chaining.")
    chained = first_sts.assume_role(RoleArn=role_arn(iam, second), RoleSessionName="two")["Credentials"]
    session_client(endpoint, chained).list_buckets()   # the transitive tag came along
    with pytest.raises(ClientError) as exc:
        first_sts.assume_role(RoleArn=role_arn(iam, second), RoleSessionName="two",
                              Tags=[{"Key": "team", "Value": "red"}])
    assert error(exc)[:2] == (400, "InvalidParameterValue")


# -- resource policies naming roles and sessions ----------------------------------------------------------------


def test_bucket_policies_name_roles_and_role_sessions(endpoint: str, iam: Any, s3: Any, bucket: str,
                                                      iam_user: Callable[..., IamUser],
                                                      new_role: Callable[..., str]) -> None:
    acct = account(iam)
    user = iam_user()
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}))
    arn = role_arn(iam, name)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:sts::{acct}:assumed-role/{name}/writer"},
         "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}))
    sts = user.client("sts")
    reader = session_client(endpoint, sts.assume_role(RoleArn=arn, RoleSessionName="reader")["Credentials"])
    assert reader.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    with pytest.raises(ClientError) as exc:
        reader.put_object(Bucket=bucket, Key="k2", Body=b"x")
    assert error(exc)[:2] == (403, "AccessDenied")
    writer = session_client(endpoint, sts.assume_role(RoleArn=arn, RoleSessionName="writer")["Credentials"])
    writer.put_object(Bucket=bucket, Key="k2", Body=b"x")
    # granted to the role: a session policy limits it; granted to the session: it does not
    narrow = policy({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"})
    limited = session_client(endpoint, sts.assume_role(RoleArn=arn, RoleSessionName="writer",
                                                       Policy=narrow)["Credentials"])
    with pytest.raises(ClientError) as exc:
        limited.get_object(Bucket=bucket, Key="k")
    assert error(exc)[:2] == (403, "AccessDenied")
    limited.put_object(Bucket=bucket, Key="k3", Body=b"x")


def test_role_session_condition_keys(endpoint: str, iam: Any, iam_user: Callable[..., IamUser],
                                     new_role: Callable[..., str]) -> None:
    user = iam_user()
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": ["sts:AssumeRole",
                                                                             "sts:SetSourceIdentity"]}),
                    Tags=[{"Key": "dept", "Value": "eng"}])
    arn = role_arn(iam, name)
    role_id = iam.get_role(RoleName=name)["Role"]["RoleId"]
    iam.put_role_policy(RoleName=name, PolicyName="keys", PolicyDocument=policy({
        "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*", "Condition": {
            "StringEquals": {"aws:PrincipalArn": arn, "aws:userid": f"{role_id}:keys", "aws:PrincipalType":
                             "AssumedRole", "aws:PrincipalTag/dept": "eng", "aws:SourceIdentity": "alice"},
            "Bool": {"aws:MultiFactorAuthPresent": "false"}, "Null": {"aws:TokenIssueTime": "false"}}}))
    answer = user.client("sts").assume_role(RoleArn=arn, RoleSessionName="keys", SourceIdentity="alice")
    assert answer["SourceIdentity"] == "alice"
    session_client(endpoint, answer["Credentials"]).list_buckets()


# -- GetSessionToken ----------------------------------------------------------------------------------------------


def test_get_session_token(endpoint: str, iam: Any, iam_user: Callable[..., IamUser]) -> None:
    user = iam_user(managed=["arn:aws:iam::aws:policy/IAMReadOnlyAccess", S3_READ])
    creds = user.client("sts").get_session_token()["Credentials"]
    assert 43190 < creds["Expiration"].timestamp() - time.time() <= 43200
    who = session_client(endpoint, creds, "sts").get_caller_identity()
    assert who["Arn"] == user.arn and who["UserId"] == user.user_id
    session_client(endpoint, creds).list_buckets()
    with pytest.raises(ClientError) as exc:   # no IAM without MFA
        session_client(endpoint, creds, "iam").list_users()
    assert error(exc) == (403, "InvalidClientTokenId", "The security token included in the request is invalid")
    with pytest.raises(ClientError) as exc:
        session_client(endpoint, creds, "sts").get_session_token()
    assert error(exc) == (403, "AccessDenied", "Cannot call GetSessionToken with session credentials")
    serial, app = enabled_device(iam, user.name)
    mfa = user.client("sts").get_session_token(SerialNumber=serial, TokenCode=app.now(),
                                               DurationSeconds=900)["Credentials"]
    assert session_client(endpoint, mfa, "iam").list_users()["Users"]
    root = make_client(endpoint, "sts")
    root_creds = root.get_session_token(DurationSeconds=7200)["Credentials"]
    assert root_creds["Expiration"].timestamp() - time.time() <= 3600   # root's sessions: an hour at most
    assert session_client(endpoint, root_creds, "sts").get_caller_identity()["Arn"].endswith(":root")


# -- GetAccessKeyInfo, DecodeAuthorizationMessage -------------------------------------------------------------------


def test_get_access_key_info_and_decode_authorization_message(endpoint: str, iam: Any,
                                                              iam_user: Callable[..., IamUser],
                                                              new_role: Callable[..., str]) -> None:
    acct = account(iam)
    user = iam_user()
    root_sts = make_client(endpoint, "sts")
    assert root_sts.get_access_key_info(AccessKeyId=user.key_id)["Account"] == acct
    with pytest.raises(ClientError) as exc:
        root_sts.get_access_key_info(AccessKeyId="AKIAZZZZZZZZZZZZZZZZ")
    assert error(exc)[:2] == (400, "InvalidParameterValue")
    with pytest.raises(ClientError) as exc:
        user.client("sts").get_access_key_info(AccessKeyId=user.key_id)
    assert error(exc)[:2] == (403, "AccessDenied")
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole",
                                  "Condition": {"StringEquals": {"sts:ExternalId": "right"}}}))
    with pytest.raises(ClientError) as exc:
        user.client("sts").assume_role(RoleArn=role_arn(iam, name), RoleSessionName="s1", ExternalId="wrong")
    encoded = error(exc)[2].rpartition("Encoded authorization failure message: ")[2]
    decoded = json.loads(root_sts.decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["context"]["action"] == "sts:AssumeRole"
    assert decoded["context"]["principal"]["arn"] == user.arn
    assert {"key": "sts:externalid", "values": {"items": [{"value": "wrong"}]}} in \
        decoded["context"]["conditions"]["items"]
    with pytest.raises(ClientError) as exc:
        user.client("sts").decode_authorization_message(EncodedMessage=encoded)
    assert error(exc)[:2] == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        root_sts.decode_authorization_message(EncodedMessage="not-a-message")
    assert error(exc)[:2] == (400, "InvalidAuthorizationMessageException")


# -- revoking, bad tokens ----------------------------------------------------------------------------------------


def test_revoked_sessions_and_deleted_roles(endpoint: str, iam: Any, iam_user: Callable[..., IamUser],
                                            new_role: Callable[..., str]) -> None:
    """AWS's "Revoke active sessions": an inline policy denying tokens issued before now."""
    user = iam_user()
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}), managed=[S3_READ])
    arn = role_arn(iam, name)
    old = session_client(endpoint, user.client("sts").assume_role(RoleArn=arn, RoleSessionName="o1")["Credentials"])
    old.list_buckets()
    time.sleep(1.1)
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    iam.put_role_policy(RoleName=name, PolicyName="AWSRevokeOlderSessions", PolicyDocument=policy(
        {"Effect": "Deny", "Action": ["*"], "Resource": ["*"],
         "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}}))
    with pytest.raises(ClientError) as exc:
        old.list_buckets()
    assert error(exc)[:2] == (403, "AccessDenied")
    time.sleep(1.1)
    new = user.client("sts").assume_role(RoleArn=arn, RoleSessionName="n1")["Credentials"]
    session_client(endpoint, new).list_buckets()
    iam.delete_role_policy(RoleName=name, PolicyName="AWSRevokeOlderSessions")
    iam.detach_role_policy(RoleName=name, PolicyArn=S3_READ)
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as exc:
        session_client(endpoint, new).list_buckets()
    assert error(exc)[:2] == (400, "InvalidToken")
    with pytest.raises(ClientError) as exc:
        session_client(endpoint, new, "sts").get_caller_identity()
    assert error(exc)[:2] == (403, "InvalidClientTokenId")


def test_altered_missing_and_foreign_tokens(endpoint: str, iam: Any, iam_user: Callable[..., IamUser],
                                            new_role: Callable[..., str], bucket: str) -> None:
    user = iam_user()
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}), managed=[S3_READ])
    creds = user.client("sts").assume_role(RoleArn=role_arn(iam, name), RoleSessionName="t1")["Credentials"]
    altered = {**creds, "SessionToken": creds["SessionToken"][:-4] + ("AAAA" if creds["SessionToken"][-4:] != "AAAA"
                                                                       else "BBBB")}
    with pytest.raises(ClientError) as exc:
        session_client(endpoint, altered).list_buckets()
    assert error(exc) == (400, "InvalidToken", "The provided token is malformed or otherwise invalid.")
    with pytest.raises(ClientError) as exc:
        session_client(endpoint, altered, "iam").list_users()
    assert error(exc) == (403, "InvalidClientTokenId", "The security token included in the request is invalid.")
    missing = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        missing.list_buckets()
    assert error(exc)[:2] == (403, "InvalidAccessKeyId")
    swapped = {**creds, "SecretAccessKey": "x" * 40}
    with pytest.raises(ClientError) as exc:
        session_client(endpoint, swapped).list_buckets()
    assert error(exc)[:2] == (403, "SignatureDoesNotMatch")
    # a presigned URL made with session credentials carries the token
    make_client(endpoint).put_object(Bucket=bucket, Key="shared", Body=b"s")
    for version in ("s3", "s3v4"):   # SigV2 (botocore's default for presigning S3) and SigV4
        client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
                              aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"],
                              config=Config(signature_version=version))
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared"})
        assert "x-amz-security-token=" in url.lower() and requests.get(url, timeout=10).content == b"s"
        assert client.get_object(Bucket=bucket, Key="shared")["Body"].read() == b"s"


# -- the audit trail ------------------------------------------------------------------------------------------


def lookup(endpoint: str, key: str, value: str,
           wanted: Callable[[dict[str, Any]], bool] = lambda e: True) -> list[dict[str, Any]]:
    """The ``wanted`` events among those of one lookup attribute, waiting for the audit writer (events are
    written about a second after their request)."""
    trail = make_client(endpoint, "cloudtrail")
    events: list[dict[str, Any]] = []
    for _ in range(60):
        events = [e for e in (json.loads(e["CloudTrailEvent"]) for e in trail.lookup_events(
            LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])["Events"]) if wanted(e)]
        if events:
            break
        time.sleep(0.1)
    return events


def test_cloudtrail_records_assumed_role_sessions(endpoint: str, iam: Any, bucket: str,
                                                  iam_user: Callable[..., IamUser],
                                                  new_role: Callable[..., str]) -> None:
    acct = account(iam)
    user = iam_user()
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": ["sts:AssumeRole",
                                                                             "sts:SetSourceIdentity"]}),
                    managed=[S3_FULL])
    arn = role_arn(iam, name)
    answer = user.client("sts").assume_role(RoleArn=arn, RoleSessionName="audited", SourceIdentity="alice")
    key_id = answer["Credentials"]["AccessKeyId"]
    session_client(endpoint, answer["Credentials"]).put_object(Bucket=bucket, Key="audited", Body=b"x")
    assumed = lookup(endpoint, "EventName", "AssumeRole", lambda e: (e.get("responseElements") or {}).get(
        "credentials", {}).get("accessKeyId") == key_id)
    assert len(assumed) == 1
    event = assumed[0]
    assert event["eventSource"] == "sts.amazonaws.com" and event["userIdentity"]["arn"] == user.arn
    assert event["requestParameters"]["roleArn"] == arn and event["requestParameters"]["roleSessionName"] == "audited"
    assert event["responseElements"]["credentials"]["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert event["responseElements"]["assumedRoleUser"]["arn"] == f"arn:aws:sts::{acct}:assumed-role/{name}/audited"
    put = lookup(endpoint, "AccessKeyId", key_id, lambda e: e["eventName"] == "PutObject")
    identity = put[0]["userIdentity"]
    role_id = iam.get_role(RoleName=name)["Role"]["RoleId"]
    assert identity["type"] == "AssumedRole" and identity["principalId"] == f"{role_id}:audited"
    assert identity["arn"] == f"arn:aws:sts::{acct}:assumed-role/{name}/audited" and identity["accessKeyId"] == key_id
    context = identity["sessionContext"]
    assert context["sessionIssuer"] == {"type": "Role", "principalId": role_id, "arn": arn, "accountId": acct,
                                        "userName": name}
    assert context["attributes"]["mfaAuthenticated"] == "false" and context["sourceIdentity"] == "alice"
    assert context["attributes"]["creationDate"].endswith("Z")


def test_actions_not_built_and_unsigned_requests(endpoint: str, iam: Any, iam_user: Callable[..., IamUser]) -> None:
    user = iam_user()
    with pytest.raises(ClientError) as exc:
        user.client("sts").get_federation_token(Name="fed")
    assert error(exc)[:2] == (501, "NotImplemented")
    unsigned = requests.post(f"{endpoint}/", data={"Action": "AssumeRoleWithSAML", "Version": "2011-06-15",
                                                   "RoleArn": "arn:aws:iam::123456789012:role/r",
                                                   "PrincipalArn": "arn:aws:iam::123456789012:saml-provider/p",
                                                   "SAMLAssertion": "PHNhbWw+"}, timeout=10)
    assert unsigned.status_code == 501 and "<Code>NotImplemented</Code>" in unsigned.text
    assert "<ErrorResponse" in unsigned.text   # the Query protocol's shape, not S3's
    # other unsigned form posts naming an STS action are STS's too (an unversioned one has no operation)
    other = requests.post(f"{endpoint}/", data={"Action": "GetCallerIdentity"}, timeout=10)
    assert "<ErrorResponse" in other.text and "<Code>InvalidAction</Code>" in other.text
    other = requests.post(f"{endpoint}/", data={"Action": "NotAnStsAction"}, timeout=10)  # S3's, as before
    assert "<ErrorResponse" not in other.text and "<Error>" in other.text


def test_the_aws_cli_assumes_a_role(endpoint: str, iam: Any, iam_user: Callable[..., IamUser],
                                    new_role: Callable[..., str]) -> None:
    import subprocess

    from tests.e2e.cli import cli_env

    user = iam_user()
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}))
    env = cli_env(endpoint, AWS_ACCESS_KEY_ID=user.key_id, AWS_SECRET_ACCESS_KEY=user.secret,
                  AWS_DEFAULT_REGION=REGION)   # the AWS CLI v1 reads only AWS_DEFAULT_REGION
    done = subprocess.run(["aws", "sts", "assume-role", "--role-arn", role_arn(iam, name), "--role-session-name",
                           "from-cli"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["AssumedRoleUser"]["Arn"].endswith(f":assumed-role/{name}/from-cli")


def test_iam_actions_that_default_to_the_callers_user(endpoint: str, iam: Any, iam_user: Callable[..., IamUser],
                                                      new_role: Callable[..., str]) -> None:
    user = iam_user()
    name = new_role(trust_policy({"Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}),
                    managed=["arn:aws:iam::aws:policy/IAMReadOnlyAccess"])
    creds = user.client("sts").assume_role(RoleArn=role_arn(iam, name), RoleSessionName="iam1")["Credentials"]
    role_iam = session_client(endpoint, creds, "iam")
    assert role_iam.get_role(RoleName=name)["Role"]["RoleName"] == name
    for call in (role_iam.get_user, role_iam.list_access_keys):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == (400, "ValidationError", "Must specify userName when calling with non-User credentials")


def test_unsigned_sts_calls_are_missing_authentication(endpoint: str) -> None:
    """An unsigned STS call (other than the web identity and SAML ones) gets STS's answer, "Request is missing
    Authentication Token" (aws/aws-sdk-php#3246), not S3's to an anonymous ListBuckets, which boto3 could not
    read as an STS error."""
    unsigned = boto3.client("sts", endpoint_url=endpoint, region_name=REGION,
                            config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as exc:
        unsigned.get_caller_identity()
    assert exc.value.response["Error"]["Code"] == "MissingAuthenticationToken"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    response = requests.get(f"{endpoint}/?Action=GetCallerIdentity&Version=2011-06-15", timeout=10)
    assert response.status_code == 403 and b"<Code>MissingAuthenticationToken</Code>" in response.content
    assert requests.get(f"{endpoint}/", timeout=10).status_code == 403  # S3's anonymous ListBuckets, as before
