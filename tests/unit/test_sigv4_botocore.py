"""SigV4 verification against requests signed by botocore's own signers (and a real boto3 client).

The request is handed to ``verify`` the way the HTTP edge sees it on the wire: the path and query string as
sent (percent-encoded), header names lowercased, repeated headers joined with ',', ``host`` as the HTTP
client writes it.
"""

from __future__ import annotations

import calendar
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth, _host_from_url
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storeroom.errors import AwsError
from storeroom.sigv4 import SignedRequest, canonical_request, parse_auth, string_to_sign, verify

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CREDS = Credentials(AKID, SECRET)
ENDPOINT = "http://127.0.0.1:9000"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass
class Wire:
    """A signed request as the server receives it."""

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes
    signer_creq: str  # botocore's canonical request, for comparison
    signer_sts: str

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.raw_query, keep_blank_values=True)

    def parse(self) -> SignedRequest:
        signed = parse_auth(self.headers, self.query)
        assert signed is not None
        return signed

    def verify(
        self,
        *,
        now: float | None = None,
        secret: str = SECRET,
        payload_hash: str | None = None,
        path: str | None = None,
    ) -> bytes:
        signed = self.parse()
        if payload_hash is None and signed.payload_hash == "":
            payload_hash = hashlib.sha256(self.body).hexdigest()
        return verify(
            signed,
            secret,
            self.method,
            self.raw_path if path is None else path,
            self.raw_query,
            self.headers,
            now=time.time() if now is None else now,
            payload_hash=payload_hash,
        )


def recording(signer_cls: type[SigV4Auth]) -> type[SigV4Auth]:
    """The signer, keeping the canonical request and string to sign it computed."""

    class Recording(signer_cls):  # type: ignore[valid-type,misc]
        recorded = ("", "")

        def string_to_sign(self, request: AWSRequest, canonical_request: str) -> str:
            sts: str = super().string_to_sign(request, canonical_request)
            self.recorded = (canonical_request, sts)
            return sts

    return Recording


def wire_of(request: AWSRequest, signer: SigV4Auth) -> Wire:
    """What goes on the wire for a request botocore signed (before it prepares and sends it)."""
    creq, sts = signer.recorded  # type: ignore[attr-defined]
    prepared = request.prepare()
    url = urlsplit(prepared.url)
    headers: dict[str, str] = {}
    for name in request.headers.keys():  # noqa: SIM118 - HTTPHeaders keeps repeated names
        lname = name.lower()
        if lname not in headers:
            headers[lname] = ",".join(v.strip() for v in request.headers.get_all(name))
    headers["host"] = _host_from_url(prepared.url)
    body = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
    return Wire(request.method, url.path, url.query, headers, body, creq, sts)


def object_url(key: str, bucket: str = "bucket") -> str:
    # As botocore's rest-xml serializer writes a key into the path.
    return f"{ENDPOINT}/{bucket}/{quote(key.encode('utf-8'), safe='/~')}"


def sign_s3(
    method: str,
    key: str,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    creds: Credentials = CREDS,
) -> Wire:
    request = AWSRequest(
        method=method, url=object_url(key), params=params or {}, headers=headers or {}, data=body
    )
    signer = recording(S3SigV4Auth)(creds, "s3", "us-east-1")
    signer.add_auth(request)
    return wire_of(request, signer)


def presign_s3(
    method: str,
    key: str,
    *,
    expires: int = 3600,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    creds: Credentials = CREDS,
) -> Wire:
    request = AWSRequest(method=method, url=object_url(key), params=params or {}, headers=headers or {})
    signer = recording(S3SigV4QueryAuth)(creds, "s3", "us-east-1", expires=expires)
    signer.add_auth(request)
    request.params = {}
    return wire_of(request, signer)


