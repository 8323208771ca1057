"""SigV4 authentication of a request: parse who signed it, then check the time and the signature.

Header auth: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-auth-using-authorization-header.html
Query auth (presigned URLs): https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
Generic spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html

Errors are S3's codes and messages (the HTTP edge renders them per protocol).  Deviations, and why:

* Non-S3 services (IAM, STS) answer a bad signature or a skewed clock as their Query APIs do:
  ``SignatureDoesNotMatch`` with "Signature expired: ..." / "Signature not yet current: ..." rather than
  S3's ``RequestTimeTooSkewed``.
* Presigned requests of non-S3 services (e.g. STS ``GetCallerIdentity`` URLs) sign the body hash, not
  ``UNSIGNED-PAYLOAD`` (botocore's ``SigV4QueryAuth``), so their ``payload_hash`` is the caller-supplied
  sentinel ``""``.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from storeroom.errors import AwsError
from storeroom.numbers import parse_int
from storeroom.sigv4.canonical import ALGORITHM, canonical_request, string_to_sign, wire_bytes

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# "AWS ... requires that the request timestamp be within 15 minutes of the server time"
MAX_SKEW_SECONDS = 15 * 60
# "The maximum expiration time for a presigned URL is one week from the time of creation" (seconds)
MAX_EXPIRES_SECONDS = 7 * 24 * 3600

# x-amz-content-sha256 values S3 accepts besides a hex SHA-256.
# https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-auth-using-authorization-header.html
PAYLOAD_LITERALS = frozenset(
    {
        UNSIGNED_PAYLOAD,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
    }
)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_CREDENTIAL_PREFIX = ALGORITHM + " Credential="
_AMZ_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z")
_CREDENTIAL_FORM = '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"'
_HEADER_MALFORMED = "The authorization header is malformed; "
_CREDENTIAL_PARAM = "Error parsing the X-Amz-Credential parameter; "
_QUERY_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                 "X-Amz-SignedHeaders", "X-Amz-Expires")
_AUTH_QUERY_NAMES = frozenset(_QUERY_PARAMS + ("X-Amz-Security-Token", "AWSAccessKeyId", "Signature"))
_QUERY_MISSING = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
    "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)
_SIGV2 = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
_BAD_PAYLOAD_HASH = (
    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or "
    "a valid sha256 value."
)
_NON_S3_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True, slots=True)
class Credential:
    """``<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request``."""

    access_key_id: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a request's SigV4 authentication claims; :func:`verify` checks it."""

    credential: Credential
    signed_headers: tuple[str, ...]  # lowercased, in the order given
    signature: str  # as given (hex)
    amz_date: str  # YYYYMMDDTHHMMSSZ: x-amz-date (or the Date header, converted) / X-Amz-Date
    # x-amz-content-sha256 / X-Amz-Content-Sha256, UNSIGNED-PAYLOAD for S3 presigned URLs, or "" meaning
    # "the hex SHA-256 of the body, which the caller computes and passes to verify(payload_hash=...)".
    payload_hash: str
    presigned: bool
    expires: int | None  # X-Amz-Expires (seconds) of a presigned URL
    session_token: str | None  # x-amz-security-token / X-Amz-Security-Token


# --------------------------------------------------------------------------------------------- parsing


def parse_auth(headers: Mapping[str, str], query: Sequence[tuple[str, str]]) -> SignedRequest | None:
    """The request's SigV4 claim, or None when it carries no authentication (anonymous).

    ``headers``: lowercase names, duplicates joined with ','.  ``query``: decoded (name, value) pairs.
    """
    params = _auth_query_params(query)
    authorization = headers.get("authorization")
    if authorization is not None:
        if "X-Amz-Algorithm" in params or "X-Amz-Signature" in params or "Signature" in params:
            # S3: a request may carry one authentication mechanism only.
            raise AwsError(
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                "string parameter or the Authorization header should be specified",
                ArgumentName="Authorization",
                ArgumentValue=authorization,
            )
        return _parse_header_auth(authorization, headers)
    if "X-Amz-Algorithm" in params or "X-Amz-Credential" in params or "X-Amz-Signature" in params:
        return _parse_query_auth(params)
    if "AWSAccessKeyId" in params:
        raise AwsError("InvalidRequest", _SIGV2)
    return None


def claimed_service(headers: Mapping[str, str], query: Sequence[tuple[str, str]]) -> str | None:
    """The service a request's SigV4 credential names, read leniently, when :func:`parse_auth` refused it: the
    error is then answered in that service's protocol (an IAM or STS client cannot read S3's ``<Error>`` and
    reports "Unknown")."""
    _, found, rest = headers.get("authorization", "").partition("Credential=")
    credential = rest.split(",", 1)[0].strip() if found else next(
        (value for name, value in query if name == "X-Amz-Credential"), "")
    parts = credential.split("/")
    return parts[3] if len(parts) == 5 and parts[3] else None


