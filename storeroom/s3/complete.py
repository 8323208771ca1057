"""CompleteMultipartUpload: check the parts a client lists, make the object of them, and answer a retry.

Completing does not copy data: the object's row lists the parts' blobs in order and GET streams across them.
ETag = MD5 of the concatenated binary MD5s of the parts, then ``-N``, as S3 computes it.

Retries.  "If CompleteMultipartUpload fails, applications should be prepared to retry any failed requests"
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html), and the SDKs retry a
Complete whose answer was lost (timeout, dropped connection).  S3 answers such a retry -- same upload id, same
parts -- with success and the object's ETag, where answering ``NoSuchUpload`` would tell the application that
an upload which succeeded has failed.  So each completion is remembered (``completed_uploads``, written in the
transaction that completes the upload) for ``COMPLETED_RETENTION``, and a Complete naming a completed upload
is answered again when, and only when, it asks for exactly what the completing request asked for (the same
parts, ETags and checksums) and the key still holds the object that completion wrote.  Otherwise -- other
parts, or the object overwritten or deleted since -- it is ``NoSuchUpload`` ("the upload may have been ...
completed"): Storeroom never reports success for an object that is not there.  A retry is not checked against
``If-None-Match`` again: the completing request passed that check, and its object is the one now there.

Checksums.  An upload created with a checksum algorithm gets its integrity checked as S3 checks it
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompletedPart.html): every listed part must carry its
checksum, equal to the one the part was stored with; its part numbers start at 1 without gaps; an
``x-amz-checksum-type`` header must name the upload's type; and a whole-object ``x-amz-checksum-<algorithm>``
header must be of the upload's algorithm and equal the object's COMPOSITE or FULL_OBJECT checksum
(``BadDigest`` otherwise).  The codes and messages are S3's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from storeroom.checksums import ALGORITHMS, Checksum, combine_crc, header_name
from storeroom.errors import AwsError
from storeroom.http.body import Payload
from storeroom.http.types import Response
from storeroom.numbers import parse_int
from storeroom.s3 import object_lock, xml
from storeroom.s3.objects import checksum_elements, commit_object, unquoted, written_headers
from storeroom.s3.upload import DEFAULT_CHECKSUM
from storeroom.store.meta import ObjectRecord, Part, Upload

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_BODY = 4 * 1024 * 1024
COMPLETED_RETENTION = 24 * 3600  # seconds a completed upload id is answered again (stated in the README)
_PRUNE_BATCH = 64                # completions forgotten per completion: the table never outgrows a day's uploads
XML_HEADERS = [("content-type", "application/xml")]


@dataclass(frozen=True, slots=True)
class RequestedPart:
    """One ``<Part>`` of the request: its number, ETag (unquoted) and checksums by algorithm."""

    number: int
    etag: str
    checksums: dict[str, str] = field(default_factory=dict)


async def complete_multipart_upload(call: S3Call) -> Response:
    assert call.bucket is not None and call.key is not None
    upload_id = call.args["uploadId"]
    upload = await call.meta.get_upload(upload_id)
    await call.existing_bucket()
    if upload is None or upload.bucket != call.bucket or upload.key != call.key:
        return await _answer_again(call, upload_id, None)
    expected_size = _expected_size(call.headers.get("x-amz-mp-object-size"))
    requested = _requested_parts(await _read_body(call), upload_id)
    fingerprint = _fingerprint(call, requested)
    sent = _whole_object_checksum(call, upload, requested)
    try:
        chosen = await _chosen_parts(call, upload, requested)
    except AwsError as err:
        if err.code == "InvalidPart" and await call.meta.get_upload(upload_id) is None:
            return await _answer_again(call, upload_id, fingerprint)  # completed since we looked its parts up
        raise
    checksum = _object_checksum(upload, chosen)
    _check_whole_object_checksum(upload, sent, checksum, len(chosen))
    etag = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in chosen)).hexdigest() + f"-{len(chosen)}"
    record = ObjectRecord(call.bucket, call.key, sum(p.size for p in chosen), etag, time.time(),
                          [(p.blob_id, p.size) for p in chosen], upload.headers, checksum, len(chosen),
                          tags=upload.tags, acl=upload.acl)
    if expected_size is not None and expected_size != record.size:
        raise AwsError("InvalidRequest", f"The provided 'x-amz-mp-object-size' header value {expected_size} does "
                       f"not match what was computed: {record.size}")
    object_lock.apply(record, object_lock.with_default(
        object_lock.WriteLock(upload.retention, upload.legal_hold), await call.existing_bucket()))
    if_match = unquoted(call.headers.get("if-match"))
    # The conditions are checked again atomically with the commit; asked first so that an S3 backend's upload
    # is not completed for an object that cannot be made.
    conditional = "if-none-match" in call.headers or if_match is not None
    if conditional:
        current = await call.meta.get_object(call.bucket, call.key)
        await _refuse_conflict(call, upload, current)
        if "if-none-match" in call.headers and current is not None:
            raise AwsError("PreconditionFailed", Condition="If-None-Match")
        if if_match is not None and current is None:
            raise AwsError("NoSuchKey", Key=call.key)
        if if_match is not None and current is not None and if_match not in ("*", current.etag):
            raise AwsError("PreconditionFailed", Condition="If-Match")
    await call.blobs.complete_upload(upload.upload_id, record.blobs)
    try:
        # Also frees the blobs of parts the object leaves out, as the upload's rows go in the same transaction.
        await commit_object(call, record, discard_upload=upload.upload_id, completed_request=fingerprint,
                            fresh_blobs=False, if_none_match="if-none-match" in call.headers, if_match=if_match,
                            unchanged_since=upload.initiated if conditional else None)
    except AwsError as err:
        if err.code != "NoSuchUpload":
            raise
        return await _answer_again(call, upload_id, fingerprint)  # an identical Complete finished first
    call.meta.prune_completions(time.time() - COMPLETED_RETENTION, _PRUNE_BATCH)
    return _result(call, record)


def conflict_error(call: S3Call) -> AwsError:
    return AwsError("ConditionalRequestConflict", "The conditional request cannot succeed due to a conflicting "
                    "operation against this resource.", 409,
                    Condition="If-None-Match" if "if-none-match" in call.headers else "If-Match", Key=call.key or "")


async def _refuse_conflict(call: S3Call, upload: Upload, current: ObjectRecord | None) -> None:
    """A conditional completion of an upload whose key was written or deleted since the upload began is S3's 409
    ("If a conflicting operation occurs during the upload S3 returns a 409 ConditionalRequestConflict response.
    On a 409 failure you should re-initiate the multipart upload", API_CompleteMultipartUpload; LocalStack's
    AWS-recorded complete-multipart-if-match-put-during).  A delete leaves a trace only in a versioned bucket (its
    marker); the write is checked again in the commit's transaction."""
    assert call.bucket is not None and call.key is not None
    changed = current is not None and current.mtime > upload.initiated
    if current is None and (await call.existing_bucket()).versioning is not None:
        marker = await call.meta.latest_marker(call.bucket, call.key)
        changed = marker is not None and marker.mtime > upload.initiated
    if changed:
        raise conflict_error(call)