def sign_query_api(service: str, body: str, *, path: str = "/", creds: Credentials = CREDS) -> Wire:
    request = AWSRequest(
        method="POST",
        url=f"{ENDPOINT}{path}",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    signer = recording(SigV4Auth)(creds, service, "us-east-1")
    signer.add_auth(request)
    return wire_of(request, signer)


def refused(wire: Wire, code: str, **kwargs: Any) -> AwsError:
    with pytest.raises(AwsError) as caught:
        wire.verify(**kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


AWKWARD_KEYS = [
    "plain.txt",
    "with space.txt",
    "plus+sign",
    "percent%20literal",
    "percent%",
    "unicode/ü/日本語/🙂",
    "tilde~and-dash_dot.",
    "../escape",
    "a/./b/../c",
    "dir/",
    "double//slash",
    "//leading",
    "trailing//",
    "query?chars#hash",
    "semi;colon,comma=eq&amp",
    "quote'\"<>`{}|\\^[]",
    "!$()*@:",
    "\t tab and spaces  ",
]


# ------------------------------------------------------------------------------------------ header auth


@pytest.mark.parametrize("key", AWKWARD_KEYS)
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_s3_header_auth_awkward_keys(key: str, method: str) -> None:
    body = b"hello" if method == "PUT" else b""
    wire = sign_s3(method, key, body=body, params={"versionId": "v 1+2/3~", "x-id": "GetObject"})
    signed = wire.parse()
    assert signed.payload_hash == hashlib.sha256(body).hexdigest()
    creq = canonical_request(
        wire.method,
        wire.raw_path,
        wire.raw_query,
        wire.headers,
        signed.signed_headers,
        signed.payload_hash,
        s3=True,
    )
    assert creq == wire.signer_creq
    assert string_to_sign(signed.amz_date, signed.credential.scope, creq) == wire.signer_sts
    assert len(wire.verify()) == 32


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"uploads": ""},
        {"list-type": "2", "prefix": "a b/c+d", "delimiter": "/", "start-after": "ü"},
        {"tagging": "", "versionId": "=&?/#%"},
        {"empty": "", "Z": "z", "a": "A", "B": "b", "_": "~"},
    ],
)
def test_s3_header_auth_query_strings(params: dict[str, str]) -> None:
    wire = sign_s3("GET", "k", params=params)
    assert wire.verify()


def test_s3_query_string_variants_of_the_same_value() -> None:
    """'+' and '%20' both mean a space in a query value (S3's reading); '%7E' and '~' are the same."""
    wire = sign_s3("GET", "k", params={"prefix": "a b~"})
    for raw in ("prefix=a+b~", "prefix=a%20b~", "prefix=a%20b%7E", "prefix=a+b%7e"):
        wire.raw_query = raw
        assert wire.verify()


def test_s3_path_variants_of_the_same_key() -> None:
    """S3 decodes the path and encodes it once: an over-encoded or under-encoded path signs the same."""
    wire = sign_s3("GET", "a b/ü~")
    for raw in ("/bucket/a%20b/%C3%BC~", "/bucket/a b/%c3%bc%7E", "/bucket/a%20b/\xc3\xbc~"):
        assert wire.verify(path=raw)


def test_s3_no_path_normalization() -> None:
    wire = sign_s3("GET", "a/../b")
    assert wire.raw_path == "/bucket/a/../b"
    assert wire.verify()
    refused(wire, "SignatureDoesNotMatch", path="/bucket/b")


def test_duplicate_headers() -> None:
    request = AWSRequest(method="PUT", url=object_url("k"), data=b"x")
    request.headers["X-Amz-Meta-Dup"] = "first"
    request.headers["X-Amz-Meta-Dup"] = "second  value "  # HTTPHeaders keeps both
    request.headers["X-Amz-Meta-Spaces"] = "  a   b\tc  "
    signer = recording(S3SigV4Auth)(CREDS, "s3", "us-east-1")
    signer.add_auth(request)
    wire = wire_of(request, signer)
    assert wire.headers["x-amz-meta-dup"] == "first,second  value"
    assert "x-amz-meta-dup:first,second value\n" in wire.signer_creq
    assert wire.verify()


