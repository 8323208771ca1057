"""ListBuckets in pages: MaxBuckets, ContinuationToken, Prefix and BucketRegion as S3 has them (and botocore's
``list_buckets`` paginator), and S3's errors for a bad max-buckets or token."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import assert_s3_error, client_error, signed_request


@pytest.fixture
def five_buckets(s3, track_bucket) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    """Five buckets of a prefix of their own (other tests' buckets share the server)."""
    prefix = f"lb-{uuid.uuid4().hex[:10]}-"
    names = [track_bucket(f"{prefix}{n}") for n in ("a", "b", "c", "d", "e")]
    for name in names:
        s3.create_bucket(Bucket=name)
    return prefix, names


def test_pages_of_max_buckets_follow_the_continuation_token(s3, five_buckets) -> None:  # type: ignore[no-untyped-def]
    prefix, names = five_buckets
    seen: list[list[str]] = []
    kwargs: dict[str, object] = {"Prefix": prefix, "MaxBuckets": 2}
    while True:
        page = s3.list_buckets(**kwargs)
        assert page["Prefix"] == prefix
        seen.append([b["Name"] for b in page["Buckets"]])
        if "ContinuationToken" not in page:
            break
        kwargs["ContinuationToken"] = page["ContinuationToken"]
    assert seen == [names[:2], names[2:4], names[4:]]


def test_the_botocore_paginator_gets_every_bucket_once(s3, five_buckets) -> None:  # type: ignore[no-untyped-def]
    prefix, names = five_buckets
    pages = list(s3.get_paginator("list_buckets").paginate(Prefix=prefix, PaginationConfig={"PageSize": 3}))
    assert [len(p["Buckets"]) for p in pages] == [3, 2]
    assert [b["Name"] for p in pages for b in p["Buckets"]] == names
    everything = s3.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": 1}).build_full_result()
    listed = [b["Name"] for b in everything["Buckets"]]
    assert listed == sorted(set(listed)) and set(names) <= set(listed)


def test_a_page_as_large_as_what_is_left_has_no_token(s3, five_buckets) -> None:  # type: ignore[no-untyped-def]
    prefix, names = five_buckets
    page = s3.list_buckets(Prefix=prefix, MaxBuckets=5)
    assert [b["Name"] for b in page["Buckets"]] == names and "ContinuationToken" not in page
    assert s3.list_buckets(Prefix=prefix + "zz")["Buckets"] == []


def test_bucket_region_limits_the_list(s3, five_buckets, track_bucket) -> None:  # type: ignore[no-untyped-def]
    prefix, names = five_buckets
    abroad = track_bucket(f"{prefix}f")
    s3.create_bucket(Bucket=abroad, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    page = s3.list_buckets(Prefix=prefix, BucketRegion="eu-west-1")
    assert [(b["Name"], b["BucketRegion"]) for b in page["Buckets"]] == [(abroad, "eu-west-1")]
    home = s3.list_buckets(Prefix=prefix, BucketRegion="us-east-1")
    assert [b["Name"] for b in home["Buckets"]] == names


def test_an_unknown_bucket_region_is_refused(s3) -> None:  # type: ignore[no-untyped-def]
    """S3 refuses a BucketRegion it has not (LocalStack's AWS-recorded bad-region); it listed nothing."""
    with pytest.raises(ClientError) as exc:
        s3.list_buckets(BucketRegion="eu-east-1")
    assert client_error(exc) == (400, "InvalidArgument")
    assert exc.value.response["Error"]["Message"] == "Argument value eu-east-1 is not a valid AWS Region"


@pytest.mark.parametrize("value", ["0", "10001", "-1", "ten", ""])
def test_max_buckets_is_1_to_10000(endpoint, value: str) -> None:
    resp = signed_request("GET", f"{endpoint}/?max-buckets={value}")
    err = assert_s3_error(resp, 400, "InvalidArgument")
    assert err["Message"] == "Argument max-buckets must be an integer between 1 and 10000."
    assert (err["ArgumentName"], err["ArgumentValue"]) == ("max-buckets", value)


def test_an_empty_token_is_the_first_page(s3, five_buckets) -> None:  # type: ignore[no-untyped-def]
    """S3 lists from the start for ContinuationToken="" (LocalStack's AWS-recorded snapshot); it was a 400."""
    assert s3.list_buckets(ContinuationToken="")["Buckets"] == s3.list_buckets()["Buckets"]


@pytest.mark.parametrize("token", ["not-a-token", "c3IxOkJBRA"])  # the last: a token for "BAD"
def test_a_token_that_is_not_ours_is_refused(s3, token: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        s3.list_buckets(ContinuationToken=token)
    assert client_error(exc) == (400, "InvalidArgument")
    assert exc.value.response["Error"]["Message"] == "The continuation token provided is incorrect"
