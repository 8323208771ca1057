"""Bytes into blobs: a request body (PutObject, UploadPart) or a copied range (CopyObject, UploadPartCopy).

Each yields a fsynced blob with its size, MD5 (the ETag) and, when the client asked for one, its
``x-amz-checksum-*`` value, verified against what the client sent (header or trailer).  On any failure the
blob is removed before the error propagates: nothing half-written stays behind.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storeroom.checksums import ALGORITHMS, UNSUPPORTED_ALGORITHMS, Checksum, digest_size, header_name
from storeroom.errors import AwsError
from storeroom.http.body import Payload
from storeroom.store.blobs import Hasher

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call
    from storeroom.store.meta import ObjectRecord

MAX_PUT_SIZE = 5 * 1024**3
# S3 computes a CRC64NVME checksum for every new object whose upload names no checksum of its own.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
DEFAULT_CHECKSUM = "CRC64NVME"


@dataclass(slots=True)
class Received:
    blob_id: str
    size: int
    md5: bytes
    checksum: dict[str, str] | None


def _unsupported() -> AwsError:
    return AwsError("InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any of the "
                    "valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")


def requested_checksum(headers: dict[str, str], default: str | None = None, *,
                       body: bool = False) -> tuple[str | None, str | None]:
    """(algorithm, value the client sent or None if it comes in a trailer) from the request headers.

    S3 takes one ``x-amz-checksum-*`` value per request, well-formed for its algorithm, and the algorithm
    ``x-amz-sdk-checksum-algorithm`` names must be that one (or the trailer's): a second value would otherwise
    go unchecked while the client believes it was checked.  ``body`` (PutObject, UploadPart): the named
    algorithm promises a value, in a header or the trailer."""
    named = headers.get("x-amz-sdk-checksum-algorithm")
    sent = [(algorithm, headers[name]) for algorithm in ALGORITHMS if (name := header_name(algorithm)) in headers]
    if any(header_name(algorithm) in headers for algorithm in UNSUPPORTED_ALGORITHMS):
        raise _unsupported()
    if len(sent) > 1:
        raise AwsError("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not "
                       "allowed.")
    if sent:
        algorithm, value = sent[0]
        if not _well_formed(algorithm, value):
            raise AwsError("InvalidRequest", f"Value for {header_name(algorithm)} header is invalid.")
        _agrees(named, algorithm)
        return algorithm, value
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    if trailer.startswith("x-amz-checksum-"):
        algorithm = trailer.removeprefix("x-amz-checksum-").upper()
        if algorithm not in ALGORITHMS:
            raise AwsError("InvalidRequest", "The value specified in the x-amz-trailer header is not supported")
        _agrees(named, algorithm)
        return algorithm, None
    if body and named is not None:
        raise AwsError("InvalidRequest", "x-amz-sdk-checksum-algorithm specified, but no corresponding "
                       "x-amz-checksum-* or x-amz-trailer headers were found.")
    named = named or headers.get("x-amz-checksum-algorithm") or default
    if named is None:
        return None, None
    if named.upper() not in ALGORITHMS:
        raise _unsupported()
    return named.upper(), None


def _agrees(named: str | None, algorithm: str) -> None:
    if named is not None and named.upper() != algorithm:
        raise AwsError("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.")


def _well_formed(algorithm: str, value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == digest_size(algorithm)
    except (binascii.Error, ValueError):
        return False


def content_md5(headers: dict[str, str]) -> bytes | None:
    value = headers.get("content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        err = AwsError("InvalidDigest")
        err.extra["Content-MD5"] = value
        raise err
    return digest


async def receive_body(call: S3Call, *, checksum_default: str | None = None, also: str | None = None,
                       part: tuple[str, int] | None = None) -> Received:
    """The request body into a new blob (``part``: (upload id, part number) of a multipart upload's part).

    ``also``: an algorithm whose checksum is kept beside the one the request names, when they differ (a part of
    an upload without algorithm keeps its CRC64NVME, for the object's default checksum)."""
    headers = call.headers
    payload = Payload(call.request, call.ctx.signed, call.ctx.signing_key)
    if payload.length is None:  # S3 needs the size up front (x-amz-decoded-content-length for aws-chunked)
        if "transfer-encoding" in headers:  # S3's answer names the header it does not implement
            raise AwsError("NotImplemented", Header="Transfer-Encoding")
        raise AwsError("MissingContentLength")
    if payload.length is not None and payload.length > MAX_PUT_SIZE:
        raise AwsError("EntityTooLarge", ProposedSize=str(payload.length), MaxSizeAllowed=str(MAX_PUT_SIZE))
    expected_md5 = content_md5(headers)
    algorithm, expected = requested_checksum(headers, checksum_default, body=True)
    md5 = hashlib.md5()
    checksum = Checksum(algorithm) if algorithm else None
    hashers: list[Hasher] = [md5]
    if checksum is not None:
        hashers.append(checksum)
    kept = Checksum(also) if also is not None and also != algorithm else None
    if kept is not None:
        hashers.append(kept)
    if payload.sha256 is not None:
        hashers.append(payload.sha256)
    stored: dict[str, str] | None = None

    def check() -> None:
        """Every digest the request carries, once every byte was hashed and before the blob is durable: a body
        that fails one is never stored (on an S3 backend, the backend never completes it)."""
        nonlocal stored
        payload.verify()
        digest = md5.digest()
        if expected_md5 is not None and digest != expected_md5:
            raise AwsError("BadDigest", ExpectedDigest=headers["content-md5"],
                           CalculatedDigest=base64.b64encode(digest).decode())
        if checksum is not None and algorithm is not None:
            stored = _verified_checksum(algorithm, checksum.b64digest(), expected, payload.trailers,
                                        "x-amz-trailer" in headers)
            if kept is not None:
                stored[kept.algorithm] = kept.b64digest()

    writer = call.blobs.new_writer(hashers, payload.length) if part is None else call.blobs.part_writer(
        part[0], part[1], hashers, payload.length)
    try:
        async for chunk in payload.chunks():
            await writer.write(chunk)
        await writer.commit(check)
    except BaseException:
        writer.discard()
        raise
    return Received(writer.blob_id, writer.size, md5.digest(), stored)


def _verified_checksum(algorithm: str, computed: str, expected: str | None, trailers: dict[str, str],
                       trailer_declared: bool) -> dict[str, str]:
    if expected is None:
        expected = trailers.get(f"x-amz-checksum-{algorithm.lower()}")
        if expected is None and trailer_declared:
            raise AwsError("MalformedTrailerError", "The request contained trailing data that was not well-formed "
                           "or did not conform to our published schema.")
    if expected is not None and expected != computed:
        raise AwsError("BadDigest", f"The {algorithm} you specified did not match the calculated checksum.")
    return {"algorithm": algorithm, "value": computed, "type": "FULL_OBJECT"}


class SourceGone(AwsError):
    """A copy's source was deleted or overwritten between its lookup and the reading of its bytes: a copy looks it
    up again once (an overwritten source is still there: answering NoSuchKey for it was wrong, found by race
    fuzzing), as GET does."""

    def __init__(self, key: str) -> None:
        super().__init__("NoSuchKey", Key=key)


async def copy_range(call: S3Call, source: ObjectRecord, start: int, end: int,
                     algorithm: str | None, part: tuple[str, int] | None = None,
                     known_md5: bytes | None = None) -> Received:
    """Copies bytes [start, end) of ``source`` into a new blob (``part``: as for :func:`receive_body`).
    ``known_md5``: the MD5 of those bytes, known already (then not computed again)."""
    md5 = hashlib.md5()
    checksum = Checksum(algorithm) if algorithm else None
    hashers: list[Hasher] = [] if known_md5 is not None else [md5]
    if checksum is not None:
        hashers.append(checksum)
    writer = call.blobs.new_writer(hashers, end - start) if part is None else call.blobs.part_writer(
        part[0], part[1], hashers, end - start)
    try:
        try:
            data = await call.blobs.open_range(source.blobs, start, end)
        except FileNotFoundError:  # the source was deleted or overwritten since it was looked up
            raise SourceGone(source.key) from None
        if isinstance(data, bytes):
            await writer.write(data)
        else:
            async for chunk in data:
                await writer.write(chunk)
        await writer.commit()
    except BaseException:
        writer.discard()
        raise
    stored = None
    if checksum is not None and algorithm is not None:
        stored = {"algorithm": algorithm, "value": checksum.b64digest(), "type": "FULL_OBJECT"}
    return Received(writer.blob_id, writer.size, md5.digest() if known_md5 is None else known_md5, stored)