def test_session_token_header() -> None:
    creds = Credentials(AKID, SECRET, token="FQoGZXIvYXdzEXAMPLE//token+/=")
    wire = sign_s3("GET", "k", creds=creds)
    assert wire.parse().session_token == "FQoGZXIvYXdzEXAMPLE//token+/="
    assert "x-amz-security-token" in wire.parse().signed_headers
    assert wire.verify()


def test_date_header_instead_of_x_amz_date() -> None:
    request = AWSRequest(method="GET", url=object_url("k"), headers={"Date": "placeholder"})
    signer = recording(S3SigV4Auth)(CREDS, "s3", "us-east-1")
    signer.add_auth(request)  # botocore rewrites Date and then signs it, with no x-amz-date
    wire = wire_of(request, signer)
    assert "x-amz-date" not in wire.headers
    signed = wire.parse()
    assert signed.amz_date == wire.signer_sts.split("\n")[1]
    assert wire.verify()


def test_wrong_secret_reports_what_was_signed() -> None:
    wire = sign_s3("PUT", "some key", body=b"data", params={"tagging": ""})
    error = refused(wire, "SignatureDoesNotMatch", secret=SECRET + "x")
    assert error.status == 403
    assert list(error.extra) == [
        "AWSAccessKeyId",
        "StringToSign",
        "SignatureProvided",
        "StringToSignBytes",
        "CanonicalRequest",
        "CanonicalRequestBytes",
    ]
    assert error.extra["AWSAccessKeyId"] == AKID
    assert error.extra["StringToSign"] == wire.signer_sts
    assert error.extra["CanonicalRequest"] == wire.signer_creq
    assert error.extra["SignatureProvided"] == wire.parse().signature
    assert error.extra["StringToSignBytes"] == " ".join(f"{b:02x}" for b in wire.signer_sts.encode())
    assert error.extra["CanonicalRequestBytes"].startswith("50 55 54 0a")  # "PUT\n"


@pytest.mark.parametrize(
    "tamper", ["header", "unsigned-header-value", "body-hash", "path", "query", "method"]
)
def test_tampering_refused(tamper: str) -> None:
    wire = sign_s3("PUT", "k", body=b"data", headers={"X-Amz-Meta-A": "1", "Content-Type": "text/plain"})
    kwargs: dict[str, Any] = {}
    if tamper == "header":
        wire.headers["content-type"] = "text/html"
    elif tamper == "unsigned-header-value":
        wire.headers["x-amz-meta-a"] = "2"
    elif tamper == "body-hash":
        kwargs["payload_hash"] = hashlib.sha256(b"other").hexdigest()
    elif tamper == "path":
        kwargs["path"] = "/bucket/K"
    elif tamper == "query":
        wire.raw_query = "acl"
    else:
        wire.method = "POST"
    refused(wire, "SignatureDoesNotMatch", **kwargs)


def test_unsigned_amz_header_refused() -> None:
    wire = sign_s3("PUT", "k", body=b"x")
    wire.headers["x-amz-copy-source"] = "/other/key"
    wire.headers["x-amz-acl"] = "public-read"
    error = refused(wire, "AccessDenied")
    assert error.message == "There were headers present in the request which were not signed"
    assert error.extra == {"HeadersNotSigned": "x-amz-copy-source, x-amz-acl"}


def test_unsigned_other_header_allowed() -> None:
    wire = sign_s3("GET", "k")
    wire.headers["user-agent"] = "changed by a proxy"
    wire.headers["x-forwarded-for"] = "10.0.0.1"
    assert wire.verify()


