"""Conditional writes beyond PutObject: ``If-Match`` on CopyObject (the destination) and on
CompleteMultipartUpload, as botocore's S3 model documents them ("Uploads the object only if the ETag ... matches
the ETag of the object in S3 ... 412 Precondition Failed"), and CompleteMultipartUpload's
``x-amz-mp-object-size`` (MpuObjectSize: "If there's a mismatch between the specified object size value and the
actual object size value, it results in an HTTP 400 InvalidRequest error"; AWS's transfer managers send it to
catch a dropped or duplicated part).  Each refusal leaves the key's object as it was."""

from __future__ import annotations

import pytest
import requests
from botocore.exceptions import ClientError

from tests.e2e.helpers import assert_s3_error, client_error, signed_request

MiB = 1024 * 1024


def _upload(s3, bucket: str, key: str, sizes: tuple[int, ...] = (5 * MiB, 1)) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, size in enumerate(sizes, 1):
        part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=b"p" * size)
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    return upload, {"Parts": parts}


# -- CopyObject ----------------------------------------------------------------------------------------------

def test_copy_if_match_a_stale_etag_keeps_the_destination(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    stale = s3.put_object(Bucket=bucket, Key="dst", Body=b"old")["ETag"]
    s3.put_object(Bucket=bucket, Key="dst", Body=b"current")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, IfMatch=stale)
    assert client_error(exc) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"current"
    current = s3.head_object(Bucket=bucket, Key="dst")["ETag"]
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, IfMatch=current)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"source"


def test_copy_onto_itself_if_match_judges_its_own_etag(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """A copy of an object onto itself that only changes its metadata keeps its data (no bytes copied): the
    condition is still checked when the new metadata is written."""
    stale = s3.put_object(Bucket=bucket, Key="k", Body=b"old")["ETag"]
    current = s3.put_object(Bucket=bucket, Key="k", Body=b"current", Metadata={"v": "1"})["ETag"]
    source = {"Bucket": bucket, "Key": "k"}
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="k", CopySource=source, MetadataDirective="REPLACE", Metadata={"v": "2"},
                       IfMatch=stale)
    assert client_error(exc) == (412, "PreconditionFailed")
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"v": "1"}
    s3.copy_object(Bucket=bucket, Key="k", CopySource=source, MetadataDirective="REPLACE", Metadata={"v": "2"},
                   IfMatch=current)
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"v": "2"}


def test_copy_if_match_onto_a_missing_key_is_no_such_key(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="none", CopySource={"Bucket": bucket, "Key": "src"}, IfMatch="*")
    assert client_error(exc) == (404, "NoSuchKey")


# -- CompleteMultipartUpload ---------------------------------------------------------------------------------

def test_complete_if_match_a_stale_etag_keeps_the_object(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    stale = s3.put_object(Bucket=bucket, Key="k", Body=b"old")["ETag"]
    current = s3.put_object(Bucket=bucket, Key="k", Body=b"current")["ETag"]
    upload, parts = _upload(s3, bucket, "k")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload=parts, IfMatch=stale)
    assert client_error(exc) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"current"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload=parts,
                                        IfMatch=current)
    assert done["ETag"].endswith('-2"')
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 5 * MiB + 1


@pytest.mark.parametrize("versioned", [False, True])
def test_a_conditional_complete_after_a_write_during_the_upload_is_a_conflict(s3, bucket, versioned: bool) -> None:  # type: ignore[no-untyped-def]
    """A key written (or, versioned, deleted) since the upload began: 409 ConditionalRequestConflict, and the client
    starts the upload again (API_CompleteMultipartUpload; LocalStack's AWS-recorded
    complete-multipart-if-match-put-during, complete-multipart-after-del). It completed over the new write."""
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")
    upload, parts = _upload(s3, bucket, "k")
    during = s3.put_object(Bucket=bucket, Key="k", Body=b"during")["ETag"]
    with pytest.raises(ClientError) as exc:  # the If-Match holds, on what was written meanwhile
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload=parts, IfMatch=during)
    assert client_error(exc) == (409, "ConditionalRequestConflict")
    assert exc.value.response["Error"]["Condition"] == "If-Match"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"during"
    again, parts = _upload(s3, bucket, "k")  # begun again: it completes
    assert s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=again, MultipartUpload=parts,
                                        IfMatch=during)["ETag"].endswith('-2"')
    if versioned:  # a delete during the upload, seen by its marker
        third, parts = _upload(s3, bucket, "k")
        s3.delete_object(Bucket=bucket, Key="k")
        with pytest.raises(ClientError) as exc:
            s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=third, MultipartUpload=parts,
                                         IfNoneMatch="*")
        assert client_error(exc) == (409, "ConditionalRequestConflict")
        assert exc.value.response["Error"]["Condition"] == "If-None-Match"
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=third)
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)  # refused, left to be begun again


