"""Compatibility gaps found with real clients: GetObjectAttributes, x-amz-expected-bucket-owner (and the source's
for copies) on every bucket and object operation, x-amz-request-payer accepted (and nothing charged claimed)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import MiB, client_error, signed_request

ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def _answer(response: dict) -> dict:
    return {k: v for k, v in response.items() if k not in ("ResponseMetadata", "LastModified")}


def test_attributes_of_a_single_part_object(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"hello", ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL)
    assert _answer(got) == {"ETag": put["ETag"].strip('"'),
                            "Checksum": {"ChecksumSHA256": put["ChecksumSHA256"], "ChecksumType": "FULL_OBJECT"},
                            "StorageClass": "STANDARD", "ObjectSize": 5}
    assert got["LastModified"] == s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    only = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert _answer(only) == {"ObjectSize": 5}
    s3.put_object(Bucket=bucket, Key="cold", Body=b"x", StorageClass="STANDARD_IA")
    assert s3.get_object_attributes(Bucket=bucket, Key="cold", ObjectAttributes=["StorageClass"])[
        "StorageClass"] == "STANDARD_IA"
    # the checksum boto3 sends by default (CRC32)
    default = s3.get_object_attributes(Bucket=bucket, Key="cold", ObjectAttributes=["Checksum"])["Checksum"]
    assert default == {"ChecksumCRC32": s3.head_object(Bucket=bucket, Key="cold", ChecksumMode="ENABLED")[
        "ChecksumCRC32"], "ChecksumType": "FULL_OBJECT"}


def test_attributes_of_a_multipart_object_page_its_parts(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32")["UploadId"]
    sizes = [5 * MiB, 5 * MiB, 1234]
    parts = []
    for number, size in enumerate(sizes, 1):
        got = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=number,
                             Body=bytes([number]) * size, ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": number, "ETag": got["ETag"], "ChecksumCRC32": got["ChecksumCRC32"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts})
    got = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL)
    assert got["ETag"] == done["ETag"].strip('"') and got["ETag"].endswith("-3")
    assert got["Checksum"] == {"ChecksumCRC32": done["ChecksumCRC32"].partition("-")[0],
                               "ChecksumType": "COMPOSITE"}
    assert got["ObjectSize"] == sum(sizes)
    assert got["ObjectParts"] == {
        "TotalPartsCount": 3, "PartNumberMarker": 0, "NextPartNumberMarker": 3, "MaxParts": 1000,
        "IsTruncated": False,
        "Parts": [{"PartNumber": p["PartNumber"], "Size": s, "ChecksumCRC32": p["ChecksumCRC32"]}
                  for p, s in zip(parts, sizes, strict=True)]}
    page = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1,
                                    PartNumberMarker=1)["ObjectParts"]
    assert (page["IsTruncated"], page["NextPartNumberMarker"], [p["PartNumber"] for p in page["Parts"]]) == (
        True, 2, [2])
    last = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"],
                                    PartNumberMarker=2)["ObjectParts"]
    assert (last["IsTruncated"], [p["PartNumber"] for p in last["Parts"]]) == (False, [3])


@pytest.mark.parametrize("create", [{"ChecksumAlgorithm": "CRC32", "ChecksumType": "FULL_OBJECT"}, {}])
def test_attributes_of_a_multipart_object_without_part_checksums_count_its_parts(s3, bucket, create) -> None:  # type: ignore[no-untyped-def]
    """A FULL_OBJECT (or checksum-less) multipart object: ObjectParts is its count alone; its Part entries were
    listed (AWS lists them only with a COMPOSITE checksum: LocalStack's AWS-recorded answers, boto/boto3#3509)."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", **create)["UploadId"]
    extra = {"ChecksumAlgorithm": "CRC32"} if create else {}
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"x" * 10, **extra)
    entry = {"PartNumber": 1, "ETag": part["ETag"], **({"ChecksumCRC32": part["ChecksumCRC32"]} if create else {})}
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": [entry]})
    got = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"])["ObjectParts"]
    assert got == {"TotalPartsCount": 1}


def test_attribute_errors(s3, bucket, endpoint: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["Size"])
    assert client_error(exc) == (400, "InvalidArgument")
    assert exc.value.response["Error"]["Message"] == "Invalid attribute name specified."
    resp = signed_request("GET", f"{endpoint}/{bucket}/k?attributes")  # the header is missing
    assert resp.status_code == 400 and b"Invalid attribute name specified." in resp.content
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert client_error(exc) == (404, "NoSuchKey")


def test_attributes_need_both_actions(s3, bucket, iam_user) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")

    def client_allowed(*actions: str):  # type: ignore[no-untyped-def]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions),
                                                          "Resource": f"arn:aws:s3:::{bucket}/*"}]}
        return iam_user(inline={"attributes": json.dumps(policy)}).s3

    for actions, allowed in ((["s3:GetObject"], False), (["s3:GetObjectAttributes"], False),
                             (["s3:GetObject", "s3:GetObjectAttributes"], True)):
        user_s3 = client_allowed(*actions)
        if allowed:
            assert user_s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])[
                "ObjectSize"] == 1
        else:
            with pytest.raises(ClientError) as exc:
                user_s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
            assert client_error(exc) == (403, "AccessDenied")


