"""Settings Storeroom does not have yet are read as S3 answers them for a bucket or object on which they are not
configured (not 501), and so are settings a bucket does not have; ACL writes as S3 answers them with ACLs
disabled (the default), and IAM's DeleteLoginProfile as IAM
answers it for a user without a password -- replaying the calls Terraform and Ansible make."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import assert_s3_error, client_error, signed_request, unique_name

# SQLite only: answers of settings that are not stored.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")

NOT_ALLOWED = "The bucket does not allow ACLs"


def error(exc) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    status, code = client_error(exc)
    return status, code, exc.value.response["Error"]["Message"]


def fails(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        call()
    return error(exc)


# (boto3 method, IAM action AWS documents for it, the answer for a bucket without the setting)
NOT_FOUND = [
    ("get_bucket_tagging", "s3:GetBucketTagging", "NoSuchTagSet", "The TagSet does not exist"),
    ("get_bucket_cors", "s3:GetBucketCORS", "NoSuchCORSConfiguration", "The CORS configuration does not exist"),
    ("get_bucket_lifecycle_configuration", "s3:GetLifecycleConfiguration", "NoSuchLifecycleConfiguration",
     "The lifecycle configuration does not exist"),
    ("get_bucket_website", "s3:GetBucketWebsite", "NoSuchWebsiteConfiguration",
     "The specified bucket does not have a website configuration"),
    ("get_bucket_replication", "s3:GetReplicationConfiguration", "ReplicationConfigurationNotFoundError",
     "The replication configuration was not found"),
    ("get_object_lock_configuration", "s3:GetBucketObjectLockConfiguration", "ObjectLockConfigurationNotFoundError",
     "Object Lock configuration does not exist for this bucket"),
]
DOCUMENTS = [
    ("get_bucket_ownership_controls", "s3:GetBucketOwnershipControls",
     {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}}),
    # a new bucket has Block Public Access on, as AWS's since April 2023
    ("get_public_access_block", "s3:GetBucketPublicAccessBlock", {"PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}}),
    ("get_bucket_logging", "s3:GetBucketLogging", {}),
    ("get_bucket_request_payment", "s3:GetBucketRequestPayment", {"Payer": "BucketOwner"}),
    ("get_bucket_accelerate_configuration", "s3:GetAccelerateConfiguration", {}),
    ("get_bucket_notification_configuration", "s3:GetBucketNotification", {}),
    ("get_bucket_encryption", "s3:GetEncryptionConfiguration", {"ServerSideEncryptionConfiguration": {"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False,
         "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]}}]}}),
]


def _answer(response: dict) -> dict:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


@pytest.mark.parametrize(("method", "action", "code", "message"), NOT_FOUND, ids=[r[0] for r in NOT_FOUND])
def test_a_setting_the_bucket_does_not_have_is_not_found(s3, bucket, method, action, code, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        getattr(s3, method)(Bucket=bucket)
    assert error(exc) == (404, code, message)
    assert exc.value.response["Error"]["BucketName"] == bucket


@pytest.mark.parametrize(("method", "action", "expected"), DOCUMENTS, ids=[r[0] for r in DOCUMENTS])
def test_a_setting_the_bucket_does_not_have_reads_as_unset(s3, bucket, method, action, expected) -> None:  # type: ignore[no-untyped-def]
    assert _answer(getattr(s3, method)(Bucket=bucket)) == expected


@pytest.mark.parametrize("method", [r[0] for r in NOT_FOUND + DOCUMENTS])
def test_a_missing_bucket_is_no_such_bucket_first(s3, method: str) -> None:  # type: ignore[no-untyped-def]
    assert fails(lambda: getattr(s3, method)(Bucket=unique_name("missing")))[:2] == (404, "NoSuchBucket")


def test_each_read_is_authorized_with_its_own_action(s3, bucket, iam_user) -> None:  # type: ignore[no-untyped-def]
    reads = [(m, a) for m, a, *_ in NOT_FOUND] + [(m, a) for m, a, _ in DOCUMENTS]
    allowed = {m for m, _ in reads[::2]}  # every other one
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": sorted(a for m, a in reads if m in allowed),
         "Resource": f"arn:aws:s3:::{bucket}"}]}
    user = iam_user(inline={"some-reads": json.dumps(policy)})
    for method, action in reads:
        try:
            getattr(user.s3, method)(Bucket=bucket)
            outcome = "answered"
        except ClientError as exc:
            outcome = "denied" if exc.response["Error"]["Code"] == "AccessDenied" else "answered"
            if outcome == "denied":
                assert f"not authorized to perform: {action} on resource" in exc.response["Error"]["Message"]
        assert outcome == ("answered" if method in allowed else "denied"), method


def test_an_object_has_an_empty_tag_set(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    assert fails(lambda: s3.get_object_tagging(Bucket=bucket, Key="missing"))[:2] == (404, "NoSuchKey")


CONFIGURATION_KINDS = [("analytics", "s3:GetAnalyticsConfiguration"), ("inventory", "s3:GetInventoryConfiguration"),
                       ("metrics", "s3:GetMetricsConfiguration"),
                       ("intelligent_tiering", "s3:GetIntelligentTieringConfiguration")]


@pytest.mark.parametrize(("kind", "action"), CONFIGURATION_KINDS, ids=[k for k, _ in CONFIGURATION_KINDS])
def test_no_bucket_has_analytics_inventory_metrics_or_tiering_configurations(s3, bucket, iam_user, kind,  # type: ignore[no-untyped-def]
                                                                             action) -> None:
    """Ansible's s3_bucket lists the inventory configurations of every bucket it manages, and warned on a 501."""
    listing = getattr(s3, f"list_bucket_{kind}_configurations")
    assert _answer(listing(Bucket=bucket)) == {"IsTruncated": False}
    get = getattr(s3, f"get_bucket_{kind}_configuration")
    assert fails(lambda: get(Bucket=bucket, Id="nightly")) == (
        404, "NoSuchConfiguration", "The specified configuration does not exist.")
    assert fails(lambda: listing(Bucket=unique_name("missing")))[:2] == (404, "NoSuchBucket")
    user = iam_user(inline={"other": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": action, "Resource": "*"}]})})
    for call in (lambda: getattr(user.s3, f"list_bucket_{kind}_configurations")(Bucket=bucket),
                 lambda: getattr(user.s3, f"get_bucket_{kind}_configuration")(Bucket=bucket, Id="nightly")):
        denied = fails(call)
        assert denied[:2] == (403, "AccessDenied") and f"perform: {action} on resource" in denied[2]


@pytest.mark.parametrize("call", [
    lambda s3, b: s3.put_bucket_website(Bucket=b, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}),
    lambda s3, b: s3.put_bucket_request_payment(Bucket=b, RequestPaymentConfiguration={"Payer": "Requester"}),
    lambda s3, b: s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:123456789012:q",
                                 "Events": ["s3:ObjectCreated:*"]}]}),
    lambda s3, b: s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
        "EventBridgeConfiguration": {}}),
])
def test_writing_a_setting_still_answers_not_implemented(s3, bucket, call) -> None:  # type: ignore[no-untyped-def]
    assert fails(lambda: call(s3, bucket))[:2] == (501, "NotImplemented")


