"""Request bodies as S3 reads them: decoded from aws-chunked, verified against the signed payload hash.

The ``x-amz-content-sha256`` header names the payload mode
(https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html):
a hex SHA-256 (verified while streaming), ``UNSIGNED-PAYLOAD``, or one of the ``STREAMING-…`` aws-chunked
modes (chunk signatures and trailing checksums, see :mod:`storeroom.sigv4.chunked`).

Bytes are handed on as they arrive; verification completes when the body ends.  Consumers therefore commit
nothing until iteration finished without an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from storeroom.errors import AwsError
from storeroom.http.types import Request
from storeroom.numbers import parse_int
from storeroom.sigv4 import AwsChunkedDecoder, SignedRequest

UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_PREFIX = "STREAMING-"


class Payload:
    """One request's body. Iterate :meth:`chunks` once; then :attr:`trailers` holds any trailing headers."""

    def __init__(self, request: Request, signed: SignedRequest | None, signing_key: bytes | None) -> None:
        self.request = request
        self.signed = signed
        self.signing_key = signing_key
        headers = request.headers
        self.mode = headers.get("x-amz-content-sha256", UNSIGNED if signed is None or signed.presigned else "")
        if signed is not None and signed.presigned:
            self.mode = signed.payload_hash
        self.trailers: dict[str, str] = {}
        self.sha256 = hashlib.sha256() if _is_hex_sha256(self.mode) else None
        self.is_chunked = self.mode.startswith(STREAMING_PREFIX) or "aws-chunked" in headers.get(
            "content-encoding", "")
        declared = headers.get("x-amz-decoded-content-length") if self.is_chunked else headers.get(
            "content-length")
        self.length: int | None = None
        if declared is not None:
            self.length = parse_int(declared.strip(), signed=False)
            if self.length is None:
                raise AwsError("InvalidArgument", "Invalid content length", header=declared)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Decoded payload bytes. Feed them to :attr:`sha256` (if set) and call :meth:`verify` at the end."""
        decoder = self._decoder()
        received = 0
        async for raw in self.request.stream():
            data = decoder.feed(raw) if decoder is not None else raw
            if data:
                received += len(data)
                yield data
        if decoder is not None:
            self.trailers = decoder.finish()
        if self.length is not None and received != self.length:
            raise AwsError("IncompleteBody")

    def verify(self) -> None:
        """After the body was read and :attr:`sha256` fed with it: the signed payload hash must match."""
        if self.sha256 is not None and self.sha256.hexdigest() != self.mode:
            raise AwsError(
                "XAmzContentSHA256Mismatch",
                ClientComputedContentSHA256=self.mode,
                S3ComputedContentSHA256=self.sha256.hexdigest(),
            )

    def _decoder(self) -> AwsChunkedDecoder | None:
        if not self.mode.startswith(STREAMING_PREFIX):
            return None
        signed = self.signed
        if signed is None or self.mode not in _STREAMING_MODES:
            raise AwsError("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                           "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                           "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
        return AwsChunkedDecoder(
            self.mode, signing_key=self.signing_key, seed_signature=signed.signature,
            amz_date=signed.amz_date, scope=signed.credential.scope,
        )

    async def read_all(self, limit: int) -> bytes:
        """The whole (decoded, verified) body of a small request; MalformedXML-style callers set ``limit``."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise AwsError("MaxMessageLengthExceeded", "Your request was too big.", 400)
            parts.append(chunk)
        body = b"".join(parts)
        if self.sha256 is not None:
            self.sha256.update(body)
        self.verify()
        return body


_STREAMING_MODES = frozenset({
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
})

_HEX = frozenset("0123456789abcdef")


def _is_hex_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in _HEX for c in value)
