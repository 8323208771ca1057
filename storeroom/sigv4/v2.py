"""AWS Signature Version 2 for S3 (HMAC-SHA1), header and query (presigned) forms.

AWS has deprecated SigV2 but S3 still accepts it, and clients still send it: botocore presigns S3 URLs with
it when no signature version is configured, as do older s3cmd and SDKs.  Supporting it keeps those clients
working unchanged.  Spec: https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html
(mirrors botocore.auth.HmacV1Auth / HmacV1QueryAuth, the reference client).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from storeroom.errors import AwsError
from storeroom.numbers import parse_int
from storeroom.sigv4.canonical import wire_bytes

MAX_SKEW_SECONDS = 15 * 60

# Sub-resources that are part of the string to sign (the rest of the query is not signed).
SIGNED_SUBRESOURCES = frozenset({
    "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
    "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
    "response-content-type", "response-content-language", "response-expires", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging", "restore",
    "storageClass", "notification", "replication", "analytics", "metrics", "inventory", "select",
    "select-type", "object-lock",
})


@dataclass(frozen=True, slots=True)
class SignedRequestV2:
    access_key_id: str
    signature: str
    expires: int | None  # presigned: the Expires epoch seconds


def parse_auth_v2(headers: Mapping[str, str], args: Mapping[str, str]) -> SignedRequestV2 | None:
    """A SigV2 request's key and signature, or None if the request is not SigV2-signed.

    ``args``: the query parameters (first value of each)."""
    authorization = headers.get("authorization", "")
    if authorization.startswith("AWS "):
        key_id, sep, signature = authorization[4:].strip().rpartition(":")
        if not sep or not key_id:
            raise AwsError("InvalidArgument", "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
                           ArgumentName="Authorization", ArgumentValue=authorization)
        return SignedRequestV2(key_id, signature, None)
    params = args
    if "AWSAccessKeyId" in params and "Signature" in params:
        expires = parse_int(params.get("Expires", ""))
        if expires is None:
            raise AwsError("AccessDenied", "Query-string authentication requires the Signature, Expires and "
                           "AWSAccessKeyId parameters")
        return SignedRequestV2(params["AWSAccessKeyId"], params["Signature"], expires)
    return None


def string_to_sign_v2(method: str, resource_path: str, raw_query: str, headers: Mapping[str, str],
                      expires: int | None) -> tuple[str, str]:
    """The string to sign in two parts: what is signed as received (the request line's method, the headers, the
    raw path: wire text, hashed as the bytes it came as), then the signed subresources of the query (decoded
    values: hashed as UTF-8).  ``resource_path``: the raw (percent-encoded) path including the bucket, even for
    virtual hosts."""
    date = str(expires) if expires is not None else ("" if "x-amz-date" in headers else headers.get("date", ""))
    lines = [method.upper(), headers.get("content-md5", "").strip(), headers.get("content-type", "").strip(), date]
    # A value's own commas and spaces are kept (repeated headers were joined with "," on arrival).
    amz = sorted((name, value.strip()) for name, value in headers.items() if name.startswith("x-amz-"))
    lines.extend(f"{name}:{value}" for name, value in amz)
    return "\n".join(lines) + "\n" + resource_path, _subresources(raw_query)


def _subresources(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        name, sep, value = part.partition("=")
        if name in SIGNED_SUBRESOURCES:
            pairs.append((name, unquote(value) if sep else None))
    if not pairs:
        return ""
    pairs.sort(key=lambda p: p[0])
    return "?" + "&".join(n if v is None else f"{n}={v}" for n, v in pairs)


def verify_v2(req: SignedRequestV2, secret: str, method: str, resource_path: str, raw_query: str,
              headers: Mapping[str, str], *, now: float | None = None) -> None:
    now = time.time() if now is None else now
    if req.expires is not None:
        if now > req.expires:
            raise AwsError("AccessDenied", "Request has expired", Expires=_iso(req.expires), ServerTime=_iso(now))
    else:
        _check_date(headers, now)
    received, subresources = string_to_sign_v2(method, resource_path, raw_query, headers, req.expires)
    # a header's UTF-8 value (x-amz-meta-*) is signed as the bytes sent, not re-encoded from their latin-1 text
    data = wire_bytes(received) + subresources.encode("utf-8")
    if not _matches(secret, data, req.signature) and not (
            _bucket_only(resource_path)
            and _matches(secret, wire_bytes(received + "/") + subresources.encode("utf-8"), req.signature)):
        raise AwsError(
            "SignatureDoesNotMatch",
            AWSAccessKeyId=req.access_key_id, StringToSign=data.decode("utf-8", "replace"),
            SignatureProvided=req.signature, StringToSignBytes=" ".join(f"{b:02x}" for b in data),
        )


def _matches(secret: str, data: bytes, signature: str) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha1).digest()).decode()
    # compare_digest refuses str with non-ASCII characters (TypeError): such a signature matches nothing
    return signature.isascii() and hmac.compare_digest(expected, signature)


def _bucket_only(resource_path: str) -> bool:
    """A path of a bucket alone, ``/bucket``: botocore signs it as ``/bucket/`` and sends it without the slash
    ("the auth_path must be terminated with a '/' character to generate a signature that the server will
    accept", botocore/handlers.py), so S3 takes either.  Judged on the decoded path: ``/b%2Fkey`` is the
    object ``key``, and a signature for ``/b%2Fkey/`` (the object ``key/``) must not stand for it."""
    decoded = unquote(resource_path)
    return len(decoded) > 1 and decoded.count("/") == 1


def _check_date(headers: Mapping[str, str], now: float) -> None:
    # x-amz-date, when present, is the signed time (the Date line is then empty): an empty one is no time, never
    # the unsigned Date header's, which a replay could renew at will (swift3's CVE-2015-8466)
    value = headers["x-amz-date"] if "x-amz-date" in headers else headers.get("date")
    if not value:
        raise AwsError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
    try:
        moment = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: a year beyond any datetime
        raise AwsError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header") from None
    if abs(now - moment) > MAX_SKEW_SECONDS:
        raise AwsError("RequestTimeTooSkewed", RequestTime=value, MaxAllowedSkewMilliseconds="900000")


def _iso(epoch: float) -> str:
    """ISO 8601 of ``epoch``; an Expires far beyond (or before) what the platform's time functions take is shown
    clamped to year 1 or 9999 rather than failing."""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    except (OverflowError, OSError, ValueError):
        return "0001-01-01T00:00:00Z" if epoch < 0 else "9999-12-31T23:59:59Z"
