"""``storeroom policy generate``'s pure part: which action each CloudTrail event needed, on which resource, and
how the uses become a small policy; and ``storeroom audit``'s filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from storeroom.audit.trail import Filters, TrailEvent, is_denial
from storeroom.cli.policygen import Use, build_policy, collect, object_pattern, uses_of

ACCOUNT = "123456789012"
ME = f"arn:aws:iam::{ACCOUNT}:user/apps/worker"


class Paths:
    """IAM's answers about entity paths, as GetUser would give them."""

    def entity_arn(self, account: str, kind: str, name: str) -> str:
        return f"arn:aws:iam::{account}:{kind}/apps/{name}" if name == "worker" else \
            f"arn:aws:iam::{account}:{kind}/{name}"

    def key_owner_arn(self, account: str, access_key_id: str) -> str | None:
        return ME if access_key_id == "AKIAWORKER" else None


def event(name: str, source: str = "s3", error: str | None = None, **params: Any) -> TrailEvent:
    record: dict[str, Any] = {"eventName": name, "eventSource": f"{source}.amazonaws.com",
                              "userIdentity": {"type": "IAMUser", "arn": ME, "accountId": ACCOUNT,
                                               "userName": "worker", "accessKeyId": "AKIAWORKER"},
                              "requestParameters": params or None, "recipientAccountId": ACCOUNT}
    if error:
        record["errorCode"] = error
    return TrailEvent.of({"EventId": "e1", "EventName": name, "EventTime": datetime.now(UTC),
                          "EventSource": f"{source}.amazonaws.com", "Username": "worker",
                          "CloudTrailEvent": json.dumps(record)})


def actions(e: TrailEvent) -> list[tuple[str, str]] | None:
    uses = uses_of(e, Paths())
    return None if uses is None else [(u.action, u.resource) for u in uses]


@pytest.mark.parametrize(("name", "action"), [
    ("PutObject", "s3:PutObject"), ("CreateMultipartUpload", "s3:PutObject"), ("UploadPart", "s3:PutObject"),
    ("CompleteMultipartUpload", "s3:PutObject"), ("GetObject", "s3:GetObject"), ("HeadObject", "s3:GetObject"),
    ("DeleteObject", "s3:DeleteObject"), ("AbortMultipartUpload", "s3:AbortMultipartUpload"),
    ("ListParts", "s3:ListMultipartUploadParts"), ("PutObjectTagging", "s3:PutObjectTagging"),
])
def test_s3_object_events(name: str, action: str) -> None:
    assert actions(event(name, bucketName="b", key="k/1")) == [(action, "arn:aws:s3:::b/k/1")]


@pytest.mark.parametrize(("name", "action"), [
    ("ListObjects", "s3:ListBucket"), ("ListObjectsV2", "s3:ListBucket"), ("HeadBucket", "s3:ListBucket"),
    ("GetBucketLocation", "s3:GetBucketLocation"), ("GetBucketCors", "s3:GetBucketCORS"),
    ("PutBucketPolicy", "s3:PutBucketPolicy"), ("DeleteBucket", "s3:DeleteBucket"),
    ("ListObjectVersions", "s3:ListBucketVersions"), ("PutBucketLifecycle", "s3:PutLifecycleConfiguration"),
])
def test_s3_bucket_events(name: str, action: str) -> None:
    assert actions(event(name, bucketName="b")) == [(action, "arn:aws:s3:::b")]


def test_s3_special_cases() -> None:
    assert actions(event("ListBuckets")) == [("s3:ListAllMyBuckets", "*")]
    # DeleteObjects names no key in its event: any object of the bucket
    assert actions(event("DeleteObjects", bucketName="b", delete="")) == [("s3:DeleteObject", "arn:aws:s3:::b/*")]
    # a copy reads its source (when the event records it, as AWS does)
    assert actions(event("CopyObject", bucketName="b", key="dst", **{"x-amz-copy-source": "src/a%20b?versionId=1"})) \
        == [("s3:PutObject", "arn:aws:s3:::b/dst"), ("s3:GetObjectVersion", "arn:aws:s3:::src/a b")]
    assert actions(event("CopyObject", bucketName="b", key="dst", **{"x-amz-copy-source": "src/k"}))[1] == (
        "s3:GetObject", "arn:aws:s3:::src/k")
    # a request naming a version needs the version's action: s3:GetObject alone refuses it
    for name, action in (("GetObject", "s3:GetObjectVersion"), ("HeadObject", "s3:GetObjectVersion"),
                         ("DeleteObject", "s3:DeleteObjectVersion"),
                         ("GetObjectTagging", "s3:GetObjectVersionTagging")):
        assert actions(event(name, bucketName="b", key="k", versionId="v1")) == [(action, "arn:aws:s3:::b/k")]
    assert actions(event("GetBucketMadeUp", bucketName="b")) is None
    assert actions(event("GetObject")) is None  # no bucket: cannot be placed


