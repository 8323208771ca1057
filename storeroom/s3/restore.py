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

import math
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from storeroom import clock
from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.numbers import parse_int
from storeroom.s3 import xml
from storeroom.s3.document import only_child_text, read_document
from storeroom.store.meta import ObjectRecord

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
TIERS = frozenset({"Standard", "Bulk", "Expedited"})
DAY = 86_400


def storage_class(record: ObjectRecord) -> str:
    return record.headers.get("x-amz-storage-class", "STANDARD")


def archived(record: ObjectRecord, now: float | None = None) -> bool:
    """Whether the object's bytes are out of reach: an archive class without a restored copy."""
    if record.marker or storage_class(record) not in ARCHIVE_CLASSES:
        return False
    return record.restored_until is None or record.restored_until <= (clock.now() if now is None else now)


def refuse_archived(record: ObjectRecord) -> None:
    """GET or copy of an archived object: 403 InvalidObjectState, as S3 answers it."""
    if archived(record):
        raise AwsError("InvalidObjectState", "The operation is not valid for the object's storage class", 403,
                       StorageClass=storage_class(record))


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
    if storage_class not in ARCHIVE_CLASSES or restored_until is None or restored_until <= clock.now():
        return ""
    return ("<RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress><RestoreExpiryDate>"
            f"{xml.iso8601(restored_until)}</RestoreExpiryDate></RestoreStatus>")


def restore_header(record: ObjectRecord) -> list[tuple[str, str]]:
    """HEAD/GET's ``x-amz-restore`` while a restored copy exists."""
    until = record.restored_until
    if until is None or until <= clock.now() or storage_class(record) not in ARCHIVE_CLASSES:
        return []
    return [("x-amz-restore", f'ongoing-request="false", expiry-date="{xml.http_date(until)}"')]


async def restore_object(call: S3Call) -> Response:
    assert call.bucket is not None and call.key is not None
    from storeroom.s3.objects import existing_version, version_arg  # (objects imports this module)

    days = _requested_days(await read_document(call, "RestoreRequest"))
    record = await existing_version(call)
    if storage_class(record) not in ARCHIVE_CLASSES:
        raise AwsError("InvalidObjectState", "Restore is not allowed for the object's current storage class", 403,
                       StorageClass=storage_class(record))
    now = clock.now()
    had_copy = not archived(record, now)
    until = math.ceil((now + days * DAY) / DAY) * DAY  # the next midnight UTC after the days

    def change(version: ObjectRecord) -> None:
        version.restored_until = until

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
    if days is None or days < 1:
        raise AwsError("InvalidArgument", "Days must be a positive integer", ArgumentName="Days",
                       ArgumentValue=days_text)
    for parent in (root, *xml.children(root, "GlacierJobParameters")):
        tier = only_child_text(parent, "Tier")
        if tier is not None and tier.strip() not in TIERS:
            raise AwsError("MalformedXML")
    return days
