"""Bucket operations: ListBuckets, CreateBucket (naming rules, locations), HeadBucket, DeleteBucket."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import assert_s3_error, client_error, signed_request, unique_name


def test_list_buckets_has_owner_and_created_buckets(s3, new_bucket):
    names = {new_bucket(), new_bucket()}
    resp = s3.list_buckets()
    assert resp["Owner"]["ID"]
    # "Beginning November 21, 2025, Amazon S3 will stop returning DisplayName" (API_Owner.html)
    assert "DisplayName" not in resp["Owner"]
    listed = [b["Name"] for b in resp["Buckets"]]
    assert names <= set(listed)
    for b in resp["Buckets"]:
        assert b["CreationDate"] is not None


def test_list_buckets_sorted_by_name(s3, new_bucket):
    for _ in range(3):
        new_bucket()
    listed = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert listed == sorted(listed)


def test_create_bucket_returns_location(s3, track_bucket):
    name = track_bucket(unique_name("tb"))
    resp = s3.create_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["Location"] == f"/{name}"


@pytest.mark.parametrize("name", [
    "ab",                       # too short (min 3)
    "a" * 64,                   # too long (max 63)
    "MyBucket",                 # uppercase
    "my_bucket",                # underscore
    "192.168.5.4",              # formatted like an IP address
    "xn--bucket",               # reserved prefix
    "sthree-bucket",            # reserved prefix
    "bucket-s3alias",           # reserved suffix
    "bucket--ol-s3",            # reserved suffix
    "my..bucket",               # adjacent periods
    "-bucket",                  # must start with a letter or digit
    "bucket-",                  # must end with a letter or digit
    "bucket.",                  # must end with a letter or digit
])
def test_invalid_bucket_names(endpoint, track_bucket, name):
    track_bucket(name)  # in case the server wrongly creates it
    r = signed_request("PUT", f"{endpoint}/{name}")
    assert_s3_error(r, 400, "InvalidBucketName")


@pytest.mark.parametrize("make", [
    lambda u: u[:3],                              # exactly 3 characters
    lambda u: (u * 4)[:63],                       # exactly 63 characters
    lambda u: f"dotted.{u[:8]}.name",             # periods allowed
    lambda u: f"1{u[:10]}",                       # may start with a digit
    lambda u: f"with-hyphen-{u[:8]}",
], ids=["len3", "len63", "dots", "leading-digit", "hyphen"])
def test_valid_bucket_names(s3, track_bucket, make):
    name = track_bucket(make(unique_name("v").replace("-", "")[1:]))
    s3.create_bucket(Bucket=name)
    s3.head_bucket(Bucket=name)


def test_create_bucket_twice_is_already_owned_by_you(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=bucket)
    assert client_error(exc) == (409, "BucketAlreadyOwnedByYou")


def test_location_constraint_round_trip(s3, new_bucket):
    name = new_bucket(location="eu-west-1")
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"


@pytest.mark.parametrize("constraint", ["us-east-1", "us-gov-east-2", "eu-central-1"])
def test_a_regional_endpoint_refuses_another_regions_constraint_first(endpoint, constraint):
    """moto's AWS-verified test_create_bucket_with_wrong_location_constraint: from us-west-2, even a constraint S3
    would call invalid (us-east-1, a region of another partition) is incompatible with the endpoint first."""
    body = (f"<CreateBucketConfiguration><LocationConstraint>{constraint}</LocationConstraint>"
            "</CreateBucketConfiguration>").encode()
    r = signed_request("PUT", f"{endpoint}/{unique_name('wrong')}", body=body, region="us-west-2")
    assert_s3_error(r, 400, "IllegalLocationConstraintException")
    assert f"The {constraint} location constraint is incompatible for the region specific endpoint".encode() \
        in r.content


def test_get_bucket_location_is_answered_whatever_region_it_was_signed_for(endpoint, new_bucket):
    """Any regional endpoint answers GetBucketLocation (it is how a client finds the bucket's region): it was
    refused as signed for the wrong region (botocore then retried, other clients failed)."""
    name = new_bucket(location="eu-west-1")
    r = signed_request("GET", f"{endpoint}/{name}?location", region="us-west-2")
    assert r.status_code == 200, r.content
    assert b">eu-west-1</LocationConstraint>" in r.content
    r = signed_request("GET", f"{endpoint}/{name}?versioning", region="us-west-2")  # other operations: as before
    assert_s3_error(r, 400, "AuthorizationHeaderMalformed")


def test_a_bucket_is_never_made_in_a_region_that_has_no_region_name(endpoint, s3):
    """git-annex signs with the endpoint's host as the region: the bucket was made "in" 127.0.0.1, and no SDK
    could use it afterwards ("Provided region_name '127.0.0.1' doesn't match a supported format")."""
    for region in ("127.0.0.1", "us_east_1"):
        name = unique_name("odd-region")
        r = signed_request("PUT", f"{endpoint}/{name}", region=region)
        err = assert_s3_error(r, 400, "AuthorizationHeaderMalformed")
        assert err["Message"] == (f"The authorization header is malformed; the region '{region}' is wrong; "
                                   "expecting 'us-east-1'")
        assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    name = unique_name("custom-region")  # a well-formed name of one's own is a region here, as before
    assert signed_request("PUT", f"{endpoint}/{name}", region="garage").status_code == 200
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "garage"
    assert signed_request("DELETE", f"{endpoint}/{name}", region="garage").status_code == 204


def test_a_bucket_made_with_eu_says_eu(s3, track_bucket):
    """EU, eu-west-1's legacy name: GetBucketLocation answers what the bucket was made with (it said eu-west-1)."""
    name = track_bucket(unique_name("legacy-eu"))
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "EU"})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "EU"
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"


