"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, CopyObject.

Versions (storeroom/store/versions.py): writes answer the version they made (``x-amz-version-id``) once the bucket
is versioned; GET, HEAD, DELETE and a copy's source take ``versionId``.  A GET of a key whose latest version is a
delete marker is 404 ``NoSuchKey`` with ``x-amz-delete-marker: true``; a GET of a delete marker's version id is
405 ``MethodNotAllowed`` ("The specified method is not allowed against this resource.", ``ResourceType``
``DeleteMarker``); a well-formed version id that names nothing is 404 ``NoSuchVersion``; anything else given as a
version id is 400 ``InvalidArgument`` "Invalid version id specified"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/RetrievingObjectVersions.html,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeleteMarker.html).
"""

from __future__ import annotations

import base64
import functools
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote, unquote_plus

from storeroom import clock
from storeroom.checksums import header_name
from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.numbers import parse_int
from storeroom.s3 import conditions, encryption, object_lock, restore, xml
from storeroom.s3.acl import object_write_acl
from storeroom.s3.document import read_body
from storeroom.s3.lifecycle import expiration_header
from storeroom.s3.tagging import header_tags
from storeroom.s3.upload import (
    DEFAULT_CHECKSUM,
    Received,
    SourceGone,
    copy_range,
    receive_body,
    requested_checksum,
)
from storeroom.store.locks import Guard
from storeroom.store.meta import Bucket, Deletion, ObjectRecord
from storeroom.store.versions import valid_version_id

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

# Headers stored with an object and returned by GET/HEAD as they were given.
STORED_HEADERS = ("content-type", "content-encoding", "content-disposition", "content-language",
                  "cache-control", "expires", "x-amz-website-redirect-location", "x-amz-storage-class")
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
MAX_USER_METADATA = 2048
# A general purpose bucket's classes: OUTPOSTS, SNOW and EXPRESS_ONEZONE belong to other kinds of bucket, and S3
# answers them InvalidStorageClass (LocalStack's AWS recording: TestS3::test_put_object_storage_class_outposts)
STORAGE_CLASSES = frozenset({"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
                             "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR"})
# GET's response-* query parameters and the headers they override.
RESPONSE_OVERRIDES = {
    "response-content-type": "content-type", "response-content-language": "content-language",
    "response-expires": "expires", "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition", "response-content-encoding": "content-encoding",
}


def object_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers of a PUT that are stored with the object (standard ones and x-amz-meta-*)."""
    stored: dict[str, str] = {}
    meta_size = 0
    for name, value in headers.items():
        if name.startswith("x-amz-meta-"):
            meta_size += len(name[11:].encode()) + len(value.encode("latin-1", "replace"))
            stored[name] = value if value.isascii() else _mail_safe(value)
    if meta_size > MAX_USER_METADATA:
        raise AwsError("MetadataTooLarge", Size=str(meta_size), MaxSizeAllowed=str(MAX_USER_METADATA))
    for name in STORED_HEADERS:
        if name in headers:
            stored[name] = headers[name]
    redirect = stored.get("x-amz-website-redirect-location")
    if redirect is not None:  # "must be prefixed by /, http://, or https://. ... limited to 2 KB" (RESTObjectPOST)
        if not redirect.startswith(("/", "http://", "https://")):
            raise AwsError("InvalidRedirectLocation", "The website redirect location must have a prefix of "
                           "'http://' or 'https://' or '/'.")
        if len(redirect.encode("latin-1", "replace")) > 2048:
            raise AwsError("InvalidRedirectLocation", "The length of the website redirect location cannot exceed "
                           "2,048 characters.")
    encoding = stored.get("content-encoding")
    if encoding is not None:
        # aws-chunked is a transfer detail of the upload, not the object's encoding: S3 drops it.
        kept = [e for e in (p.strip() for p in encoding.split(",")) if e and e != "aws-chunked"]
        if kept:
            stored["content-encoding"] = ",".join(kept)
        else:
            del stored["content-encoding"]
    storage_class = stored.get("x-amz-storage-class")
    if storage_class is not None:
        if storage_class not in STORAGE_CLASSES:
            raise AwsError("InvalidStorageClass", StorageClassRequested=storage_class)
        if storage_class == "STANDARD":
            del stored["x-amz-storage-class"]  # S3 omits the header for STANDARD
    stored.setdefault("content-type", DEFAULT_CONTENT_TYPE)
    return stored


