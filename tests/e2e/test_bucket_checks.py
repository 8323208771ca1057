"""Bucket-level answers S3 gives and Storeroom once did not: a missing bucket is 404 to anyone, a refusal names
the bucket's region, configuration bodies are checked against their integrity headers (and some must carry
one), in-progress uploads go with their bucket, canned ACLs S3 takes on buckets, and host names in any case."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import requests
from botocore.exceptions import ClientError

from tests.e2e.helpers import assert_s3_error, client_error, signed_request, unique_name

WRONG_MD5 = "AAAAAAAAAAAAAAAAAAAAAA=="


def _md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def test_a_missing_bucket_is_404_even_to_a_caller_without_permission(iam_user) -> None:  # type: ignore[no-untyped-def]
    """S3 answers 404 NoSuchBucket for a bucket that does not exist and 403 only for an existing one the caller
    may not use; that is how head_bucket and the bucket_exists waiter tell the two apart."""
    nobody = iam_user()
    missing = unique_name("gone")
    for call in (lambda: nobody.s3.head_bucket(Bucket=missing), lambda: nobody.s3.get_bucket_policy(Bucket=missing),
                 lambda: nobody.s3.get_object(Bucket=missing, Key="k")):
        with pytest.raises(ClientError) as exc:
            call()
        assert client_error(exc)[0] == 404


def test_refusals_name_the_buckets_region(endpoint, s3, new_bucket, iam_user) -> None:  # type: ignore[no-untyped-def]
    """A HEAD's error has no body: S3 names the bucket's region in x-amz-bucket-region on a 400 (signed for
    another region) and a 403, which botocore's redirect and the SDKs' bucket-region lookups (an unsigned HEAD)
    read.  botocore now follows a HeadBucket/HeadObject to a bucket of another region."""
    name = new_bucket(location="eu-west-1")
    s3.put_object(Bucket=name, Key="k", Body=b"x")  # (botocore re-signs for eu-west-1 from the error body)
    r = signed_request("HEAD", f"{endpoint}/{name}")  # signed for us-east-1
    assert r.status_code == 400 and r.headers["x-amz-bucket-region"] == "eu-west-1"
    r = requests.head(f"{endpoint}/{name}", timeout=10)  # anonymous
    assert r.status_code == 403 and r.headers["x-amz-bucket-region"] == "eu-west-1"
    nobody = iam_user()
    with pytest.raises(ClientError) as exc:
        nobody.s3.head_bucket(Bucket=name)
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.head_object(Bucket=name, Key="k")["ContentLength"] == 1


def test_configuration_bodies_must_match_their_integrity_headers(endpoint, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """PutBucketPolicy, PutBucketLogging and CreateBucket stored their body whatever its Content-MD5 or checksum
    said, as no other configuration write did: S3 answers BadDigest and stores nothing."""
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/never"}]})
    r = signed_request("PUT", f"{endpoint}/{bucket}?policy", {"Content-MD5": WRONG_MD5}, policy.encode())
    assert_s3_error(r, 400, "BadDigest")
    r = signed_request("PUT", f"{endpoint}/{bucket}?policy", {"x-amz-checksum-crc32": "AAAAAA=="}, policy.encode())
    assert_s3_error(r, 400, "BadDigest")
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert client_error(exc) == (404, "NoSuchBucketPolicy")
    logging = b'<BucketLoggingStatus xmlns="http://doc.s3.amazonaws.com/2006-03-01"/>'
    r = signed_request("PUT", f"{endpoint}/{bucket}?logging", {"Content-MD5": WRONG_MD5}, logging)
    assert_s3_error(r, 400, "BadDigest")
    name = unique_name("md5")
    create = (b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
              b"<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>")
    r = signed_request("PUT", f"{endpoint}/{name}", {"Content-MD5": WRONG_MD5}, create)
    assert_s3_error(r, 400, "BadDigest")
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert client_error(exc)[0] == 404
    r = signed_request("PUT", f"{endpoint}/{bucket}?policy", {"Content-MD5": _md5(policy.encode())}, policy.encode())
    assert r.status_code == 204, r.text


@pytest.mark.parametrize(("query", "body"), [
    ("lifecycle", b"<LifecycleConfiguration><Rule><ID>r</ID><Filter/><Status>Enabled</Status>"
                  b"<Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>"),
    ("tagging", b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"),
    ("delete", b"<Delete><Object><Key>k</Key></Object></Delete>"),
])
def test_some_configuration_writes_need_an_integrity_header(endpoint, s3, bucket, query, body) -> None:  # type: ignore[no-untyped-def]
    """S3's documentation says Content-MD5 "is required" for PutBucketLifecycleConfiguration, PutBucketTagging,
    PutObjectLockConfiguration and DeleteObjects (or an x-amz-checksum-*): "Missing required header for this
    request: Content-MD5 OR x-amz-checksum-*" (https://github.com/versity/versitygw/issues/1301 quotes it)."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    method = "POST" if query == "delete" else "PUT"
    r = signed_request(method, f"{endpoint}/{bucket}?{query}", {}, body)
    err = assert_s3_error(r, 400, "InvalidRequest")
    assert err["Message"] == "Missing required header for this request: Content-MD5 OR x-amz-checksum-*"
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 1  # nothing deleted
    r = signed_request(method, f"{endpoint}/{bucket}?{query}", {"Content-MD5": _md5(body)}, body)
    assert r.status_code in (200, 204), r.text


