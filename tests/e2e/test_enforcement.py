"""Every S3 request made with an IAM user's keys is allowed or denied as AWS would decide: one test per rule of
the evaluation logic, drawn from AWS's documented examples (IAM User Guide, S3 User Guide).

The users are made through the IAM API as root (``iam_user`` fixture), the requests are real boto3 calls or
raw signed requests on a real server with two worker processes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.e2e.helpers import parse_any_aws_error, signed_request, unique_name, utcnow
from tests.e2e.iam_cleanup import delete_policy_fully

S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def error(call, *args, **kwargs) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        call(*args, **kwargs)
    err = exc.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"].get("Message", "")


def not_authorized(user, action: str, resource: str) -> str:  # type: ignore[no-untyped-def]
    return f'User: {user.arn} is not authorized to perform: {action} on resource: "{resource}"'


# -- the basics: no policy, AWS managed policies, the AccessDenied message ----------------------------------


def test_user_without_policies_is_denied_and_told_why(iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    user = iam_user()
    status, code, message = error(user.s3.put_object, Bucket=bucket, Key="k", Body=b"x")
    assert (status, code) == (403, "AccessDenied")
    assert message == (not_authorized(user, "s3:PutObject", f"arn:aws:s3:::{bucket}/k")
                       + " because no identity-based policy allows the s3:PutObject action")


def test_s3_full_access_opens_s3_but_not_iam(iam_user, s3, iam) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(managed=[S3_FULL])
    name = unique_name("full")
    user.s3.create_bucket(Bucket=name)
    user.s3.put_object(Bucket=name, Key="a.txt", Body=b"hello")
    assert user.s3.get_object(Bucket=name, Key="a.txt")["Body"].read() == b"hello"
    assert [o["Key"] for o in user.s3.list_objects_v2(Bucket=name)["Contents"]] == ["a.txt"]
    user.s3.delete_object(Bucket=name, Key="a.txt")
    user.s3.delete_bucket(Bucket=name)
    status, code, message = error(user.iam.create_user, UserName=unique_name("x"))
    assert (status, code) == (403, "AccessDenied")
    assert "iam:CreateUser" in message and "because no identity-based policy allows" in message


def test_read_only_access_reads_but_does_not_write(iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="r", Body=b"r")
    user = iam_user(managed=[S3_READ])
    assert user.s3.get_object(Bucket=bucket, Key="r")["Body"].read() == b"r"
    assert error(user.s3.put_object, Bucket=bucket, Key="w", Body=b"w")[:2] == (403, "AccessDenied")
    assert error(user.s3.delete_object, Bucket=bucket, Key="r")[:2] == (403, "AccessDenied")


def test_missing_key_is_404_only_for_callers_who_may_list(iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    get_only = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"})
    blind = iam_user(inline={"get": get_only})
    assert error(blind.s3.get_object, Bucket=bucket, Key="missing")[:2] == (403, "AccessDenied")
    assert error(blind.s3.head_object, Bucket=bucket, Key="missing")[0] == 403
    can_list = iam_user(inline={"get": get_only, "list": policy(
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"})})
    assert error(can_list.s3.get_object, Bucket=bucket, Key="missing")[:2] == (404, "NoSuchKey")


def test_a_missing_key_is_404_for_callers_who_may_list_its_prefix(iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    """s3:ListBucket granted for a prefix (pgBackRest's documented least-privilege policy, `storeroom grant
    --prefix`): S3 judges it with the key as s3:prefix, so a missing key inside the prefix is 404.  It was 403 here,
    and pgBackRest's stanza-create failed on its first HEAD."""
    user = iam_user(inline={"repo": policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/repo/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": ["repo/*"]}}})})
    assert error(user.s3.head_object, Bucket=bucket, Key="repo/archive.info")[0] == 404
    assert error(user.s3.get_object, Bucket=bucket, Key="repo/archive.info")[:2] == (404, "NoSuchKey")
    assert error(user.s3.get_object, Bucket=bucket, Key="elsewhere/x")[:2] == (403, "AccessDenied")
    listing = user.s3.list_objects_v2(Bucket=bucket, Prefix="repo/")
    assert listing["KeyCount"] == 0
    assert error(user.s3.list_objects_v2, Bucket=bucket)[:2] == (403, "AccessDenied")  # no prefix: no listing


def test_head_bucket_is_judged_as_list_bucket(iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(inline={"list": policy(
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"})})
    user.s3.head_bucket(Bucket=bucket)
    other = iam_user()
    assert error(other.s3.head_bucket, Bucket=bucket)[0] == 403


def test_delete_objects_is_judged_per_key(iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="public/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="private/b", Body=b"b")
    user = iam_user(inline={"del": policy(
        {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/public/*"})})
    result = user.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "public/a"}, {"Key": "private/b"}]})
    assert [d["Key"] for d in result["Deleted"]] == ["public/a"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("private/b", "AccessDenied")]
    assert s3.get_object(Bucket=bucket, Key="private/b")["Body"].read() == b"b"


def test_copy_needs_get_on_source_and_put_on_target(iam_user, s3, bucket, new_bucket) -> None:  # type: ignore[no-untyped-def]
    target = new_bucket()
    s3.put_object(Bucket=bucket, Key="src", Body=b"data")
    put_only = policy({"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{target}/*"})
    user = iam_user(inline={"put": put_only})
    status, code, message = error(user.s3.copy_object, Bucket=target, Key="dst",
                                  CopySource={"Bucket": bucket, "Key": "src"})
    assert (status, code) == (403, "AccessDenied")
    assert f"s3:GetObject on resource: \"arn:aws:s3:::{bucket}/src\"" in message
    both = iam_user(inline={"put": put_only, "get": policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"})})
    both.s3.copy_object(Bucket=target, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert s3.get_object(Bucket=target, Key="dst")["Body"].read() == b"data"


def _versions(s3, bucket: str, key: str, *bodies: tuple[bytes, str]) -> list[str]:  # type: ignore[no-untyped-def]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return [s3.put_object(Bucket=bucket, Key=key, Body=body, Tagging=tags)["VersionId"] for body, tags in bodies]


def test_a_copys_source_is_judged_as_the_version_copied_not_the_requests_version_id(  # type: ignore[no-untyped-def]
        endpoint, iam_user, s3, bucket) -> None:
    """s3:VersionId of a copy's source is the version ``x-amz-copy-source`` names: a ``?versionId=`` added to the
    copy's own URL (a parameter CopyObject does not take) must not stand in for it (security probe, finding 1)."""
    v1, v2 = _versions(s3, bucket, "doc", (b"old public", ""), (b"NEW SECRET", ""))
    user = iam_user(inline={"p": policy(
        {"Effect": "Allow", "Action": "s3:GetObjectVersion", "Resource": f"arn:aws:s3:::{bucket}/doc",
         "Condition": {"StringEquals": {"s3:VersionId": v1}}},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/out/*"})})
    keys = {"access_key": user.key_id, "secret_key": user.secret}
    for query in ("", f"?versionId={v1}"):
        r = signed_request("PUT", f"{endpoint}/{bucket}/out/copy{query}",
                           {"x-amz-copy-source": f"{bucket}/doc?versionId={v2}"}, **keys)
        assert r.status_code == 403, (query, r.text)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="out/part")["UploadId"]
    r = signed_request("PUT", f"{endpoint}/{bucket}/out/part?partNumber=1&uploadId={upload}&versionId={v1}",
                       {"x-amz-copy-source": f"{bucket}/doc?versionId={v2}"}, **keys)
    assert r.status_code == 403, r.text
    r = signed_request("PUT", f"{endpoint}/{bucket}/out/copy", {"x-amz-copy-source": f"{bucket}/doc?versionId={v1}"},
                       **keys)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="out/copy")["Body"].read() == b"old public"


def test_a_copys_source_tags_are_the_copied_versions(endpoint, iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """s3:ExistingObjectTag of a copy's source is read from the version copied, also when the copy goes onto the
    same key with a ``?versionId=`` of an allowed version in its URL (security probe, finding 2)."""
    public, _ = _versions(s3, bucket, "doc", (b"public text", "class=public"), (b"TOP SECRET", "class=secret"))
    user = iam_user(inline={"p": policy(
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/class": "public"}}},
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging"],
         "Resource": f"arn:aws:s3:::{bucket}/*"})})
    keys = {"access_key": user.key_id, "secret_key": user.secret}
    assert error(user.s3.get_object, Bucket=bucket, Key="doc")[:2] == (403, "AccessDenied")
    headers = {"x-amz-copy-source": f"{bucket}/doc", "x-amz-tagging-directive": "REPLACE",
               "x-amz-tagging": "class=public"}
    for query in ("", f"?versionId={public}"):
        r = signed_request("PUT", f"{endpoint}/{bucket}/doc{query}", headers, **keys)
        assert r.status_code == 403, (query, r.text)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="doc")["UploadId"]
    r = signed_request("PUT", f"{endpoint}/{bucket}/doc?partNumber=1&uploadId={upload}&versionId={public}",
                       {"x-amz-copy-source": f"{bucket}/doc"}, **keys)
    assert r.status_code == 403, r.text
    r = signed_request("PUT", f"{endpoint}/{bucket}/out",
                       {**headers, "x-amz-copy-source": f"{bucket}/doc?versionId={public}"}, **keys)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"TOP SECRET"


def test_delete_objects_judges_each_entry_by_its_own_version(endpoint, iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """s3:VersionId of a DeleteObjects entry is the entry's VersionId, not a ``?versionId=`` added to the
    request's URL."""
    v1, v2 = _versions(s3, bucket, "doc", (b"one", ""), (b"two", ""))
    user = iam_user(inline={"p": policy(
        {"Effect": "Allow", "Action": "s3:DeleteObjectVersion", "Resource": f"arn:aws:s3:::{bucket}/doc",
         "Condition": {"StringEquals": {"s3:VersionId": v1}}})})
    body = (f'<Delete><Object><Key>doc</Key><VersionId>{v2}</VersionId></Object></Delete>').encode()
    r = signed_request("POST", f"{endpoint}/{bucket}?delete&versionId={v1}",
                       {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}, body,
                       access_key=user.key_id, secret_key=user.secret)
    assert r.status_code == 200 and "<Code>AccessDenied</Code>" in r.text and "<Deleted>" not in r.text, r.text
    assert [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket, Prefix="doc")["Versions"]] == [v2, v1]


def test_delete_objects_judges_a_governance_bypass_by_each_entrys_version(endpoint, iam_user, s3,  # type: ignore[no-untyped-def]
                                                                          new_bucket) -> None:
    """s3:BypassGovernanceRetention of a DeleteObjects entry is judged on the entry's version, not on a
    ``?versionId=`` added to the URL (review, finding 5)."""
    name = unique_name("locked")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    until = utcnow() + dt.timedelta(days=1)
    v1, v2 = (s3.put_object(Bucket=name, Key="doc", Body=body, ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=until)["VersionId"] for body in (b"one", b"two"))
    user = iam_user(inline={"p": policy(
        {"Effect": "Allow", "Action": "s3:DeleteObjectVersion", "Resource": f"arn:aws:s3:::{name}/*"},
        {"Effect": "Allow", "Action": "s3:BypassGovernanceRetention", "Resource": f"arn:aws:s3:::{name}/*",
         "Condition": {"StringEquals": {"s3:VersionId": v1}}})})
    body = f"<Delete><Object><Key>doc</Key><VersionId>{v2}</VersionId></Object></Delete>".encode()
    try:
        r = signed_request("POST", f"{endpoint}/{name}?delete&versionId={v1}",
                           {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode(),
                            "x-amz-bypass-governance-retention": "true"}, body,
                           access_key=user.key_id, secret_key=user.secret)
        assert r.status_code == 200 and "<Deleted>" not in r.text, r.text
        assert {v["VersionId"] for v in s3.list_object_versions(Bucket=name)["Versions"]} == {v1, v2}
    finally:
        for version in (v1, v2):
            s3.delete_object(Bucket=name, Key="doc", VersionId=version, BypassGovernanceRetention=True)
        s3.delete_bucket(Bucket=name)


# -- policy language: variables, conditions, NotResource -----------------------------------------------------


def test_home_directory_policy_with_username_variable(iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """The IAM User Guide's example: each user lists and writes only under home/<their user name>/."""
    home = policy(
        {"Sid": "AllowListingOfUserFolder", "Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*", "home/${aws:username}"]}}},
        {"Sid": "AllowAllS3ActionsInUserFolder", "Effect": "Allow", "Action": "s3:*",
         "Resource": f"arn:aws:s3:::{bucket}/home/${{aws:username}}/*"},
    )
    user = iam_user(inline={"home": home})
    user.s3.put_object(Bucket=bucket, Key=f"home/{user.name}/notes.txt", Body=b"mine")
    listed = user.s3.list_objects_v2(Bucket=bucket, Prefix=f"home/{user.name}/")
    assert [o["Key"] for o in listed["Contents"]] == [f"home/{user.name}/notes.txt"]
    assert error(user.s3.put_object, Bucket=bucket, Key="home/someone-else/x", Body=b"x")[0] == 403
    assert error(user.s3.list_objects_v2, Bucket=bucket, Prefix="home/someone-else/")[0] == 403
    assert error(user.s3.list_objects_v2, Bucket=bucket)[0] == 403  # no prefix: the condition's key is missing


def test_principal_tag_variable(iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    team_policy = policy({"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
                          "Resource": f"arn:aws:s3:::{bucket}/${{aws:PrincipalTag/team}}/*"})
    user = iam_user(inline={"team": team_policy}, tags={"team": "blue"})
    user.s3.put_object(Bucket=bucket, Key="blue/plan.txt", Body=b"p")
    assert error(user.s3.put_object, Bucket=bucket, Key="red/plan.txt", Body=b"p")[0] == 403
    untagged = iam_user(inline={"team": team_policy})
    assert error(untagged.s3.put_object, Bucket=bucket, Key="blue/plan.txt", Body=b"p")[0] == 403


def test_secure_transport_deny(iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    """AWS's recommended deny of plain HTTP: Storeroom here listens on http://, so everything is denied."""
    deny_http = policy({"Effect": "Deny", "Action": "s3:*", "Resource": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    user = iam_user(managed=[S3_FULL], inline={"https-only": deny_http})
    status, code, message = error(user.s3.put_object, Bucket=bucket, Key="k", Body=b"x")
    assert (status, code) == (403, "AccessDenied")
    assert "with an explicit deny in an identity-based policy" in message


def test_source_ip_conditions(iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    loopback = iam_user(inline={"ip": policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                              "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}})})
    loopback.s3.put_object(Bucket=bucket, Key="from-loopback", Body=b"x")
    office = iam_user(inline={"ip": policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                            "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}})})
    assert error(office.s3.put_object, Bucket=bucket, Key="k", Body=b"x")[0] == 403
    blocked = iam_user(managed=[S3_FULL], inline={"ip": policy(
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}})})
    assert error(blocked.s3.put_object, Bucket=bucket, Key="k", Body=b"x")[0] == 403


def test_keys_aws_always_sets_make_its_data_perimeter_policies_work(iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    """aws:ViaAWSService ("always included"), aws:PrincipalIsAWSService (every signed request) and
    aws:ResourceAccount / s3:ResourceAccount: absent before, so AWS's guardrails -- Deny unless called through an
    AWS service, Deny resources outside my account -- did nothing, or denied the account its own buckets."""
    account = iam_user().arn.split(":")[4]
    guarded = iam_user(managed=[S3_FULL], inline={"perimeter": policy(
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*",
         "Condition": {"Bool": {"aws:ViaAWSService": "false"}}},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*",
         "Condition": {"Bool": {"aws:PrincipalIsAWSService": "false"}}},
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:ResourceAccount": account}}})})
    assert error(guarded.s3.get_object, Bucket=bucket, Key="k")[:2] == (403, "AccessDenied")
    assert error(guarded.s3.put_object, Bucket=bucket, Key="k", Body=b"x")[:2] == (403, "AccessDenied")
    guarded.s3.list_objects_v2(Bucket=bucket)  # the account's own bucket is inside the perimeter
    mine = iam_user(inline={"own": policy(
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
         "Condition": {"StringEquals": {"s3:ResourceAccount": account}}})})
    mine.s3.put_object(Bucket=bucket, Key="k", Body=b"x")


def test_signature_age_limits_how_old_a_signature_may_be(iam_user, bucket, s3) -> None:  # type: ignore[no-untyped-def]
    """The S3 guide's cap on presigned URLs: deny when s3:signatureAge (milliseconds since X-Amz-Date) is over
    the limit, whatever X-Amz-Expires says. The key was never set, so the Deny never applied."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    user = iam_user(managed=[S3_FULL], inline={"fresh": policy(
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
         "Condition": {"NumericGreaterThan": {"s3:signatureAge": "60000"}}})})
    url = f"{user.endpoint}/{bucket}/k"
    keys = {"access_key": user.key_id, "secret_key": user.secret}
    assert signed_request("GET", url, **keys).status_code == 200
    old = signed_request("GET", url, when=utcnow() - dt.timedelta(minutes=5), **keys)
    assert (old.status_code, parse_any_aws_error(old.content)["Code"]) == (403, "AccessDenied")


def test_referer_is_a_condition_key(iam_user, bucket, s3) -> None:  # type: ignore[no-untyped-def]
    """aws:Referer, from the Referer header: the S3 guide's "only from my website" policy never allowed."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    user = iam_user(inline={"site": policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
         "Condition": {"StringLike": {"aws:Referer": "http://www.example.com/*"}}})})
    url, keys = f"{user.endpoint}/{bucket}/k", {"access_key": user.key_id, "secret_key": user.secret}
    assert signed_request("GET", url, {"Referer": "http://www.example.com/page"}, **keys).status_code == 200
    assert signed_request("GET", url, {"Referer": "http://elsewhere.example/"}, **keys).status_code == 403
    assert signed_request("GET", url, **keys).status_code == 403


def test_anonymous_callers_are_userid_anonymous(s3, new_bucket) -> None:  # type: ignore[no-untyped-def]
    """aws:userid is "included ... for all requests, including anonymous requests": ``anonymous``."""
    name = new_bucket()
    s3.delete_public_access_block(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.put_bucket_policy(Bucket=name, Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*",
         "Condition": {"StringEquals": {"aws:userid": "anonymous"}}}))
    assert requests.get(f"{s3.meta.endpoint_url}/{name}/k", timeout=10).status_code == 200


def test_not_resource_deny_confines_user_to_one_bucket(iam_user, bucket, new_bucket) -> None:  # type: ignore[no-untyped-def]
    other = new_bucket()
    confine = policy({"Effect": "Deny", "Action": "s3:*",
                      "NotResource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]})
    user = iam_user(managed=[S3_FULL], inline={"confine": confine})
    user.s3.put_object(Bucket=bucket, Key="ok", Body=b"x")
    assert error(user.s3.put_object, Bucket=other, Key="no", Body=b"x")[0] == 403


def test_numeric_condition_on_max_keys(iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    capped = policy({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
                     "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}}})
    user = iam_user(inline={"capped": capped})
    user.s3.list_objects_v2(Bucket=bucket, MaxKeys=5)
    assert error(user.s3.list_objects_v2, Bucket=bucket, MaxKeys=100)[0] == 403


# -- groups and boundaries ----------------------------------------------------------------------------------


def test_group_deny_overrides_user_allow(iam_user, iam, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    group = unique_name("grp")
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="no-deletes", PolicyDocument=policy(
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}))
    try:
        user = iam_user(managed=[S3_FULL], groups=[group])
        user.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        status, code, message = error(user.s3.delete_object, Bucket=bucket, Key="k")
        assert (status, code) == (403, "AccessDenied")
        assert "explicit deny in an identity-based policy" in message
    finally:
        for u in iam.get_group(GroupName=group)["Users"]:
            iam.remove_user_from_group(GroupName=group, UserName=u["UserName"])
        iam.delete_group_policy(GroupName=group, PolicyName="no-deletes")
        iam.delete_group(GroupName=group)


def test_group_allow_grants_its_members(iam_user, iam, bucket) -> None:  # type: ignore[no-untyped-def]
    group = unique_name("grp")
    iam.create_group(GroupName=group)
    iam.attach_group_policy(GroupName=group, PolicyArn=S3_FULL)
    try:
        user = iam_user(groups=[group])
        user.s3.put_object(Bucket=bucket, Key="via-group", Body=b"x")
        iam.remove_user_from_group(GroupName=group, UserName=user.name)
        assert error(user.s3.put_object, Bucket=bucket, Key="via-group", Body=b"x")[0] == 403
    finally:
        iam.detach_group_policy(GroupName=group, PolicyArn=S3_FULL)
        iam.delete_group(GroupName=group)


def test_permissions_boundary_caps_s3_full_access(iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="r", Body=b"r")
    user = iam_user(managed=[S3_FULL], boundary=S3_READ)
    assert user.s3.get_object(Bucket=bucket, Key="r")["Body"].read() == b"r"
    status, code, message = error(user.s3.put_object, Bucket=bucket, Key="w", Body=b"w")
    assert (status, code) == (403, "AccessDenied")
    assert message.endswith("because no permissions boundary allows the s3:PutObject action")


# -- bucket policies ----------------------------------------------------------------------------------------


def test_bucket_policy_grants_a_user_without_identity_policy(iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="shared", Body=b"s")
    user = iam_user()
    assert error(user.s3.get_object, Bucket=bucket, Key="shared")[0] == 403
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": user.arn}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}))
    assert user.s3.get_object(Bucket=bucket, Key="shared")["Body"].read() == b"s"
    assert error(user.s3.put_object, Bucket=bucket, Key="x", Body=b"x")[0] == 403


def test_bucket_policy_explicit_deny_beats_identity_allow(iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(managed=[S3_FULL])
    user.s3.put_object(Bucket=bucket, Key="keep", Body=b"k")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}))
    status, code, message = error(user.s3.delete_object, Bucket=bucket, Key="keep")
    assert (status, code) == (403, "AccessDenied")
    assert "with an explicit deny in a resource-based policy" in message
    # the root user is bound by the bucket policy's explicit deny too, but can always remove the policy
    assert error(s3.delete_object, Bucket=bucket, Key="keep")[0] == 403
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="keep")


def test_anonymous_read_only_through_a_bucket_policy(endpoint, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"<h1>public</h1>")
    assert requests.get(f"{endpoint}/{bucket}/index.html", timeout=10).status_code == 403
    s3.delete_public_access_block(Bucket=bucket)  # new buckets block public policies (tests/e2e/test_acls.py)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}))
    resp = requests.get(f"{endpoint}/{bucket}/index.html", timeout=10)
    assert resp.status_code == 200 and resp.content == b"<h1>public</h1>"
    assert requests.put(f"{endpoint}/{bucket}/x", data=b"x", timeout=10).status_code == 403
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_anonymous_requests_cannot_override_response_headers(endpoint, s3, bucket, method: str) -> None:  # type: ignore[no-untyped-def]
    """S3 answers an unsigned GET or HEAD carrying a response-* parameter 400 InvalidRequest "Request specific
    response headers cannot be used for anonymous GET requests." (observed against S3: floci-io/floci#1098):
    else anyone could serve a public object as, say, text/html."""
    s3.put_object(Bucket=bucket, Key="data.txt", Body=b"<script>alert(1)</script>", ContentType="text/plain")
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}))
    url = f"{endpoint}/{bucket}/data.txt"
    for parameter in ("response-content-type=text/html", "response-cache-control=no-cache",
                      "response-content-disposition=inline", "response-expires=0",
                      "response-content-language=en", "response-content-encoding=gzip"):
        resp = requests.request(method, f"{url}?{parameter}", timeout=10)
        assert resp.status_code == 400, (parameter, resp.status_code)
        if method == "GET":
            err = parse_any_aws_error(resp.content)
            assert (err["Code"], err["Message"]) == (
                "InvalidRequest", "Request specific response headers cannot be used for anonymous GET requests.")
    plain = requests.request(method, url, timeout=10)
    assert plain.status_code == 200 and plain.headers["Content-Type"] == "text/plain"
    # a signed request may override them
    assert s3.get_object(Bucket=bucket, Key="data.txt", ResponseContentType="text/x-log")["ContentType"] == "text/x-log"


def test_bucket_policy_round_trip_and_errors(s3, bucket, new_bucket) -> None:  # type: ignore[no-untyped-def]
    assert error(s3.get_bucket_policy, Bucket=bucket)[:2] == (404, "NoSuchBucketPolicy")
    text = policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                   "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
                   "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}})
    s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(text)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    other = new_bucket()
    wrong_bucket = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{other}/*"})
    assert error(s3.put_bucket_policy, Bucket=bucket, Policy=wrong_bucket)[:3] == (
        400, "MalformedPolicy", "Policy has invalid resource")
    assert error(s3.put_bucket_policy, Bucket=bucket, Policy="{not json")[:2] == (400, "MalformedPolicy")
    s3.delete_bucket_policy(Bucket=bucket)
    assert error(s3.get_bucket_policy, Bucket=bucket)[:2] == (404, "NoSuchBucketPolicy")


@pytest.mark.parametrize("hole, message", [
    ('{"a":' * 1000 + "1" + "}" * 1000, "This policy contains invalid Json"),
    ('{"StringEquals":{"aws:username":' + "[" * 990 + '"x"' + "]" * 990 + "}}", None),
    (None, "Policies must be valid JSON and the first byte must be '{'"),
], ids=["objects-1000-deep", "condition-990-deep", "arrays-1000-deep"])
def test_a_nested_bucket_policy_is_malformed_policy(s3, bucket, hole: str | None,  # type: ignore[no-untyped-def]
                                                    message: str | None) -> None:
    """S3 answers 400 MalformedPolicy to a policy nested 1,000 deep (it was 500 InternalError: RecursionError)."""
    if hole is None:
        text = "[" * 1000 + "]" * 1000
    else:
        text = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/*", "Condition": "HOLE"}).replace('"HOLE"', hole)
    status, code, said = error(s3.put_bucket_policy, Bucket=bucket, Policy=text)
    assert (status, code) == (400, "MalformedPolicy")
    assert message is None or said == message
    assert error(s3.get_bucket_policy, Bucket=bucket)[:2] == (404, "NoSuchBucketPolicy")


def test_a_bucket_policy_with_a_lone_surrogate_escape_is_judged_not_crashed(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """``"\\ud800"`` is valid JSON for a lone surrogate, which UTF-8 cannot encode: measuring the policy's size
    raised UnicodeEncodeError (500)."""
    text = policy({"Sid": "x", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                   "Resource": f"arn:aws:s3:::{bucket}/a"}).replace('"/a"', '"/\\ud800"').replace(
        '"Sid": "x"', '"Sid": "\\udfff"')
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == text


# -- revocation and credentials -----------------------------------------------------------------------------


def _signed(user, method: str, url: str, body: bytes = b"") -> requests.Response:  # type: ignore[no-untyped-def]
    """A request on a new connection, so that both worker processes answer some of them."""
    return signed_request(method, url, body=body, access_key=user.key_id, secret_key=user.secret)


def test_revocation_is_immediate_on_every_worker(endpoint, iam_user, iam, bucket) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(managed=[S3_FULL])
    url = f"{endpoint}/{bucket}/r"
    for _ in range(6):
        assert _signed(user, "PUT", url, b"x").status_code == 200
    iam.update_access_key(UserName=user.name, AccessKeyId=user.key_id, Status="Inactive")
    for _ in range(6):
        resp = _signed(user, "GET", url)
        assert (resp.status_code, parse_any_aws_error(resp.content)["Code"]) == (403, "InvalidAccessKeyId")
    iam.update_access_key(UserName=user.name, AccessKeyId=user.key_id, Status="Active")
    for _ in range(6):
        assert _signed(user, "GET", url).status_code == 200
    iam.detach_user_policy(UserName=user.name, PolicyArn=S3_FULL)
    for _ in range(6):
        resp = _signed(user, "GET", url)
        assert (resp.status_code, parse_any_aws_error(resp.content)["Code"]) == (403, "AccessDenied")
    iam.delete_access_key(UserName=user.name, AccessKeyId=user.key_id)
    for _ in range(6):
        resp = _signed(user, "GET", url)
        assert (resp.status_code, parse_any_aws_error(resp.content)["Code"]) == (403, "InvalidAccessKeyId")


def test_deleted_user_keys_stop_working(endpoint, iam_user, iam, bucket) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(managed=[S3_FULL])
    user.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    iam.delete_access_key(UserName=user.name, AccessKeyId=user.key_id)
    iam.detach_user_policy(UserName=user.name, PolicyArn=S3_FULL)
    iam.delete_user(UserName=user.name)
    assert error(user.s3.get_object, Bucket=bucket, Key="k")[:2] == (403, "InvalidAccessKeyId")
    sts = user.client("sts")
    assert error(sts.get_caller_identity)[:2] == (403, "InvalidClientTokenId")


def test_sts_get_caller_identity_names_the_user(iam_user) -> None:  # type: ignore[no-untyped-def]
    user = iam_user()  # no policy is needed to ask who you are
    identity = user.client("sts").get_caller_identity()
    assert identity["Arn"] == user.arn
    assert identity["UserId"] == user.user_id and identity["UserId"].startswith("AIDA")
    assert user.arn == f"arn:aws:iam::{identity['Account']}:user/{user.name}"


def test_access_key_last_used(iam_user, iam, bucket) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(managed=[S3_FULL])
    before = iam.get_access_key_last_used(AccessKeyId=user.key_id)["AccessKeyLastUsed"]
    assert "LastUsedDate" not in before and before["ServiceName"] == "N/A"
    user.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    deadline = time.time() + 5  # recorded without holding up the request
    while time.time() < deadline:
        used = iam.get_access_key_last_used(AccessKeyId=user.key_id)["AccessKeyLastUsed"]
        if "LastUsedDate" in used:
            break
        time.sleep(0.05)
    assert used["ServiceName"] == "s3" and used["Region"] == "us-east-1"


def test_users_manage_their_own_keys_only(iam_user) -> None:  # type: ignore[no-untyped-def]
    self_service = policy({"Effect": "Allow", "Action": ["iam:*AccessKey*"],
                           "Resource": "arn:aws:iam::*:user/${aws:username}"})
    alice = iam_user(inline={"keys": self_service})
    bob = iam_user()
    keys = alice.iam.list_access_keys()["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [alice.key_id]
    second = alice.iam.create_access_key()["AccessKey"]
    rotated = make_client(alice.endpoint, service="sts", access_key=second["AccessKeyId"],
                          secret_key=second["SecretAccessKey"])
    assert rotated.get_caller_identity()["Arn"] == alice.arn
    alice.iam.update_access_key(AccessKeyId=alice.key_id, Status="Inactive")
    alice_new = make_client(alice.endpoint, service="iam", access_key=second["AccessKeyId"],
                            secret_key=second["SecretAccessKey"])
    alice_new.delete_access_key(AccessKeyId=alice.key_id)
    assert error(alice_new.list_access_keys, UserName=bob.name)[:2] == (403, "AccessDenied")


def test_list_buckets_needs_list_all_my_buckets_on_every_bucket(iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    """AWS's example grants s3:ListAllMyBuckets on arn:aws:s3:::*; a policy naming one bucket does not."""
    everything = iam_user(inline={"list": policy(
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "arn:aws:s3:::*"})})
    assert bucket in [b["Name"] for b in everything.s3.list_buckets()["Buckets"]]
    one = iam_user(inline={"list": policy(
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": f"arn:aws:s3:::{bucket}"})})
    status, code, message = error(one.s3.list_buckets)
    assert (status, code) == (403, "AccessDenied")
    assert message == (not_authorized(one, "s3:ListAllMyBuckets", "arn:aws:s3:::*")
                       + " because no identity-based policy allows the s3:ListAllMyBuckets action")


def test_global_condition_keys_of_a_request(iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    """The global keys Storeroom sets for every request, each tested through a condition that must hold."""
    resource = f"arn:aws:s3:::{bucket}/*"
    holds = policy({"Effect": "Allow", "Action": "s3:PutObject", "Resource": resource, "Condition": {
        "DateLessThan": {"aws:CurrentTime": "2100-01-01T00:00:00Z"},
        "NumericGreaterThan": {"aws:EpochTime": "1700000000"},
        "StringEquals": {"aws:PrincipalType": "User", "aws:RequestedRegion": "us-east-1",
                         "aws:PrincipalAccount": "${aws:PrincipalAccount}"},
        "StringLike": {"aws:UserAgent": "*Boto3*", "aws:userid": "AIDA*"},
        "ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:user/${aws:username}"},
        "Bool": {"aws:SecureTransport": "false"},
        "IpAddress": {"aws:SourceIp": "127.0.0.1/32"},
    }})
    user = iam_user(inline={"all-hold": holds})
    user.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    expired = policy({"Effect": "Allow", "Action": "s3:PutObject", "Resource": resource,
                      "Condition": {"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}})
    late = iam_user(inline={"expired": expired})
    assert error(late.s3.put_object, Bucket=bucket, Key="k", Body=b"x")[0] == 403


@pytest.mark.parametrize("statement,message", [
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}"},
     "Action does not apply to any resource(s) in statement"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::{b}/*"},
     "Action does not apply to any resource(s) in statement"),
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:group/devs"}, "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::{b}/*"}, "Invalid principal in policy"),
    ({"Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::{b}/*"}, "Invalid principal in policy"),
    ({"Effect": "Allow", "Principal": "*", "Action": "ec2:RunInstances", "Resource": "arn:aws:s3:::{b}/*"},
     "Policy has invalid action"),
    # S3 refuses an address that is none (scality/cloudserver's validatePolicyConditions copies AWS's answer)
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}/*",
      "Condition": {"IpAddress": {"aws:SourceIp": "123"}}}, "Invalid IP address in Conditions"),
    ({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}/*",
      "Condition": {"NotIpAddressIfExists": {"aws:SourceIp": ["10.0.0.0/8", "not-an-ip"]}}},
     "Invalid IP address in Conditions"),
    # an S3 action S3 does not have (misspelled: a Deny with it protected nothing), or a wildcard matching none
    ({"Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "s3:DeleteObjekt"],
      "Resource": "arn:aws:s3:::{b}/*"}, "Policy has invalid action"),
    ({"Effect": "Deny", "Principal": "*", "NotAction": "s3:ListObjects", "Resource": "arn:aws:s3:::{b}"},
     "Policy has invalid action"),
    ({"Effect": "Deny", "Principal": "*", "Action": "s3:Frobnicate*", "Resource": "arn:aws:s3:::{b}/*"},
     "Policy has invalid action"),
    # an "s3:" key S3 does not define (a typo of s3:x-amz-acl): refused, not a condition that never matches
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::{b}/*",
      "Condition": {"StringEquals": {"s3:x-acl": "bucket-owner-full-control"}}}, "Policy has an invalid condition key"),
    ({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}/*",
      "Condition": {"StringEquals": {"s3:ExistingObjectTag/": "x"}}}, "Policy has an invalid condition key"),
])
def test_bucket_policy_validation(s3, bucket, statement: dict[str, Any], message: str) -> None:  # type: ignore[no-untyped-def]
    text = policy(json.loads(json.dumps(statement).replace("{b}", bucket)))
    assert error(s3.put_bucket_policy, Bucket=bucket, Policy=text) == (400, "MalformedPolicy", message)


@pytest.mark.parametrize("document,message", [
    ({"Version": "2012-10-17"}, "Missing required field Statement"),
    ({"Version": "2012-10-17", "Statement": []}, "Could not parse the policy: Statement is empty!"),
])
def test_bucket_policy_without_statements_in_s3s_words(s3, bucket, document, message) -> None:  # type: ignore[no-untyped-def]
    """S3's messages (versity/versitygw#646, #1176); it answered IAM's "Syntax errors in policy."."""
    assert error(s3.put_bucket_policy, Bucket=bucket, Policy=json.dumps(document)) == (
        400, "MalformedPolicy", message)


def test_bucket_policy_with_wildcards_and_both_levels_is_accepted(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": ["123456789012", "arn:aws:iam::123456789012:user/bob"]},
         "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": [f"arn:aws:s3:::{bucket}",
                                                                  f"arn:aws:s3:::{bucket}/*"]},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}, "StringNotEquals": {"aws:PrincipalType": "Account"}}}))
    s3.delete_bucket_policy(Bucket=bucket)


def test_bucket_policy_takes_every_condition_key_s3_defines(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """S3's keys in any case, tag keys with their tag, and keys of other prefixes (S3 refuses only unknown "s3:"
    keys; "aws:" keys are all let through)."""
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringNotEquals": {"S3:X-Amz-Acl": "private", "s3:x-amz-server-side-encryption": "AES256",
                                           "s3:ExistingObjectTag/project": "x", "s3:RequestObjectTag/team": "y",
                                           "aws:SomeFutureKey": "z"},
                       "NumericGreaterThan": {"s3:signatureAge": "600000", "s3:TlsVersion": "1.1"},
                       "Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}}},
        {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{bucket}", "Condition": {"StringLike": {"s3:prefix": "home/*", "s3:delimiter": "/"},
                       "NumericLessThanEquals": {"s3:max-keys": "10"}}},
        # actions in any case, and wildcards that stand for some
        {"Effect": "Deny", "Principal": "*", "Action": ["S3:GETOBJECT", "s3:Get*Tagging", "s3:?utObject", "s3:*"],
         "Resource": f"arn:aws:s3:::{bucket}/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}))
    s3.delete_bucket_policy(Bucket=bucket)


def test_multipart_upload_is_judged_as_put_object(iam_user, s3, bucket, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """boto3's upload_file goes multipart above 8 MiB: Create/UploadPart/Complete all need s3:PutObject (and
    Abort s3:AbortMultipartUpload); listing the bucket's uploads needs s3:ListBucketMultipartUploads."""
    uploads = policy({"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/in/*"})
    user = iam_user(inline={"uploads": uploads})
    big = tmp_path / "big.bin"
    big.write_bytes(b"m" * (9 * 1024 * 1024))
    user.s3.upload_file(str(big), bucket, "in/big.bin")
    assert s3.head_object(Bucket=bucket, Key="in/big.bin")["ETag"].endswith('-2"')
    status, code, message = error(user.s3.create_multipart_upload, Bucket=bucket, Key="out/x")
    assert (status, code) == (403, "AccessDenied") and "s3:PutObject" in message
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="in/left")["UploadId"]
    status, code, message = error(user.s3.abort_multipart_upload, Bucket=bucket, Key="in/left", UploadId=upload_id)
    assert (status, code) == (403, "AccessDenied") and "s3:AbortMultipartUpload" in message
    assert error(user.s3.list_multipart_uploads, Bucket=bucket)[0] == 403
    s3.abort_multipart_upload(Bucket=bucket, Key="in/left", UploadId=upload_id)


def test_permissions_boundary_explicit_deny_is_named(iam_user, iam, bucket) -> None:  # type: ignore[no-untyped-def]
    name = unique_name("boundary")
    arn = iam.create_policy(PolicyName=name, PolicyDocument=policy(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}))["Policy"]["Arn"]
    try:
        user = iam_user(managed=[S3_FULL], boundary=arn)
        user.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        status, code, message = error(user.s3.delete_object, Bucket=bucket, Key="k")
        assert (status, code) == (403, "AccessDenied")
        assert message.endswith(f"with an explicit deny in a permissions boundary: {arn}")
    finally:
        delete_policy_fully(iam, arn)


def test_bucket_policy_size_is_counted_without_whitespace(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """20 KB without whitespace: a pretty-printed policy larger than that on the wire is accepted."""
    def document(statements: int) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": [
            {"Sid": f"S{i}", "Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::123456789012:user/u{i}"},
             "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/p{i}/*"} for i in range(statements)]}
    fits = document(120)
    assert len(json.dumps(fits, separators=(",", ":"))) < 20 * 1024 < len(json.dumps(fits, indent=8))
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(fits, indent=8))
    assert error(s3.put_bucket_policy, Bucket=bucket, Policy=json.dumps(document(200)))[:2] == (
        400, "PolicyTooLarge")
    s3.delete_bucket_policy(Bucket=bucket)


def test_a_bucket_made_again_does_not_inherit_the_old_policy(endpoint, s3, new_bucket) -> None:  # type: ignore[no-untyped-def]
    name = new_bucket()
    s3.delete_public_access_block(Bucket=name)
    s3.put_bucket_policy(Bucket=name, Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"}))
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert requests.get(f"{endpoint}/{name}/k", timeout=10).status_code == 200  # caches now hold the policy
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert error(s3.get_bucket_policy, Bucket=name)[:2] == (404, "NoSuchBucketPolicy")
    for _ in range(4):  # new connections: both workers answer
        assert requests.get(f"{endpoint}/{name}/k", timeout=10).status_code == 403
