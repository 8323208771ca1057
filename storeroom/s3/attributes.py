"""GetObjectAttributes: an object's ETag, checksum, parts, storage class and size, without its data.

https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html -- "x-amz-object-attributes:
Specifies the fields at the root level that you want returned in the response. Fields that you do not specify are
not returned" (ETag | Checksum | ObjectParts | StorageClass | ObjectSize); an empty or unknown name is
``InvalidArgument`` "Invalid attribute name specified.".  "If the bucket is not versioned, you need the
s3:GetObject and s3:GetObjectAttributes permissions" (the row checks the second, the handler the first); "If the
bucket is versioned, you need both the s3:GetObjectVersion and s3:GetObjectVersionAttributes permissions": asked
when the request names a ``versionId``, as GetObject asks s3:GetObjectVersion.  Versions answer as GetObject's do
(``x-amz-version-id`` once the bucket is versioned; a delete marker 404 ``NoSuchKey`` with
``x-amz-delete-marker``, or 405 when named by its version id).
``x-amz-max-parts`` (default 1,000) and ``x-amz-part-number-marker`` page the parts.

The answer's shapes, as S3 sends them: the ETag without quotes; a composite checksum without its ``-N`` suffix,
with its ``ChecksumType``; ``ObjectParts`` (its count as ``PartsCount``) only for an object made by a multipart
upload, its ``Part`` entries (with each part's checksum) only when that checksum is COMPOSITE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.numbers import parse_int
from storeroom.s3 import xml
from storeroom.s3.objects import _lookup as lookup_object  # the same 404/403 and version rules as GetObject

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call
    from storeroom.store.meta import ObjectRecord

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000
INT32_MAX = 2**31 - 1


def requested(value: str | None) -> set[str]:
    """The attribute names of ``x-amz-object-attributes`` (comma-separated; names compare with their case)."""
    names = [n.strip() for n in (value or "").split(",")]
    for name in names:
        if name not in ATTRIBUTES:
            raise AwsError("InvalidArgument", "Invalid attribute name specified.",
                           ArgumentName="x-amz-object-attributes", ArgumentValue=name)
    return set(names)


def _int_header(call: S3Call, name: str, default: int) -> int:
    raw = call.headers.get(name)
    if raw is None:
        return default
    value = parse_int(raw.strip())
    if value is None or not 0 <= value <= INT32_MAX:
        raise AwsError("InvalidArgument", f"Provided {name} not an integer or within integer range",
                       ArgumentName=name, ArgumentValue=raw)
    return value


async def get_object_attributes(call: S3Call) -> Response:
    wanted = requested(call.headers.get("x-amz-object-attributes"))
    await call.require("s3:GetObjectVersion" if "versionId" in call.args else "s3:GetObject", call.object_arn())
    record = await lookup_object(call)
    inner = ""
    if "ETag" in wanted:
        inner += xml.tag("ETag", record.etag)
    if "Checksum" in wanted and record.checksum:
        inner += _checksum(record.checksum)
    if "ObjectParts" in wanted and record.parts:
        inner += _parts(call, record)
    if "StorageClass" in wanted:
        inner += xml.tag("StorageClass", record.headers.get("x-amz-storage-class", "STANDARD"))
    if "ObjectSize" in wanted:
        inner += xml.tag("ObjectSize", record.size)
    headers = [("content-type", "application/xml"), ("last-modified", xml.http_date(record.mtime))]
    bucket = call._bucket_record  # read by the lookup
    if bucket is not None and bucket.versioning is not None:
        headers.append(("x-amz-version-id", record.version_id))
    return Response(200, headers, xml.document("GetObjectAttributesResponse", inner))


def _checksum(checksum: dict[str, str]) -> str:
    value = checksum["value"].partition("-")[0]  # base64 has no '-': what follows is a composite's part count
    return ("<Checksum>" + xml.tag(f"Checksum{checksum['algorithm']}", value)
            + xml.tag("ChecksumType", checksum.get("type", "FULL_OBJECT")) + "</Checksum>")


def _parts(call: S3Call, record: ObjectRecord) -> str:
    checksum = record.checksum or {}
    if checksum.get("type") != "COMPOSITE":
        # the parts themselves only for an object with a checksum per part (LocalStack's AWS-recorded answers,
        # AWS Support in boto/boto3#3509): a FULL_OBJECT or checksum-less one gets its count alone
        return "<ObjectParts>" + xml.tag("PartsCount", record.parts) + "</ObjectParts>"
    marker = _int_header(call, "x-amz-part-number-marker", 0)
    limit = min(_int_header(call, "x-amz-max-parts", MAX_PARTS), MAX_PARTS)
    sums = checksum["parts"].split(",") if checksum.get("parts") else []
    numbers = list(range(marker + 1, len(record.blobs) + 1))
    page, truncated = numbers[:limit], len(numbers) > limit
    entries = ""
    for number in page:
        entries += "<Part>" + xml.tag("PartNumber", number) + xml.tag("Size", record.blobs[number - 1][1])
        if len(sums) == len(record.blobs):
            entries += xml.tag(f"Checksum{checksum['algorithm']}", sums[number - 1])
        entries += "</Part>"
    return ("<ObjectParts>" + xml.tag("PartsCount", record.parts) + xml.tag("PartNumberMarker", marker)
            + xml.tag("NextPartNumberMarker", page[-1] if page else 0) + xml.tag("MaxParts", limit)
            + xml.tag("IsTruncated", truncated) + entries + "</ObjectParts>")