def test_us_east_1_location_is_null(s3, bucket):
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None


def test_get_bucket_location_missing_bucket(s3):
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_location(Bucket=unique_name("nobucket"))
    assert client_error(exc) == (404, "NoSuchBucket")


def test_create_bucket_malformed_configuration(endpoint, track_bucket):
    name = track_bucket(unique_name("tb"))
    r = signed_request("PUT", f"{endpoint}/{name}", body=b"<CreateBucketConfiguration><oops")
    assert_s3_error(r, 400, "MalformedXML")


def test_head_bucket(s3, bucket):
    resp = s3.head_bucket(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_head_bucket_header_region(endpoint, bucket):
    r = signed_request("HEAD", f"{endpoint}/{bucket}")
    assert r.status_code == 200
    assert r.headers.get("x-amz-bucket-region") == "us-east-1"
    assert r.headers.get("content-type") == "application/xml"  # moto's AWS-verified test_header_content_type


def test_head_missing_bucket_is_404_without_body(endpoint, s3):
    name = unique_name("nobucket")
    r = signed_request("HEAD", f"{endpoint}/{name}")
    assert r.status_code == 404
    assert r.content == b""
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert client_error(exc) == (404, "404")


def test_delete_bucket(s3, track_bucket):
    name = track_bucket(unique_name("tb"))
    s3.create_bucket(Bucket=name)
    resp = s3.delete_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert client_error(exc)[0] == 404
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_delete_non_empty_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=bucket)
    assert client_error(exc) == (409, "BucketNotEmpty")
    s3.head_bucket(Bucket=bucket)


def test_delete_bucket_with_pending_upload(s3, bucket):
    """Either refused with BucketNotEmpty (bucket intact) or deleted outright; never half-deleted."""
    s3.create_multipart_upload(Bucket=bucket, Key="pending")
    try:
        s3.delete_bucket(Bucket=bucket)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "BucketNotEmpty"
        s3.head_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="still-works", Body=b"x")
    else:
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket=bucket)


def test_delete_missing_bucket(endpoint, s3):
    name = unique_name("nobucket")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert client_error(exc) == (404, "NoSuchBucket")
    err = assert_s3_error(signed_request("DELETE", f"{endpoint}/{name}"), 404, "NoSuchBucket")
    assert err.get("BucketName") == name


def test_recreate_after_delete(s3, track_bucket):
    name = track_bucket(unique_name("tb"))
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="old", Body=b"x")
    s3.delete_object(Bucket=name, Key="old")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
