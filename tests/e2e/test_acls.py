"""Object Ownership, ACLs and Block Public Access against a real server: the ownership controls, canned ACLs and
explicit grants (headers and AccessControlPolicy documents) once ACLs are enabled, ACL grants in authorization
(``public-read`` objects read anonymously), Block Public Access on buckets and on the account (S3 Control), and
GetBucketPolicyStatus with AWS's definition of a public policy."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, make_client
from tests.e2e.helpers import client_error, signed_request, unique_name

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
OPEN = {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False}


def fails(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        call()
    status, code = client_error(exc)
    return status, code, exc.value.response["Error"].get("Message", "")


def acls_on(s3: Any, bucket: str, block: dict[str, bool] | None = None) -> None:
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={**OPEN, **(block or {})})


def anonymous_get(endpoint: str, path: str) -> int:
    return requests.get(f"{endpoint}{path}", timeout=10).status_code


def grants(acl: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((g["Grantee"].get("URI") or g["Grantee"].get("ID", ""), g["Permission"]) for g in acl["Grants"])


# -- ownership controls ----------------------------------------------------------------------------------------

def test_ownership_controls(s3: Any, bucket: str) -> None:
    rules = lambda: s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]  # noqa: E731
    assert rules() == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    for value in ("ObjectWriter", "BucketOwnerPreferred", "BucketOwnerEnforced"):
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": value}]})
        assert rules() == [{"ObjectOwnership": value}]
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    assert fails(lambda: s3.get_bucket_ownership_controls(Bucket=bucket)) == (
        404, "OwnershipControlsNotFoundError", "The bucket ownership controls were not found")
    assert fails(lambda: s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "Nobody"}]}))[:2] == (400, "MalformedXML")
    assert fails(lambda: s3.get_bucket_ownership_controls(Bucket=unique_name("missing")))[:2] == (
        404, "NoSuchBucket")


def test_acls_disabled_again_only_without_grants_to_others(endpoint: str, s3: Any, bucket: str) -> None:
    acls_on(s3, bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert fails(lambda: s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}))[:2] == (400, "InvalidBucketAclWithObjectOwnership")
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    assert anonymous_get(endpoint, f"/{bucket}/k") == 200
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert anonymous_get(endpoint, f"/{bucket}/k") == 403  # ACLs disabled: the object's grant counts no more
    owner = s3.get_object_acl(Bucket=bucket, Key="k")
    assert [g["Permission"] for g in owner["Grants"]] == ["FULL_CONTROL"]


# -- ACLs ------------------------------------------------------------------------------------------------------

def test_canned_acls_on_objects(endpoint: str, s3: Any, bucket: str) -> None:
    acls_on(s3, bucket)
    s3.put_object(Bucket=bucket, Key="public", Body=b"for everyone", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="private", Body=b"mine", ACL="private")
    assert anonymous_get(endpoint, f"/{bucket}/public") == 200
    assert anonymous_get(endpoint, f"/{bucket}/private") == 403
    owner_id = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    assert grants(s3.get_object_acl(Bucket=bucket, Key="public")) == sorted([
        (ALL_USERS, "READ"), (owner_id, "FULL_CONTROL")])
    s3.put_object_acl(Bucket=bucket, Key="public", ACL="private")
    assert anonymous_get(endpoint, f"/{bucket}/public") == 403
    # a copy and a multipart upload take the ACL of their own request
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "private"}, ACL="public-read")
    assert anonymous_get(endpoint, f"/{bucket}/copied") == 200
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu", ACL="public-read")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=upload, PartNumber=1, Body=b"m")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert anonymous_get(endpoint, f"/{bucket}/mpu") == 200
    assert anonymous_get(endpoint, f"/{bucket}/missing") == 403  # no ListBucket for anonymous callers


def test_aws_exec_read_grants_amazon_ec2_read(endpoint: str, s3: Any, bucket: str) -> None:
    """aws-exec-read: "Owner gets FULL_CONTROL. Amazon EC2 gets READ access to GET an Amazon Machine Image (AMI)
    bundle" -- read back with EC2's canonical user (it read back as private), and put back as read (Ansible,
    s3cmd)."""
    ec2 = "6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c"
    acls_on(s3, bucket)
    s3.put_object(Bucket=bucket, Key="ami-part", Body=b"bundle", ACL="aws-exec-read")
    owner_id = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    acl = s3.get_object_acl(Bucket=bucket, Key="ami-part")
    assert grants(acl) == sorted([(ec2, "READ"), (owner_id, "FULL_CONTROL")])
    assert all("DisplayName" not in g["Grantee"] for g in acl["Grants"])  # S3 stopped returning it in 2025
    s3.put_object_acl(Bucket=bucket, Key="ami-part", AccessControlPolicy={"Grants": acl["Grants"],
                                                                          "Owner": acl["Owner"]})
    assert grants(s3.get_object_acl(Bucket=bucket, Key="ami-part")) == grants(acl)
    assert anonymous_get(endpoint, f"/{bucket}/ami-part") == 403  # nobody's request is EC2's here
    s3.put_bucket_acl(Bucket=bucket, ACL="aws-exec-read")
    assert (ec2, "READ") in grants(s3.get_bucket_acl(Bucket=bucket))


def test_explicit_grants(endpoint: str, s3: Any, bucket: str, iam_user: Callable[..., Any]) -> None:
    acls_on(s3, bucket)
    owner_id = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", GrantRead=f'uri="{AUTHENTICATED}"',
                  GrantFullControl=f'id="{owner_id}"')
    nobody = iam_user()  # no policy at all: only the ACL can let it in
    assert nobody.s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    assert anonymous_get(endpoint, f"/{bucket}/k") == 403  # AuthenticatedUsers: signed callers only
    assert fails(lambda: nobody.s3.get_object_acl(Bucket=bucket, Key="k"))[:2] == (403, "AccessDenied")
    policy = {"Owner": {"ID": owner_id}, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner_id}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"},
        {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ_ACP"}]}
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy=policy)
    assert anonymous_get(endpoint, f"/{bucket}/k") == 200
    assert nobody.s3.get_object_acl(Bucket=bucket, Key="k")["Owner"]["ID"] == owner_id
    # the bucket's ACL: READ lists the bucket
    assert fails(lambda: nobody.s3.list_objects_v2(Bucket=bucket))[:2] == (403, "AccessDenied")
    s3.put_bucket_acl(Bucket=bucket, GrantRead=f'uri="{AUTHENTICATED}"', GrantFullControl=f'id="{owner_id}"')
    assert [o["Key"] for o in nobody.s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    assert grants(s3.get_bucket_acl(Bucket=bucket)) == sorted([(AUTHENTICATED, "READ"), (owner_id, "FULL_CONTROL")])


def test_an_acl_granting_only_the_owner_reads_back_as_written(s3: Any, bucket: str) -> None:
    """ceph/s3-tests' _check_object_acl: the owner's own grant set to READ (or WRITE_ACP...) reads back so; an
    ACL naming only the owner was stored as "the default" and read back as FULL_CONTROL, so Terraform's
    access_control_policy planned a change on every run."""
    acls_on(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    acl = s3.get_object_acl(Bucket=bucket, Key="k")
    owner = acl["Owner"]["ID"]
    for permissions in (["READ"], ["READ", "WRITE_ACP"]):
        written = [{"Grantee": {"Type": "CanonicalUser", "ID": owner}, "Permission": p} for p in permissions]
        s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy={"Owner": acl["Owner"], "Grants": written})
        assert grants(s3.get_object_acl(Bucket=bucket, Key="k")) == sorted((owner, p) for p in permissions)
        s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": acl["Owner"], "Grants": written})
        assert grants(s3.get_bucket_acl(Bucket=bucket)) == sorted((owner, p) for p in permissions)
    s3.put_object(Bucket=bucket, Key="k", Body=b"y")             # the owner still reads and writes: its policies
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"y"
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    # an ACL that grants no one outside the account leaves the way to BucketOwnerEnforced open
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": acl["Owner"], "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner}, "Permission": "READ"}]})
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [
        {"ObjectOwnership": "BucketOwnerEnforced"}]})


def test_acl_errors(s3: Any, bucket: str) -> None:
    acls_on(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert fails(lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read",
                                           GrantRead=f'uri="{ALL_USERS}"'))[:2] == (400, "InvalidRequest")
    assert fails(lambda: s3.put_object_acl(Bucket=bucket, Key="k", GrantRead='id="someone-else"'))[:2] == (
        400, "InvalidArgument")
    # S3 ended e-mail grantees on 2025-10-01: "the request will receive an HTTP 405 (Method Not Allowed) error"
    assert fails(lambda: s3.put_object_acl(Bucket=bucket, Key="k", GrantRead='emailAddress="a@example.com"'))[:2] \
        == (405, "MethodNotAllowed")
    assert fails(lambda: s3.put_object_acl(Bucket=bucket, Key="k", GrantRead='uri="http://example.com/group"'))[:2] \
        == (400, "InvalidArgument")
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-ready"))[:2] == (
        400, "InvalidArgument")
    assert fails(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="bucket-owner-read"))[:2] == (400, "InvalidArgument")
    assert fails(lambda: s3.put_object_acl(Bucket=bucket, Key="missing", ACL="private"))[:2] == (404, "NoSuchKey")


def _error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as exc:
        call()
    return {k: v for k, v in exc.value.response["Error"].items() if k != "Message" or v}


def test_acl_errors_as_aws_recorded_them(endpoint: str, s3: Any, bucket: str) -> None:
    """LocalStack's AWS recordings, test_s3.py TestS3::test_s3_bucket_acl_exceptions."""
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    # ACLs disabled (the default): a bad request is still answered as bad, a good one AccessControlListNotSupported
    assert _error_of(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="fake-acl")) == {
        "Code": "InvalidArgument", "ArgumentName": "x-amz-acl", "ArgumentValue": "fake-acl"}
    assert fails(lambda: s3.put_bucket_acl(Bucket=bucket))[:2] == (400, "MissingSecurityHeader")
    assert fails(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="private"))[:2] == (
        400, "AccessControlListNotSupported")
    acls_on(s3, bucket)
    grant = {"Grantee": {"URI": "http://acs.amazonaws.com/groups/s3/LogDelivery", "Type": "Group"},
             "Permission": "WRITE"}
    assert fails(lambda: s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Grants": [grant]}))[:2] == (
        400, "MalformedACLError")  # no Owner
    assert _error_of(lambda: s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Owner": {"ID": "wrong-id"}, "Grants": [grant]})) == {
        "Code": "InvalidArgument", "Message": "Invalid id", "ArgumentName": "CanonicalUser/ID",
        "ArgumentValue": "wrong-id"}
    # grant headers name the argument as they spell it
    assert _error_of(lambda: s3.put_bucket_acl(Bucket=bucket, GrantWrite='uri="http://acs.amazonaws.com/groups/s3/'
                                               'FakeGroup"')) == {
        "Code": "InvalidArgument", "Message": "Invalid group uri", "ArgumentName": "uri",
        "ArgumentValue": "http://acs.amazonaws.com/groups/s3/FakeGroup"}
    assert _error_of(lambda: s3.put_bucket_acl(Bucket=bucket, GrantWrite='id="wrong-id"')) == {
        "Code": "InvalidArgument", "Message": "Invalid id", "ArgumentName": "id", "ArgumentValue": "wrong-id"}
    assert _error_of(lambda: s3.put_bucket_acl(Bucket=bucket, GrantWrite='fakekey="1234"')) == {
        "Code": "InvalidArgument", "Message": "Argument format not recognized", "ArgumentName": "x-amz-grant-write",
        "ArgumentValue": 'fakekey="1234"'}
    # a grantee of an unknown xsi:type breaks the schema
    body = (f'<AccessControlPolicy><Owner><ID>{owner["ID"]}</ID></Owner><AccessControlList><Grant>'
            '<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="BadType">'
            f'<ID>{owner["ID"]}</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList>'
            '</AccessControlPolicy>').encode()
    r = signed_request("PUT", f"{endpoint}/{bucket}?acl", body=body)
    assert r.status_code == 400 and b"<Code>MalformedACLError</Code>" in r.content, r.content