async def _answer_again(call: S3Call, upload_id: str, fingerprint: str | None) -> Response:
    """The answer to a retry of the request that completed ``upload_id``, or NoSuchUpload."""
    assert call.bucket is not None and call.key is not None
    gone = AwsError("NoSuchUpload", UploadId=upload_id)
    completion = await call.meta.get_completion(upload_id, time.time() - COMPLETED_RETENTION)
    if completion is None or (completion.bucket, completion.key) != (call.bucket, call.key):
        raise gone
    if fingerprint is None:
        fingerprint = _fingerprint(call, _requested_parts(await _read_body(call), upload_id))
    current = await call.meta.get_object(call.bucket, call.key)
    if fingerprint != completion.request or current is None or not completion.made(current):
        raise gone
    return _result(call, current)


def _result(call: S3Call, record: ObjectRecord) -> Response:
    """The completion's answer (also to its retries): ``x-amz-version-id`` of the version it made, once the
    bucket is versioned, and ``x-amz-expiration``."""
    bucket = call._bucket_record
    host = call.headers.get("host", "localhost")
    scheme = "https" if call.request.secure else "http"  # the scheme the client used (TLS, or a trusted proxy's)
    # S3 form-encodes the key in Location ("a/b c" → "a%2Fb+c", as SDK issues about it show) and names the
    # bucket in the host for virtual-hosted-style requests.
    key = quote_plus(record.key, safe="")
    path = key if host.startswith(f"{record.bucket}.") else f"{record.bucket}/{key}"
    result = xml.document("CompleteMultipartUploadResult",
                          xml.tag("Location", f"{scheme}://{host}/{path}")
                          + xml.tag("Bucket", record.bucket) + xml.tag("Key", record.key)
                          + xml.tag("ETag", record.quoted_etag) + checksum_elements(record.checksum))
    return Response(200, [*XML_HEADERS, *(written_headers(bucket, record) if bucket is not None else [])], result)


