"""S3 Versioning against a real server, with boto3: the bucket setting, version ids on every write, reads and
deletes of a version, delete markers, the ``null`` version, ListObjectVersions' paging, DeleteObjects and copies
of versions, the version actions in IAM policies, and S3's error for each invalid input.

(Also run on an S3 object-data backend by tests/e2e/test_blobs_s3_suite.py.)"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from botocore.exceptions import ClientError

from tests.e2e.helpers import client_error, key_path, sign_headers, unique_name

MiB = 1024 * 1024


def fails(call: Callable[[], Any]) -> tuple[int, str, dict[str, Any]]:
    with pytest.raises(ClientError) as exc:
        call()
    status, code = client_error(exc)
    return status, code, exc.value.response


def enable(s3: Any, bucket: str, status: str = "Enabled") -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def versions(s3: Any, bucket: str, **kwargs: Any) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is delete marker) of every version, in the order S3 lists them: read from
    the pages' XML (botocore parses versions and delete markers into two lists, and their LastModified, whole
    seconds as on S3, cannot put them back in order)."""
    bodies: list[bytes] = []

    def keep(http_response: Any, **_: Any) -> None:
        bodies.append(http_response.content)

    s3.meta.events.register("after-call.s3.ListObjectVersions", keep)
    try:
        for _ in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, **kwargs):
            pass
    finally:
        s3.meta.events.unregister("after-call.s3.ListObjectVersions", keep)
    found: list[tuple[str, str, bool, bool]] = []
    for body in bodies:
        root = ET.fromstring(body)
        decode = unquote if root.findtext("{*}EncodingType") == "url" else str
        for entry in root:
            kind = entry.tag.rpartition("}")[2]
            if kind in ("Version", "DeleteMarker"):
                found.append((decode(entry.findtext("{*}Key") or ""), entry.findtext("{*}VersionId") or "",
                              entry.findtext("{*}IsLatest") == "true", kind == "DeleteMarker"))
    return found


def raw_listing(endpoint: str, bucket: str, query: str) -> str:
    url = f"{endpoint}{key_path(bucket)}?{query}"
    r = requests.get(url, headers=sign_headers("GET", url), timeout=10)
    assert r.status_code == 200, r.text
    return r.text


# -- the bucket setting ----------------------------------------------------------------------------------------

def test_enabling_and_suspending_versioning(s3: Any, bucket: str) -> None:
    answer = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in answer and "MFADelete" not in answer  # never versioned: the empty configuration
    enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    enable(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Disabled"},
                             MFA="arn:aws:iam::123456789012:mfa/root-account-mfa-device 123456")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    # either MfaDelete value needs x-amz-mfa (hashicorp/terraform-provider-aws#48161: MalformedXML without it)
    enable(s3, bucket, "Suspended")
    assert fails(lambda: s3.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Disabled"}))[:2] == (
        400, "MalformedXML")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_invalid_versioning_configurations(s3: Any, bucket: str) -> None:
    assert fails(lambda: enable(s3, bucket, "enabled"))[:2] == (400, "MalformedXML")
    assert fails(lambda: s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={}))[:2] == (
        400, "IllegalVersioningConfigurationException")
    assert fails(lambda: s3.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"},
        MFA="arn:aws:iam::123456789012:mfa/root-account-mfa-device 123456"))[:2] == (501, "NotImplemented")
    assert fails(lambda: enable(s3, unique_name("missing")))[:2] == (404, "NoSuchBucket")
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)  # nothing was changed


# -- versions of one key ---------------------------------------------------------------------------------------

def test_versioned_overwrite_keeps_every_version(s3: Any, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"before")
    assert "VersionId" not in first  # never versioned: no version id is answered
    enable(s3, bucket)
    ids = [s3.put_object(Bucket=bucket, Key="k", Body=f"v{i}".encode())["VersionId"] for i in range(3)]
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)
    current = s3.get_object(Bucket=bucket, Key="k")
    assert current["Body"].read() == b"v2" and current["VersionId"] == ids[2]
    for i, version_id in enumerate(ids):
        got = s3.get_object(Bucket=bucket, Key="k", VersionId=version_id)
        assert (got["Body"].read(), got["VersionId"]) == (f"v{i}".encode(), version_id)
        assert s3.head_object(Bucket=bucket, Key="k", VersionId=version_id)["ContentLength"] == 2
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"before"
    assert versions(s3, bucket) == [("k", ids[2], True, False), ("k", ids[1], False, False),
                                    ("k", ids[0], False, False), ("k", "null", False, False)]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]  # one current object