def _auth_query_params(query: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The authentication parameters of the query (first occurrence of each)."""
    params: dict[str, str] = {}
    for name, value in query:
        if name in _AUTH_QUERY_NAMES:
            params.setdefault(name, value)
        elif name.lower() == "x-amz-content-sha256":
            params.setdefault("X-Amz-Content-Sha256", value)
    return params


def _parse_header_auth(authorization: str, headers: Mapping[str, str]) -> SignedRequest:
    parts = authorization.split(", ")
    if (  # the form every SDK writes; anything else takes the general parser
        len(parts) == 3 and parts[0].startswith(_CREDENTIAL_PREFIX)
        and parts[1].startswith("SignedHeaders=") and parts[2].startswith("Signature=")
    ):
        credential_text = parts[0][len(_CREDENTIAL_PREFIX):]
        signed_text, signature = parts[1][len("SignedHeaders="):], parts[2][len("Signature="):]
    else:
        credential_text, signed_text, signature = _authorization_fields(authorization)
    credential = _parse_credential(credential_text, "AuthorizationHeaderMalformed", _HEADER_MALFORMED)
    amz_date = _header_amz_date(headers)
    if amz_date[:8] != credential.date:
        raise AwsError(
            "AuthorizationHeaderMalformed",
            _HEADER_MALFORMED + "Invalid credential date. Date is not the same as X-Amz-Date.",
        )
    return SignedRequest(
        credential=credential,
        signed_headers=tuple(signed_text.lower().split(";")),
        signature=signature,
        amz_date=amz_date,
        payload_hash=_header_payload_hash(headers, credential.service == "s3"),
        presigned=False,
        expires=None,
        session_token=headers.get("x-amz-security-token"),
    )


def _authorization_fields(authorization: str) -> tuple[str, str, str]:
    """``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`` in any order and spacing:
    (credential, signed headers, signature)."""
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        if algorithm == "AWS":
            raise AwsError("InvalidRequest", _SIGV2)
        # What S3 answers to any other scheme (Bearer, Basic, AWS4-ECDSA-P256-SHA256 ...).
        raise AwsError(
            "InvalidArgument",
            "Unsupported Authorization Type",
            ArgumentName="Authorization",
            ArgumentValue=authorization,
        )
    fields: dict[str, str] = {}
    for component in rest.split(","):
        component = component.strip()
        if not component:
            continue
        name, sep, value = component.partition("=")
        if not sep or name not in ("Credential", "SignedHeaders", "Signature"):
            raise AwsError(
                "AuthorizationHeaderMalformed",
                f'{_HEADER_MALFORMED}the authorization component "{component}" is malformed.',
            )
        fields[name] = value.strip()
    if len(fields) != 3 or not all(fields.values()):
        raise AwsError(
            "AuthorizationHeaderMalformed",
            _HEADER_MALFORMED
            + "the authorization header requires three components: Credential, SignedHeaders, and Signature.",
        )
    return fields["Credential"], fields["SignedHeaders"], fields["Signature"]


@functools.lru_cache(maxsize=1024)
def _parse_credential(value: str, code: str, prefix: str) -> Credential:
    """The region may be empty (``…/20261205//iam/aws4_request``): clients configured with ``region_name=''``
    (boto3, tooling written for self-hosted stores) sign so, and the edge takes it for the server's region.  The
    scope stays as sent, so the signature still covers it exactly.  (Deviation: AWS refuses such a scope.)"""
    parts = value.split("/")
    if len(parts) != 5 or "" in (parts[0], parts[1], parts[3], parts[4]):
        raise AwsError(code, f"{prefix}the Credential is mal-formed; expecting {_CREDENTIAL_FORM}.")
    access_key_id, date, region, service, terminal = parts
    if len(date) != 8 or not (date.isascii() and date.isdigit()):
        raise AwsError(
            code,
            f'{prefix}incorrect date format "{date}". This date in the credential must be in the format '
            '"yyyyMMdd".',
        )
    if terminal != "aws4_request":
        raise AwsError(code, f'{prefix}incorrect terminal "{terminal}". This endpoint uses "aws4_request".')
    return Credential(access_key_id, date, region, service)


def _header_amz_date(headers: Mapping[str, str]) -> str:
    """x-amz-date, else the Date header: "The date used ... must be in ISO 8601 basic format" and
    "If the request contains a Date header ... [it] is used" when x-amz-date is absent."""
    amz_date = headers.get("x-amz-date")
    if amz_date is not None:
        if amz_epoch(amz_date) is not None:
            return amz_date
    else:
        date = headers.get("date")
        if date is not None:
            converted = _http_date_to_amz(date)
            if converted is not None:
                return converted
    raise AwsError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")


def _http_date_to_amz(value: str) -> str | None:
    try:
        parsed = parsedate_to_datetime(value)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(datetime.UTC)
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: a year beyond any datetime
        return None
    return parsed.strftime("%Y%m%dT%H%M%SZ")


def _header_payload_hash(headers: Mapping[str, str], s3: bool) -> str:
    payload_hash = headers.get("x-amz-content-sha256")
    if not s3:
        return payload_hash or ""  # "" = the caller hashes the body
    if payload_hash is None:
        raise AwsError("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    if payload_hash not in PAYLOAD_LITERALS and not _HEX64.fullmatch(payload_hash):
        raise AwsError(
            "InvalidArgument",
            _BAD_PAYLOAD_HASH,
            ArgumentName="x-amz-content-sha256",
            ArgumentValue=payload_hash,
        )
    return payload_hash


def _query_error(message: str) -> AwsError:
    return AwsError("AuthorizationQueryParametersError", message)


def _parse_query_auth(params: Mapping[str, str]) -> SignedRequest:
    if any(name not in params for name in _QUERY_PARAMS):
        raise _query_error(_QUERY_MISSING)
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _query_error('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    credential = _parse_credential(
        params["X-Amz-Credential"], "AuthorizationQueryParametersError", _CREDENTIAL_PARAM
    )
    amz_date = params["X-Amz-Date"]
    if amz_epoch(amz_date) is None:
        raise _query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    expires = _parse_expires(params["X-Amz-Expires"])
    if amz_date[:8] != credential.date:
        raise _query_error(
            f'Invalid credential date "{credential.date}". This date is not the same as X-Amz-Date: '
            f'"{amz_date[:8]}".'
        )
    default_hash = UNSIGNED_PAYLOAD if credential.service == "s3" else ""
    return SignedRequest(
        credential=credential,
        signed_headers=tuple(params["X-Amz-SignedHeaders"].lower().split(";")),
        signature=params["X-Amz-Signature"],
        amz_date=amz_date,
        payload_hash=params.get("X-Amz-Content-Sha256", default_hash),
        presigned=True,
        expires=expires,
        session_token=params.get("X-Amz-Security-Token"),
    )


def _parse_expires(value: str) -> int:
    expires = parse_int(value)
    if expires is None:
        raise _query_error("X-Amz-Expires should be a number")
    if expires < 0:
        raise _query_error("X-Amz-Expires must be non-negative")
    if expires > MAX_EXPIRES_SECONDS:
        raise _query_error(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be "
            "less than 604800 seconds"
        )
    return expires


@functools.lru_cache(maxsize=4096)
def amz_epoch(amz_date: str) -> float | None:
    """Seconds since the epoch of ``YYYYMMDDTHHMMSSZ``; None if it is not a valid such time."""
    match = _AMZ_DATE.fullmatch(amz_date)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = map(int, match.groups())
        moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC)
    except ValueError:
        return None
    return moment.timestamp()


# ---------------------------------------------------------------------------------------- verification


@functools.lru_cache(maxsize=4096)
def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """``kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + kSecret, Date), Region), Service), "aws4_request")``."""
    key = ("AWS4" + secret_access_key).encode("utf-8", "surrogatepass")
    for part in (date, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode("utf-8", "surrogatepass"), "sha256")
    return key


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


@functools.lru_cache(maxsize=4096)
def _hmac_pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """RFC 2104's inner and outer hashes with the key absorbed, so that each HMAC costs two hash copies
    (OpenSSL 3's one-shot HMAC spends most of its time setting up)."""
    block = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    return hashlib.sha256(block.translate(_IPAD)), hashlib.sha256(block.translate(_OPAD))


def hmac_sha256_hex(key: bytes, message: bytes) -> str:
    """Hex HMAC-SHA256 with a key used again and again (signing keys)."""
    inner, outer = _hmac_pads(key)
    inner = inner.copy()
    inner.update(message)
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


def verify(
    req: SignedRequest,
    secret_access_key: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    *,
    now: float,
    payload_hash: str | None = None,
) -> bytes:
    """Check the request's time, then its signature; return the signing key (for aws-chunked bodies).

    ``payload_hash`` overrides ``req.payload_hash`` (required when that is ``""``: the body's hex SHA-256).
    """
    credential = req.credential
    s3 = credential.service == "s3"
    _check_time(req, now, s3)
    _check_signed_headers(req.signed_headers, headers, s3)
    payload = req.payload_hash if payload_hash is None else payload_hash
    if not payload:
        raise ValueError("verify() needs payload_hash= (the body's hex SHA-256) for this request")
    creq = canonical_request(method, raw_path, raw_query, headers, req.signed_headers, payload, s3=s3)
    sts = string_to_sign(req.amz_date, credential.scope, creq)
    key = signing_key(secret_access_key, credential.date, credential.region, credential.service)
    expected = hmac_sha256_hex(key, sts.encode("utf-8", "surrogatepass"))
    provided = req.signature
    if not (provided.isascii() and hmac.compare_digest(expected, provided)):
        raise _signature_mismatch(req, sts, creq, s3)
    return key


def _check_signed_headers(signed: tuple[str, ...], headers: Mapping[str, str], s3: bool) -> None:
    """S3 refuses requests with ``host`` or any ``x-amz-*`` header left out of SignedHeaders ("There were
    headers present in the request which were not signed"): an unsigned ``x-amz-copy-source`` or
    ``x-amz-acl`` would change what a presigned URL does.  Other services: ``host`` only ("The host header
    must be signed")."""
    unsigned = ["host"] if "host" not in signed and "host" in headers else []
    if s3:
        for name in headers:
            if name[:6] == "x-amz-" and name not in signed:
                unsigned.append(name)
    if unsigned:
        raise AwsError(
            "AccessDenied",
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(unsigned),
        )


def _check_time(req: SignedRequest, now: float, s3: bool) -> None:
    moment = amz_epoch(req.amz_date)
    if moment is None:  # only a hand-made SignedRequest gets here
        raise AwsError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
    if req.presigned:
        _check_presigned_time(moment, req.expires or 0, now)
    elif abs(now - moment) > MAX_SKEW_SECONDS:
        raise _skew_error(req.amz_date, now) if s3 else _expired_signature(req.amz_date, now)


def _check_presigned_time(moment: float, expires: int, now: float) -> None:
    """"Amazon S3 ... checks the expiration ... X-Amz-Date + X-Amz-Expires"; a URL dated too far in the
    future is "not yet valid" (S3's message)."""
    if moment - now > MAX_SKEW_SECONDS:
        raise _with_extra(
            AwsError("AccessDenied", "Request is not yet valid"),
            {
                "X-Amz-Date": str(int(moment * 1000)),
                "Expires": _iso(moment + expires),
                "ServerTime": _iso(now),
            },
        )
    if now > moment + expires:
        raise _with_extra(
            AwsError("AccessDenied", "Request has expired"),
            {"X-Amz-Expires": str(expires), "Expires": _iso(moment + expires), "ServerTime": _iso(now)},
        )


def _with_extra(error: AwsError, extra: dict[str, str]) -> AwsError:
    """For extra elements whose names are not Python identifiers (``X-Amz-Expires``)."""
    error.extra.update(extra)
    return error


def _skew_error(amz_date: str, now: float) -> AwsError:
    return AwsError(
        "RequestTimeTooSkewed",
        RequestTime=amz_date,
        ServerTime=_iso(now),
        MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000),
    )


def _expired_signature(amz_date: str, now: float) -> AwsError:
    """The Query APIs' (IAM, STS) wording for a request outside the 15-minute window."""
    moment = amz_epoch(amz_date) or 0.0
    if moment < now:
        message = (
            f"Signature expired: {amz_date} is now earlier than {_basic(now - MAX_SKEW_SECONDS)} "
            f"({_basic(now)} - 15 min.)"
        )
    else:
        message = (
            f"Signature not yet current: {amz_date} is still later than {_basic(now + MAX_SKEW_SECONDS)} "
            f"({_basic(now)} + 15 min.)"
        )
    return AwsError("SignatureDoesNotMatch", message, 403)


def _signature_mismatch(req: SignedRequest, sts: str, creq: str, s3: bool) -> AwsError:
    return AwsError(
        "SignatureDoesNotMatch",
        None if s3 else _NON_S3_MISMATCH,
        AWSAccessKeyId=req.credential.access_key_id,
        StringToSign=sts,
        SignatureProvided=req.signature,
        StringToSignBytes=sts.encode("utf-8", "surrogatepass").hex(" "),
        CanonicalRequest=creq,
        CanonicalRequestBytes=wire_bytes(creq).hex(" "),
    )


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _basic(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))