def _expected_size(value: str | None) -> int | None:
    """``x-amz-mp-object-size``: the object size the client expects (AWS's transfer managers send it, so that a
    dropped or repeated part cannot complete as an object of another size)."""
    if value is None:
        return None
    size = parse_int(value.strip())
    if size is None:
        raise AwsError("InvalidRequest", f"Value for x-amz-mp-object-size header is invalid: '{value}'")
    if size < 0:
        raise AwsError("InvalidRequest", f"Value for x-amz-mp-object-size header is less than zero: '{value}'")
    return size


async def _read_body(call: S3Call) -> bytes:
    body = await Payload(call.request, call.ctx.signed, call.ctx.signing_key).read_all(MAX_BODY)
    if not body.strip():  # S3's answer to no body (an empty <CompleteMultipartUpload/> is MalformedXML)
        raise AwsError("InvalidRequest", "You must specify at least one part")
    return body


def _fingerprint(call: S3Call, requested: list[RequestedPart]) -> str:
    """What a Complete asks for -- its parts with their ETags and checksums, and the whole-object checksum
    headers -- as a digest: a retry is the same request, so it has the same fingerprint."""
    asked = {
        "parts": [[p.number, p.etag, sorted(p.checksums.items())] for p in requested],
        "headers": sorted((name, value) for name, value in call.headers.items()
                          if name.startswith("x-amz-checksum-")),
    }
    return hashlib.sha256(json.dumps(asked, separators=(",", ":")).encode()).hexdigest()


def _requested_parts(body: bytes, upload_id: str) -> list[RequestedPart]:
    root = xml.parse(body)
    if xml.local(root) != "CompleteMultipartUpload":
        raise AwsError("MalformedXML")
    parts: list[RequestedPart] = []
    for element in xml.children(root, "Part"):
        number = parse_int((xml.child_text(element, "PartNumber") or "").strip())
        etag = xml.child_text(element, "ETag")
        if number is None or etag is None:  # "1_0" or "١" are no part numbers, whatever Python's int() says
            raise AwsError("MalformedXML")
        if number < 1:
            raise AwsError("InvalidArgument", "PartNumber must be >= 1", ArgumentName="PartNumber",
                           ArgumentValue=str(number))
        checksums = {alg: value.strip() for alg in ALGORITHMS
                     if (value := xml.child_text(element, f"Checksum{alg}")) is not None}
        parts.append(RequestedPart(number, etag.strip().strip('"'), checksums))
    if not parts:
        raise AwsError("MalformedXML", "The XML you provided was not well-formed or did not validate against "
                       "our published schema")
    numbers = [p.number for p in parts]
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
        raise AwsError("InvalidPartOrder", UploadId=upload_id)
    return parts


async def _chosen_parts(call: S3Call, upload: Upload, requested: list[RequestedPart]) -> list[Part]:
    """The stored parts the request lists, after checking each is there with the ETag and checksum given."""
    stored = {p.part_number: p for p in await call.meta.list_parts(upload.upload_id)}
    chosen: list[Part] = []
    for asked in requested:
        part = stored.get(asked.number)
        if part is None or asked.etag != part.etag:
            raise _invalid_part(upload, asked)
        _check_part_checksum(upload, asked, part)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise AwsError("EntityTooSmall", ProposedSize=str(part.size), MinSizeAllowed=str(MIN_PART_SIZE),
                           PartNumber=str(part.part_number), ETag=part.etag)
    return chosen


def _invalid_part(upload: Upload, asked: RequestedPart) -> AwsError:
    return AwsError("InvalidPart", UploadId=upload.upload_id, PartNumber=str(asked.number), ETag=asked.etag)


def _check_part_checksum(upload: Upload, asked: RequestedPart, part: Part) -> None:
    """A listed part's checksums: the upload's algorithm is required when it has one, and every value given
    must be the part's own (with an algorithm, one of another algorithm was never checked: BadDigest; without,
    it names no part S3 has: InvalidPart)."""
    algorithm = upload.checksum_algorithm
    if algorithm is not None and algorithm not in asked.checksums:
        raise AwsError("InvalidRequest", f"The upload was created using a {algorithm.lower()} checksum. The "
                       "complete request must include the checksum for each part. It was missing for part "
                       f"{asked.number} in the request.")
    for named, value in asked.checksums.items():
        own = _part_value(part, named)
        if own is None and algorithm is not None:
            raise AwsError("BadDigest", f"The {named.lower()} you specified for part {asked.number} did not "
                           "match what we received.")
        # without an algorithm, a checksum the part was not stored with names no part S3 has (LocalStack's AWS
        # recording, test_multipart_parts_checksum_exceptions -> complete-part-with-checksum)
        if value != own:
            raise _invalid_part(upload, asked)