def test_an_anonymous_listing_shows_no_owner(endpoint: str, s3: Any, bucket: str) -> None:
    """S3 shows anonymous callers no Owner in a listing (LocalStack's AWS recording: test_bucket_name_with_dots);
    the account's canonical id is not theirs to learn."""
    acls_on(s3, bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for query in ("", "?list-type=2&fetch-owner=true", "?versions"):
        r = requests.get(f"{endpoint}/{bucket}{query}", timeout=10)
        assert r.status_code == 200 and b"<Key>k</Key>" in r.content and b"<Owner>" not in r.content, r.content
    assert "Owner" in s3.list_objects(Bucket=bucket)["Contents"][0]  # the signed owner's listing names it


def test_create_bucket_with_acls_enabled(s3: Any, track_bucket: Callable[[str], str]) -> None:
    name = track_bucket(unique_name("acl"))
    # a new bucket has Block Public Access on: a public ACL cannot come with it
    assert fails(lambda: s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter", ACL="public-read")) == (
        400, "InvalidBucketAclWithBlockPublicAccessError",
        "Bucket cannot have public ACLs set with BlockPublicAccess enabled")
    s3.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerPreferred", ACL="private")
    assert s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerPreferred"}]
    assert fails(lambda: s3.create_bucket(Bucket=unique_name("acl"), ObjectOwnership="Everyone")) == (
        400, "InvalidArgument", "Invalid x-amz-object-ownership header: Everyone")  # S3's words, AWS-recorded


# -- Block Public Access ---------------------------------------------------------------------------------------

def test_public_access_block_round_trip(s3: Any, bucket: str) -> None:
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicPolicy": True})
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        **OPEN, "BlockPublicPolicy": True}
    s3.delete_public_access_block(Bucket=bucket)
    assert fails(lambda: s3.get_public_access_block(Bucket=bucket)) == (
        404, "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found")
    assert fails(lambda: s3.put_public_access_block(Bucket=unique_name("missing"),
                                                    PublicAccessBlockConfiguration=OPEN))[:2] == (404, "NoSuchBucket")


