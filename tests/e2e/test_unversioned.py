"""What S3 answers for buckets that were never versioned and for ACL reads with ACLs disabled; clients such as
Terraform (force_destroy) and the boto3 resource API's object_versions rely on these."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import REGION, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY


def test_list_object_versions_shows_each_object_as_its_null_version(s3, bucket) -> None:
    for key in ("a", "d/1", "d/2", "z"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in versions] == [
        ("a", "null", True, 1), ("d/1", "null", True, 3), ("d/2", "null", True, 3), ("z", "null", True, 1)]
    delimited = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in delimited["CommonPrefixes"]] == ["d/"]
    paged = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket, MaxKeys=1))
    assert [v["Key"] for page in paged for v in page.get("Versions", [])] == ["a", "d/1", "d/2", "z"]


def test_resource_api_deletes_every_version(endpoint, s3, bucket) -> None:
    for key in ("x", "y"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    resource = boto3.resource("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ROOT_ACCESS_KEY_ID,
                              aws_secret_access_key=ROOT_SECRET_ACCESS_KEY)
    resource.Bucket(bucket).object_versions.delete()
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_acls_read_as_owner_full_control(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        assert acl["Owner"]["ID"] and [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
        assert acl["Grants"][0]["Grantee"]["ID"] == acl["Owner"]["ID"]
    with pytest.raises(ClientError) as exc:
        s3.get_object_acl(Bucket=bucket, Key="missing")
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"