def _mail_safe(value: str) -> str:
    """A user metadata value with characters beyond US-ASCII, as S3 returns it: "encoded as per RFC 2047 to make
    them mail-safe" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html), so that the
    response's headers stay ASCII.  The header arrives as bytes read as ISO-8859-1; they are UTF-8 when they
    can be."""
    raw = value.encode("latin-1", "replace")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = value
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode("ascii") + "?="


def checksum_headers(checksum: dict[str, str] | None) -> list[tuple[str, str]]:
    if not checksum:
        return []
    return [(header_name(checksum["algorithm"]), checksum["value"]),
            ("x-amz-checksum-type", checksum.get("type", "FULL_OBJECT"))]


# -- PutObject ---------------------------------------------------------------------------------------------

def _refuse_put_conditions(if_none_match: str | None, if_match: str | None) -> None:
    """PutObject takes ``If-None-Match: *`` or ``If-Match: ETAG``, one at a time: S3 answers the rest 501
    (LocalStack's AWS-recorded put-obj-both-precondition, put-obj-if-match-star-value, ...-if-none-match-bad-value)."""
    if if_none_match is not None and if_match is not None:
        header, why = "If-Match,If-None-Match", "Multiple conditional request headers present in the request"
    elif if_none_match is not None and if_none_match.strip() != "*":
        header, why = "If-None-Match", "We don't accept the provided value of If-None-Match header for this API"
    elif if_match is not None and if_match.strip() == "*":
        header, why = "If-Match", "We don't accept the provided value of If-Match header for this API"
    else:
        return
    raise AwsError("NotImplemented", "A header you provided implies functionality that is not implemented",
                   Header=header, additionalMessage=why)


async def put_object(call: S3Call) -> Response:
    assert call.bucket is not None and call.key is not None
    bucket = await call.existing_bucket()
    headers = call.headers
    acl = await object_write_acl(call, bucket)
    tags = header_tags(call)
    stored = object_headers(headers)
    if_none_match = headers.get("if-none-match")
    _refuse_put_conditions(if_none_match, headers.get("if-match"))
    lock = await object_lock.requested(call, bucket, headers)
    object_lock.require_integrity(call, lock, bucket)
    received = await receive_body(call, checksum_default=DEFAULT_CHECKSUM)
    record = ObjectRecord(call.bucket, call.key, received.size, received.md5.hex(), time.time(),
                          [(received.blob_id, received.size)], stored, received.checksum, tags=tags, acl=acl)
    object_lock.apply(record, object_lock.with_default(lock, bucket))
    await commit_object(call, record, if_none_match=if_none_match is not None,
                        if_match=unquoted(headers.get("if-match")))
    return Response(200, [("etag", record.quoted_etag), *checksum_headers(received.checksum),
                          *written_headers(bucket, record)])


def written_headers(bucket: Bucket, record: ObjectRecord) -> list[tuple[str, str]]:
    """``x-amz-version-id`` of a version a write made (versioning enabled), ``x-amz-expiration``.  The null
    version a write makes while versioning is suspended is named by no header: S3's "versioning suspended"
    sample response to PutObject has none (as for CopyObject, CompleteMultipartUpload and forms); a read of it
    does name it."""
    headers = ([("x-amz-version-id", record.version_id)]
               if bucket.versioning is not None and record.version_id != "null" else [])
    return headers + expiration_header(bucket.lifecycle, record)


class ObjectChanged(Exception):
    """A metadata-only update lost a race with a write to the same object."""


def unquoted(value: str | None) -> str | None:
    return None if value is None else value.strip().strip('"')


