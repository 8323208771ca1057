"""Error responses: S3's XML shape everywhere, 501 for unimplemented operations, 405 for unknown methods."""

from __future__ import annotations

import pytest
import requests
from botocore.exceptions import ClientError

from tests.e2e.helpers import (
    assert_s3_error,
    client_error,
    key_path,
    parse_error,
    signed_request,
    unique_name,
)

# SQLite only: error shapes are rendered above the store.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")


def _assert_shape(r: requests.Response) -> dict[str, str]:
    assert r.headers.get("Content-Type", "").startswith(("application/xml", "text/xml")), dict(r.headers)
    assert r.content.lstrip().startswith(b"<?xml") or r.content.lstrip().startswith(b"<Error>")
    err = parse_error(r.content)
    for field in ("Code", "Message", "RequestId", "HostId"):
        assert err.get(field), (field, err)
    assert err["RequestId"] == r.headers.get("x-amz-request-id")
    assert r.headers.get("x-amz-id-2") in (None, err["HostId"])
    return err


def test_no_such_key_shape(endpoint, bucket):
    r = signed_request("GET", f"{endpoint}/{bucket}/missing")
    err = _assert_shape(r)
    assert err["Code"] == "NoSuchKey"
    assert err["Message"] == "The specified key does not exist."
    assert err.get("Key") == "missing"


def test_no_such_bucket_shape(endpoint):
    name = unique_name("nobucket")
    r = signed_request("GET", f"{endpoint}/{name}?list-type=2")
    assert r.status_code == 404
    err = _assert_shape(r)
    assert err["Code"] == "NoSuchBucket"
    assert err["Message"] == "The specified bucket does not exist"
    assert err.get("BucketName") == name


def test_access_denied_shape(endpoint):
    r = requests.get(f"{endpoint}/", timeout=10)
    assert r.status_code == 403
    assert _assert_shape(r)["Code"] == "AccessDenied"


def test_signature_error_shape(endpoint):
    r = signed_request("GET", f"{endpoint}/", secret_key="x" * 40)
    assert r.status_code == 403
    assert _assert_shape(r)["Code"] == "SignatureDoesNotMatch"


def test_error_with_xml_special_key_is_well_formed(endpoint, bucket):
    key = "a<b>&c\"d'"
    r = signed_request("GET", endpoint + key_path(bucket, key))
    err = assert_s3_error(r, 404, "NoSuchKey")
    assert err.get("Key") == key


def test_boto3_parses_errors(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="missing")
    resp = exc.value.response
    assert resp["Error"]["Code"] == "NoSuchKey"
    assert resp["Error"]["Message"]
    assert resp["ResponseMetadata"]["RequestId"]
    assert resp["ResponseMetadata"]["HostId"]


@pytest.mark.parametrize("op,kwargs", [
    ("put_bucket_website", {"WebsiteConfiguration": {"IndexDocument": {"Suffix": "index.html"}}}),
    ("put_bucket_analytics_configuration", {"Id": "a1", "AnalyticsConfiguration": {
        "Id": "a1", "StorageClassAnalysis": {}}}),
    ("put_bucket_accelerate_configuration", {"AccelerateConfiguration": {"Status": "Enabled"}}),
    ("get_bucket_metadata_table_configuration", {}),
])
def test_unimplemented_operation_is_501(s3, bucket, op, kwargs):
    with pytest.raises(ClientError) as exc:
        getattr(s3, op)(Bucket=bucket, **kwargs)
    assert client_error(exc) == (501, "NotImplemented")


def test_unimplemented_operation_raw_shape(endpoint, bucket):
    r = signed_request("GET", f"{endpoint}/{bucket}?metadataTable")
    assert r.status_code == 501
    assert _assert_shape(r)["Code"] == "NotImplemented"


@pytest.mark.parametrize("target", ["object", "bucket"])
def test_unknown_method_is_405(endpoint, s3, bucket, target):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = f"{endpoint}/{bucket}/k" if target == "object" else f"{endpoint}/{bucket}"
    r = signed_request("PATCH", url, body=b"x")
    err = assert_s3_error(r, 405, "MethodNotAllowed")
    assert err["RequestId"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


@pytest.mark.parametrize("query", ["", "?upload", "?x-id=Nothing"])
def test_a_post_to_an_object_without_an_operation_is_405(endpoint, bucket, query):
    """A POST that names no operation S3 has for an object (a form posted to the object's URL, a misspelt
    ``?uploads``) is 405 MethodNotAllowed, as S3 answers it; a 501 made browser SDKs and aws4fetch retry it
    (browser probe, finding 1; aws4fetch#14, versitygw#896)."""
    r = signed_request("POST", f"{endpoint}/{bucket}/k{query}", body=b"x")
    error = assert_s3_error(r, 405, "MethodNotAllowed")
    assert (error["Method"], error["ResourceType"]) == ("POST", "OBJECT")
