"""Bucket versioning: PutBucketVersioning, GetBucketVersioning, ListObjectVersions
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html).  Where versions live and how writes
keep them: storeroom/store/versions.py.

- A bucket is unversioned until versioning is first enabled; then ``Enabled`` or ``Suspended``, never
  unversioned again.  GetBucketVersioning of a never-versioned bucket is the empty ``VersioningConfiguration``.
  ``MfaDelete`` ``Enabled`` needs MFA on DELETE, which Storeroom has not built: 501 NotImplemented.
- ListObjectVersions lists keys in byte order and each key's versions newest first, ``Version`` and
  ``DeleteMarker`` entries in that one order, ``IsLatest`` on each key's newest; ``key-marker`` alone starts
  after every version of that key, with ``version-id-marker`` after that version of it ("A version-id marker
  cannot be specified without a key marker" otherwise); with a delimiter the keys under a common prefix count
  once, as one ``CommonPrefixes``; a page ends at ``max-keys`` entries (versions, markers and prefixes alike)
  with ``NextKeyMarker`` / ``NextVersionIdMarker`` naming the last one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.s3 import restore, xml
from storeroom.s3.document import only_child_text, read_document
from storeroom.s3.listing import MAX_KEYS, encoder, successor
from storeroom.s3.listing import _max_keys as max_keys  # noqa: PLC2701
from storeroom.s3.owner import listed_owner_xml
from storeroom.store.meta import Bucket, ObjectRecord
from storeroom.store.versions import NEWEST, seq_of, valid_version_id

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

XML_HEADERS = [("content-type", "application/xml")]


async def get_bucket_versioning(call: S3Call) -> Response:
    bucket = await call.existing_bucket()
    # "If you never enabled (or suspended) versioning on a bucket, the response is <VersioningConfiguration/>"
    inner = xml.tag("Status", bucket.versioning)
    return Response(200, list(XML_HEADERS), xml.document("VersioningConfiguration", inner))


async def put_bucket_versioning(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    root = await read_document(call, "VersioningConfiguration")
    if any(xml.local(c) not in ("Status", "MfaDelete") for c in root):
        raise AwsError("MalformedXML")
    status = only_child_text(root, "Status")
    mfa = only_child_text(root, "MfaDelete")
    if status is not None and status not in ("Enabled", "Suspended"):
        raise AwsError("MalformedXML")
    if mfa is not None and (mfa not in ("Enabled", "Disabled") or "x-amz-mfa" not in call.headers):
        # S3 takes MfaDelete, either value, only with the x-amz-mfa header: else MalformedXML
        # (hashicorp/terraform-provider-aws#48161: "MfaDelete=Disabled ... without the required MFA header,
        # causing a MalformedXML rejection")
        raise AwsError("MalformedXML")
    if mfa == "Enabled":
        raise AwsError("NotImplemented", "MFA Delete is not implemented by Storeroom.", Header="x-amz-mfa")
    if status is None:
        raise AwsError("IllegalVersioningConfigurationException", "The Versioning element must be specified", 400)

    def check(bucket: Bucket) -> None:
        # "After you enable Object Lock on a bucket, you can't disable Object Lock or suspend versioning for that
        # bucket" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-configure.html)
        if bucket.object_lock is not None and status != "Enabled":
            raise AwsError("InvalidBucketState", "An Object Lock configuration is present on this bucket, so the "
                           "versioning state cannot be changed.", 409)
    if not await call.meta.set_bucket_setting(call.bucket, "versioning", status, check):
        raise AwsError("NoSuchBucket", BucketName=call.bucket)
    return Response(200)


async def list_object_versions(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    args = call.args
    prefix, delimiter = args.get("prefix", ""), args.get("delimiter", "")
    key_marker, version_marker = args.get("key-marker", ""), args.get("version-id-marker")
    limit = max_keys(call)
    # S3's order of judgement: max-keys, the marker's key marker, an empty marker, then encoding-type
    if version_marker is not None and not key_marker:
        raise AwsError("InvalidArgument", "A version-id marker cannot be specified without a key marker.",
                       ArgumentName="version-id-marker", ArgumentValue=version_marker)
    if version_marker == "":
        raise AwsError("InvalidArgument", "A version-id marker cannot be empty.", ArgumentName="version-id-marker",
                       ArgumentValue="")
    encoding, encode = encoder(call)
    if version_marker and not valid_version_id(version_marker):
        raise AwsError("InvalidArgument", "Invalid version id specified", ArgumentName="version-id-marker",
                       ArgumentValue=version_marker)
    entries, last, truncated = await _page(call, prefix, delimiter, key_marker, version_marker or None, limit)
    owner = listed_owner_xml(call)
    restore_status = restore.wants_restore_status(call)
    body = "".join(_entry_xml(record, latest, encode, owner, restore_status) if record is not None else
                   f"<CommonPrefixes>{xml.tag('Prefix', encode(common))}</CommonPrefixes>"
                   for record, latest, common in entries)
    next_markers = ""
    if truncated and last is not None:
        next_markers = xml.tag("NextKeyMarker", encode(last[0])) + xml.tag("NextVersionIdMarker", last[1])
    inner = (
        xml.tag("Name", call.bucket) + xml.tag("Prefix", encode(prefix)) + xml.tag("KeyMarker", encode(key_marker))
        + xml.tag("VersionIdMarker", version_marker or "") + next_markers + xml.tag("MaxKeys", limit)
        + (xml.tag("Delimiter", encode(delimiter)) if delimiter else "") + xml.tag("EncodingType", encoding)
        + xml.tag("IsTruncated", truncated) + body
    )
    return Response(200, list(XML_HEADERS), xml.document("ListVersionsResult", inner))


Entry = tuple[ObjectRecord | None, bool, str]  # (version, is latest, "") or (None, False, common prefix)


async def _page(call: S3Call, prefix: str, delimiter: str, key_marker: str, version_marker: str | None,
                limit: int) -> tuple[list[Entry], tuple[str, str | None] | None, bool]:
    """One page: its entries in order, the (key, version id) of its last entry (version id None for a common
    prefix), and whether more follow."""
    assert call.bucket is not None
    entries: list[Entry] = []
    if limit == 0:
        return entries, None, False
    start_key, before = _start(prefix, key_marker)
    previous_key: str | None = None
    if version_marker is not None:
        before, newer_left = await _marker_position(call, key_marker, version_marker)
        start_key = key_marker
        # the page begins inside that key: its first is not its latest -- unless nothing newer is left (the
        # marker and all before it deleted since)
        previous_key = key_marker if newer_left else None
    last: tuple[str, str | None] | None = None
    while True:
        restart: tuple[str, int] | None = None
        # a batch of one past the page's room (a full page then takes one read per table, not two)
        batch = limit - len(entries) + 1
        async for record in call.meta.scan_versions(call.bucket, start_key, before, batch=batch):
            key = record.key
            if not key.startswith(prefix):
                if key > prefix:
                    return entries, last, False
                continue
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                common = key[: cut + len(delimiter)]
                if common > key_marker:  # else it was on an earlier page
                    if len(entries) == limit:
                        return entries, last, True
                    entries.append((None, False, common))
                    last = (common, None)
                after = successor(common)
                if after is None:
                    return entries, last, False
                restart = (after, NEWEST)
                break  # seek past everything under the common prefix
            if len(entries) == limit:
                return entries, last, True
            entries.append((record, key != previous_key, ""))
            previous_key = key
            last = (key, record.version_id)
        if restart is None:
            return entries, last, False
        start_key, before = restart
        previous_key = None


def _start(prefix: str, key_marker: str) -> tuple[str, int]:
    """Where the scan begins: after every version of ``key-marker`` (seq 0: none of it), or at the prefix."""
    if key_marker and key_marker >= prefix:
        return key_marker, 0
    return prefix, NEWEST


async def _marker_position(call: S3Call, key: str, version_id: str) -> tuple[int, bool]:
    """The seq after which the versions of ``key`` older than ``version_id`` come, and whether a version of the
    key newer than that is left.  A version deleted since a page named it (emptying a bucket page by page does
    just that) is placed by the seq its id carries; one whose id carries none (``null``, ids of an earlier
    release) lets every remaining version of the key be listed: some again rather than any skipped."""
    assert call.bucket is not None
    record = await call.meta.get_version(call.bucket, key, version_id)
    if record is not None:
        return record.seq, True
    seq = seq_of(version_id)
    if seq is None:
        return NEWEST, False
    newest = await call.meta.get_object(call.bucket, key) or await call.meta.latest_marker(call.bucket, key)
    return seq, newest is not None and newest.seq > seq


def _entry_xml(record: ObjectRecord, latest: bool, encode: object, owner: str, restore_status: bool) -> str:
    assert callable(encode)
    head = (f"<Key>{xml.escape(encode(record.key))}</Key><VersionId>{xml.escape(record.version_id)}</VersionId>"
            f"<IsLatest>{'true' if latest else 'false'}</IsLatest><LastModified>{xml.iso8601(record.mtime)}"
            "</LastModified>")
    if record.marker:
        return f"<DeleteMarker>{head}{owner}</DeleteMarker>"
    storage = restore.storage_class(record.headers)
    checksum = (xml.tag("ChecksumAlgorithm", record.checksum["algorithm"])
                + xml.tag("ChecksumType", record.checksum.get("type", "FULL_OBJECT"))) if record.checksum else ""
    return (f"<Version>{head}<ETag>&quot;{record.etag}&quot;</ETag>{checksum}<Size>{record.size}</Size>{owner}"
            f"<StorageClass>{storage}</StorageClass>"
            f"{restore.restore_status_xml(storage, record.restored_until) if restore_status else ''}</Version>")


__all__ = ["MAX_KEYS", "get_bucket_versioning", "list_object_versions", "put_bucket_versioning"]