async def commit_object(call: S3Call, record: ObjectRecord, *, if_none_match: bool = False,
                        if_match: str | None = None, discard_upload: str | None = None,
                        completed_request: str | None = None, fresh_blobs: bool = True,
                        same_blobs: bool = False, unchanged_since: float | None = None) -> None:
    """Makes ``record`` visible (atomically with its condition); frees the blobs it replaced.
    ``unchanged_since``: a conditional completion's upload start, after which the key must not have been written.

    ``fresh_blobs``: the record's blobs were written for this request, so they are removed if it fails
    (not so for a multipart upload's parts, or an in-place metadata change that keeps its blobs).
    """
    try:
        outcome, freed = await call.meta.put_object(record, if_none_match=if_none_match, if_match=if_match,
                                                    discard_upload=discard_upload,
                                                    completed_request=completed_request, same_blobs=same_blobs,
                                                    unchanged_since=unchanged_since)
    except BaseException:
        if fresh_blobs:
            call.blobs.delete(b for b, _ in record.blobs)
        raise
    if outcome != "ok":
        if fresh_blobs:
            call.blobs.delete(b for b, _ in record.blobs)
        if outcome == "no-bucket":
            raise AwsError("NoSuchBucket", BucketName=record.bucket)
        if outcome == "exists":
            raise AwsError("PreconditionFailed", Condition="If-None-Match")
        if outcome == "etag-mismatch":
            if await call.meta.get_object(record.bucket, record.key) is None:
                raise AwsError("NoSuchKey", Key=record.key)
            raise AwsError("PreconditionFailed", Condition="If-Match")
        if outcome == "no-upload":
            raise AwsError("NoSuchUpload", UploadId=discard_upload or "")
        if outcome == "changed":
            raise ObjectChanged()
        if outcome == "conflict":
            from storeroom.s3.complete import conflict_error
            raise conflict_error(call)
        if outcome == "parts-changed":
            raise AwsError("InvalidPart", "A part was uploaded again while the upload was being completed; "
                           "list the parts and complete again.", UploadId=discard_upload or "")
    call.blobs.delete(freed, keep=record.blobs)


# -- GetObject / HeadObject --------------------------------------------------------------------------------

def version_arg(call: S3Call) -> str | None:
    """The request's ``versionId``, None without one; S3's InvalidArgument for one that names no version."""
    version = call.args.get("versionId")
    if version is not None and not valid_version_id(version):
        raise AwsError("InvalidArgument", _bad_version_message(version), ArgumentName="versionId",
                       ArgumentValue=version)
    return version


def _bad_version_message(version: str) -> str:
    # S3's two answers (the empty one as recorded against us-east-1; NooBaa's InvalidArgumentEmptyVersionId)
    return "Version id cannot be the empty string" if version == "" else "Invalid version id specified"


async def missing_error(call: S3Call, version_id: str | None) -> AwsError:
    """What a request for a key (or version) that is not there gets: 404 for callers allowed s3:ListBucket
    (NoSuchKey, naming the delete marker that is the key's latest version; NoSuchVersion), 403 for others."""
    assert call.bucket is not None and call.key is not None
    bucket = await call.existing_bucket()
    if not await call.may_list_bucket():
        return AwsError("AccessDenied")
    if version_id is not None:
        return AwsError("NoSuchVersion", "The specified version does not exist.", 404, Key=call.key,
                        VersionId=version_id)
    headers: dict[str, str] = {}
    if bucket.versioning is not None:
        marker = await call.meta.latest_marker(call.bucket, call.key)
        if marker is not None:
            headers = {"x-amz-delete-marker": "true", "x-amz-version-id": marker.version_id}
    return AwsError("NoSuchKey", Key=call.key, headers=headers)


def marker_error(call: S3Call, record: ObjectRecord) -> AwsError:
    """405: a delete marker, named by its version id, has no data ("GET of a delete marker ... returns a 405
    (Method Not Allowed) error")."""
    return AwsError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
                    headers={"x-amz-delete-marker": "true", "x-amz-version-id": record.version_id,
                             "last-modified": xml.http_date(record.mtime), "allow": "DELETE"},
                    Method=call.request.method, ResourceType="DeleteMarker")


async def existing_version(call: S3Call) -> ObjectRecord:
    """The version a request names (``versionId``, else the key's current object), or S3's error."""
    assert call.bucket is not None and call.key is not None
    version_id = version_arg(call)
    record = await (call.meta.get_object(call.bucket, call.key) if version_id is None
                    else call.meta.get_version(call.bucket, call.key, version_id))
    if record is None:
        raise await missing_error(call, version_id)
    if record.marker:
        raise marker_error(call, record)
    return record


async def _lookup(call: S3Call) -> ObjectRecord:
    assert call.bucket is not None and call.key is not None
    if "versionId" not in call.args:  # the hot path: one read, or none (cached; the record is shared)
        record = await call.meta.current_object(call.bucket, call.key)
        if record is None:
            raise await missing_error(call, None)
    else:
        record = await existing_version(call)
    await call.existing_bucket()  # region check (the bucket row is cached per call); versioning, lifecycle
    encryption.refuse_customer_key(call.headers)
    return record