# What Terraform's aws_s3_bucket_request_payment_configuration (payer = "BucketOwner") and
# aws_s3_bucket_notification (no destinations, and on destroy) send, and what tools send to remove a website or
# replication configuration: each leaves the bucket as it is, and S3 accepts it.
# (name, IAM action, the call, the status botocore's model gives the operation)
SAME_AS_NOW = [
    ("request payment by the bucket owner", "s3:PutBucketRequestPayment", lambda s3, b: s3.put_bucket_request_payment(
        Bucket=b, RequestPaymentConfiguration={"Payer": "BucketOwner"}), 200),
    ("no event notifications", "s3:PutBucketNotification", lambda s3, b: s3.put_bucket_notification_configuration(
        Bucket=b, NotificationConfiguration={}), 200),
    ("website deleted", "s3:DeleteBucketWebsite", lambda s3, b: s3.delete_bucket_website(Bucket=b), 204),
    ("replication deleted", "s3:PutReplicationConfiguration", lambda s3, b: s3.delete_bucket_replication(Bucket=b),
     204),
]


@pytest.mark.parametrize(("name", "action", "call", "status"), SAME_AS_NOW, ids=[r[0] for r in SAME_AS_NOW])
def test_a_write_that_leaves_the_setting_as_it_is_succeeds(s3, bucket, iam_user, name, action, call,  # type: ignore[no-untyped-def]
                                                           status) -> None:
    assert call(s3, bucket)["ResponseMetadata"]["HTTPStatusCode"] == status
    assert _answer(s3.get_bucket_request_payment(Bucket=bucket)) == {"Payer": "BucketOwner"}
    assert _answer(s3.get_bucket_notification_configuration(Bucket=bucket)) == {}
    assert fails(lambda: s3.get_bucket_website(Bucket=bucket))[:2] == (404, "NoSuchWebsiteConfiguration")
    assert fails(lambda: call(s3, unique_name("missing")))[:2] == (404, "NoSuchBucket")
    user = iam_user(inline={"other": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": action, "Resource": "*"}]})})
    denied = fails(lambda: call(user.s3, bucket))
    assert denied[:2] == (403, "AccessDenied") and f"perform: {action} on resource" in denied[2]


def test_request_payment_and_notification_documents_are_checked(endpoint, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    wrong_root = signed_request("PUT", f"{endpoint}/{bucket}?notification", body=b"<RequestPaymentConfiguration/>")
    assert_s3_error(wrong_root, 400, "MalformedXML")
    assert fails(lambda: s3.put_bucket_request_payment(
        Bucket=bucket, RequestPaymentConfiguration={"Payer": "Nobody"}))[:2] == (400, "MalformedXML")
    assert fails(lambda: s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"TopicConfigurations": [
            {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Events": ["s3:ObjectRemoved:*"]}]}))[:2] == \
        (501, "NotImplemented")


# -- ACL writes with ACLs disabled -----------------------------------------------------------------------


def test_object_acl_writes_take_the_bucket_owners_full_control_only(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="bucket-owner-full-control")
    current = s3.get_object_acl(Bucket=bucket, Key="k")
    policy = {"Owner": current["Owner"], "Grants": current["Grants"]}
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy=policy)  # the same ACL, in XML
    for acl in ("private", "public-read", "authenticated-read", "bucket-owner-read"):
        assert fails(lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL=acl)) == (  # noqa: B023
            400, "AccessControlListNotSupported", NOT_ALLOWED)
    assert fails(lambda: s3.put_object_acl(Bucket=bucket, Key="k", GrantRead="uri=http://acs.amazonaws.com/"
                                           "groups/global/AllUsers"))[1] == "AccessControlListNotSupported"
    everyone = {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                "Permission": "READ"}
    wider = {**policy, "Grants": [*policy["Grants"], everyone]}
    assert fails(lambda: s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy=wider))[1] == (
        "AccessControlListNotSupported")
    assert fails(lambda: s3.put_object_acl(Bucket=bucket, Key="missing", ACL="bucket-owner-full-control"))[:2] == (
        404, "NoSuchKey")
    assert s3.get_object_acl(Bucket=bucket, Key="k")["Grants"] == current["Grants"]  # nothing changed


def test_bucket_acl_writes_are_refused(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    current = s3.get_bucket_acl(Bucket=bucket)
    for kwargs in ({"ACL": "private"}, {"ACL": "public-read"},
                   {"AccessControlPolicy": {"Owner": current["Owner"], "Grants": current["Grants"]}}):
        assert fails(lambda: s3.put_bucket_acl(Bucket=bucket, **kwargs)) == (  # noqa: B023
            400, "AccessControlListNotSupported", NOT_ALLOWED)
    assert fails(lambda: s3.put_bucket_acl(Bucket=unique_name("missing"), ACL="private"))[:2] == (
        404, "NoSuchBucket")


def test_acl_headers_on_object_writes(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="ok", Body=b"x", ACL="bucket-owner-full-control")
    s3.copy_object(Bucket=bucket, Key="ok2", CopySource={"Bucket": bucket, "Key": "ok"},
                   ACL="bucket-owner-full-control")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="ok3", ACL="bucket-owner-full-control")
    s3.abort_multipart_upload(Bucket=bucket, Key="ok3", UploadId=upload["UploadId"])
    refused = (400, "AccessControlListNotSupported", NOT_ALLOWED)
    for acl in ("private", "public-read"):
        assert fails(lambda: s3.put_object(Bucket=bucket, Key="no", Body=b"x", ACL=acl)) == refused  # noqa: B023
        assert fails(lambda: s3.copy_object(Bucket=bucket, Key="no", ACL=acl,  # noqa: B023
                                            CopySource={"Bucket": bucket, "Key": "ok"})) == refused
        assert fails(lambda: s3.create_multipart_upload(Bucket=bucket, Key="no", ACL=acl)) == refused  # noqa: B023
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="no", Body=b"x", GrantFullControl='id="someone"')) == (
        refused)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="no")
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_create_bucket_keeps_acls_disabled(s3, track_bucket) -> None:  # type: ignore[no-untyped-def]
    s3.create_bucket(Bucket=track_bucket(unique_name("acl")), ACL="private")  # rclone sends this
    s3.create_bucket(Bucket=track_bucket(unique_name("acl")), ObjectOwnership="BucketOwnerEnforced")
    name = track_bucket(unique_name("acl"))
    assert fails(lambda: s3.create_bucket(Bucket=name, ACL="public-read")) == (
        400, "InvalidBucketAclWithObjectOwnership",
        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
    assert fails(lambda: s3.head_bucket(Bucket=name))[0] == 404
    # ACLs enabled on request (tests/e2e/test_acls.py)
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter")
    assert s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "ObjectWriter"}]


