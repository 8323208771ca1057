"""Object and bucket tags against a real server, with boto3: Put/Get/DeleteObjectTagging (of versions too),
``x-amz-tagging`` on PutObject, CreateMultipartUpload and CopyObject (``x-amz-tagging-directive``),
``x-amz-tagging-count``, Put/Get/DeleteBucketTagging, S3's limits and errors, and the tag condition keys
(``s3:RequestObjectTag/<key>``, ``s3:RequestObjectTagKeys``, ``s3:ExistingObjectTag/<key>``) in policies."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import assert_s3_error, client_error, signed_request, unique_name


def fails(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        call()
    status, code = client_error(exc)
    return status, code, exc.value.response["Error"].get("Message", "")


def tag_set(tags: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def tags_of(s3: Any, bucket: str, key: str, **kwargs: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key, **kwargs)["TagSet"]}


def test_object_tags_round_trip(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "TagCount" not in s3.head_object(Bucket=bucket, Key="k")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set({"project": "alpha", "team": "data eng"}))
    assert tags_of(s3, bucket, "k") == {"project": "alpha", "team": "data eng"}
    assert s3.head_object(Bucket=bucket, Key="k")["TagCount"] == 2
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 2
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set({"only": "one"}))  # replaces the whole set
    assert tags_of(s3, bucket, "k") == {"only": "one"}
    answer = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(s3, bucket, "k") == {}
    s3.put_object(Bucket=bucket, Key="k", Body=b"y")  # an overwrite has the tags of its own request: none
    assert tags_of(s3, bucket, "k") == {}


def test_tags_given_with_the_upload(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="put", Body=b"x", Tagging="a=1&b=two%20words&empty=")
    assert tags_of(s3, bucket, "put") == {"a": "1", "b": "two words", "empty": ""}
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu", Tagging="m=1")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=upload, PartNumber=1, Body=b"z")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert tags_of(s3, bucket, "mpu") == {"m": "1"}
    # CopyObject keeps the source's tags unless told to replace them
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "put"})
    assert tags_of(s3, bucket, "copy") == tags_of(s3, bucket, "put")
    s3.copy_object(Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": "put"},
                   Tagging="new=tag", TaggingDirective="REPLACE")
    assert tags_of(s3, bucket, "copy2") == {"new": "tag"}
    s3.copy_object(Bucket=bucket, Key="copy3", CopySource={"Bucket": bucket, "Key": "put"},
                   TaggingDirective="REPLACE")
    assert tags_of(s3, bucket, "copy3") == {}
    assert fails(lambda: s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "put"},
                                        TaggingDirective="MERGE"))[:2] == (400, "InvalidArgument")


def test_tags_of_versions(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="v=1")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"2")["VersionId"]
    answer = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=first, Tagging=tag_set({"v": "one"}))
    assert answer["VersionId"] == first
    assert tags_of(s3, bucket, "k", VersionId=first) == {"v": "one"}
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["VersionId"] == second
    assert tags_of(s3, bucket, "k") == {}
    s3.delete_object_tagging(Bucket=bucket, Key="k", VersionId=first)
    assert tags_of(s3, bucket, "k", VersionId=first) == {}
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 2  # tagging made no version
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    # a key whose latest version is a delete marker: the marker's 405, for reads and writes of tags alike
    # (LocalStack's AWS-recorded "get/put/delete-object-tags-delete-marker-latest"); it was 404 NoSuchKey
    for call in (lambda: s3.get_object_tagging(Bucket=bucket, Key="k"),
                 lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set({"a": "b"})),
                 lambda: s3.delete_object_tagging(Bucket=bucket, Key="k")):
        with pytest.raises(ClientError) as exc:
            call()
        assert client_error(exc) == (405, "MethodNotAllowed")
        assert exc.value.response["Error"]["ResourceType"] == "DeleteMarker"
        assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-version-id"] == marker
    assert fails(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=marker,
                                               Tagging=tag_set({"a": "b"})))[:2] == (405, "MethodNotAllowed")
    assert fails(lambda: s3.get_object_tagging(Bucket=bucket, Key="k", VersionId="C" * 32))[:2] == (
        404, "NoSuchVersion")


def test_s3s_limits_and_errors(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    most = {f"{i:02d}" + "k" * 126: "v" * 256 for i in range(10)}
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(most))  # 10 tags of 128 and 256 characters
    assert len(tags_of(s3, bucket, "k")) == 10
    eleven = {f"k{i}": "v" for i in range(11)}
    assert fails(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(eleven))) == (
        400, "BadRequest", "Object tags cannot be greater than 10")
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x", Tagging="&".join(
        f"k{i}=v" for i in range(11))))[:2] == (400, "BadRequest")
    for tags, message in (({"k" * 129: "v"}, "The TagKey you have provided is invalid"),
                          ({"k": "v" * 257}, "The TagValue you have provided is invalid"),
                          ({"bad{key}": "v"}, "The TagKey you have provided is invalid"),
                          ({"aws:reserved": "v"}, "Your TagKey cannot be prefixed with aws:")):
        assert fails(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(tags))) == (  # noqa: B023
            400, "InvalidTag", message)
    twice = {"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}
    assert fails(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=twice)) == (
        400, "InvalidTag", "Cannot provide multiple Tags with the same key")
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x", Tagging="a=b=c"))[:2] == (
        400, "InvalidArgument")
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x", Tagging="a=1&a=2"))[:2] == (
        400, "InvalidArgument")
    assert fails(lambda: s3.put_object_tagging(Bucket=bucket, Key="missing", Tagging=tag_set({"a": "b"})))[:2] == (
        404, "NoSuchKey")
    assert len(tags_of(s3, bucket, "k")) == 10  # nothing refused changed anything
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="k2")


def test_a_tagging_document_without_a_tag_set_is_no_tags(endpoint: str, s3: Any, bucket: str) -> None:
    """``<Tagging/>`` (boto3 with TagSet None) is no tags, as S3 takes it (LocalStack's AWS-validated
    test_put_bucket_tagging_none_value, test_put_object_tagging_none_value); it was MalformedXML."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1")
    empty = b'<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'
    for url in (f"{endpoint}/{bucket}/k?tagging", f"{endpoint}/{bucket}?tagging"):
        r = signed_request("PUT", url, {"Content-MD5": base64.b64encode(hashlib.md5(empty).digest()).decode()},
                           body=empty)
        assert r.status_code in (200, 204), r.text
    assert tags_of(s3, bucket, "k") == {}
    assert fails(lambda: s3.get_bucket_tagging(Bucket=bucket))[:2] == (404, "NoSuchTagSet")