def _response_headers(call: S3Call, record: ObjectRecord) -> list[tuple[str, str]]:
    headers = [("last-modified", xml.http_date(record.mtime)), ("etag", record.quoted_etag),
               ("accept-ranges", "bytes")]
    bucket = call._bucket_record
    if bucket is not None:
        if bucket.versioning is not None:
            headers.append(("x-amz-version-id", record.version_id))
        if bucket.lifecycle is not None and "versionId" not in call.args:  # S3 gives it for the current version
            headers += expiration_header(bucket.lifecycle, record)
    if record.tags:
        headers.append(("x-amz-tagging-count", str(len(record.tags))))
    if record.restored_until is not None:
        headers += restore.restore_header(record)
    overrides = {h: _header_value(q, call.args[q]) for q, h in RESPONSE_OVERRIDES.items() if q in call.args}
    for name, value in record.headers.items():
        if name not in overrides:
            headers.append((name, value))
    headers.extend(overrides.items())
    return headers


# Control characters (tab aside) cannot be written in an HTTP header: a response-* value holding one (CR LF would
# split the response) is refused rather than sent.
_NOT_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _header_value(parameter: str, value: str) -> str:
    """A response-* override as a response header value.  S3 refuses what ISO-8859-1 cannot carry with 400
    InvalidArgument "Header value cannot be represented using ISO-8859-1." naming the parameter (as observed in
    https://github.com/guardian/grid/pull/1716), and so do we, and likewise for control characters."""
    if not value.isascii():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise AwsError("InvalidArgument", "Header value cannot be represented using ISO-8859-1.",
                           ArgumentName=parameter, ArgumentValue=value) from None
    if _NOT_IN_HEADER.search(value):
        raise AwsError("InvalidArgument", "Header value contains a control character.", ArgumentName=parameter,
                       ArgumentValue=value)
    return value