def test_attributes_of_versions(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="k", Body=b"unversioned")
    assert "VersionId" not in s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag"])
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    latest = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag", "ObjectSize"])
    assert (latest["VersionId"], latest["ETag"], latest["ObjectSize"]) == (
        second["VersionId"], second["ETag"].strip('"'), 6)
    older = s3.get_object_attributes(Bucket=bucket, Key="k", VersionId=first["VersionId"], ObjectAttributes=[
        "ETag", "ObjectSize"])
    assert (older["VersionId"], older["ETag"], older["ObjectSize"]) == (
        first["VersionId"], first["ETag"].strip('"'), 3)
    null = s3.get_object_attributes(Bucket=bucket, Key="k", VersionId="null", ObjectAttributes=["ObjectSize"])
    assert (null["VersionId"], null["ObjectSize"]) == ("null", 11)
    # a delete marker: the key is 404 naming it, the marker's own version 405, as GetObject answers
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag"])
    assert client_error(exc) == (404, "NoSuchKey")
    headers = exc.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert (headers["x-amz-delete-marker"], headers["x-amz-version-id"]) == ("true", marker)
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="k", VersionId=marker, ObjectAttributes=["ETag"])
    assert client_error(exc) == (405, "MethodNotAllowed")
    for version, status, code in (("A" * 32, 404, "NoSuchVersion"), ("not-a-version", 400, "InvalidArgument")):
        with pytest.raises(ClientError) as exc:
            s3.get_object_attributes(Bucket=bucket, Key="k", VersionId=version, ObjectAttributes=["ETag"])
        assert client_error(exc) == (status, code)


def test_attributes_of_a_version_need_the_version_actions(s3, bucket, iam_user) -> None:  # type: ignore[no-untyped-def]
    # "If the bucket is versioned, you need both the s3:GetObjectVersion and s3:GetObjectVersionAttributes
    # permissions" (API_GetObjectAttributes.html): asked, as for GetObject, when the request names a version
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]

    def client_allowed(*actions: str):  # type: ignore[no-untyped-def]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions),
                                                          "Resource": f"arn:aws:s3:::{bucket}/*"}]}
        return iam_user(inline={"attributes": json.dumps(policy)}).s3

    for actions, allowed in ((["s3:GetObject", "s3:GetObjectAttributes"], False),
                             (["s3:GetObjectVersion", "s3:GetObjectAttributes"], False),
                             (["s3:GetObject", "s3:GetObjectVersionAttributes"], False),
                             (["s3:GetObjectVersion", "s3:GetObjectVersionAttributes"], True)):
        user_s3 = client_allowed(*actions)
        if allowed:
            assert user_s3.get_object_attributes(Bucket=bucket, Key="k", VersionId=version, ObjectAttributes=[
                "ObjectSize"])["VersionId"] == version
        else:
            with pytest.raises(ClientError) as exc:
                user_s3.get_object_attributes(Bucket=bucket, Key="k", VersionId=version, ObjectAttributes=["ETag"])
            assert client_error(exc) == (403, "AccessDenied"), actions


def test_expected_bucket_owner(s3, bucket, server) -> None:  # type: ignore[no-untyped-def]
    sts_account = _account_id(server)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner=sts_account)
    assert s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=sts_account)["Body"].read() == b"x"
    s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=sts_account)
    assert s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=sts_account)["KeyCount"] == 1
    other = "111122223333" if sts_account != "111122223333" else "444455556666"
    calls = [
        lambda: s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=other),
        lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"y", ExpectedBucketOwner=other),
        lambda: s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=other),
        lambda: s3.get_bucket_cors(Bucket=bucket, ExpectedBucketOwner=other),
        lambda: s3.delete_object(Bucket=bucket, Key="k", ExpectedBucketOwner=other),
        lambda: s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag"],
                                         ExpectedBucketOwner=other),
        lambda: s3.copy_object(Bucket=bucket, Key="k3", CopySource={"Bucket": bucket, "Key": "k"},
                               ExpectedSourceBucketOwner=other),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert client_error(exc) == (403, "AccessDenied")
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=other)
    assert client_error(exc)[0] == 403
    # nothing was written or deleted
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    s3.copy_object(Bucket=bucket, Key="k3", CopySource={"Bucket": bucket, "Key": "k"},
                   ExpectedSourceBucketOwner=sts_account, ExpectedBucketOwner=sts_account)


def _account_id(server) -> str:  # type: ignore[no-untyped-def]
    from tests.conftest import make_client

    return str(make_client(server.endpoint, "sts").get_caller_identity()["Account"])


def test_request_payer_is_accepted_and_nothing_is_charged(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x", RequestPayer="requester")
    got = s3.get_object(Bucket=bucket, Key="k", RequestPayer="requester")
    listed = s3.list_objects_v2(Bucket=bucket, RequestPayer="requester")
    head = s3.head_object(Bucket=bucket, Key="k", RequestPayer="requester")
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag"], RequestPayer="requester")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", RequestPayer="requester")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], RequestPayer="requester")
    deleted = s3.delete_object(Bucket=bucket, Key="k", RequestPayer="requester")
    for response in (put, got, listed, head, attrs, upload, deleted):
        assert "RequestCharged" not in response
        assert "x-amz-request-charged" not in response["ResponseMetadata"]["HTTPHeaders"]