def test_clock_skew() -> None:
    wire = sign_s3("GET", "k")
    assert wire.verify(now=time.time() + 14 * 60)
    assert wire.verify(now=time.time() - 14 * 60)
    error = refused(wire, "RequestTimeTooSkewed", now=time.time() + 16 * 60)
    assert error.status == 403
    assert list(error.extra) == ["RequestTime", "ServerTime", "MaxAllowedSkewMilliseconds"]
    assert error.extra["RequestTime"] == wire.parse().amz_date
    assert error.extra["MaxAllowedSkewMilliseconds"] == "900000"
    assert error.extra["ServerTime"].endswith("Z") and "T" in error.extra["ServerTime"]
    refused(wire, "RequestTimeTooSkewed", now=time.time() - 16 * 60)


# ------------------------------------------------------------------------------------------- presigned


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_presigned_awkward_keys(key: str) -> None:
    wire = presign_s3("GET", key, params={"response-content-disposition": 'attachment; filename="a b.txt"'})
    signed = wire.parse()
    assert signed.presigned and signed.expires == 3600
    assert signed.payload_hash == "UNSIGNED-PAYLOAD"
    assert signed.signed_headers == ("host",)
    assert wire.verify()


def test_presigned_put_with_signed_headers() -> None:
    wire = presign_s3("PUT", "k", headers={"Content-Type": "text/plain", "X-Amz-Meta-A": "1"})
    assert wire.parse().signed_headers == ("content-type", "host", "x-amz-meta-a")
    assert wire.verify()
    wire.headers["x-amz-meta-a"] = "2"
    refused(wire, "SignatureDoesNotMatch")


def test_presigned_extra_amz_header_refused() -> None:
    wire = presign_s3("PUT", "k")
    wire.headers["x-amz-copy-source"] = "/b/secret"
    assert refused(wire, "AccessDenied").extra == {"HeadersNotSigned": "x-amz-copy-source"}


def test_presigned_session_token() -> None:
    wire = presign_s3("GET", "k", creds=Credentials(AKID, SECRET, token="tok/en+=="))
    assert wire.parse().session_token == "tok/en+=="
    assert wire.verify()


def test_presigned_expiry() -> None:
    wire = presign_s3("GET", "k", expires=60)
    signed = wire.parse()
    start = calendar.timegm(time.strptime(signed.amz_date, "%Y%m%dT%H%M%SZ"))
    assert wire.verify(now=start + 60)
    error = refused(wire, "AccessDenied", now=start + 61)
    assert error.message == "Request has expired"
    assert error.extra["X-Amz-Expires"] == "60"
    assert error.extra["Expires"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 60))
    assert error.extra["ServerTime"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 61))
    # Signed in the (near) future: fine within 15 minutes, "not yet valid" beyond.
    assert wire.verify(now=start - 10 * 60)
    error = refused(wire, "AccessDenied", now=start - 16 * 60)
    assert error.message == "Request is not yet valid"
    assert list(error.extra) == ["X-Amz-Date", "Expires", "ServerTime"]


def test_presigned_week_long() -> None:
    wire = presign_s3("GET", "k", expires=604800)
    assert wire.verify(now=time.time() + 604000)


def test_presigned_tampered_query_refused() -> None:
    wire = presign_s3("GET", "k")
    wire.raw_query += "&versionId=1"
    refused(wire, "SignatureDoesNotMatch")


# ---------------------------------------------------------------------------------- IAM / STS (generic)


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_query_api_header_auth(service: str) -> None:
    body = "Action=GetCallerIdentity&Version=2011-06-15&Name=a%20b%2Bc"
    wire = sign_query_api(service, body)
    signed = wire.parse()
    assert signed.payload_hash == ""  # the caller hashes the body
    assert signed.credential.service == service
    assert wire.verify()
    refused(wire, "SignatureDoesNotMatch", payload_hash=hashlib.sha256(b"Action=Other").hexdigest())
    with pytest.raises(ValueError):
        verify(signed, SECRET, wire.method, wire.raw_path, wire.raw_query, wire.headers, now=time.time())