def test_delete_then_restore(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    version = s3.put_object(Bucket=bucket, Key="doc", Body=b"precious")["VersionId"]
    deleted = s3.delete_object(Bucket=bucket, Key="doc")
    marker = deleted["VersionId"]
    assert deleted["DeleteMarker"] is True and marker != version
    status, code, response = fails(lambda: s3.get_object(Bucket=bucket, Key="doc"))
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert (status, code) == (404, "NoSuchKey")
    assert (headers["x-amz-delete-marker"], headers["x-amz-version-id"]) == ("true", marker)
    assert fails(lambda: s3.head_object(Bucket=bucket, Key="doc"))[0] == 404
    status, code, response = fails(lambda: s3.get_object(Bucket=bucket, Key="doc", VersionId=marker))
    assert (status, code) == (405, "MethodNotAllowed")
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert fails(lambda: s3.head_object(Bucket=bucket, Key="doc", VersionId=marker))[0] == 405
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert versions(s3, bucket) == [("doc", marker, True, True), ("doc", version, False, False)]
    # restore: delete the delete marker
    restored = s3.delete_object(Bucket=bucket, Key="doc", VersionId=marker)
    assert (restored["VersionId"], restored["DeleteMarker"]) == (marker, True)
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"precious"
    assert versions(s3, bucket) == [("doc", version, True, False)]


def test_restore_by_copying_an_older_version_over_the_key(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="c", Body=b"old", Metadata={"m": "1"})["VersionId"]
    s3.put_object(Bucket=bucket, Key="c", Body=b"new")
    copied = s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "c", "VersionId": old})
    assert copied["CopySourceVersionId"] == old and copied["VersionId"] not in (old, None)
    got = s3.get_object(Bucket=bucket, Key="c")
    assert (got["Body"].read(), got["Metadata"]) == (b"old", {"m": "1"})
    assert len(versions(s3, bucket)) == 3
    # the older version keeps its bytes: the copy has blobs of its own
    s3.delete_object(Bucket=bucket, Key="c", VersionId=copied["VersionId"])
    assert s3.get_object(Bucket=bucket, Key="c", VersionId=old)["Body"].read() == b"old"


def test_deleting_the_current_version_makes_the_previous_one_current(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    a = s3.put_object(Bucket=bucket, Key="k", Body=b"a")["VersionId"]
    b = s3.put_object(Bucket=bucket, Key="k", Body=b"b")["VersionId"]
    answer = s3.delete_object(Bucket=bucket, Key="k", VersionId=b)
    assert answer["VersionId"] == b and "DeleteMarker" not in answer
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"a"
    s3.delete_object(Bucket=bucket, Key="k", VersionId=a)
    assert fails(lambda: s3.get_object(Bucket=bucket, Key="k"))[:2] == (404, "NoSuchKey")
    assert versions(s3, bucket) == []


def test_the_null_version_under_suspended_versioning(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"unversioned")
    enable(s3, bucket)
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"versioned")["VersionId"]
    enable(s3, bucket, "Suspended")
    # a write replaces the null version (a noncurrent one here) and becomes the current one; its answer names no
    # version, as S3's "versioning suspended" sample response (API_PutObject.html) — the write of a copy or of a
    # multipart upload neither; a read of it names the null version
    assert "VersionId" not in s3.put_object(Bucket=bucket, Key="k", Body=b"suspended-1")
    assert versions(s3, bucket) == [("k", "null", True, False), ("k", kept, False, False)]
    assert "VersionId" not in s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "k"},
                                             MetadataDirective="REPLACE")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"suspended-2")["ETag"]
    assert "VersionId" not in s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"suspended-2"
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == "null"
    assert len(versions(s3, bucket)) == 2
    # a delete puts a null delete marker in the null version's place
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert (deleted["VersionId"], deleted["DeleteMarker"]) == ("null", True)
    assert versions(s3, bucket) == [("k", "null", True, True), ("k", kept, False, False)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=kept)["Body"].read() == b"versioned"


