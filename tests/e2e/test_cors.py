"""Bucket CORS: Put/Get/DeleteBucketCors with S3's validation, preflight OPTIONS answered without credentials from
the bucket's rules, and the Access-Control-* headers of actual requests (errors included) -- S3's answers as
recorded against AWS by LocalStack's tests/aws/services/s3/test_s3_cors.snapshot.json."""

from __future__ import annotations

import hashlib

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.e2e.helpers import assert_s3_error, b64, client_error, signed_request, unique_name

ORIGIN = "https://app.example.com"
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
               "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
               "whitelisted by the resource's CORS spec.")
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


def options(endpoint: str, path: str, **headers: str) -> requests.Response:
    return requests.options(endpoint + path, headers={k.replace("_", "-"): v for k, v in headers.items()},
                            timeout=10)


def cors_headers(resp: requests.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in resp.headers.items()
            if k.lower().startswith("access-control-") or k.lower() == "vary"}


def test_put_get_delete_round_trip(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert client_error(exc) == (404, "NoSuchCORSConfiguration")
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204  # none: still 204
    rules = [
        {"ID": "uploads", "AllowedHeaders": ["x-amz-*", "Content-Type"], "AllowedMethods": ["PUT", "POST"],
         "AllowedOrigins": ["https://*.example.com"], "ExposeHeaders": ["ETag", "x-amz-request-id"],
         "MaxAgeSeconds": 3000},
        {"AllowedMethods": ["GET", "HEAD"], "AllowedOrigins": ["*"]},
        {"AllowedMethods": ["GET"], "AllowedOrigins": [""]},  # S3 keeps an empty origin as given
    ]
    assert s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})[
        "ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == rules
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert client_error(exc) == (404, "NoSuchCORSConfiguration")
    assert exc.value.response["Error"]["BucketName"] == bucket


def _put_fails(s3, bucket: str, rules: list[dict]) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    return (*client_error(exc), exc.value.response["Error"]["Message"])


@pytest.mark.parametrize(("rule", "expected"), [
    ({"AllowedMethods": ["MYMETHOD"], "AllowedOrigins": ["*"]},
     (400, "InvalidRequest", "Found unsupported HTTP method in CORS config. Unsupported method is MYMETHOD")),
    ({"AllowedMethods": ["GET"], "AllowedOrigins": ["*example*.com"]},
     (400, "InvalidRequest", 'AllowedOrigin "*example*.com" can not have more than one wildcard.')),
    ({"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "AllowedHeaders": ["x-*-*"]},
     (400, "InvalidRequest", 'AllowedHeader "x-*-*" can not have more than one wildcard.')),
    ({"AllowedMethods": ["GET"], "AllowedOrigins": []}, (400, "MalformedXML", None)),
    ({"AllowedMethods": [], "AllowedOrigins": ["*"]}, (400, "MalformedXML", None)),
], ids=["method", "origin-wildcards", "header-wildcards", "no-origin", "no-method"])
def test_invalid_rules_are_refused_as_s3_refuses_them(s3, bucket, rule, expected) -> None:  # type: ignore[no-untyped-def]
    status, code, message = _put_fails(s3, bucket, [rule])
    assert (status, code) == expected[:2]
    if expected[2] is not None:
        assert message == expected[2]
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)  # nothing was stored


def test_limits_and_missing_bucket(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    assert _put_fails(s3, bucket, [])[:2] == (400, "MalformedXML")
    many = [{"AllowedMethods": ["GET"], "AllowedOrigins": [f"https://{i}.example"]} for i in range(101)]
    assert _put_fails(s3, bucket, many)[:2] == (400, "MalformedXML")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": many[:100]})
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 100
    missing = unique_name("missing")
    for call in (lambda: s3.get_bucket_cors(Bucket=missing), lambda: s3.delete_bucket_cors(Bucket=missing),
                 lambda: s3.put_bucket_cors(Bucket=missing, CORSConfiguration={"CORSRules": many[:1]})):
        with pytest.raises(ClientError) as exc:
            call()
        assert client_error(exc) == (404, "NoSuchBucket")


def test_an_integrity_value_is_required_and_checked(endpoint: str, bucket: str) -> None:
    body = (b'<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin>'
            b'</CORSRule></CORSConfiguration>')
    url = f"{endpoint}/{bucket}?cors"
    resp = signed_request("PUT", url, body=body)
    assert assert_s3_error(resp, 400, "InvalidRequest")["Message"] == (
        "Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
    assert_s3_error(signed_request("PUT", url, {"Content-MD5": b64(b"0" * 16)}, body=body), 400, "BadDigest")
    assert signed_request("PUT", url, {"Content-MD5": b64(hashlib.md5(body).digest())}, body=body).status_code == 200


def test_preflight_without_configuration(endpoint: str, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    resp = options(endpoint, f"/{bucket}/key")
    assert assert_s3_error(resp, 400, "BadRequest")["Message"] == (
        "Insufficient information. Origin request header needed.")
    error = assert_s3_error(options(endpoint, f"/{bucket}/key", Origin=ORIGIN, Access_Control_Request_Method="PUT"),
                            403, "AccessForbidden")
    assert (error["Message"], error["Method"], error["ResourceType"]) == (
        "CORSResponse: CORS is not enabled for this bucket.", "PUT", "BUCKET")
    error = assert_s3_error(options(endpoint, f"/{unique_name('missing')}/key", Origin=ORIGIN), 403,
                            "AccessForbidden")
    assert (error["Message"], error["Method"], error["ResourceType"]) == (
        "CORSResponse: Bucket not found", "OPTIONS", "BUCKET")
    s3.put_object(Bucket=bucket, Key="key", Body=b"x")
    assert not cors_headers(requests.get(f"{endpoint}/{bucket}/key", headers={"Origin": ORIGIN}, timeout=10))


def test_preflight_and_actual_requests_follow_the_rules(endpoint: str, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"], "MaxAgeSeconds": 3000,
         "AllowedHeaders": ["x-amz-*", "content-type"], "ExposeHeaders": ["ETag"]},
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
    ]})
    s3.delete_public_access_block(Bucket=bucket)  # a public policy: new buckets block them (AWS since 2023)
    s3.put_bucket_policy(Bucket=bucket, Policy=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",'
        f'"Resource":"arn:aws:s3:::{bucket}/*"}}]}}'))
    s3.put_object(Bucket=bucket, Key="dir/key", Body=b"cors")
    path = f"/{bucket}/dir/key"

    resp = options(endpoint, path, Origin=ORIGIN, Access_Control_Request_Method="PUT",
                   Access_Control_Request_Headers="Content-Type, X-Amz-Date,x-amz-content-sha256")
    assert resp.status_code == 200 and resp.content == b""
    assert cors_headers(resp) == {
        "access-control-allow-origin": ORIGIN, "access-control-allow-credentials": "true", "vary": VARY,
        "access-control-allow-methods": "GET, PUT",
        "access-control-allow-headers": "content-type, x-amz-date, x-amz-content-sha256",
        "access-control-expose-headers": "ETag", "access-control-max-age": "3000"}
    # a header no rule allows, a method no rule allows, an origin no rule allows: refused, naming the resource
    for origin, method, asked in ((ORIGIN, "PUT", "authorization, x-custom"), ("http://app.example.com", "PUT", ""),
                                  (ORIGIN, "DELETE", "")):
        error = assert_s3_error(options(endpoint, path, Origin=origin, Access_Control_Request_Method=method,
                                        Access_Control_Request_Headers=asked), 403, "AccessForbidden")
        assert (error["Message"], error["Method"], error["ResourceType"]) == (NOT_ALLOWED, method, "OBJECT")
    # with rules in place, a preflight must name one of S3's five methods (ceph/s3-tests' test_cors_origin_response)
    for asked, shown in ((None, "null"), ("PATCH", "PATCH"), ("get", "get"), ("OPTIONS", "OPTIONS")):
        extra = {} if asked is None else {"Access_Control_Request_Method": asked}
        error = assert_s3_error(options(endpoint, path, Origin=ORIGIN, **extra), 400, "BadRequest")
        assert error["Message"] == f"Invalid Access-Control-Request-Method: {shown}"
    # the query of a presigned URL is no credential of the preflight's: answered all the same
    presigned = make_client(endpoint, signature_version="s3v4").generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "dir/key"})
    assert requests.options(presigned, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "PUT"},
                            timeout=10).headers["access-control-allow-origin"] == ORIGIN
    error = assert_s3_error(options(endpoint, f"/{bucket}", Origin="https://elsewhere.test",
                                    Access_Control_Request_Method="PUT"), 403, "AccessForbidden")
    assert error["ResourceType"] == "BUCKET"
    # the second rule: any origin may GET, answered with "*" and without credentials
    wildcard = options(endpoint, path, Origin="https://elsewhere.test", Access_Control_Request_Method="GET")
    assert cors_headers(wildcard) == {"access-control-allow-origin": "*", "vary": VARY,
                                      "access-control-allow-methods": "GET"}

    # actual requests: the matching rule's headers, requested headers not judged; no match, no headers
    got = requests.get(endpoint + path, headers={"Origin": ORIGIN, "X-Custom": "1"}, timeout=10)
    assert got.status_code == 200 and got.content == b"cors"
    assert got.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert got.headers["Access-Control-Expose-Headers"] == "ETag" and got.headers["Vary"] == VARY
    assert requests.get(endpoint + path, headers={"Origin": "https://x.test"},
                        timeout=10).headers["Access-Control-Allow-Origin"] == "*"
    assert not cors_headers(requests.delete(endpoint + path, headers={"Origin": ORIGIN}, timeout=10))
    # ...but Access-Control-Request-Headers, when an actual request sends it, is judged as in a preflight: no rule
    # allows x-custom, so no headers (LocalStack's AWS-recorded snapshot "get-non-allowed-with-acl")
    asked = requests.get(endpoint + path, headers={"Origin": ORIGIN, "Access-Control-Request-Headers": "x-custom"},
                         timeout=10)
    assert asked.status_code == 200 and not cors_headers(asked)
    # errors carry them too: a missing key (403 to an anonymous caller without s3:ListBucket), a refused PUT
    missing = requests.get(f"{endpoint}/{bucket}/nothing", headers={"Origin": ORIGIN}, timeout=10)
    assert missing.status_code == 403 and missing.headers["Access-Control-Allow-Origin"] == ORIGIN
    refused = requests.put(endpoint + path, data=b"no", headers={"Origin": ORIGIN}, timeout=10)
    assert_s3_error(refused, 403, "AccessDenied")
    assert refused.headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert s3.get_object(Bucket=bucket, Key="dir/key")["Body"].read() == b"cors"