def _whole_object_checksum(call: S3Call, upload: Upload, requested: list[RequestedPart]) -> str | None:
    """The whole-object checksum the request sends (``x-amz-checksum-<algorithm>``), after checking that the
    request agrees with the upload on the checksum type, the algorithm and (with one) the part numbering."""
    algorithm = upload.checksum_algorithm or DEFAULT_CHECKSUM  # the algorithm of the object's checksum
    mode = call.headers.get("x-amz-checksum-type")
    if mode is not None and mode.upper() != (upload.checksum_type or "null"):
        raise AwsError("InvalidRequest", f"The upload was created using the {upload.checksum_type or 'null'} "
                       "checksum mode. The complete request must use the same checksum mode.")
    sent: str | None = None
    for named in ALGORITHMS:
        value = call.headers.get(header_name(named))
        if value is None:
            continue
        if named != algorithm:
            raise AwsError("InvalidRequest", "Checksum Type mismatch occurred, expected checksum Type: "
                           f"{algorithm.lower()}, actual checksum Type: {named.lower()}")
        sent = value.strip()
    # "when an additional checksum ... is applied to each part, the PartNumber must start at 1 and the part
    # numbers must be consecutive. Otherwise, Amazon S3 generates an HTTP 400 Bad Request status code and an
    # InvalidPartOrder error code." (API_CompletedPart.html)
    if upload.checksum_algorithm is not None and [p.number for p in requested] != list(
            range(1, len(requested) + 1)):
        raise AwsError("InvalidPartOrder", UploadId=upload.upload_id)
    return sent


def _check_whole_object_checksum(upload: Upload, sent: str | None, checksum: dict[str, str] | None,
                                 parts: int) -> None:
    if sent is None:
        return
    algorithm = upload.checksum_algorithm or DEFAULT_CHECKSUM
    if checksum is None:  # parts of an upload without algorithm were sent with checksums of other algorithms
        raise AwsError("NotImplemented", f"The {algorithm.lower()} checksum of this object cannot be checked: "
                       "its parts were uploaded with checksums of another algorithm.")
    if checksum["type"] == "COMPOSITE" and "-" not in sent:
        sent = f"{sent}-{parts}"  # S3 takes a composite checksum without its part count
    if sent != checksum["value"]:
        raise AwsError("BadDigest", f"The {algorithm} you specified did not match the calculated checksum.")


def _object_checksum(upload: Upload, parts: list[Part]) -> dict[str, str] | None:
    """The completed object's checksum, from its parts' checksums (no data is read again).

    COMPOSITE: the checksum of the parts' binary checksums, then ``-N``.  FULL_OBJECT: the parts' CRCs
    combined into the CRC of the whole object.  None when the parts lack checksums of the algorithm.
    """
    algorithm = upload.checksum_algorithm or DEFAULT_CHECKSUM
    values = [_part_value(p, algorithm) for p in parts]
    if any(v is None for v in values):
        return None
    digests = [base64.b64decode(v) for v in values if v is not None]
    if (upload.checksum_type or "FULL_OBJECT") == "FULL_OBJECT":
        crc = digests[0]
        for part, digest in zip(parts[1:], digests[1:], strict=True):
            crc = combine_crc(algorithm, crc, digest, part.size)
        found = {"algorithm": algorithm, "value": base64.b64encode(crc).decode(), "type": "FULL_OBJECT"}
    else:
        combined = Checksum(algorithm)
        for digest in digests:
            combined.update(digest)
        found = {"algorithm": algorithm, "value": f"{combined.b64digest()}-{len(parts)}", "type": "COMPOSITE"}
    if upload.checksum_algorithm is not None:  # the parts' own checksums, for GetObjectAttributes' ObjectParts
        found["parts"] = ",".join(p.checksum["value"] for p in parts if p.checksum)
    return found


def _part_value(part: Part, algorithm: str) -> str | None:
    """A part's checksum of ``algorithm``: its own, or the one kept beside it (``receive_body``'s ``also``)."""
    if not part.checksum:
        return None
    if part.checksum["algorithm"] == algorithm:
        return part.checksum["value"]
    return part.checksum.get(algorithm)
