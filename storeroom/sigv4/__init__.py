"""AWS Signature Version 4: canonical requests, header and query (presigned) authentication, aws-chunked
bodies.  Sans-IO: the HTTP edge passes headers, query and body bytes in, and gets a typed result or an
:class:`~storeroom.errors.AwsError` out."""

from __future__ import annotations

from storeroom.sigv4.auth import (
    MAX_EXPIRES_SECONDS,
    MAX_SKEW_SECONDS,
    UNSIGNED_PAYLOAD,
    Credential,
    SignedRequest,
    claimed_service,
    parse_auth,
    signing_key,
    verify,
)
from storeroom.sigv4.canonical import ALGORITHM, canonical_request, string_to_sign
from storeroom.sigv4.chunked import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    AwsChunkedDecoder,
)

__all__ = [
    "ALGORITHM",
    "MAX_EXPIRES_SECONDS",
    "MAX_SKEW_SECONDS",
    "STREAMING_SIGNED",
    "STREAMING_SIGNED_TRAILER",
    "STREAMING_UNSIGNED_TRAILER",
    "UNSIGNED_PAYLOAD",
    "AwsChunkedDecoder",
    "Credential",
    "SignedRequest",
    "canonical_request",
    "claimed_service",
    "parse_auth",
    "signing_key",
    "string_to_sign",
    "verify",
]