# -- the tools' own calls ----------------------------------------------------------------------------------

TOLERATED = {"NoSuchBucketPolicy", "NoSuchCORSConfiguration", "NoSuchWebsiteConfiguration",
             "NoSuchLifecycleConfiguration", "ReplicationConfigurationNotFoundError",
             "ServerSideEncryptionConfigurationNotFoundError", "ObjectLockConfigurationNotFoundError",
             "NoSuchTagSet", "NoSuchPublicAccessBlockConfiguration"}


def _replay(s3, bucket: str, calls: list[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Each call's outcome: "ok" or its error code."""
    outcome = {}
    for method in calls:
        try:
            getattr(s3, method)(Bucket=bucket)
            outcome[method] = "ok"
        except ClientError as exc:
            outcome[method] = exc.response["Error"]["Code"]
    return outcome


def test_terraform_aws_s3_bucket_refresh(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """The reads of terraform-provider-aws's aws_s3_bucket Read, in its order; each is a value or one of the
    "not configured" errors the provider maps to an empty attribute (a 501 stops the refresh)."""
    calls = ["head_bucket", "get_bucket_policy", "get_bucket_acl", "get_bucket_cors", "get_bucket_website",
             "get_bucket_versioning", "get_bucket_accelerate_configuration", "get_bucket_request_payment",
             "get_bucket_logging", "get_bucket_lifecycle_configuration", "get_bucket_replication",
             "get_bucket_encryption", "get_object_lock_configuration", "get_bucket_location",
             "get_bucket_tagging"]
    outcome = _replay(s3, bucket, calls)
    assert {m: o for m, o in outcome.items() if o != "ok" and o not in TOLERATED} == {}


def test_ansible_s3_bucket_reads(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """The reads of amazon.aws.s3_bucket with its default options (state=present on an existing bucket)."""
    calls = ["get_bucket_versioning", "get_bucket_request_payment", "get_bucket_policy", "get_bucket_tagging",
             "get_bucket_encryption", "get_bucket_ownership_controls", "get_public_access_block",
             "get_bucket_acl", "get_object_lock_configuration", "get_bucket_accelerate_configuration"]
    outcome = _replay(s3, bucket, calls)
    assert {m: o for m, o in outcome.items() if o != "ok" and o not in TOLERATED} == {}


def test_ansible_s3_object_put_with_owner_full_control(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """amazon.aws.s3_object mode=put: upload with ACL=<first permission>, then PutObjectAcl for each; with
    ``permission: bucket-owner-full-control`` both succeed, as on S3 with ACLs disabled."""
    s3.put_object(Bucket=bucket, Key="f.txt", Body=b"hello", ACL="bucket-owner-full-control")
    s3.put_object_acl(Bucket=bucket, Key="f.txt", ACL="bucket-owner-full-control")
    assert s3.get_object(Bucket=bucket, Key="f.txt")["Body"].read() == b"hello"


def test_terraform_destroys_an_iam_user_with_force_destroy(iam, new_user) -> None:  # type: ignore[no-untyped-def]
    """terraform-provider-aws's aws_iam_user Delete with force_destroy: it removes what the user has, treating
    NoSuchEntity as "nothing there" (DeleteLoginProfile answered 501 before, which stopped the destroy)."""
    name = new_user()
    iam.create_access_key(UserName=name)
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    assert iam.list_ssh_public_keys(UserName=name)["SSHPublicKeys"] == []
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []
    assert iam.list_mfa_devices(UserName=name)["MFADevices"] == []
    assert fails(lambda: iam.delete_login_profile(UserName=name)) == (
        404, "NoSuchEntity", f"Login Profile for User {name} cannot be found.")
    assert iam.list_signing_certificates(UserName=name)["Certificates"] == []
    assert iam.list_service_specific_credentials(UserName=name)["ServiceSpecificCredentials"] == []
    assert iam.list_groups_for_user(UserName=name)["Groups"] == []
    assert iam.list_attached_user_policies(UserName=name)["AttachedPolicies"] == []
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == []
    iam.delete_user(UserName=name)
    assert fails(lambda: iam.delete_login_profile(UserName=name))[:2] == (404, "NoSuchEntity")


def test_delete_login_profile_is_authorized_on_the_user(iam, new_user, iam_user) -> None:  # type: ignore[no-untyped-def]
    target = new_user()
    caller = iam_user()
    status, code, message = fails(lambda: caller.iam.delete_login_profile(UserName=target))
    assert (status, code) == (403, "AccessDenied") and "iam:DeleteLoginProfile" in message