def test_bucket_tags(s3: Any, bucket: str) -> None:
    assert fails(lambda: s3.get_bucket_tagging(Bucket=bucket)) == (404, "NoSuchTagSet", "The TagSet does not exist")
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set({"cost-center": "42", "env": "test"}))
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "cost-center", "Value": "42"},
                                                              {"Key": "env", "Value": "test"}]
    fifty = {f"k{i}": "v" for i in range(50)}
    s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set(fifty))
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50
    assert fails(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set({**fifty, "one": "more"})))[:2] == (
        400, "InvalidTag")
    # the offending key or value named; a bucket's aws: tags in S3's words (AWS-recorded test_tagging_validation)
    for tags, field, named in (({"Key1,Key2": "Val1"}, "TagKey", "Key1,Key2"),
                               ({"Key1": "Val1,Val2"}, "TagValue", "Val1,Val2")):
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set(tags))
        assert exc.value.response["Error"][field] == named
    twice = {"TagSet": [{"Key": "Key1", "Value": "Val1"}, {"Key": "Key1", "Value": "Val1"}]}
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_tagging(Bucket=bucket, Tagging=twice)
    assert exc.value.response["Error"]["TagKey"] == "Key1"
    assert fails(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging=tag_set({"aws:prefixed": "v"}))) == (
        400, "InvalidTag", "System tags cannot be added/updated by requester")
    s3.delete_bucket_tagging(Bucket=bucket)
    assert fails(lambda: s3.get_bucket_tagging(Bucket=bucket))[:2] == (404, "NoSuchTagSet")
    assert fails(lambda: s3.put_bucket_tagging(Bucket=unique_name("missing"), Tagging=tag_set({"a": "b"})))[:2] == (
        404, "NoSuchBucket")