def test_uploads_in_progress_go_with_their_bucket(endpoint, s3) -> None:  # type: ignore[no-untyped-def]
    """S3 deletes a bucket whose only content is multipart uploads in progress (scality/cloudserver#1591,
    basho/riak_cs#475: "as s3 does"); Storeroom answered BucketNotEmpty."""
    name = unique_name("mpu")
    s3.create_bucket(Bucket=name)
    upload = s3.create_multipart_upload(Bucket=name, Key="big")["UploadId"]
    s3.upload_part(Bucket=name, Key="big", UploadId=upload, PartNumber=1, Body=b"part")
    s3.create_multipart_upload(Bucket=name, Key="empty")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert client_error(exc)[0] == 404
    s3.create_bucket(Bucket=name)  # the name is free, and nothing of the old uploads shows
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    s3.delete_bucket(Bucket=name)


def test_aws_exec_read_is_a_bucket_canned_acl(s3, new_bucket) -> None:  # type: ignore[no-untyped-def]
    """aws-exec-read applies to "Bucket and object"
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html#canned-acl); it was refused."""
    name = new_bucket()
    s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.put_bucket_acl(Bucket=name, ACL="aws-exec-read")
    acl = s3.get_bucket_acl(Bucket=name)  # the owner's FULL_CONTROL, Amazon EC2's READ
    assert [(g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]] == [
        (acl["Owner"]["ID"], "FULL_CONTROL"),
        ("6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c", "READ")]


def test_virtual_host_names_in_any_case(endpoint, s3, new_bucket) -> None:  # type: ignore[no-untyped-def]
    """Host names are case-insensitive (RFC 3986 3.2.2): BUCKET.LOCALHOST names the bucket, not a path-style
    request for another one.  (Read anonymously from a public bucket: botocore signs a lower-cased host.)"""
    name = new_bucket()
    s3.delete_public_access_block(Bucket=name)
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"}]}))
    s3.put_object(Bucket=name, Key="k", Body=b"vh")
    port = endpoint.rsplit(":", 1)[1]
    r = requests.get(f"{endpoint}/k", headers={"Host": f"{name.upper()}.LOCALHOST:{port}"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.content == b"vh"


def test_a_versioned_buckets_refusal_names_its_versions(s3, new_bucket) -> None:  # type: ignore[no-untyped-def]
    """What `aws s3 rb --force` users see on S3: "... You must delete all versions in the bucket." """
    name = new_bucket()
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.delete_object(Bucket=name, Key="k")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert client_error(exc) == (409, "BucketNotEmpty")
    assert exc.value.response["Error"]["Message"] == ("The bucket you tried to delete is not empty. You must delete "
                                                      "all versions in the bucket.")