@pytest.mark.parametrize("path", ["/", "/a b/", "/a%20b/c", "/x/../y", "//double//", "/ü/./z", "/%2F/"])
def test_generic_path_normalization_and_double_encoding(path: str) -> None:
    request = AWSRequest(method="GET", url=f"{ENDPOINT}{path}")
    signer = recording(SigV4Auth)(CREDS, "iam", "us-east-1")
    signer.add_auth(request)
    wire = wire_of(request, signer)
    wire.raw_path = path.encode("utf-8").decode("latin-1")  # as the edge decodes wire bytes
    assert wire.verify()
    assert (
        canonical_request(
            "GET", wire.raw_path, "", wire.headers, wire.parse().signed_headers, EMPTY_SHA256, s3=False
        )
        == wire.signer_creq
    )


def test_query_api_error_wording() -> None:
    wire = sign_query_api("iam", "Action=ListUsers&Version=2010-05-08")
    error = refused(wire, "SignatureDoesNotMatch", secret="wrong")
    assert "Consult the service documentation" in error.message
    error = refused(wire, "SignatureDoesNotMatch", now=time.time() + 3600)
    assert error.message.startswith(f"Signature expired: {wire.parse().amz_date} is now earlier than ")
    assert error.message.endswith(" - 15 min.)")
    error = refused(wire, "SignatureDoesNotMatch", now=time.time() - 3600)
    assert error.message.startswith("Signature not yet current: ")


def test_sts_presigned_get_caller_identity() -> None:
    """The presigned STS URL that Vault / EKS-style authenticators verify: it signs the (empty) body hash."""
    request = AWSRequest(
        method="GET", url=f"{ENDPOINT}/", params={"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    )
    signer = recording(SigV4QueryAuth)(CREDS, "sts", "us-east-1", expires=60)
    signer.add_auth(request)
    wire = wire_of(request, signer)
    signed = wire.parse()
    assert signed.presigned and signed.payload_hash == ""
    assert wire.verify(payload_hash=EMPTY_SHA256)


# ------------------------------------------------------------------------------------- property tests

KEY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)
QUERY = st.dictionaries(
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=10).filter(
        lambda name: not name.lower().startswith(("x-amz-", "awsaccesskeyid", "signature"))
    ),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=10),
    max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=KEY_TEXT, params=QUERY)
def test_property_header_auth(key: str, params: dict[str, str]) -> None:
    wire = sign_s3("GET", key, params=params)
    assert wire.verify()
    other = key + "x"
    refused(wire, "SignatureDoesNotMatch", path=urlsplit(object_url(other)).path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=KEY_TEXT, params=QUERY)
def test_property_presigned(key: str, params: dict[str, str]) -> None:
    wire = presign_s3("GET", key, params=params)
    assert wire.verify()


# ----------------------------------------------------------------------------- a real boto3 client


@pytest.fixture
def captured() -> Iterator[tuple[Any, list[Any]]]:
    """An S3 client whose requests are signed for real and captured instead of sent."""
    requests: list[Any] = []

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield b""

    def capture(request: Any, **_: Any) -> AWSResponse:
        requests.append(request)
        return AWSResponse(request.url, 200, {}, Raw())

    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, signature_version="s3v4"),
    )
    client.meta.events.register("before-send.s3", capture)
    yield client, requests


def wire_of_sent(request: Any) -> tuple[str, str, str, dict[str, str], bytes]:
    url = urlsplit(request.url)
    headers = {
        name.lower(): (v.decode("latin-1") if isinstance(v, bytes) else v)
        for name, v in request.headers.items()
    }
    headers["host"] = _host_from_url(request.url)
    body = request.body
    if hasattr(body, "read"):
        position = body.tell()
        body, _ = body.read(), body.seek(position)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return request.method, url.path, url.query, headers, body or b""


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_boto3_client_requests(captured: tuple[Any, list[Any]], key: str) -> None:
    client, requests = captured
    client.put_object(Bucket="bucket", Key=key, Body=b"payload", Metadata={"m": "v  w"}, Tagging="a=b&c=d e")
    client.get_object(Bucket="bucket", Key=key, Range="bytes=0-1", VersionId="v+1")
    client.list_objects_v2(Bucket="bucket", Prefix=key, Delimiter="/")
    client.delete_objects(Bucket="bucket", Delete={"Objects": [{"Key": key}]})
    assert len(requests) == 4
    for request in requests:
        method, path, query, headers, body = wire_of_sent(request)
        signed = parse_auth(headers, parse_qsl(query, keep_blank_values=True))
        assert signed is not None
        if signed.payload_hash not in ("UNSIGNED-PAYLOAD",) and not signed.payload_hash.startswith(
            "STREAMING"
        ):
            assert signed.payload_hash == hashlib.sha256(body).hexdigest()
        verify(signed, SECRET, method, path, query, headers, now=time.time())