def test_tag_condition_keys(s3: Any, bucket: str, iam_user: Callable[..., Any]) -> None:
    arn = f"arn:aws:s3:::{bucket}/*"
    policy = {"Version": "2012-10-17", "Statement": [
        # uploads must carry project=alpha, and no tag key but project and team
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": arn,
         "Condition": {"StringEquals": {"s3:RequestObjectTag/project": "alpha"},
                       "ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["project", "team"]}}},
        # only objects tagged classification=public may be read
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": arn,
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/classification": "public"}}},
        {"Effect": "Allow", "Action": "s3:PutObjectTagging", "Resource": arn,
         "Condition": {"StringEquals": {"s3:RequestObjectTag/project": "alpha"}}},
    ]}
    user = iam_user(inline={"tags": json.dumps(policy)})
    user.s3.put_object(Bucket=bucket, Key="ok", Body=b"x", Tagging="project=alpha&team=a")
    assert fails(lambda: user.s3.put_object(Bucket=bucket, Key="no", Body=b"x", Tagging="project=beta"))[:2] == (
        403, "AccessDenied")
    assert fails(lambda: user.s3.put_object(Bucket=bucket, Key="no", Body=b"x",
                                            Tagging="project=alpha&other=1"))[:2] == (403, "AccessDenied")
    assert fails(lambda: user.s3.put_object(Bucket=bucket, Key="no", Body=b"x"))[:2] == (403, "AccessDenied")
    s3.put_object(Bucket=bucket, Key="public", Body=b"p", Tagging="classification=public")
    s3.put_object(Bucket=bucket, Key="secret", Body=b"s", Tagging="classification=secret")
    assert user.s3.get_object(Bucket=bucket, Key="public")["Body"].read() == b"p"
    assert fails(lambda: user.s3.get_object(Bucket=bucket, Key="secret"))[:2] == (403, "AccessDenied")
    user.s3.put_object_tagging(Bucket=bucket, Key="secret", Tagging=tag_set({"project": "alpha"}))
    assert fails(lambda: user.s3.put_object_tagging(Bucket=bucket, Key="secret",
                                                    Tagging=tag_set({"project": "beta"})))[:2] == (403, "AccessDenied")
    # the tags a read is judged by are the object's at that moment
    s3.put_object_tagging(Bucket=bucket, Key="secret", Tagging=tag_set({"classification": "public"}))
    assert user.s3.get_object(Bucket=bucket, Key="secret")["Body"].read() == b"s"


def test_an_explicit_deny_on_an_existing_tag(s3: Any, bucket: str) -> None:
    """A bucket policy's Deny on ExistingObjectTag binds even root (resource policies' explicit denies do)."""
    s3.put_object(Bucket=bucket, Key="held", Body=b"x", Tagging="legal=hold")
    s3.put_object(Bucket=bucket, Key="free", Body=b"y")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/legal": "hold"}}}]}))
    try:
        assert fails(lambda: s3.get_object(Bucket=bucket, Key="held"))[:2] == (403, "AccessDenied")
        assert s3.get_object(Bucket=bucket, Key="free")["Body"].read() == b"y"
    finally:
        s3.delete_bucket_policy(Bucket=bucket)


# -- CreateBucket with tags (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-create-tag.html) ---------

def test_create_bucket_with_tags(s3: Any, track_bucket: Callable[[str], str]) -> None:
    name = track_bucket(unique_name("tagged"))
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={
        "Tags": [{"Key": "cost-center", "Value": "42"}, {"Key": "env", "Value": "test"}]})
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "cost-center", "Value": "42"},
                                                            {"Key": "env", "Value": "test"}]
    both = track_bucket(unique_name("tagged"))
    s3.create_bucket(Bucket=both, CreateBucketConfiguration={"LocationConstraint": "eu-west-1",
                                                             "Tags": [{"Key": "a", "Value": "b"}]})
    assert s3.get_bucket_location(Bucket=both)["LocationConstraint"] == "eu-west-1"
    assert s3.get_bucket_tagging(Bucket=both)["TagSet"] == [{"Key": "a", "Value": "b"}]


def test_create_bucket_with_invalid_tags_makes_no_bucket(s3: Any, track_bucket: Callable[[str], str]) -> None:
    name = track_bucket(unique_name("tagged"))
    for tags in ([{"Key": "aws:reserved", "Value": "v"}], [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}],
                 [{"Key": f"k{i}", "Value": "v"} for i in range(51)]):
        assert fails(lambda: s3.create_bucket(Bucket=name, CreateBucketConfiguration={"Tags": tags}))[:2] == (  # noqa: B023
            400, "InvalidTag")
        assert fails(lambda: s3.head_bucket(Bucket=name))[0] == 404


def test_create_bucket_with_malformed_tags_is_malformed_xml(endpoint: str, s3: Any,
                                                         track_bucket: Callable[[str], str]) -> None:
    name = track_bucket(unique_name("tagged"))
    for tags in ("<Tags><Other/></Tags>", "<Tags><Tag><Key>a</Key></Tag></Tags>", "<Tags/><Tags/>"):
        body = f"<CreateBucketConfiguration>{tags}</CreateBucketConfiguration>".encode()
        assert_s3_error(signed_request("PUT", f"{endpoint}/{name}", body=body), 400, "MalformedXML")
        assert fails(lambda: s3.head_bucket(Bucket=name))[0] == 404


def test_create_bucket_with_tags_needs_tag_resource(iam_user: Callable[..., Any],
                                                    track_bucket: Callable[[str], str]) -> None:
    """"To create a bucket with tags, you must have the following permissions: s3:CreateBucket, s3:TagResource";
    a policy may ask for tags with aws:RequestTag / aws:TagKeys."""
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:CreateBucket", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "storage"}}},
        {"Effect": "Allow", "Action": ["s3:GetBucketTagging", "s3:ListBucket"], "Resource": "*"},
    ]}
    user = iam_user(inline={"create": json.dumps(policy)})
    name = track_bucket(unique_name("abac"))
    tags = {"Tags": [{"Key": "team", "Value": "storage"}]}
    status, code, message = fails(lambda: user.s3.create_bucket(Bucket=name, CreateBucketConfiguration=tags))
    assert (status, code) == (403, "AccessDenied") and "s3:TagResource" in message
    policy["Statement"].append({"Effect": "Allow", "Action": "s3:TagResource", "Resource": "*"})
    user = iam_user(inline={"create": json.dumps(policy)})
    assert fails(lambda: user.s3.create_bucket(Bucket=name))[:2] == (403, "AccessDenied")  # no team tag
    assert fails(lambda: user.s3.create_bucket(Bucket=name, CreateBucketConfiguration={
        "Tags": [{"Key": "team", "Value": "other"}]}))[:2] == (403, "AccessDenied")
    user.s3.create_bucket(Bucket=name, CreateBucketConfiguration=tags)
    assert user.s3.get_bucket_tagging(Bucket=name)["TagSet"] == tags["Tags"]