def test_version_ids_that_name_nothing(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for bad in ("not-a-version", "x" * 33):
        assert fails(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=bad))[:2] == (  # noqa: B023
            400, "InvalidArgument")
        assert fails(lambda: s3.delete_object(Bucket=bucket, Key="k", VersionId=bad))[:2] == (  # noqa: B023
            400, "InvalidArgument")
    unknown = "A" * 32
    status, code, response = fails(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=unknown))
    assert (status, code, response["Error"]["Message"]) == (404, "NoSuchVersion", "The specified version does not "
                                                                                  "exist.")
    assert s3.delete_object(Bucket=bucket, Key="k", VersionId=unknown)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert fails(lambda: s3.get_object(Bucket=bucket, Key="missing", VersionId=unknown))[:2] == (
        404, "NoSuchVersion")


def test_conditional_writes_see_the_latest_version(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfNoneMatch="*"))[:2] == (
        412, "PreconditionFailed")
    s3.delete_object(Bucket=bucket, Key="k")
    # the latest version is a delete marker: the key does not exist for If-None-Match, nor for If-Match
    assert fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"3", IfMatch='"x"'))[:2] == (404, "NoSuchKey")
    s3.put_object(Bucket=bucket, Key="k", Body=b"3", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"3"
    assert len(versions(s3, bucket)) == 3


# -- listing ---------------------------------------------------------------------------------------------------

def _fill(s3: Any, bucket: str) -> list[tuple[str, str, bool, bool]]:
    enable(s3, bucket)
    for key, count in (("a", 3), ("d/1", 2), ("d/2", 1), ("z", 2)):
        for i in range(count):
            s3.put_object(Bucket=bucket, Key=key, Body=f"{key}{i}".encode())
    s3.delete_object(Bucket=bucket, Key="z")
    return versions(s3, bucket)


def test_list_object_versions_pages_as_s3_does(s3: Any, bucket: str) -> None:
    full = _fill(s3, bucket)
    assert [(k, latest, marker) for k, _, latest, marker in full] == [
        ("a", True, False), ("a", False, False), ("a", False, False), ("d/1", True, False), ("d/1", False, False),
        ("d/2", True, False), ("z", True, True), ("z", False, False), ("z", False, False)]
    for size in (1, 2, 4, 1000):
        assert versions(s3, bucket, PaginationConfig={"PageSize": size}) == full
    # one page, by hand: the markers of the next page name the last version listed
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=2)
    assert page["IsTruncated"] is True and (page["NextKeyMarker"], page["NextVersionIdMarker"]) == ("a", full[1][1])
    rest = s3.list_object_versions(Bucket=bucket, KeyMarker="a", VersionIdMarker=full[1][1], MaxKeys=1)
    assert [v["VersionId"] for v in rest["Versions"]] == [full[2][1]] and rest["Versions"][0]["IsLatest"] is False
    after_a = s3.list_object_versions(Bucket=bucket, KeyMarker="a")
    assert sorted({v["Key"] for v in after_a["Versions"]}) == ["d/1", "d/2", "z"]
    assert versions(s3, bucket, Prefix="d/") == [e for e in full if e[0].startswith("d/")]


def test_list_object_versions_with_a_delimiter(s3: Any, bucket: str) -> None:
    _fill(s3, bucket)
    answer = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in answer["CommonPrefixes"]] == ["d/"]
    assert {v["Key"] for v in answer["Versions"]} == {"a", "z"}
    # a common prefix counts once towards max-keys, and pages go on past it
    pages = list(s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}))
    prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    listed = [v["Key"] for page in pages for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    assert prefixes == ["d/"] and sorted(listed) == ["a"] * 3 + ["z"] * 3


def test_list_object_versions_errors_and_encoding(s3: Any, endpoint: str, bucket: str) -> None:
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="sp ace+", Body=b"x")
    assert fails(lambda: s3.list_object_versions(Bucket=bucket, VersionIdMarker="A" * 32))[:2] == (
        400, "InvalidArgument")
    assert fails(lambda: s3.list_object_versions(Bucket=bucket, KeyMarker="a", VersionIdMarker="bad"))[:2] == (
        400, "InvalidArgument")
    assert fails(lambda: s3.list_object_versions(Bucket=bucket, MaxKeys=-1))[:2] == (400, "InvalidArgument")
    assert fails(lambda: s3.list_object_versions(Bucket=unique_name("missing")))[:2] == (404, "NoSuchBucket")
    text = raw_listing(endpoint, bucket, "versions&encoding-type=url")
    assert "<Key>sp%20ace%2B</Key>" in text and "<EncodingType>url</EncodingType>" in text
    assert "<KeyMarker></KeyMarker>" in text and "<VersionIdMarker></VersionIdMarker>" in text