def test_boto3_presigned_url(captured: tuple[Any, list[Any]]) -> None:
    client, _ = captured
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": "bucket", "Key": "a b/ü+c"}, ExpiresIn=300
    )
    parts = urlsplit(url)
    headers = {"host": _host_from_url(url)}
    signed = parse_auth(headers, parse_qsl(parts.query, keep_blank_values=True))
    assert signed is not None and signed.expires == 300
    verify(signed, SECRET, "GET", parts.path, parts.query, headers, now=time.time())


# ------------------------------------------------------------------------------------ parse_auth errors

GOOD_AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "0" * 64
)
GOOD_HEADERS = {"host": "h", "x-amz-date": "20240101T000000Z", "x-amz-content-sha256": EMPTY_SHA256}


def header_error(authorization: str | None = GOOD_AUTH, **headers: str | None) -> AwsError:
    changes = {name.replace("_", "-"): value for name, value in headers.items()}
    merged: dict[str, str | None] = {**GOOD_HEADERS, "authorization": authorization, **changes}
    with pytest.raises(AwsError) as caught:
        parse_auth({k: v for k, v in merged.items() if v is not None}, [])
    return caught.value


def test_anonymous() -> None:
    assert parse_auth({"host": "h"}, []) is None
    assert parse_auth({"host": "h"}, [("versionId", "1"), ("X-Amz-Meta", "x")]) is None


def test_header_forms_accepted() -> None:
    compact = GOOD_AUTH.replace(", ", ",")
    reordered = (
        "AWS4-HMAC-SHA256  Signature=" + "0" * 64 + " , SignedHeaders=host;x-amz-date,"
        "Credential=AKID/20240101/us-east-1/s3/aws4_request"
    )
    for authorization in (GOOD_AUTH, compact, reordered):
        signed = parse_auth({**GOOD_HEADERS, "authorization": authorization}, [])
        assert signed is not None
        assert signed.credential == signed.credential.__class__("AKID", "20240101", "us-east-1", "s3")
        assert signed.signature == "0" * 64


@pytest.mark.parametrize(
    ("authorization", "code", "message"),
    [
        (
            "AWS AKID:c2lnbmF0dXJl",
            "InvalidRequest",
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        ),
        ("Bearer abc", "InvalidArgument", "Unsupported Authorization Type"),
        ("AWS4-ECDSA-P256-SHA256 Credential=a/b", "InvalidArgument", "Unsupported Authorization Type"),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request",
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed; the authorization header "
            "requires three components: Credential, SignedHeaders, and Signature.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, "
            "Foo=bar",
            "AuthorizationHeaderMalformed",
            'The authorization header is malformed; the authorization component "Foo=bar" is malformed.',
        ),
        (
            GOOD_AUTH.replace("AKID/", ""),
            "AuthorizationHeaderMalformed",
            "The authorization header is malformed; the Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
        ),
        (
            GOOD_AUTH.replace("20240101", "2024-1-1"),
            "AuthorizationHeaderMalformed",
            'The authorization header is malformed; incorrect date format "2024-1-1". This date in the '
            'credential must be in the format "yyyyMMdd".',
        ),
        (
            GOOD_AUTH.replace("aws4_request", "aws4_reques"),
            "AuthorizationHeaderMalformed",
            "The authorization "
            'header is malformed; incorrect terminal "aws4_reques". This endpoint uses "aws4_request".',
        ),
        (
            GOOD_AUTH.replace("20240101", "20240102"),
            "AuthorizationHeaderMalformed",
            "The authorization header "
            "is malformed; Invalid credential date. Date is not the same as X-Amz-Date.",
        ),
    ],
)
def test_header_errors(authorization: str, code: str, message: str) -> None:
    error = header_error(authorization)
    assert (error.code, error.message) == (code, message)
    assert error.status == 400


