"""Multipart uploads: Create, UploadPart, UploadPartCopy, Abort, ListParts, ListMultipartUploads.

CompleteMultipartUpload, which makes the object of the parts, is in ``complete.py``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.numbers import INT32_MAX, parse_int
from storeroom.randomness import random_urlsafe
from storeroom.s3 import object_lock, xml
from storeroom.s3.acl import object_write_acl
from storeroom.s3.lifecycle import abort_headers
from storeroom.s3.listing import encoder, successor
from storeroom.s3.objects import checksum_headers, copy_source, object_headers
from storeroom.s3.owner import owner_xml
from storeroom.s3.restore import storage_class
from storeroom.s3.tagging import header_tags
from storeroom.s3.upload import DEFAULT_CHECKSUM, SourceGone, copy_range, receive_body, requested_checksum
from storeroom.store.meta import Part, Upload

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

MAX_PARTS = 10_000
XML_HEADERS = [("content-type", "application/xml")]


def new_upload_id() -> str:
    """Sortable by creation time (ListMultipartUploads orders a key's uploads by initiation)."""
    return f"{time.time_ns():016x}" + random_urlsafe(24)


async def create_multipart_upload(call: S3Call) -> Response:
    assert call.bucket is not None and call.key is not None
    bucket = await call.existing_bucket()
    acl = await object_write_acl(call, bucket)
    tags = header_tags(call)
    stored = object_headers(call.headers)
    lock = await object_lock.requested(call, bucket, call.headers)  # the bucket's default applies at completion
    algorithm, _ = requested_checksum(call.headers)
    checksum_type = _checksum_type(algorithm, call.headers.get("x-amz-checksum-type"))
    upload_id = await call.blobs.create_upload(new_upload_id())
    upload = Upload(upload_id, call.bucket, call.key, time.time(), stored, algorithm, checksum_type, tags, acl,
                    lock.retention, lock.legal_hold)
    try:
        created = await call.meta.create_upload(upload)
    except BaseException:
        await call.blobs.abort_upload(upload_id, [])
        raise
    if not created:
        await call.blobs.abort_upload(upload_id, [])
        raise AwsError("NoSuchBucket", BucketName=call.bucket)
    body = xml.document("InitiateMultipartUploadResult", xml.tag("Bucket", call.bucket) + xml.tag("Key", call.key)
                        + xml.tag("UploadId", upload.upload_id))
    headers = list(XML_HEADERS) + abort_headers(bucket.lifecycle, upload)
    if algorithm and checksum_type:
        headers += [("x-amz-checksum-algorithm", algorithm), ("x-amz-checksum-type", checksum_type)]
    return Response(200, headers, body)


def _checksum_type(algorithm: str | None, requested: str | None) -> str | None:
    """COMPOSITE (checksum of the parts' checksums) or FULL_OBJECT (CRC of the whole object, combined from
    the parts' CRCs); CRC64NVME is always FULL_OBJECT, the SHAs always COMPOSITE.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html#ChecksumTypes"""
    if requested is not None:
        requested = requested.upper()
        if requested not in ("COMPOSITE", "FULL_OBJECT"):
            raise AwsError("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
        if algorithm is None:
            raise AwsError("InvalidRequest", "The x-amz-checksum-type header can only be used with the "
                           "x-amz-checksum-algorithm header.")
    if algorithm is None:
        return None
    default = "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"
    chosen = requested or default
    if chosen == "FULL_OBJECT" and algorithm.startswith("SHA") or (
            chosen == "COMPOSITE" and algorithm == "CRC64NVME"):
        raise AwsError("InvalidRequest", f"The {chosen} checksum type cannot be used with the "
                       f"{algorithm.lower()} checksum algorithm.")
    return chosen


async def _upload(call: S3Call) -> Upload:
    upload_id = call.args["uploadId"]
    upload = await call.meta.get_upload(upload_id)
    if upload is None or upload.bucket != call.bucket or upload.key != call.key:
        await call.existing_bucket()
        raise AwsError("NoSuchUpload", UploadId=upload_id)
    await call.existing_bucket()
    return upload


def _part_number(call: S3Call) -> int:
    raw = call.args.get("partNumber", "")
    number = parse_int(raw) or 0
    if not 1 <= number <= MAX_PARTS:
        raise AwsError("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                       ArgumentName="partNumber", ArgumentValue=raw)
    return number


async def upload_part(call: S3Call) -> Response:
    if "versionId" in call.args:  # S3's answer, whatever the value (recorded against us-east-1)
        raise AwsError("InvalidArgument", "This operation does not accept a version-id.", ArgumentName="versionId",
                       ArgumentValue=call.args["versionId"])
    upload = await _upload(call)
    number = _part_number(call)
    object_lock.require_integrity(call, object_lock.WriteLock(upload.retention, upload.legal_hold),
                                  await call.existing_bucket(), "Put Part")
    named, _ = requested_checksum(call.headers)
    if upload.checksum_algorithm and named != upload.checksum_algorithm:
        # A part checked with another algorithm, or with none, could not make the object's checksum the upload
        # asked for ("actual checksum Type: null": LocalStack's AWS recording, test_multipart_parts_checksum_exceptions)
        raise AwsError("InvalidRequest", "Checksum Type mismatch occurred, expected checksum Type: "
                       f"{upload.checksum_algorithm.lower()}, actual checksum Type: {(named or 'null').lower()}")
    # A part of an upload without algorithm keeps a CRC64NVME besides the checksum its request names: S3 gives
    # such an object its default FULL_OBJECT CRC64NVME (boto3 sends every part with a CRC32 by default).
    received = await receive_body(call, checksum_default=upload.checksum_algorithm or DEFAULT_CHECKSUM,
                                  also=None if upload.checksum_algorithm else DEFAULT_CHECKSUM,
                                  part=(upload.upload_id, number))
    part = Part(number, received.blob_id, received.size, received.md5.hex(), time.time(), received.checksum)
    await _store_part(call, upload, part)
    return Response(200, [("etag", f'"{part.etag}"'), *_part_checksum_headers(call, upload, part)])


def _part_checksum_headers(call: S3Call, upload: Upload, part: Part) -> list[tuple[str, str]]:
    """A part's checksum is reported when the upload or the request named an algorithm; the CRC64NVME
    computed by default (for the object's FULL_OBJECT checksum) is kept to ourselves, as S3 does."""
    named = upload.checksum_algorithm or requested_checksum(call.headers)[0]
    return [(k, v) for k, v in checksum_headers(part.checksum) if named and k != "x-amz-checksum-type"]


async def _store_part(call: S3Call, upload: Upload, part: Part) -> None:
    try:
        ok, replaced = await call.meta.put_part(upload.upload_id, part)
    except BaseException:
        call.blobs.discard_parts([part.blob_id])
        raise
    if not ok:
        call.blobs.discard_parts([part.blob_id])
        raise AwsError("NoSuchUpload", UploadId=upload.upload_id)
    if replaced and replaced != part.blob_id:  # (an S3 backend's part uploaded again with the same bytes)
        call.blobs.discard_parts([replaced])


async def upload_part_copy(call: S3Call, retry: bool = True) -> Response:
    upload = await _upload(call)
    number = _part_number(call)
    source, source_headers = await copy_source(call)
    start, end = _copy_range(call.headers.get("x-amz-copy-source-range"), source.size)
    try:
        received = await copy_range(call, source, start, end, upload.checksum_algorithm or DEFAULT_CHECKSUM,
                                    part=(upload.upload_id, number))
    except SourceGone:
        if not retry:
            raise
        return await upload_part_copy(call, retry=False)  # as the source is now
    part = Part(number, received.blob_id, received.size, received.md5.hex(), time.time(), received.checksum)
    await _store_part(call, upload, part)
    # The part's checksum, when the upload named an algorithm: the client must send it back at completion
    # (s3transfer copies it from here into CompleteMultipartUpload's body).
    checksum = xml.tag(f"Checksum{upload.checksum_algorithm}", part.checksum["value"]) if (
        upload.checksum_algorithm and part.checksum) else ""
    body = xml.document("CopyPartResult", xml.tag("ETag", f'"{part.etag}"')
                        + xml.tag("LastModified", xml.iso8601(part.mtime)) + checksum)
    return Response(200, [*XML_HEADERS, *source_headers], body)


def _copy_range(header: str | None, size: int) -> tuple[int, int]:
    """``x-amz-copy-source-range: bytes=first-last`` (both required, inclusive)."""
    if header is None:
        return 0, size
    unit, _, spec = header.partition("=")
    first, _, last = spec.partition("-")
    start, end = parse_int(first, signed=False), parse_int(last, signed=False)
    if unit.strip() != "bytes" or start is None or end is None or end < start:
        raise AwsError("InvalidArgument", "The x-amz-copy-source-range value must be of the form "
                       "bytes=first-last where first and last are the zero-based offsets of the first and last "
                       "bytes to copy", ArgumentName="x-amz-copy-source-range", ArgumentValue=header)
    end += 1
    if start >= size:  # S3's answer for a range starting past the source (LocalStack's AWS-recorded snapshot)
        raise AwsError("InvalidRequest", "The specified copy range is invalid for the source object size")
    if end > size:  # S3's own answer here (versity/versitygw#610), not GET's 416 InvalidRange
        raise AwsError("InvalidArgument", f"Range specified is not valid for source object of size: {size}",
                       ArgumentName="x-amz-copy-source-range", ArgumentValue=header)
    return start, end


async def abort_multipart_upload(call: S3Call) -> Response:
    upload = await _upload(call)
    blobs = await call.meta.abort_upload(upload.upload_id)
    if blobs is None:
        raise AwsError("NoSuchUpload", UploadId=upload.upload_id)
    await call.blobs.abort_upload(upload.upload_id, blobs)
    return Response(204)


def _int_arg(call: S3Call, name: str, default: int, maximum: int) -> int:
    raw = call.args.get(name)
    if not raw:  # an empty value is none (AWS-recorded list-parts-empty-marker: the default, not an error)
        return default
    value = parse_int(raw)
    if value is None or value > INT32_MAX:
        raise AwsError("InvalidArgument", f"Provided {name} not an integer or within integer range",
                       ArgumentName=name, ArgumentValue=raw)
    if value < 0:
        raise AwsError("InvalidArgument", f"Argument {name} must be an integer between 0 and {INT32_MAX}",
                       ArgumentName=name, ArgumentValue=raw)
    return min(value, maximum)


async def list_parts(call: S3Call) -> Response:
    upload = await _upload(call)
    marker = _int_arg(call, "part-number-marker", 0, MAX_PARTS)
    max_parts = _int_arg(call, "max-parts", 1000, 1000)
    parts = await call.meta.list_parts(upload.upload_id, marker, max_parts + 1)
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    entries = "".join(
        "<Part>" + xml.tag("PartNumber", p.part_number) + xml.tag("LastModified", xml.iso8601(p.mtime))
        + xml.tag("ETag", f'"{p.etag}"') + xml.tag("Size", p.size)
        + (xml.tag(f"Checksum{p.checksum['algorithm']}", p.checksum["value"])
           if p.checksum and upload.checksum_algorithm else "")
        + "</Part>"
        for p in parts
    )
    owner = owner_xml(call)
    inner = (
        xml.tag("Bucket", call.bucket) + xml.tag("Key", call.key) + xml.tag("UploadId", upload.upload_id)
        + xml.tag("PartNumberMarker", marker)
        + xml.tag("NextPartNumberMarker", parts[-1].part_number if parts else 0)  # 0: none follows (AWS-recorded)
        + xml.tag("MaxParts", max_parts) + xml.tag("IsTruncated", truncated)
        + entries + owner.replace("Owner>", "Initiator>") + owner
        + xml.tag("StorageClass", storage_class(upload.headers))
        + xml.tag("ChecksumAlgorithm", upload.checksum_algorithm) + xml.tag("ChecksumType", upload.checksum_type)
    )
    bucket = await call.existing_bucket()
    return Response(200, [*XML_HEADERS, *abort_headers(bucket.lifecycle, upload)],
                    xml.document("ListPartsResult", inner))


async def list_multipart_uploads(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    args = call.args
    prefix = args.get("prefix", "")
    key_marker = args.get("key-marker", "")
    upload_id_marker = args.get("upload-id-marker", "") if key_marker else ""
    if upload_id_marker:
        # an upload of another key (or bucket) is no position after key-marker: S3's 400 (LocalStack's
        # AWS-recorded list-multiparts-wrong-id-for-key); one since completed or aborted still pages on
        marked = await call.meta.get_upload(upload_id_marker)
        if marked is not None and (marked.bucket, marked.key) != (call.bucket, key_marker):
            raise AwsError("InvalidArgument", "Invalid uploadId marker", ArgumentName="upload-id-marker",
                           ArgumentValue=upload_id_marker)
    encoding, encode = encoder(call)
    max_uploads = _int_arg(call, "max-uploads", 1000, 1000)
    delimiter = args.get("delimiter", "")
    uploads, prefixes, last, truncated = await _uploads_page(call, prefix, delimiter, key_marker, upload_id_marker,
                                                             max_uploads)
    owner = owner_xml(call)
    entries = "".join(
        "<Upload>" + xml.tag("Key", encode(u.key)) + xml.tag("UploadId", u.upload_id)
        + owner.replace("Owner>", "Initiator>") + owner + xml.tag("StorageClass", storage_class(u.headers))
        + xml.tag("Initiated", xml.iso8601(u.initiated))
        + xml.tag("ChecksumAlgorithm", u.checksum_algorithm) + xml.tag("ChecksumType", u.checksum_type)
        + "</Upload>"
        for u in uploads
    )
    # The next markers are always there (AWS-recorded answers): a truncated page's last entry; else the page's
    # last upload, or nothing.  Prefix only when asked for.
    if not truncated or last is None:
        last = (uploads[-1].key, uploads[-1].upload_id) if uploads else ("", "")
    inner = (
        xml.tag("Bucket", call.bucket) + xml.tag("KeyMarker", encode(key_marker))
        + xml.tag("UploadIdMarker", upload_id_marker)
        + xml.tag("NextKeyMarker", encode(last[0])) + xml.tag("NextUploadIdMarker", last[1])
        + (xml.tag("Prefix", encode(prefix)) if "prefix" in args else "")
        + (xml.tag("Delimiter", encode(delimiter)) if delimiter else "")
        + xml.tag("MaxUploads", max_uploads) + xml.tag("IsTruncated", truncated)
        + entries + "".join(f"<CommonPrefixes>{xml.tag('Prefix', encode(p))}</CommonPrefixes>" for p in prefixes)
        + xml.tag("EncodingType", encoding)
    )
    return Response(200, list(XML_HEADERS), xml.document("ListMultipartUploadsResult", inner))


_UPLOADS_BATCH = 1000


async def _uploads_page(call: S3Call, prefix: str, delimiter: str, key_marker: str, upload_id_marker: str,
                        max_uploads: int) -> tuple[list[Upload], list[str], tuple[str, str] | None, bool]:
    """Uploads and common prefixes (each counting once towards ``max_uploads``), the (key, upload id) of the page's
    last entry (a common prefix's id is empty: it is the next page's key-marker), and whether truncated.  Read as
    the object listings are: bounded by the prefix, at most one upload past the page, past a common prefix at once
    (and one at or before ``key-marker`` was on an earlier page)."""
    assert call.bucket is not None
    uploads: list[Upload] = []
    prefixes: list[str] = []
    last: tuple[str, str] | None = None
    below = successor(prefix) if prefix else None
    # "If upload-id-marker is not specified, only the keys lexicographically greater than the specified key-marker
    # will be included" (API_ListMultipartUploads)
    marker, id_marker = key_marker, (upload_id_marker or None) if key_marker else ""
    while True:
        limit = min(_UPLOADS_BATCH, max_uploads - len(uploads) - len(prefixes) + 1)
        batch = await call.meta.list_uploads(call.bucket, prefix, marker, id_marker, limit, below=below)
        for upload in batch:
            if len(uploads) + len(prefixes) == max_uploads:
                return uploads, prefixes, last, True
            cut = upload.key.find(delimiter, len(prefix)) if delimiter else -1
            if cut < 0:
                uploads.append(upload)
                last = (upload.key, upload.upload_id)
                continue
            common = upload.key[: cut + len(delimiter)]
            if common > key_marker:
                prefixes.append(common)
                last = (common, "")
            after = successor(common)
            if after is None:
                return uploads, prefixes, last, False
            marker, id_marker = after, ""  # key >= after: past every upload under the common prefix
            break
        else:
            if len(batch) < limit:
                return uploads, prefixes, last, False
            marker, id_marker = batch[-1].key, batch[-1].upload_id