# -- several keys at once, copies, uploads ---------------------------------------------------------------------

def test_delete_objects_with_versions(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    a1 = s3.put_object(Bucket=bucket, Key="a", Body=b"1")["VersionId"]
    a2 = s3.put_object(Bucket=bucket, Key="a", Body=b"2")["VersionId"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"1")
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a", "VersionId": a1}, {"Key": "b"}, {"Key": "c", "VersionId": "bad"}]})
    deleted = {d["Key"]: d for d in answer["Deleted"]}
    assert deleted["a"] == {"Key": "a", "VersionId": a1}
    assert deleted["b"]["DeleteMarker"] is True and len(deleted["b"]["DeleteMarkerVersionId"]) == 32
    assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("c", "NoSuchVersion")]
    marker = deleted["b"]["DeleteMarkerVersionId"]
    again = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b", "VersionId": marker}]})
    assert again["Deleted"] == [{"Key": "b", "VersionId": marker, "DeleteMarker": True,
                                 "DeleteMarkerVersionId": marker}]
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == b"1"
    assert versions(s3, bucket) == [("a", a2, True, False), ("b", versions(s3, bucket)[1][1], True, False)]


def test_copy_and_upload_part_copy_from_a_version(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    big = b"x" * (5 * MiB)
    old = s3.put_object(Bucket=bucket, Key="src", Body=big)["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"newer")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    part = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload, PartNumber=1,
                               CopySource={"Bucket": bucket, "Key": "src", "VersionId": old})
    assert part["CopySourceVersionId"] == old
    done = s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
    assert len(done["VersionId"]) == 32
    assert s3.get_object(Bucket=bucket, Key="dst", VersionId=done["VersionId"])["Body"].read() == big
    marker = s3.delete_object(Bucket=bucket, Key="src")["VersionId"]
    assert fails(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource={
        "Bucket": bucket, "Key": "src", "VersionId": marker}))[:2] == (400, "InvalidRequest")
    assert fails(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "src"}))[:2] \
        == (404, "NoSuchKey")
    assert fails(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource={
        "Bucket": bucket, "Key": "src", "VersionId": "B" * 32}))[:2] == (404, "NoSuchVersion")


def test_a_bucket_is_deleted_only_without_any_version(s3: Any, track_bucket: Callable[[str], str]) -> None:
    name = track_bucket(unique_name("vb"))
    s3.create_bucket(Bucket=name)
    enable(s3, name)
    version = s3.put_object(Bucket=name, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=name, Key="k")["VersionId"]
    assert fails(lambda: s3.delete_bucket(Bucket=name))[:2] == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=name, Key="k", VersionId=version)
    assert fails(lambda: s3.delete_bucket(Bucket=name))[:2] == (409, "BucketNotEmpty")  # the marker is left
    s3.delete_object(Bucket=name, Key="k", VersionId=marker)
    s3.delete_bucket(Bucket=name)


# -- authorization ---------------------------------------------------------------------------------------------