def test_header_date_errors() -> None:
    for headers in (
        {"x_amz_date": None},
        {"x_amz_date": "20240101"},
        {"x_amz_date": "20241301T000000Z"},
        {"x_amz_date": None, "date": "yesterday"},
    ):
        error = header_error(**headers)
        assert (error.code, error.status) == ("AccessDenied", 403)
        assert error.message == "AWS authentication requires a valid Date or x-amz-date header"
    fallback = {k: v for k, v in GOOD_HEADERS.items() if k != "x-amz-date"}
    signed = parse_auth({**fallback, "date": "Mon, 01 Jan 2024 00:00:00 GMT", "authorization": GOOD_AUTH}, [])
    assert signed is not None and signed.amz_date == "20240101T000000Z"


def test_content_sha256_errors() -> None:
    error = header_error(x_amz_content_sha256=None)
    assert (error.code, error.message) == (
        "InvalidRequest",
        "Missing required header for this request: x-amz-content-sha256",
    )
    error = header_error(x_amz_content_sha256="abc")
    assert error.code == "InvalidArgument"
    assert error.message.startswith("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, ")
    assert error.extra == {"ArgumentName": "x-amz-content-sha256", "ArgumentValue": "abc"}
    for value in (
        "UNSIGNED-PAYLOAD",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    ):
        signed = parse_auth({**GOOD_HEADERS, "x-amz-content-sha256": value, "authorization": GOOD_AUTH}, [])
        assert signed is not None and signed.payload_hash == value


def test_two_mechanisms_refused() -> None:
    with pytest.raises(AwsError) as caught:
        parse_auth({**GOOD_HEADERS, "authorization": GOOD_AUTH}, [("X-Amz-Algorithm", "AWS4-HMAC-SHA256")])
    assert caught.value.code == "InvalidArgument"
    assert caught.value.message.startswith("Only one auth mechanism allowed")


PRESIGN = {
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": "AKID/20240101/us-east-1/s3/aws4_request",
    "X-Amz-Date": "20240101T000000Z",
    "X-Amz-Expires": "60",
    "X-Amz-SignedHeaders": "host",
    "X-Amz-Signature": "0" * 64,
}


def query_error(**changes: str | None) -> AwsError:
    params = {**PRESIGN, **{k.replace("_", "-"): v for k, v in changes.items()}}
    with pytest.raises(AwsError) as caught:
        parse_auth({"host": "h"}, [(k, v) for k, v in params.items() if v is not None])
    assert caught.value.code == "AuthorizationQueryParametersError"
    assert caught.value.status == 400
    return caught.value