def test_block_public_acls(s3: Any, bucket: str) -> None:
    acls_on(s3, bucket, {"BlockPublicAcls": True})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")
    for call in (lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ACL="public-read"),
                 lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="authenticated-read"),
                 lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read"),
                 lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x", GrantRead=f'uri="{ALL_USERS}"')):
        status, code, message = fails(call)
        assert (status, code) == (403, "AccessDenied") and "BlockPublicAcls" in message
        assert f'on resource: "arn:aws:s3:::{bucket}' in message
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="k2")


def test_ignore_public_acls(endpoint: str, s3: Any, bucket: str) -> None:
    acls_on(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="public-read")
    assert anonymous_get(endpoint, f"/{bucket}/k") == 200
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={**OPEN, "IgnorePublicAcls": True})
    assert anonymous_get(endpoint, f"/{bucket}/k") == 403
    assert (ALL_USERS, "READ") in grants(s3.get_object_acl(Bucket=bucket, Key="k"))  # kept, ignored


def public_policy(bucket: str, condition: dict[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                 "Resource": f"arn:aws:s3:::{bucket}/*"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_block_public_policy_and_restrict_public_buckets(endpoint: str, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    status, code, message = fails(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket)))
    assert (status, code) == (403, "AccessDenied") and "BlockPublicPolicy" in message
    # S3's words name the resource (the S3 guide's access-control-block-public-access examples)
    assert f's3:PutBucketPolicy on resource: "arn:aws:s3:::{bucket}" because public policies are blocked' in message
    # limited to fixed sources, a policy is not public: accepted
    s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket, {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=OPEN)
    s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket))
    assert anonymous_get(endpoint, f"/{bucket}/k") == 200
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={**OPEN, "RestrictPublicBuckets": True})
    assert anonymous_get(endpoint, f"/{bucket}/k") == 403  # the public policy lets no anonymous caller in
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    s3.delete_bucket_policy(Bucket=bucket)