def test_version_requests_need_the_version_actions(s3: Any, bucket: str, iam_user: Callable[..., Any]) -> None:
    enable(s3, bucket)
    version = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"y")
    plain = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:DeleteObject", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}
    user = iam_user(inline={"plain": json.dumps(plain)})
    assert user.s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"y"
    status, code, response = fails(lambda: user.s3.get_object(Bucket=bucket, Key="k", VersionId=version))
    assert (status, code) == (403, "AccessDenied") and "s3:GetObjectVersion" in response["Error"]["Message"]
    assert fails(lambda: user.s3.delete_object(Bucket=bucket, Key="k", VersionId=version))[:2] == (
        403, "AccessDenied")
    assert fails(lambda: user.s3.list_object_versions(Bucket=bucket))[:2] == (403, "AccessDenied")
    denied = user.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k", "VersionId": version}]})
    assert [e["Code"] for e in denied["Errors"]] == ["AccessDenied"]
    versioned = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObjectVersion", "s3:DeleteObjectVersion", "s3:ListBucketVersions"],
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
         "Condition": {"StringEquals": {"s3:versionid": version}}}]}
    user2 = iam_user(inline={"versioned": json.dumps(versioned), "plain": json.dumps(plain)})
    assert user2.s3.get_object(Bucket=bucket, Key="k", VersionId=version)["Body"].read() == b"x"
    user2.s3.delete_object(Bucket=bucket, Key="k", VersionId=version)


def test_the_versions_of_another_workers_write_are_read_at_once(s3: Any, client_factory: Callable[..., Any],
                                                                 bucket: str) -> None:
    """Two workers (and, on PostgreSQL, any node): the bucket's versioning state and versions are read from the
    metadata, never a stale cache."""
    other = client_factory()
    enable(s3, bucket)
    ids = []
    for i in range(6):
        writer = s3 if i % 2 else other
        ids.append(writer.put_object(Bucket=bucket, Key="k", Body=str(i).encode())["VersionId"])
        reader = other if i % 2 else s3
        assert reader.get_object(Bucket=bucket, Key="k")["VersionId"] == ids[-1]
    assert [v for _, v, _, _ in versions(s3, bucket)] == ids[::-1]


def test_a_bucket_emptied_page_by_page_loses_no_version(s3: Any, bucket: str) -> None:
    """Each page's versions deleted before the next page is asked for (boto3's ``object_versions.delete()``,
    AWS's own "delete a versioned bucket" examples): the next page starts after a version-id-marker that is gone.
    It was taken as "nothing of this key is left", so every later version of the key was skipped and the bucket
    could not be deleted."""
    enable(s3, bucket)
    for i in range(25):
        s3.put_object(Bucket=bucket, Key="many", Body=str(i).encode())
    s3.delete_object(Bucket=bucket, Key="many")                   # a delete marker on top
    for key in ("a", "z"):
        for i in range(3):
            s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())
    markers: dict[str, str] = {}
    deleted = 0
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=7, **markers)
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        for entry in entries:
            s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
        deleted += len(entries)
        if not page["IsTruncated"]:
            break
        markers = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert deleted == 25 + 1 + 6
    assert versions(s3, bucket) == []


def test_boto3s_object_versions_delete_empties_the_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    from tests.conftest import ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY

    resource = boto3.resource("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=ROOT_ACCESS_KEY_ID, aws_secret_access_key=ROOT_SECRET_ACCESS_KEY)
    b = resource.Bucket(bucket)
    b.Versioning().enable()
    for i in range(12):
        b.put_object(Key=f"k{i % 3}", Body=b"x")
    b.object_versions.page_size(5).delete()
    assert versions(resource.meta.client, bucket) == []
    b.delete()


# -- answers recorded against S3 in us-east-1 ("Versioning Mix: DeleteMarker as Source", "DeleteObjects +
# Versioning": reverse-engineering captures with AWS's request ids) ----------------------------------------------

def _deleted_key(s3: Any, bucket: str) -> str:
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
    return str(s3.delete_object(Bucket=bucket, Key="gone")["VersionId"])


def test_a_delete_markers_405s_carry_allow_delete(endpoint: str, s3: Any, bucket: str) -> None:
    """RFC 9110: "The origin server MUST generate an Allow header field in a 405 response"; S3 sends DELETE."""
    marker = _deleted_key(s3, bucket)
    for method, query in (("GET", ""), ("HEAD", ""), ("GET", "&tagging"), ("GET", "&acl")):
        url = f"{endpoint}/{bucket}/gone?versionId={marker}{query}"
        r = requests.request(method, url, headers=sign_headers(method, url), timeout=10)
        assert (r.status_code, r.headers.get("Allow")) == (405, "DELETE"), (method, query)


def test_put_object_acl_on_a_deleted_key_is_405(endpoint: str, s3: Any, new_bucket: Callable[..., str]) -> None:
    """PutObjectAcl without versionId, the key's latest version a delete marker: 405 MethodNotAllowed (was 404)."""
    name = new_bucket()
    s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    marker = _deleted_key(s3, name)
    url = f"{endpoint}/{name}/gone?acl"
    r = requests.put(url, headers=sign_headers("PUT", url, {"x-amz-acl": "private"}), timeout=10)
    assert r.status_code == 405, r.text
    assert (r.headers["x-amz-delete-marker"], r.headers["x-amz-version-id"], r.headers["Allow"]) == (
        "true", marker, "DELETE")
    assert "<ResourceType>DeleteMarker</ResourceType>" in r.text and "<Method>PUT</Method>" in r.text


def test_copying_a_deleted_key_names_its_delete_marker(s3: Any, bucket: str) -> None:
    marker = _deleted_key(s3, bucket)
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "gone"})
    assert client_error(exc) == (404, "NoSuchKey")
    headers = exc.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert (headers["x-amz-delete-marker"], headers["x-amz-version-id"]) == ("true", marker)


