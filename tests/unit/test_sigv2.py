"""SigV2 (HMAC-SHA1) verification against botocore's own SigV2 signers (HmacV1Auth, HmacV1QueryAuth)."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from storeroom.errors import AwsError
from storeroom.sigv4.v2 import parse_auth_v2, verify_v2

CREDS = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def _wire(request: AWSRequest) -> tuple[str, str, str, dict[str, str], list[tuple[str, str]]]:
    parts = urlsplit(request.url)
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        value = value.decode() if isinstance(value, bytes) else value
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return request.method, parts.path, parts.query, headers, parse_qsl(parts.query, keep_blank_values=True)


@pytest.mark.parametrize("path,query,extra", [
    ("/bucket/key", "", {}),
    ("/bucket/a%20b%2Bc/%C3%A9", "", {"Content-Type": "text/plain", "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}),
    ("/bucket/k", "uploadId=abc&partNumber=2", {"x-amz-meta-note": "one, two,  three"}),
    ("/bucket/k", "acl", {"x-amz-meta-when": "Sat, 28 Nov 2026 19:21:42 +0000"}),  # commas inside a value
    ("/bucket", "prefix=a&delete", {"X-Amz-Meta-A": "b"}),
])
def test_header_auth_accepts_botocore(path: str, query: str, extra: dict[str, str]) -> None:
    url = f"http://127.0.0.1:9000{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method="PUT", url=url, headers=dict(extra))
    HmacV1Auth(CREDS).add_auth(request)
    method, raw_path, raw_query, headers, pairs = _wire(request)
    signed = parse_auth_v2(headers, dict(pairs))
    assert signed is not None and signed.expires is None
    verify_v2(signed, CREDS.secret_key, method, raw_path, raw_query, headers, now=time.time())
    with pytest.raises(AwsError) as err:
        verify_v2(signed, "wrong" + CREDS.secret_key[5:], method, raw_path, raw_query, headers)
    assert err.value.code == "SignatureDoesNotMatch"


def test_x_amz_date_replaces_date_as_s3cmd_signs() -> None:
    """With x-amz-date present, the Date line of the string to sign is empty (AWS's rule; s3cmd relies on it)."""
    import base64
    import hashlib
    import hmac
    from email.utils import formatdate

    when = formatdate(time.time(), usegmt=True)
    sts = f"PUT\n\n\n\nx-amz-date:{when}\n/bucket/"
    signature = base64.b64encode(hmac.new(CREDS.secret_key.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    headers = {"x-amz-date": when, "authorization": f"AWS {CREDS.access_key}:{signature}"}
    signed = parse_auth_v2(headers, {})
    assert signed is not None
    verify_v2(signed, CREDS.secret_key, "PUT", "/bucket/", "", headers)


def test_a_utf8_header_value_is_signed_as_the_bytes_sent() -> None:
    """The JavaScript SDK v2 (signatureVersion 'v2'/'s3') sends x-amz-meta-k: välue as UTF-8 and signs those
    bytes; the server receives them as latin-1 text (ASGI) and re-encoded that as UTF-8: SignatureDoesNotMatch.
    A subresource's decoded value is still signed as UTF-8."""
    import base64
    import hashlib
    import hmac
    from email.utils import formatdate

    when = formatdate(time.time(), usegmt=True)
    sent = "välue".encode()  # the bytes on the wire
    sts = (b"PUT\n\n\n" + when.encode() + b"\nx-amz-meta-k:" + sent + b"\n/bucket/k?response-content-type="
           + "text/é".encode())
    signature = base64.b64encode(hmac.new(CREDS.secret_key.encode(), sts, hashlib.sha1).digest()).decode()
    headers = {"date": when, "x-amz-meta-k": sent.decode("latin-1"),
               "authorization": f"AWS {CREDS.access_key}:{signature}"}
    signed = parse_auth_v2(headers, {})
    assert signed is not None
    verify_v2(signed, CREDS.secret_key, "PUT", "/bucket/k", "response-content-type=text%2F%C3%A9", headers)


def test_presigned_url_and_expiry() -> None:
    request = AWSRequest(method="GET", url="http://127.0.0.1:9000/bucket/some%20key?response-content-type=text%2Fx")
    HmacV1QueryAuth(CREDS, expires=60).add_auth(request)
    method, raw_path, raw_query, headers, pairs = _wire(request)
    signed = parse_auth_v2(headers, dict(pairs))
    assert signed is not None and signed.expires is not None
    verify_v2(signed, CREDS.secret_key, method, raw_path, raw_query, headers, now=time.time())
    with pytest.raises(AwsError) as err:
        verify_v2(signed, CREDS.secret_key, method, raw_path, raw_query, headers, now=time.time() + 120)
    assert (err.value.code, err.value.message) == ("AccessDenied", "Request has expired")


def test_an_empty_x_amz_date_is_no_date_even_with_a_fresh_date_header() -> None:
    """An empty x-amz-date signs no time at all (the Date line is empty when x-amz-date is present); judging the
    freshness on the unsigned Date header let such a signature be replayed forever (CVE-2015-8466 in swift3)."""
    import base64
    import hashlib
    import hmac
    from email.utils import formatdate

    sts = "PUT\n\n\n\nx-amz-date:\n/bucket/k"
    signature = base64.b64encode(hmac.new(CREDS.secret_key.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    for later in (0, 86400 * 365):  # a replay a year on, with a Date header of the day
        headers = {"x-amz-date": "", "date": formatdate(time.time() + later, usegmt=True),
                   "authorization": f"AWS {CREDS.access_key}:{signature}"}
        signed = parse_auth_v2(headers, {})
        assert signed is not None
        with pytest.raises(AwsError) as err:
            verify_v2(signed, CREDS.secret_key, "PUT", "/bucket/k", "", headers, now=time.time() + later)
        assert (err.value.code, err.value.message) == (
            "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")


def test_clock_skew() -> None:
    request = AWSRequest(method="GET", url="http://127.0.0.1:9000/bucket/k")
    HmacV1Auth(CREDS).add_auth(request)
    method, raw_path, raw_query, headers, pairs = _wire(request)
    signed = parse_auth_v2(headers, dict(pairs))
    assert signed is not None
    with pytest.raises(AwsError) as err:
        verify_v2(signed, CREDS.secret_key, method, raw_path, raw_query, headers, now=time.time() + 3600)
    assert err.value.code == "RequestTimeTooSkewed"


def test_not_sigv2() -> None:
    assert parse_auth_v2({"authorization": "AWS4-HMAC-SHA256 Credential=x"}, {}) is None
    assert parse_auth_v2({}, {"X-Amz-Signature": "x"}) is None


def _signed_for(path: str) -> dict[str, str]:
    import base64
    import hashlib
    import hmac
    from email.utils import formatdate

    when = formatdate(time.time(), usegmt=True)
    sts = f"GET\n\n\n{when}\n{path}"
    signature = base64.b64encode(hmac.new(CREDS.secret_key.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    return {"date": when, "authorization": f"AWS {CREDS.access_key}:{signature}"}


def test_a_bucket_path_verifies_with_the_slash_botocore_signs_and_nothing_else_does() -> None:
    """botocore signs ``/bucket/`` for a request it sends as ``/bucket``: taken.  A path that only looks like one
    segment because its slash is encoded (``/b%2Fkey``, the object ``key``) is no bucket: a signature made for
    ``/b%2Fkey/`` (the object ``key/``) must not verify for it (review, finding 4)."""
    headers = _signed_for("/bucket/")
    signed = parse_auth_v2(headers, {})
    assert signed is not None
    verify_v2(signed, CREDS.secret_key, "GET", "/bucket", "", headers)
    headers = _signed_for("/b%2Fkey/")
    signed = parse_auth_v2(headers, {})
    assert signed is not None
    with pytest.raises(AwsError) as err:
        verify_v2(signed, CREDS.secret_key, "GET", "/b%2Fkey", "", headers)
    assert err.value.code == "SignatureDoesNotMatch"
