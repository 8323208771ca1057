"""Conditional deletes and the condition keys that enforce conditional requests, as S3 has them since 2025:
DeleteObject with ``If-Match`` (an ETag, or ``*``), DeleteObjects with an ``ETag`` per object, evaluated against
the key's current version (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html); the
``s3:if-match``, ``s3:if-none-match`` and ``s3:ObjectCreationOperation`` condition keys of the bucket policies
that make clients use them (conditional-writes-enforce.html, conditional-delete-enforce.html).

A precondition the server accepted and ignored would delete what the client meant to protect: every test here
checks that the object is still there after a refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import client_error, md5_hex

PRECONDITION = "At least one of the pre-conditions you specified did not hold"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@contextmanager
def denying(s3, bucket: str, action: str, condition: dict[str, Any]) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """A bucket policy that denies everyone ``action`` on the bucket's objects under ``condition``, for the block
    (then removed: it binds the root user too, whose cleanup deletes the bucket's objects)."""
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Deny", "Principal": "*", "Action": action, "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": condition}))
    try:
        yield
    finally:
        s3.delete_bucket_policy(Bucket=bucket)


def exists(s3, bucket: str, key: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        return False


# -- DeleteObject ---------------------------------------------------------------------------------------------

def test_delete_if_match_a_stale_etag_is_refused_and_keeps_the_object(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    stale = s3.put_object(Bucket=bucket, Key="k2", Body=b"other")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch=stale)
    assert client_error(exc) == (412, "PreconditionFailed")
    assert exc.value.response["Error"]["Message"] == PRECONDITION
    assert exc.value.response["Error"].get("Condition") == "If-Match"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"


def test_delete_if_match_the_current_etag_deletes(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    assert s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert not exists(s3, bucket, "k")
    etag = s3.put_object(Bucket=bucket, Key="u", Body=b"two")["ETag"]  # unquoted, as some clients send it
    s3.delete_object(Bucket=bucket, Key="u", IfMatch=etag.strip('"'))
    assert not exists(s3, bucket, "u")


def test_delete_if_match_star_deletes_what_exists(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    s3.delete_object(Bucket=bucket, Key="k", IfMatch="*")
    assert not exists(s3, bucket, "k")


@pytest.mark.parametrize("condition", ["*", '"' + md5_hex(b"one") + '"'])
def test_delete_if_match_of_a_missing_key_is_no_such_key(s3, bucket, condition: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=bucket, Key="never", IfMatch=condition)
    assert client_error(exc) == (404, "NoSuchKey")
    assert s3.delete_object(Bucket=bucket, Key="never")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_if_match_in_a_versioned_bucket_judges_the_current_version(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"two")
    with pytest.raises(ClientError) as exc:  # an older version's ETag is not the current one's
        s3.delete_object(Bucket=bucket, Key="k", IfMatch=first["ETag"])
    assert client_error(exc) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["VersionId"] == second["VersionId"]
    deleted = s3.delete_object(Bucket=bucket, Key="k", IfMatch=second["ETag"])
    assert deleted["DeleteMarker"] is True
    # the current version is now a delete marker: nothing exists to match
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch="*")
    assert client_error(exc) == (404, "NoSuchKey")
    versions = s3.list_object_versions(Bucket=bucket, Prefix="k")
    assert len(versions["Versions"]) == 2 and len(versions["DeleteMarkers"]) == 1


# -- DeleteObjects --------------------------------------------------------------------------------------------

def test_delete_objects_judges_each_etag(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    keep = s3.put_object(Bucket=bucket, Key="keep", Body=b"keep")["ETag"]
    go = s3.put_object(Bucket=bucket, Key="go", Body=b"go")["ETag"]
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    s3.put_object(Bucket=bucket, Key="star", Body=b"star")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "keep", "ETag": go},          # another object's ETag: refused
        {"Key": "go", "ETag": go},
        {"Key": "plain"},
        {"Key": "star", "ETag": "*"},
        {"Key": "missing", "ETag": keep},     # nothing to match
    ]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["go", "plain", "star"]
    errors = {e["Key"]: (e["Code"], e["Message"]) for e in result["Errors"]}
    assert errors == {"keep": ("PreconditionFailed", PRECONDITION),
                      "missing": ("NoSuchKey", "The specified key does not exist.")}
    assert exists(s3, bucket, "keep")
    assert not exists(s3, bucket, "go")


# -- who may delete conditionally -----------------------------------------------------------------------------

def test_a_delete_conditional_on_an_etag_needs_get_object_too(iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """"To perform conditional deletes with the If-Match header with the ETag value, you must have the
    s3:DeleteObject and s3:GetObject permissions" (the ETag tells what the object is); ``*`` needs only the
    delete."""
    user = iam_user(inline={"delete-only": policy(
        {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/*"})})
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    with pytest.raises(ClientError) as exc:
        user.s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
    assert client_error(exc) == (403, "AccessDenied")
    assert "s3:GetObject" in exc.value.response["Error"]["Message"]
    assert exists(s3, bucket, "k")
    result = user.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k", "ETag": etag}]})
    assert [e["Code"] for e in result["Errors"]] == ["AccessDenied"]
    assert exists(s3, bucket, "k")
    user.s3.delete_object(Bucket=bucket, Key="k", IfMatch="*")
    assert not exists(s3, bucket, "k")


def test_a_bucket_policy_can_require_conditional_deletes(iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """conditional-delete-enforce.html: deny DeleteObject where ``s3:if-match`` is absent."""
    user = iam_user(managed=["arn:aws:iam::aws:policy/AmazonS3FullAccess"])
    with denying(s3, bucket, "s3:DeleteObject", {"Null": {"s3:if-match": "true"}}):
        etag = user.s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
        user.s3.put_object(Bucket=bucket, Key="k2", Body=b"two")
        with pytest.raises(ClientError) as exc:
            user.s3.delete_object(Bucket=bucket, Key="k")
        assert client_error(exc) == (403, "AccessDenied")
        assert exists(s3, bucket, "k")
        user.s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
        assert not exists(s3, bucket, "k")
        result = user.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k2"}]})
        assert [e["Code"] for e in result["Errors"]] == ["AccessDenied"]
        result = user.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k2", "ETag": "*"}]})
        assert [d["Key"] for d in result["Deleted"]] == ["k2"]


# -- conditional writes, enforced ---------------------------------------------------------------------------

def test_a_bucket_policy_can_require_conditional_writes(iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """conditional-writes-enforce.html's pattern: deny an object-creating s3:PutObject without
    ``If-None-Match``; ``s3:ObjectCreationOperation`` (false for CreateMultipartUpload, UploadPart and
    UploadPartCopy, which take no conditional headers) leaves the steps of a multipart upload alone."""
    user = iam_user(managed=["arn:aws:iam::aws:policy/AmazonS3FullAccess"])
    with denying(s3, bucket, "s3:PutObject",
                 {"Null": {"s3:if-none-match": "true"}, "Bool": {"s3:ObjectCreationOperation": "true"}}):
        with pytest.raises(ClientError) as exc:
            user.s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
        assert client_error(exc) == (403, "AccessDenied")
        user.s3.put_object(Bucket=bucket, Key="new", Body=b"x", IfNoneMatch="*")
        with pytest.raises(ClientError) as exc:
            user.s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "new"})
        assert client_error(exc) == (403, "AccessDenied")
        upload = user.s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
        part = user.s3.upload_part(Bucket=bucket, Key="mpu", UploadId=upload, PartNumber=1, Body=b"p")
        parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
        with pytest.raises(ClientError) as exc:
            user.s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=upload, MultipartUpload=parts)
        assert client_error(exc) == (403, "AccessDenied")
        user.s3.complete_multipart_upload(Bucket=bucket, Key="mpu", UploadId=upload, MultipartUpload=parts,
                                          IfNoneMatch="*")
        assert not exists(s3, bucket, "plain") and exists(s3, bucket, "mpu")


def test_a_bucket_policy_can_require_if_match_on_overwrites(iam_user, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(managed=["arn:aws:iam::aws:policy/AmazonS3FullAccess"])
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    with denying(s3, bucket, "s3:PutObject",
                 {"Null": {"s3:if-match": "true"}, "Bool": {"s3:ObjectCreationOperation": "true"}}):
        with pytest.raises(ClientError) as exc:
            user.s3.put_object(Bucket=bucket, Key="k", Body=b"blind")
        assert client_error(exc) == (403, "AccessDenied")
        user.s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=etag)
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