def test_delete_objects_naming_a_key_twice_adds_one_marker(s3: Any, bucket: str) -> None:
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="twice", Body=b"x")
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "twice"}, {"Key": "twice"}]})["Deleted"]
    assert len(deleted) == 1 and deleted[0]["DeleteMarker"]
    assert [v for v in versions(s3, bucket) if v[3]] == [("twice", deleted[0]["DeleteMarkerVersionId"], True, True)]


def test_version_id_answers(endpoint: str, s3: Any, bucket: str) -> None:
    """An empty versionId: "Version id cannot be the empty string"; UploadPart takes none; an empty
    version-id-marker is refused before encoding-type is judged."""
    enable(s3, bucket)
    version = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]

    def error(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> tuple[str, str]:
        url = f"{endpoint}/{bucket}{path}"
        r = requests.request(method, url, headers=sign_headers(method, url, headers, body), data=body, timeout=10)
        assert r.status_code == 400, r.text
        root = ET.fromstring(r.content)
        return root.findtext("Code") or "", root.findtext("Message") or ""

    empty = ("InvalidArgument", "Version id cannot be the empty string")
    assert error("GET", "/k?versionId=") == empty
    assert error("PUT", "/copy", {"x-amz-copy-source": f"/{bucket}/k?versionId="}) == empty
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    assert error("PUT", f"/mp?partNumber=1&uploadId={upload}&versionId={version}", body=b"abc") == (
        "InvalidArgument", "This operation does not accept a version-id.")
    assert error("GET", "?versions&key-marker=k&version-id-marker=") == (
        "InvalidArgument", "A version-id marker cannot be empty.")
    assert error("GET", "?versions&version-id-marker=x&encoding-type=bogus") == (
        "InvalidArgument", "A version-id marker cannot be specified without a key marker.")


def test_a_listing_resumed_after_a_deleted_latest_version_names_the_new_latest(s3: Any, bucket: str) -> None:
    """Resumed after a version-id-marker that was the key's latest and is gone since: the key's version now
    newest is its latest (IsLatest true); an unknown marker lists the key's versions again, its latest first."""
    enable(s3, bucket)
    kept = [s3.put_object(Bucket=bucket, Key="b", Body=b"x")["VersionId"] for _ in range(2)]
    marker = s3.delete_object(Bucket=bucket, Key="b")["VersionId"]
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=1)
    assert (page["NextKeyMarker"], page["NextVersionIdMarker"]) == ("b", marker)
    s3.delete_object(Bucket=bucket, Key="b", VersionId=marker)   # the latest goes: kept[1] is current again
    rest = s3.list_object_versions(Bucket=bucket, KeyMarker="b", VersionIdMarker=marker)
    assert [(v["VersionId"], v["IsLatest"]) for v in rest["Versions"]] == [(kept[1], True), (kept[0], False)]
    again = s3.list_object_versions(Bucket=bucket, KeyMarker="b", VersionIdMarker="A" * 32)
    assert [(v["VersionId"], v["IsLatest"]) for v in again["Versions"]] == [(kept[1], True), (kept[0], False)]
