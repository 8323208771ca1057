"""Archived objects and RestoreObject (https://docs.aws.amazon.com/AmazonS3/latest/userguide/archived-objects.html).

An object stored with ``x-amz-storage-class`` GLACIER or DEEP_ARCHIVE is archived: HEAD answers it, but its
bytes cannot be read (GET) nor copied (CopyObject, UploadPartCopy) until a restored copy exists: ``403
InvalidObjectState``.  ``POST ?restore`` with ``<RestoreRequest><Days>N</Days>...`` makes that copy for N days
("calculates expiration time by adding the number of days ... to the time when the requested restoration is
completed, and then rounding to the next day at midnight UTC").  Storeroom keeps every object on one tier, so
the restore completes at once: the first request answers ``202 Accepted``, and HEAD at once says
``x-amz-restore: ongoing-request="false", expiry-date="..."``; a request while a copy exists extends it (200).
The copy's expiry is kept in the version's record (``ObjectRecord.restored_until``); past it the object is
archived again.  GLACIER_IR and the other classes are readable at once, as on S3.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import TYPE_CHECKING

from storeroom import clock
from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.numbers import INT32_MAX, parse_int
from storeroom.s3 import xml
from storeroom.s3.document import only_child_text, read_document
from storeroom.s3.lifecycle import due
from storeroom.store.meta import ObjectRecord

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
TIERS = frozenset({"Standard", "Bulk", "Expedited"})


def storage_class(headers: Mapping[str, str]) -> str:
    """An object's (or a multipart upload's) class, from its stored headers: S3 omits STANDARD."""
    return headers.get("x-amz-storage-class", "STANDARD")


def restored_copy(storage_class: str, restored_until: float | None, now: float | None = None) -> bool:
    """Whether an archived object has a restored copy now (its expiry ahead)."""
    return (storage_class in ARCHIVE_CLASSES and restored_until is not None
            and restored_until > (clock.now() if now is None else now))


def archived(record: ObjectRecord, now: float | None = None) -> bool:
    """Whether the object's bytes are out of reach: an archive class without a restored copy."""
    found = storage_class(record.headers)
    return (not record.marker and found in ARCHIVE_CLASSES
            and not restored_copy(found, record.restored_until, now))


def refuse_archived(record: ObjectRecord) -> None:
    """GET or copy of an archived object: 403 InvalidObjectState, as S3 answers it."""
    if archived(record):
        raise AwsError("InvalidObjectState", "The operation is not valid for the object's storage class", 403,
                       StorageClass=storage_class(record.headers))


def wants_restore_status(call: S3Call) -> bool:
    """ListObjects(V2) and ListObjectVersions' ``x-amz-optional-object-attributes``: its one valid value,
    ``RestoreStatus``, adds each restored object's RestoreStatus; another is "InvalidArgument: Invalid attribute
    name specified" (as noobaa-core records S3's answer)."""
    value = call.headers.get("x-amz-optional-object-attributes")
    if value is None:
        return False
    if any(name.strip() != "RestoreStatus" for name in value.split(",")):
        raise AwsError("InvalidArgument", "Invalid attribute name specified",
                       ArgumentName="x-amz-optional-object-attributes", ArgumentValue=value)
    return True


def restore_status_xml(storage_class: str, restored_until: float | None) -> str:
    """A listed object's ``<RestoreStatus>`` while a restored copy exists (absent otherwise, as on S3)."""
    if restored_until is None or not restored_copy(storage_class, restored_until):
        return ""
    return ("<RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress><RestoreExpiryDate>"
            f"{xml.iso8601(restored_until)}</RestoreExpiryDate></RestoreStatus>")


def restore_header(record: ObjectRecord) -> list[tuple[str, str]]:
    """HEAD/GET's ``x-amz-restore`` while a restored copy exists."""
    until = record.restored_until
    if until is None or not restored_copy(storage_class(record.headers), until):
        return []
    return [("x-amz-restore", f'ongoing-request="false", expiry-date="{xml.http_date(until)}"')]


async def restore_object(call: S3Call) -> Response:
    assert call.bucket is not None and call.key is not None
    from storeroom.s3.objects import existing_version, version_arg  # (objects imports this module)

    days = _requested_days(await read_document(call, "RestoreRequest"))
    record = await existing_version(call)  # NoSuchKey / NoSuchVersion / a delete marker's 405, as GET answers
    if storage_class(record.headers) not in ARCHIVE_CLASSES:
        raise AwsError("InvalidObjectState", "Restore is not allowed for the object's current storage class", 403,
                       StorageClass=storage_class(record.headers))
    now = clock.now()
    had_copy = False

    def change(version: ObjectRecord) -> None:  # in the transaction that writes: a copy made meanwhile counts
        nonlocal had_copy
        had_copy = restored_copy(storage_class(version.headers), version.restored_until, now)
        version.restored_until = due(now, days)  # days added, rounded up to midnight UTC, as lifecycle's dates

    updated = await call.meta.update_version(call.bucket, call.key, version_arg(call), change)
    if updated is None or updated.marker:
        raise AwsError("NoSuchKey", Key=call.key)
    return Response(200 if had_copy else 202)


def _requested_days(root: ET.Element) -> int:
    """``Days`` (required: a restore of an archived object is for some days) and an optional ``Tier``; a
    ``SELECT`` restore (S3 Select on archives) is not built."""
    if (only_child_text(root, "Type") or "").strip():
        raise AwsError("NotImplemented", "RestoreObject of type SELECT is not implemented by Storeroom.", 501)
    days_text = only_child_text(root, "Days")
    if days_text is None:
        raise AwsError("MalformedXML")
    days = parse_int(days_text.strip())
    if days is None or not 1 <= days <= INT32_MAX:  # S3 reads it as a Java int
        raise AwsError("InvalidArgument", "Days must be a positive integer", ArgumentName="Days",
                       ArgumentValue=days_text)
    for parent in (root, *xml.children(root, "GlacierJobParameters")):
        tier = only_child_text(parent, "Tier")
        if tier is not None and tier.strip() not in TIERS:
            raise AwsError("MalformedXML")
    return days