def _part_range(call: S3Call, record: ObjectRecord) -> tuple[int, int] | None:
    """?partNumber=N: the byte range of part N (a single-part object has exactly part 1)."""
    value = call.args.get("partNumber")
    if value is None:
        return None
    if "range" in call.headers:
        raise AwsError("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
    number = parse_int(value) or 0
    if not 1 <= number <= 10_000:
        raise AwsError("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                       ArgumentName="partNumber", ArgumentValue=value)
    if number > max(len(record.blobs), 1) or (record.parts == 0 and number != 1):
        raise AwsError("InvalidPartNumber", "The requested partnumber is not satisfiable", 416,
                       PartNumberRequested=str(number), ActualPartCount=str(max(record.parts, 1)))
    start = sum(size for _, size in record.blobs[: number - 1])
    return start, start + record.blobs[number - 1][1]


def _part_checksum_headers(call: S3Call, record: ObjectRecord) -> list[tuple[str, str]]:
    """?partNumber=N with checksum mode: the part's own checksum, which an SDK's part-wise download checks, when
    the object has one per part (a COMPOSITE multipart upload); a single-part object's part 1 is all of it."""
    checksum = record.checksum
    if not checksum:
        return []
    if not record.parts:
        return checksum_headers(checksum)
    sums = checksum["parts"].split(",") if checksum.get("type") == "COMPOSITE" and checksum.get("parts") else []
    if len(sums) != len(record.blobs):
        return []  # a FULL_OBJECT checksum covers the whole object only
    number = int(call.args["partNumber"])
    return [(header_name(checksum["algorithm"]), sums[number - 1]), ("x-amz-checksum-type", "COMPOSITE")]


async def get_object(call: S3Call, *, head: bool = False, retry: bool = True) -> Response:
    if call.ctx.principal.is_anonymous and any(q in call.args for q in RESPONSE_OVERRIDES):
        # S3's answer to an unsigned GET or HEAD with response-* parameters: else anyone could have a public
        # object served as another type (text/html) or disposition.
        raise AwsError("InvalidRequest", "Request specific response headers cannot be used for anonymous GET "
                       "requests.")
    record = await _lookup(call)
    if not head:
        restore.refuse_archived(record)  # GLACIER / DEEP_ARCHIVE without a restored copy
    try:
        conditions.check(call.headers, record.etag, record.mtime)
    except conditions.NotModified:
        return _not_modified(call, record)
    headers = _response_headers(call, record)
    if await encryption.stored_encrypted(call, record):
        headers.append((encryption.HEADER, encryption.AES256))
    if record.retention is not None or record.legal_hold is not None:
        headers += await object_lock.lock_headers(call, record)
    span = _part_range(call, record)
    checksum_mode = call.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
    if span is not None:
        if record.parts:
            headers.append(("x-amz-mp-parts-count", str(record.parts)))
        if checksum_mode:
            headers.extend(_part_checksum_headers(call, record))
    else:
        span = conditions.parse_range(call.headers.get("range"), record.size)
        if span is not None and not conditions.if_range_holds(call.headers, record.etag, record.mtime):
            span = None  # the client's copy is not this object: all of it, not a piece to splice onto another
        # whole-object checksums only for the whole object: a range that covers it all is one (AWS-recorded,
        # LocalStack's test_get_object_range "get-0-100", "get--15")
        if checksum_mode and (span is None or span == (0, record.size)):
            headers.extend(checksum_headers(record.checksum))
    status = 200
    start, end = 0, record.size
    if span is not None:
        start, end = span
        status = 206
        headers.append(("content-range", f"bytes {start}-{end - 1}/{record.size}"))
    headers.append(("content-length", str(end - start)))
    if head or end == start:
        return Response(status, headers)
    try:
        body = await call.blobs.open_range(record.blobs, start, end)
    except FileNotFoundError:  # deleted or overwritten since we looked it up: answer as of now
        if retry:
            return await get_object(call, head=head, retry=False)
        raise
    return Response(status, headers, body)


# What a 304 carries (RFC 7232 4.1: "Cache-Control, Content-Location, Date, ETag, Expires, and Vary" as a 200 would
# send them), the version besides; no Content-Length, which would claim an empty object (RFC 7230 3.3.2).
_NOT_MODIFIED_HEADERS = frozenset({"etag", "last-modified", "cache-control", "expires", "x-amz-version-id"})


def _not_modified(call: S3Call, record: ObjectRecord) -> Response:
    return Response(304, [(k, v) for k, v in _response_headers(call, record) if k in _NOT_MODIFIED_HEADERS])


async def head_object(call: S3Call) -> Response:
    return await get_object(call, head=True)


# -- DeleteObject / DeleteObjects --------------------------------------------------------------------------

async def delete_object(call: S3Call) -> Response:
    """The key's current version goes (unversioned), or a delete marker becomes its latest version (versioned);
    with ``versionId`` that version goes for good.  Answered 204 whether or not there was anything to delete,
    unless ``If-Match`` makes it conditional (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
    conditional-deletes.html): then the key's current version must exist (404 NoSuchKey) and match (412)."""
    assert call.bucket is not None and call.key is not None
    object_lock.refuse_bypass_without_lock(call, await call.existing_bucket())
    version_id = version_arg(call)
    if_match = call.headers.get("if-match")
    if if_match is not None:
        await require_condition_read(call, if_match, call.key)
    guards = None if version_id is None else [Guard(clock.now(), await object_lock.may_bypass(call, call.object_arn()))]
    versioning, (done,), freed = await call.meta.delete_entries(
        call.bucket, [(call.key, version_id)], guards, None if if_match is None else [etag_test(if_match)])
    if done.unmet is not None:
        raise _unmet_error(done.unmet, call.key)
    if done.locked:
        raise object_lock.locked_error()
    call.blobs.delete(freed)
    headers: list[tuple[str, str]] = []
    if done.marker_id is not None:
        headers = [("x-amz-delete-marker", "true"), ("x-amz-version-id", done.marker_id)]
    elif version_id is not None and (versioning is not None or done.found):
        headers = [("x-amz-version-id", version_id)] + ([("x-amz-delete-marker", "true")] if done.marker else [])
    return Response(204, headers)


async def delete_objects(call: S3Call) -> Response:
    """Up to 1,000 keys (with a VersionId each, or not); each is authorized on its own (s3:DeleteObject, or
    s3:DeleteObjectVersion for a version, on its ARN) and reported."""
    assert call.bucket is not None
    bucket = await call.existing_bucket()
    object_lock.refuse_bypass_without_lock(call, bucket)
    versioned = bucket.versioning is not None
    # "The Content-MD5 or x-amz-sdk-checksum-algorithm header is required for all Multi-Object Delete requests"
    root = xml.parse(await read_body(call, 2 * 1024 * 1024, required=True))
    if xml.local(root) != "Delete":
        raise AwsError("MalformedXML")
    quiet = (xml.child_text(root, "Quiet") or "").strip().lower() == "true"
    objects = xml.children(root, "Object")
    if not objects or len(objects) > 1000:
        raise AwsError("MalformedXML")
    allowed: list[tuple[str, str | None]] = []
    guards: list[Guard] = []
    tests: list[Callable[[str], bool] | None] = []
    errors: list[str] = []
    bare: set[str] = set()  # keys named without a version id (a versioned bucket gets one marker each)
    for entry in objects:
        key = xml.child_text(entry, "Key")
        if key is None:
            raise AwsError("MalformedXML")
        version_id = xml.child_text(entry, "VersionId")
        if version_id is None and versioned:
            if key in bare:
                continue  # S3 answers it once and adds one delete marker, not one per mention
            bare.add(key)
        if version_id is not None and not valid_version_id(version_id):
            errors.append(_delete_error(key, version_id, "NoSuchVersion", "The specified version does not exist."))
            continue
        if_match = xml.child_text(entry, "ETag")  # a conditional delete of this key, as DeleteObject's If-Match
        action = "s3:DeleteObject" if version_id is None else "s3:DeleteObjectVersion"
        arn = call.object_arn(key)
        keys = None if if_match is None else {"s3:if-match": (if_match,)}
        if (await call.check(action, arn, extra=keys, version=version_id)).allowed and (
                if_match is None or if_match.strip() == "*"
                or (await call.check("s3:GetObject", arn, version=version_id)).allowed):
            allowed.append((key, version_id))
            guards.append(Guard(clock.now(), version_id is not None
                                and await object_lock.may_bypass(call, arn, entry_version=version_id)))
            tests.append(None if if_match is None else etag_test(if_match))
        else:
            errors.append(_delete_error(key, version_id, "AccessDenied", "Access Denied"))
    results: list[str] = []
    if allowed:
        _, done, freed = await call.meta.delete_entries(call.bucket, allowed, guards, tests)
        call.blobs.delete(freed)
        # a version Object Lock protects stays, reported as S3 reports it (the per-key error keeps Quiet's rule)
        errors += [_delete_error(d.key, d.version_id, "AccessDenied", object_lock.LOCKED) for d in done if d.locked]
        errors += [_delete_error(d.key, d.version_id, d.unmet, AwsError(d.unmet).message) for d in done
                   if d.unmet is not None]
        if not quiet:
            results = [_deleted_xml(d) for d in done if not d.locked and d.unmet is None]
    return Response(200, [("content-type", "application/xml")],
                    xml.document("DeleteResult", "".join(results + errors)))


async def require_condition_read(call: S3Call, if_match: str, key: str) -> None:
    """A delete conditional on an ETag also needs s3:GetObject: the answer tells whether the object is the one
    named ("you must have the s3:DeleteObject and s3:GetObject permissions"); ``*`` needs only the delete."""
    if if_match.strip() != "*":
        await call.require("s3:GetObject", call.object_arn(key))


def etag_test(if_match: str) -> Callable[[str], bool]:
    return functools.partial(conditions.etag_matches, if_match)


def _unmet_error(code: str, key: str) -> AwsError:
    return AwsError(code, Key=key) if code == "NoSuchKey" else AwsError(code, Condition="If-Match")


def _deleted_xml(done: Deletion) -> str:
    inner = xml.tag("Key", done.key) + xml.tag("VersionId", done.version_id)
    if done.marker_id is not None:
        inner += "<DeleteMarker>true</DeleteMarker>" + xml.tag("DeleteMarkerVersionId", done.marker_id)
    elif done.marker:
        inner += "<DeleteMarker>true</DeleteMarker>" + xml.tag("DeleteMarkerVersionId", done.version_id)
    return f"<Deleted>{inner}</Deleted>"


def _delete_error(key: str, version_id: str | None, code: str, message: str) -> str:
    return ("<Error>" + xml.tag("Key", key) + xml.tag("VersionId", version_id) + xml.tag("Code", code)
            + xml.tag("Message", message) + "</Error>")


# -- CopyObject --------------------------------------------------------------------------------------------

def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    """``x-amz-copy-source``: ``[/]bucket/key[?versionId=…]``, URL-encoded; a ``+`` is a space, as in the
    request's path (storeroom/s3/service.py ``path_of``: S3 reads both so)."""
    path, _, query = value.partition("?")
    bucket, _, key = unquote_plus(path).lstrip("/").partition("/")
    if not bucket or not key:
        raise AwsError("InvalidArgument", "Copy Source must mention the source bucket and key: "
                       "sourcebucket/sourcekey", ArgumentName="x-amz-copy-source", ArgumentValue=value)
    version_id: str | None = None
    if query.startswith("versionId="):
        version_id = unquote(query[10:])
        if not valid_version_id(version_id):
            raise AwsError("InvalidArgument", _bad_version_message(version_id),
                           ArgumentName="x-amz-copy-source" if version_id == "" else "versionId",
                           ArgumentValue=version_id)
    return bucket, key, version_id


async def copy_source(call: S3Call) -> tuple[ObjectRecord, list[tuple[str, str]]]:
    """The source object of CopyObject / UploadPartCopy (the version ``x-amz-copy-source`` names, or the
    current one), after s3:GetObject (s3:GetObjectVersion for a version) on it and its conditions; with the
    ``x-amz-copy-source-version-id`` header to answer when the source bucket is versioned."""
    bucket, key, version_id = parse_copy_source(call.headers["x-amz-copy-source"])
    action = "s3:GetObject" if version_id is None else "s3:GetObjectVersion"
    # judged on the version copied (not on a ?versionId= of the copy's own URL)
    await call.require(action, call.object_arn(key, bucket), bucket, version=version_id)
    record = await (call.meta.get_object(bucket, key) if version_id is None
                    else call.meta.get_version(bucket, key, version_id))
    source_bucket = await call.meta.get_bucket(bucket)
    if record is None:
        if source_bucket is None:
            raise AwsError("NoSuchBucket", BucketName=bucket)
        if version_id is not None:
            raise AwsError("NoSuchVersion", "The specified version does not exist.", 404, Key=key,
                           VersionId=version_id)
        marker = await call.meta.latest_marker(bucket, key) if source_bucket.versioning is not None else None
        raise AwsError("NoSuchKey", Key=key, headers={} if marker is None else {
            "x-amz-delete-marker": "true", "x-amz-version-id": marker.version_id})  # as a GET of it answers
    if record.marker:
        # "The source of a copy request may not specifically refer to a delete marker by version id."
        raise AwsError("InvalidRequest", "The source of a copy request may not specifically refer to a delete "
                       "marker by version id.")
    conditions.check_copy_source(call.headers, record.etag, record.mtime)
    restore.refuse_archived(record)  # "you must restore a copy of this object before you can use it as a source"
    versioned = source_bucket is not None and source_bucket.versioning is not None
    return record, [("x-amz-copy-source-version-id", record.version_id)] if versioned else []


async def copy_object(call: S3Call, attempts: int = 3) -> Response:
    assert call.bucket is not None and call.key is not None
    bucket = await call.existing_bucket()
    acl = await object_write_acl(call, bucket)
    # the copy's own lock (headers, else the bucket's default): a source's retention is never copied
    lock = object_lock.with_default(await object_lock.requested(call, bucket, call.headers), bucket)
    source, source_headers = await copy_source(call)
    headers = call.headers
    directive = headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise AwsError("InvalidArgument", "Unknown metadata directive.", ArgumentName="x-amz-metadata-directive",
                       ArgumentValue=directive)
    tags = _copied_tags(call, source)
    if_match = unquoted(headers.get("if-match"))  # the destination's current ETag (copy-source-if-* the source's)
    same = (source.bucket, source.key) == (call.bucket, call.key)
    if same and directive == "COPY" and "x-amz-storage-class" not in headers and not any(
            h.startswith(("x-amz-server-side-encryption", "x-amz-website-redirect")) for h in headers) and (
            "versionId" not in headers["x-amz-copy-source"]) and "x-amz-tagging-directive" not in headers and (
            not await encryption.configured(call)):
        # ... unless the bucket's default encryption was configured: the copy then applies it, and S3 takes it
        # (LocalStack's AWS recording: test_s3.py TestS3::test_copy_in_place_with_bucket_encryption)
        raise AwsError("InvalidRequest", "This copy request is illegal because it is trying to copy an object to "
                       "itself without changing the object's metadata, storage class, website redirect "
                       "location or encryption attributes.")
    stored = object_headers(headers) if directive == "REPLACE" else dict(source.headers)
    if directive == "COPY":
        # "If the x-amz-storage-class header is not used, the copied object will be stored in the STANDARD
        # Storage Class by default" (API_CopyObject): the class is the request's, not the source's
        stored.pop("x-amz-storage-class", None)
        stored.update({k: v for k, v in object_headers(headers).items() if k == "x-amz-storage-class"})
    algorithm, _ = requested_checksum(headers)
    algorithm = algorithm or (source.checksum or {}).get("algorithm") or DEFAULT_CHECKSUM
    if (same and bucket.versioning is None and source.version_id == "null" and source.checksum
            and source.checksum["algorithm"] == algorithm
            and not await encryption.stored_in_clear_but_should_not_be(call, source)):
        # Metadata-only change of one object (unversioned: no version keeps the old blobs): keep its blobs
        # (nothing to copy, nothing freed) -- provided nobody overwrote the object meanwhile (its blobs would be
        # gone); then start again from the new one.
        record = ObjectRecord(call.bucket, call.key, source.size, source.etag, time.time(), source.blobs, stored,
                              source.checksum, source.parts, tags=tags, acl=acl)
        object_lock.apply(record, lock)
        try:
            await commit_object(call, record, if_none_match="if-none-match" in headers, if_match=if_match,
                                fresh_blobs=False, same_blobs=True)
        except ObjectChanged:
            if attempts <= 1:
                raise AwsError("SlowDown", "The object is being changed by other requests; please try again.") from None
            call._bucket_record = None  # the bucket may have become versioned: look again
            return await copy_object(call, attempts - 1)
    else:
        try:
            received = await _copy_whole(call, source, algorithm)
        except SourceGone:
            if attempts <= 1:
                raise
            return await copy_object(call, attempts - 1)  # as the source is now
        record = _copied_record(call, received, stored)
        record.tags, record.acl = tags, acl
        object_lock.apply(record, lock)
        await commit_object(call, record, if_none_match="if-none-match" in headers, if_match=if_match)
    body = xml.document("CopyObjectResult", xml.tag("ETag", record.quoted_etag)
                        + xml.tag("LastModified", xml.iso8601(record.mtime))
                        + checksum_elements(record.checksum))
    return Response(200, [("content-type", "application/xml"), *checksum_headers(record.checksum), *source_headers,
                          *written_headers(bucket, record)], body)


async def _copy_whole(call: S3Call, source: ObjectRecord, algorithm: str) -> Received:
    """CopyObject's bytes.  A source of one blob whose ETag and checksum the copy keeps (not uploaded in parts;
    a whole-object checksum of the algorithm the copy gets) is copied by the blob store without reading it
    (``Blobs.copy_blob``: the kernel copies the file, still encrypted); anything else is read and written."""
    md5 = _content_md5(source)
    checksum = source.checksum
    if (md5 is not None and len(source.blobs) == 1 and checksum is not None
            and checksum.get("algorithm") == algorithm and checksum.get("type", "FULL_OBJECT") == "FULL_OBJECT"):
        blob_id, size = source.blobs[0]
        try:
            new_id = await call.blobs.copy_blob(blob_id, size)
        except FileNotFoundError:  # the source was deleted or overwritten since it was looked up
            raise SourceGone(source.key) from None
        if new_id is not None:
            return Received(new_id, size, md5, dict(checksum))
    return await copy_range(call, source, 0, source.size, algorithm, known_md5=md5)


def _content_md5(source: ObjectRecord) -> bytes | None:
    """The MD5 of a copy source's bytes when its ETag is that (an object not uploaded in parts), else None.

    "The source and destination ETag is identical for a successfully copied non-multipart object" (CopyObjectResult's
    ETag in AWS's S3 API model, as earlier botocore releases documented it; https://docs.rs/rusoto_s3/0.48.0/
    rusoto_s3/struct.CopyObjectResult.html quotes it): the copy takes the source's ETag instead of hashing
    every byte again (MD5 is a large copy's slowest stage: one core's ~700 MiB/s).  A multipart source's ETag is
    not an MD5 of its bytes: its copy is one object, whose ETag is hashed."""
    etag = source.etag
    if source.parts or len(etag) != 32:
        return None
    try:
        return bytes.fromhex(etag)
    except ValueError:
        return None


def _copied_tags(call: S3Call, source: ObjectRecord) -> dict[str, str] | None:
    """``x-amz-tagging-directive``: COPY (the default) keeps the source's tags, REPLACE takes ``x-amz-tagging``."""
    directive = call.headers.get("x-amz-tagging-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise AwsError("InvalidArgument", "Unknown tagging directive.", ArgumentName="x-amz-tagging-directive",
                       ArgumentValue=directive)
    if directive == "REPLACE":
        return header_tags(call)
    header_tags(call)  # a malformed header is refused all the same
    return dict(source.tags) if source.tags else None


def _copied_record(call: S3Call, received: Received, stored: dict[str, str]) -> ObjectRecord:
    assert call.bucket is not None and call.key is not None
    return ObjectRecord(call.bucket, call.key, received.size, received.md5.hex(), time.time(),
                        [(received.blob_id, received.size)], stored, received.checksum)


def checksum_elements(checksum: dict[str, str] | None) -> str:
    if not checksum:
        return ""
    return xml.tag(f"Checksum{checksum['algorithm']}", checksum["value"]) + xml.tag(
        "ChecksumType", checksum.get("type", "FULL_OBJECT"))