def test_a_bucket_recreated_has_no_rules(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]})
    s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert client_error(exc) == (404, "NoSuchCORSConfiguration")


def test_versions_across_origins(endpoint: str, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    """A versioned bucket's answers carry the rule's headers like any other, errors of delete markers included;
    a page reads the version headers the rule exposes.  A preflight is judged on the path, not its versionId."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    expose = "ETag, x-amz-version-id, x-amz-delete-marker"
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": [ORIGIN], "AllowedMethods": ["GET", "PUT", "DELETE"], "AllowedHeaders": ["*"],
         "ExposeHeaders": expose.split(", ")}]})
    url = f"{endpoint}/{bucket}/doc"
    first = signed_request("PUT", url, {"Origin": ORIGIN}, body=b"one")
    assert first.status_code == 200 and first.headers["Access-Control-Expose-Headers"] == expose
    version = first.headers["x-amz-version-id"]
    assert signed_request("PUT", url, {"Origin": ORIGIN}, body=b"two").headers["x-amz-version-id"] != version
    preflight = options(endpoint, f"/{bucket}/doc?versionId={version}", Origin=ORIGIN,
                        Access_Control_Request_Method="DELETE")
    assert preflight.status_code == 200 and preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    older = signed_request("GET", f"{url}?versionId={version}", {"Origin": ORIGIN})
    assert (older.content, older.headers["x-amz-version-id"]) == (b"one", version)
    assert older.headers["Access-Control-Allow-Origin"] == ORIGIN
    deleted = signed_request("DELETE", url, {"Origin": ORIGIN})
    assert deleted.status_code == 204 and deleted.headers["x-amz-delete-marker"] == "true"
    assert deleted.headers["Access-Control-Allow-Origin"] == ORIGIN
    marker = deleted.headers["x-amz-version-id"]
    gone = signed_request("GET", url, {"Origin": ORIGIN})
    assert_s3_error(gone, 404, "NoSuchKey")
    assert (gone.headers["x-amz-delete-marker"], gone.headers["Access-Control-Allow-Origin"]) == ("true", ORIGIN)
    of_marker = signed_request("GET", f"{url}?versionId={marker}", {"Origin": ORIGIN})
    assert_s3_error(of_marker, 405, "MethodNotAllowed")
    assert of_marker.headers["Access-Control-Expose-Headers"] == expose