@pytest.mark.parametrize(("statement", "public"), [
    ({"Principal": "*"}, True),
    ({"Principal": {"AWS": "*"}}, True),
    ({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}, False),
    ({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}}, True),
    ({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}, False),
    ({"Principal": "*", "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*"}}}, True),
    ({"Principal": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}, True),
    ({"Principal": {"AWS": "arn:aws:iam::{account}:root"}}, False),
    ({"Principal": {"Service": "logging.s3.amazonaws.com"}}, False),
])
def test_policy_status_is_aws_definition_of_public(s3: Any, bucket: str, statement: dict[str, Any],
                                                   public: bool) -> None:
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=OPEN)
    account = make_client(s3.meta.endpoint_url, service="sts").get_caller_identity()["Account"]
    full = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
            **json.loads(json.dumps(statement).replace("{account}", account))}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [full]}))
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is public
    s3.delete_bucket_policy(Bucket=bucket)


def test_account_public_access_block(fresh_server: StoreroomServer) -> None:
    """The account's setting (S3 Control's PutPublicAccessBlock …, on this endpoint) applies to every bucket;
    on a server of its own, since it would reach the other tests' buckets."""
    s3 = make_client(fresh_server.endpoint)
    account = make_client(fresh_server.endpoint, service="sts").get_caller_identity()["Account"]
    control = make_client(fresh_server.endpoint, service="s3control")

    def without_account_host(request: Any, **_: Any) -> None:
        # The SDKs send S3 Control requests to <account>.<endpoint host>; 127.0.0.1 has no such names, so the
        # request goes to the endpoint itself (Storeroom answers both: the path and x-amz-account-id name it).
        request.url = re.sub(r"//\d{12}\.", "//", request.url, count=1)
    control.meta.events.register("before-sign.s3-control", without_account_host)
    with pytest.raises(ClientError) as exc:
        control.get_public_access_block(AccountId=account)
    assert client_error(exc) == (404, "NoSuchPublicAccessBlockConfiguration")
    bucket = unique_name("acct")
    s3.create_bucket(Bucket=bucket)
    s3.delete_public_access_block(Bucket=bucket)
    control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration={
        "BlockPublicPolicy": True, "RestrictPublicBuckets": False, "BlockPublicAcls": False,
        "IgnorePublicAcls": False})
    got = control.get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"]
    assert got == {**OPEN, "BlockPublicPolicy": True}
    assert fails(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket)))[:2] == (
        403, "AccessDenied")
    control.delete_public_access_block(AccountId=account)
    s3.put_bucket_policy(Bucket=bucket, Policy=public_policy(bucket))
    with pytest.raises(ClientError) as exc:
        control.get_public_access_block(AccountId="111111111111")
    assert client_error(exc)[:2] == (403, "AccessDenied")


def test_ownership_and_acl_actions_in_policies(s3: Any, bucket: str, iam_user: Callable[..., Any]) -> None:
    acls_on(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetBucketOwnershipControls", "s3:GetBucketPublicAccessBlock",
                                       "s3:GetObjectAcl"],
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "private"}}}]}
    user = iam_user(inline={"reads": json.dumps(policy)})
    user.s3.get_bucket_ownership_controls(Bucket=bucket)
    user.s3.get_public_access_block(Bucket=bucket)
    user.s3.get_object_acl(Bucket=bucket, Key="k")
    user.s3.put_object(Bucket=bucket, Key="p", Body=b"x", ACL="private")
    assert fails(lambda: user.s3.put_object(Bucket=bucket, Key="p", Body=b"x"))[:2] == (403, "AccessDenied")
    for call in (lambda: user.s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
                     "Rules": [{"ObjectOwnership": "ObjectWriter"}]}),
                 lambda: user.s3.delete_public_access_block(Bucket=bucket),
                 lambda: user.s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")):
        status, code, message = fails(call)
        assert (status, code) == (403, "AccessDenied")
    assert "s3:PutBucketPublicAccessBlock" in fails(lambda: user.s3.delete_public_access_block(Bucket=bucket))[2]
