"""Service-level behaviour: health/readiness endpoints, request ids, anonymous access, unknown services."""

from __future__ import annotations

import http.client
import io

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.e2e.helpers import (
    MiB,
    assert_s3_error,
    parse_any_aws_error,
    parse_error,
    sign_headers,
    signed_request,
    unique_name,
)


def test_health_is_unauthenticated(endpoint):
    r = requests.get(f"{endpoint}/_storeroom/health", timeout=10)
    assert r.status_code == 200


def test_ready_is_unauthenticated(endpoint):
    r = requests.get(f"{endpoint}/_storeroom/ready", timeout=10)
    assert r.status_code == 200


@pytest.mark.parametrize("what", ["list-buckets", "anonymous", "missing-bucket-head", "missing-key-get",
                                  "health"])
def test_every_response_has_request_id(endpoint, bucket, what):
    if what == "list-buckets":
        r = signed_request("GET", f"{endpoint}/")
        assert r.status_code == 200
    elif what == "anonymous":
        r = requests.get(f"{endpoint}/", timeout=10)
    elif what == "missing-bucket-head":
        r = signed_request("HEAD", f"{endpoint}/{unique_name('nobucket')}")
        assert r.status_code == 404
    elif what == "missing-key-get":
        r = signed_request("GET", f"{endpoint}/{bucket}/no-such-key")
        assert r.status_code == 404
    else:
        r = requests.get(f"{endpoint}/_storeroom/health", timeout=10)
    assert r.headers.get("x-amz-request-id"), dict(r.headers)


def test_request_ids_are_unique(endpoint):
    ids = {signed_request("GET", f"{endpoint}/").headers["x-amz-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_boto3_sees_request_id(s3):
    meta = s3.list_buckets()["ResponseMetadata"]
    assert meta["RequestId"]
    assert meta["HTTPHeaders"]["x-amz-request-id"] == meta["RequestId"]


def test_anonymous_list_buckets_is_access_denied(endpoint):
    r = requests.get(f"{endpoint}/", timeout=10)
    err = assert_s3_error(r, 403, "AccessDenied")
    assert err["RequestId"] == r.headers["x-amz-request-id"]
    assert r.headers["Content-Type"].startswith(("application/xml", "text/xml"))


def test_anonymous_get_object_is_access_denied(endpoint, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    r = requests.get(f"{endpoint}/{bucket}/k", timeout=10)
    assert_s3_error(r, 403, "AccessDenied")
    assert b"secret" not in r.content


def test_unknown_service_in_scope_is_aws_shaped_error(endpoint):
    r = signed_request("GET", f"{endpoint}/", service="nosuchservice")
    assert 400 <= r.status_code < 500 or r.status_code == 501, (r.status_code, r.content)
    assert r.headers.get("x-amz-request-id")
    assert parse_any_aws_error(r.content).get("Code")


def test_directory_buckets_are_s3s_not_implemented(endpoint):
    """``aws s3api list-directory-buckets`` signs for s3express: it got IAM's "The action (none) is not valid for
    this web service." in IAM's shape."""
    s3 = make_client(endpoint)
    with pytest.raises(ClientError) as exc:
        s3.list_directory_buckets()
    error = exc.value.response["Error"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert (error["Code"], error["Message"]) == (
        "NotImplemented", "S3 Express One Zone (directory buckets) is not implemented by Storeroom.")


def test_sqs_client_gets_aws_error_not_500(endpoint):
    sqs = make_client(endpoint, service="sqs")
    with pytest.raises(ClientError) as exc:
        sqs.list_queues()
    status = exc.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert status != 500 and (400 <= status < 500 or status == 501), exc.value.response
    assert exc.value.response["Error"].get("Code")


def test_iam_client_gets_answer_or_aws_error_not_500(endpoint):
    iam = make_client(endpoint, service="iam")
    try:
        iam.list_users()
    except ClientError as e:
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert status != 500 and (400 <= status < 500 or status == 501), e.response
        assert e.response["Error"].get("Code")


# --- HTTP connection handling --------------------------------------------------------------------

def test_connection_usable_after_early_error_with_expect_continue(server):
    """botocore sends ``Expect: 100-continue`` and withholds the body when the answer is a final error.
    The server must then close the connection or be ready for the next request on it, never treat the
    next request as the missing body."""
    path = f"/{unique_name('nobucket')}/k"
    headers = sign_headers("PUT", server.endpoint + path,
                           {"Content-Length": str(MiB), "Expect": "100-continue"},
                           payload_hash="UNSIGNED-PAYLOAD")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("PUT", path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 404
        assert parse_error(resp.read())["Code"] == "NoSuchBucket"
        if resp.will_close:
            return  # closing the connection is a correct answer
        conn.request("GET", "/_storeroom/health")
        again = conn.getresponse()
        assert again.status == 200
        again.read()
    finally:
        conn.close()


def test_boto3_client_usable_after_put_error(s3):
    missing = unique_name("nobucket")
    for _ in range(3):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=missing, Key="k", Body=io.BytesIO(b"x" * MiB))
        assert exc.value.response["Error"]["Code"] == "NoSuchBucket"
        assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