def test_query_parsed() -> None:
    signed = parse_auth({"host": "h"}, [*PRESIGN.items(), ("X-Amz-Security-Token", "t")])
    assert signed is not None
    assert (signed.presigned, signed.expires, signed.session_token) == (True, 60, "t")
    assert signed.payload_hash == "UNSIGNED-PAYLOAD"
    signed = parse_auth({"host": "h"}, [*PRESIGN.items(), ("X-Amz-Content-Sha256", EMPTY_SHA256)])
    assert signed is not None and signed.payload_hash == EMPTY_SHA256


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"X_Amz_Expires": None},
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        ),
        ({"X_Amz_Signature": None}, "Query-string authentication version 4 requires"),
        ({"X_Amz_Algorithm": "AWS4-HMAC-SHA1"}, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"'),
        (
            {"X_Amz_Expires": "604801"},
            "X-Amz-Expires must be less than a week (in seconds); that is, the given "
            "X-Amz-Expires must be less than 604800 seconds",
        ),
        ({"X_Amz_Expires": "-1"}, "X-Amz-Expires must be non-negative"),
        ({"X_Amz_Expires": "soon"}, "X-Amz-Expires should be a number"),
        (
            {"X_Amz_Date": "2024-01-01"},
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        ),
        (
            {"X_Amz_Credential": "AKID/20240101/us-east-1/s3"},
            "Error parsing the X-Amz-Credential parameter; the "
            'Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
        ),
        (
            {"X_Amz_Credential": "AKID/20240101/us-east-1/s3/aws5_request"},
            "Error parsing the X-Amz-Credential "
            'parameter; incorrect terminal "aws5_request". This endpoint uses "aws4_request".',
        ),
        (
            {"X_Amz_Date": "20240102T000000Z"},
            'Invalid credential date "20240101". This date is not the same as X-Amz-Date: "20240102".',
        ),
    ],
)
def test_query_errors(changes: dict[str, str | None], message: str) -> None:
    assert query_error(**changes).message.startswith(message)


def test_sigv2_query_refused() -> None:
    with pytest.raises(AwsError) as caught:
        parse_auth({"host": "h"}, [("AWSAccessKeyId", "AKID"), ("Expires", "1"), ("Signature", "x")])
    assert caught.value.code == "InvalidRequest"
    assert "Please use AWS4-HMAC-SHA256" in caught.value.message


# ------------------------------------------------------------------------------------------------ fuzz

AUTH_PIECES = st.sampled_from(
    [
        "AWS4-HMAC-SHA256 ",
        "Credential=",
        "AKID/20240101/us-east-1/s3/aws4_request",
        "SignedHeaders=",
        "host;x-amz-date",
        "Signature=",
        "0" * 64,
        ", ",
        ",",
        " ",
        "=",
        "/",
        ";",
        "AWS ",
        "\u00e9",
        "\ud800",
        "20240101",
        "aws4_request",
        "٢٠٢٤٠١٠١",
    ]
)
FUZZ_TEXT = st.one_of(st.text(max_size=30), st.lists(AUTH_PIECES, max_size=12).map("".join))
QUERY_NAMES = st.sampled_from(
    [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "x-amz-content-sha256",
        "AWSAccessKeyId",
        "Signature",
        "a",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    authorization=st.one_of(st.none(), FUZZ_TEXT),
    amz_date=st.one_of(st.none(), FUZZ_TEXT, st.just("20240101T000000Z")),
    date=st.one_of(st.none(), FUZZ_TEXT, st.just("Mon, 01 Jan 2024 00:00:00 GMT")),
    content_sha=st.one_of(st.none(), FUZZ_TEXT, st.just(EMPTY_SHA256)),
    query=st.lists(st.tuples(QUERY_NAMES, st.one_of(FUZZ_TEXT, st.just("20240101T000000Z"))), max_size=8),
    path=FUZZ_TEXT,
)
def test_fuzz_only_aws_errors(
    authorization: str | None,
    amz_date: str | None,
    date: str | None,
    content_sha: str | None,
    query: list[tuple[str, str]],
    path: str,
) -> None:
    headers = {"host": "h"}
    for name, value in (
        ("authorization", authorization),
        ("x-amz-date", amz_date),
        ("date", date),
        ("x-amz-content-sha256", content_sha),
    ):
        if value is not None:
            headers[name] = value
    try:
        signed = parse_auth(headers, query)
        if signed is not None:
            verify(
                signed,
                "secret",
                "GET",
                path,
                "&".join(f"{n}={v}" for n, v in query),
                headers,
                now=1704067200.0,
                payload_hash=EMPTY_SHA256,
            )
    except AwsError:
        pass