def test_iam_sts_cloudtrail_events() -> None:
    assert actions(event("CreateAccessKey", "iam", userName="other")) == \
        [("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/other")]
    assert actions(event("CreateAccessKey", "iam")) == [("iam:CreateAccessKey", ME)]  # no UserName: the caller
    assert actions(event("ListAccessKeys", "iam", userName="worker")) == [("iam:ListAccessKeys", ME)]
    assert actions(event("ChangePassword", "iam")) == [("iam:ChangePassword", ME)]
    assert actions(event("GetAccessKeyLastUsed", "iam", accessKeyId="AKIAWORKER")) == \
        [("iam:GetAccessKeyLastUsed", ME)]
    assert actions(event("AttachUserPolicy", "iam", userName="u", policyArn="arn:aws:iam::aws:policy/X")) == \
        [("iam:AttachUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/u")]
    assert actions(event("GetPolicy", "iam", policyArn=f"arn:aws:iam::{ACCOUNT}:policy/p")) == \
        [("iam:GetPolicy", f"arn:aws:iam::{ACCOUNT}:policy/p")]
    assert actions(event("CreatePolicy", "iam", policyName="p", path="/team/")) == \
        [("iam:CreatePolicy", f"arn:aws:iam::{ACCOUNT}:policy/team/p")]
    assert actions(event("ListUsers", "iam")) == [("iam:ListUsers", "*")]
    assert actions(event("GetCallerIdentity", "sts")) == []
    assert actions(event("GetSessionToken", "sts")) == []
    assert actions(event("ConsoleLogin", "signin")) == []
    assert actions(event("LookupEvents", "cloudtrail")) == [("cloudtrail:LookupEvents", "*")]
    assert actions(event("RunInstances", "ec2")) is None


def test_object_patterns() -> None:
    assert object_pattern("b", {"reports/2024/a.csv"}) == "arn:aws:s3:::b/reports/2024/a.csv"
    assert object_pattern("b", {"reports/2024/a.csv", "reports/2024/b.csv"}) == "arn:aws:s3:::b/reports/2024/*"
    assert object_pattern("b", {"reports/2024-01.csv", "reports/2024-02.csv"}) == "arn:aws:s3:::b/reports/*"
    assert object_pattern("b", {"a.txt", "b.txt"}) == "arn:aws:s3:::b/*"
    assert object_pattern("b", {"in/x", None}) == "arn:aws:s3:::b/*"
    assert object_pattern("b", {"team-*/a?"}) == "arn:aws:s3:::b/team-${*}/a${?}"  # keys mean themselves
    assert object_pattern("b", {"t*/a", "t*/b"}) == "arn:aws:s3:::b/t${*}/*"


def test_build_policy_merges_by_resources() -> None:
    uses = [Use("s3:PutObject", "arn:aws:s3:::b/in/a", "b", "in/a"), Use("s3:GetObject", "arn:aws:s3:::b/in/b", "b",
                                                                        "in/b"),
            Use("s3:ListBucket", "arn:aws:s3:::b"), Use("s3:GetBucketLocation", "arn:aws:s3:::b"),
            Use("s3:PutObject", "arn:aws:s3:::c/x", "c", "x"), Use("s3:ListAllMyBuckets", "*"),
            Use("iam:GetUser", ME), Use("iam:GetUser", "*")]
    assert build_policy(uses) == {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:GetUser", "s3:ListAllMyBuckets"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"], "Resource": "arn:aws:s3:::b"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/in/*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": ["arn:aws:s3:::b/in/*", "arn:aws:s3:::c/x"]},
    ]}


def test_collect_counts_what_needs_nothing_and_what_is_unknown() -> None:
    outcome = collect([event("GetCallerIdentity", "sts"), event("GetCallerIdentity", "sts"),
                       event("RunInstances", "ec2"), event("GetObject", bucketName="b", key="k"),
                       event("GetObject", bucketName="b", key="k")], Paths())
    assert outcome.uses == [Use("s3:GetObject", "arn:aws:s3:::b/k", "b", "k")]
    assert outcome.skipped == {"sts:GetCallerIdentity": 2}
    assert outcome.unmapped == {"ec2.amazonaws.com:RunInstances": 1}


def test_denials_and_filters() -> None:
    for code in ["AccessDenied", "AccessDeniedException", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                 "ExpiredToken", "UnauthorizedOperation"]:
        assert is_denial(code)
    for code in [None, "NoSuchKey", "NoSuchEntityException", "MalformedPolicyDocument", "404"]:
        assert not is_denial(code)
    e = event("GetObject", error="AccessDenied", bucketName="b", key="k")
    assert Filters(user="worker", bucket="b", denied=True, event="GetObject", key="AKIAWORKER").matches(e)
    assert not Filters(bucket="c").matches(e) and not Filters(user="root").matches(e)
    assert not Filters(denied=True).matches(event("GetObject", bucketName="b", key="k"))
    assert Filters(user="u", bucket="b", event="E").lookup_attribute() == ("Username", "u")
    assert Filters(key="AKIA1", user="u").lookup_attribute() == ("AccessKeyId", "AKIA1")
    assert Filters(denied=True).lookup_attribute() is None