def test_complete_if_match_onto_a_missing_key_is_no_such_key(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    upload, parts = _upload(s3, bucket, "k")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload=parts, IfMatch="*")
    assert client_error(exc) == (404, "NoSuchKey")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)


def test_complete_checks_the_expected_object_size(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    upload, parts = _upload(s3, bucket, "k")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload=parts,
                                     MpuObjectSize=5 * MiB)
    assert client_error(exc) == (400, "InvalidRequest")
    assert exc.value.response["Error"]["Message"] == (
        f"The provided 'x-amz-mp-object-size' header value {5 * MiB} does not match what was computed: {5 * MiB + 1}")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="k")
    assert client_error(exc)[0] == 404
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload=parts,
                                 MpuObjectSize=5 * MiB + 1)
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 5 * MiB + 1


@pytest.mark.parametrize(("value", "message"), [
    ("size", "Value for x-amz-mp-object-size header is invalid: 'size'"),
    ("-1", "Value for x-amz-mp-object-size header is less than zero: '-1'"),
])
def test_complete_refuses_a_malformed_object_size(endpoint, s3, bucket, value: str, message: str) -> None:  # type: ignore[no-untyped-def]
    upload, parts = _upload(s3, bucket, "k", (1,))
    body = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + parts["Parts"][0]["ETag"]
            + "</ETag></Part></CompleteMultipartUpload>").encode()
    r: requests.Response = signed_request("POST", f"{endpoint}/{bucket}/k?uploadId={upload}",
                                          {"x-amz-mp-object-size": value}, body)
    err = assert_s3_error(r, 400, "InvalidRequest")
    assert err["Message"] == message
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)


@pytest.mark.parametrize(("conditions", "header", "why"), [
    ({"IfMatch": "*"}, "If-Match", "We don't accept the provided value of If-Match header for this API"),
    ({"IfNoneMatch": '"abc"'}, "If-None-Match",
     "We don't accept the provided value of If-None-Match header for this API"),
    ({"IfNoneMatch": "*", "IfMatch": '"abc"'}, "If-Match,If-None-Match",
     "Multiple conditional request headers present in the request"),
])
def test_put_object_takes_one_condition_of_its_own_form(s3, bucket, conditions, header: str, why: str) -> None:  # type: ignore[no-untyped-def]
    """PutObject answers If-Match: *, an If-None-Match ETag, or both headers 501 (LocalStack's AWS-recorded
    put-obj-if-match-star-value, put-obj-if-none-match-bad-value, put-obj-both-precondition); the first and the
    last were judged (a 404 for a missing key)."""
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="missing", Body=b"x", **conditions)
    assert client_error(exc) == (501, "NotImplemented")
    assert (exc.value.response["Error"]["Header"], exc.value.response["Error"]["additionalMessage"]) == (header, why)


# -- directory buckets' headers, refused rather than ignored -------------------------------------------------

@pytest.mark.parametrize(("call", "header"), [
    (lambda s3, b: s3.put_object(Bucket=b, Key="k", Body=b"tail", WriteOffsetBytes=3), "x-amz-write-offset-bytes"),
    (lambda s3, b: s3.delete_object(Bucket=b, Key="k", IfMatchSize=1), "x-amz-if-match-size"),
    (lambda s3, b: s3.delete_object(Bucket=b, Key="k", IfMatchLastModifiedTime="2020-01-01T00:00:00Z"),
     "x-amz-if-match-last-modified-time"),
])
def test_a_directory_buckets_condition_is_refused_not_ignored(s3, bucket, call, header: str) -> None:  # type: ignore[no-untyped-def]
    """An append at an offset (S3 Express One Zone) or a delete conditional on size or time (directory buckets):
    S3's general purpose buckets do not do them, and doing the plain operation instead would overwrite or delete
    what the client meant to keep."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    with pytest.raises(ClientError) as exc:
        call(s3, bucket)
    assert client_error(exc) == (501, "NotImplemented")
    assert exc.value.response["Error"].get("Header") == header
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"


def test_abort_if_initiated_at_another_time_is_refused_not_ignored(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, IfMatchInitiatedTime="2020-01-01T00:00:00Z")
    assert client_error(exc) == (501, "NotImplemented")
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [upload]
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)
