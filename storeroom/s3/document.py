"""The small XML documents of S3's configuration writes (versioning, tagging, lifecycle, ACLs, ownership, Block
Public Access): read whole, their integrity headers checked, parsed.

These operations carry a ``Content-MD5`` or an ``x-amz-checksum-*`` of the body ("requestChecksumRequired" in
botocore's model; the SDKs always send one): whichever is given must match the body
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html), else ``BadDigest``
(``InvalidDigest`` for a Content-MD5 that is no MD5).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from storeroom.audit.events import S3_DATA_EVENTS
from storeroom.errors import AwsError
from storeroom.http.body import Payload
from storeroom.s3 import xml
from storeroom.s3.integrity import check_integrity

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

MAX_DOCUMENT = 64 * 1024


async def read_body(call: S3Call, limit: int = MAX_DOCUMENT, *, required: bool = False) -> bytes:
    """The request body, after its Content-MD5 and checksum (header or trailer) were checked; ``required``: one
    of them must be given (the operations whose S3 documentation says "Content-MD5 ... is required")."""
    payload = Payload(call.request, call.ctx.signed, call.ctx.signing_key)
    body = await payload.read_all(limit)
    check_integrity(call.headers, payload.trailers, body, required=required)
    if call.ctx.operation not in S3_DATA_EVENTS:  # (DeleteObjects' 2 MB are not kept for the audit queue)
        call.request.body = body  # kept: a configuration's audit event records what was asked for
    return body


async def read_document(call: S3Call, root: str, limit: int = MAX_DOCUMENT, *, required: bool = False,
                        empty_is_missing: bool = False) -> ET.Element:
    """The body parsed as the XML document ``root`` (MalformedXML otherwise; ``empty_is_missing``: no body at all
    is S3's MissingRequestBodyError, as PutObjectLockConfiguration answers it)."""
    body = await read_body(call, limit, required=required)
    if empty_is_missing and not body.strip():
        raise AwsError("MissingRequestBodyError")
    element = xml.parse(body)
    if xml.local(element) != root:
        raise AwsError("MalformedXML")
    return element


def only_child_text(element: ET.Element, name: str) -> str | None:
    """The text of the one ``name`` child, None when absent; MalformedXML when it appears twice."""
    found = xml.children(element, name)
    if len(found) > 1:
        raise AwsError("MalformedXML")
    return (found[0].text or "") if found else None


def boolean(value: str | None, default: bool = False) -> bool:
    """An XML schema boolean (``true``/``false``/``1``/``0``); MalformedXML for anything else."""
    if value is None:
        return default
    text = value.strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise AwsError("MalformedXML")
