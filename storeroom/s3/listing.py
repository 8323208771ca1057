"""ListObjectsV2 and ListObjects (v1): prefix, delimiter → CommonPrefixes, paging.

Keys come from the metadata store in UTF-8 byte order.  With a delimiter, all keys under one common prefix
count once; rather than reading them all, the scan seeks past them (to the prefix's successor string).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.numbers import INT32_MAX, parse_int
from storeroom.s3 import restore, xml
from storeroom.s3.owner import listed_owner_xml
from storeroom.store.meta import listed_restore, listed_storage_class

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

MAX_KEYS = 1000
Encoder = Callable[[str], str]
_BATCH = 1000


@dataclass(slots=True)
class Page:
    contents: list[tuple[str, int, str, float, str]] = field(default_factory=list)  # key, size, etag, mtime, doc
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str | None = None   # the last key or common prefix returned (v1 NextMarker, v2 token)


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix`` (None: no such bound)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be encoded; skip to the next scalar value
                nxt = 0xE000
            return prefix[:-1] + chr(nxt)
        prefix = prefix[:-1]
    return None


async def scan(call: S3Call, bucket: str, prefix: str, delimiter: str, start_after: str, max_keys: int) -> Page:
    page = Page()
    if max_keys == 0:
        return page
    position, inclusive = start_after, False
    if prefix > position:
        position, inclusive = prefix, True
    below = successor(prefix) if prefix else None
    if not delimiter:  # nothing folds: the page is the next max_keys rows under the prefix, and one more tells
        rows = await call.meta.list_objects(bucket, position, inclusive=inclusive, limit=max_keys + 1, below=below)
        page.contents, page.truncated = rows[:max_keys], len(rows) > max_keys
        page.last = page.contents[-1][0] if page.contents else None
        return page
    count = 0
    while True:
        # at most one row past the page: a common prefix folds rows, but it also re-seeks past them
        limit = min(_BATCH, max_keys - count + 1)
        rows = await call.meta.list_objects(bucket, position, inclusive=inclusive, limit=limit, below=below)
        if not rows:
            return page
        for row in rows:
            key = row[0]
            if count == max_keys:
                page.truncated = True
                return page
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                common = key[: cut + len(delimiter)]
                if common > start_after:  # else it was returned on an earlier page
                    page.prefixes.append(common)
                    page.last = common
                    count += 1
                after = successor(common)
                if after is None:
                    return page
                position, inclusive = after, True
                break  # re-seek past everything under this common prefix
            page.contents.append(row)
            page.last = key
            count += 1
        else:
            position, inclusive = rows[-1][0], False
            if len(rows) < limit:
                return page


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The parameters ListObjects (v1) and ListObjectVersions share."""

    bucket: str
    prefix: str
    delimiter: str
    marker: str
    max_keys: int
    encoding: str | None
    encode: Encoder


async def _query(call: S3Call, marker_name: str) -> ListQuery:
    assert call.bucket is not None
    await call.existing_bucket()
    args = call.args
    encoding, encode = encoder(call)
    return ListQuery(call.bucket, args.get("prefix", ""), args.get("delimiter", ""), args.get(marker_name, ""),
                     _max_keys(call), encoding, encode)


def _max_keys(call: S3Call) -> int:
    raw = call.args.get("max-keys", str(MAX_KEYS))
    value = parse_int(raw)
    if value is None or value > INT32_MAX:
        raise AwsError("InvalidArgument", "Provided max-keys not an integer or within integer range",
                       ArgumentName="max-keys", ArgumentValue=raw)
    if value < 0:
        raise AwsError("InvalidArgument", "Argument maxKeys must be an integer between 0 and 2147483647",
                       ArgumentName="maxKeys", ArgumentValue=raw)
    return min(value, MAX_KEYS)


def encoder(call: S3Call) -> tuple[str | None, Encoder]:
    encoding = call.args.get("encoding-type")
    if encoding is None:
        return None, _as_is
    if encoding != "url":
        raise AwsError("InvalidArgument", "Invalid Encoding Method specified in Request",
                       ArgumentName="encoding-type", ArgumentValue=encoding)
    return "url", _url_encode


def _as_is(value: str) -> str:
    return value


_URL_AS_IS = re.compile(r"[A-Za-z0-9_.~/-]*")  # what quote(value, safe="/") leaves as it is


def _url_encode(value: str) -> str:
    return value if _URL_AS_IS.fullmatch(value) else quote(value, safe="/")


def _encode_all(encode: Encoder, values: list[str]) -> list[str]:
    """``encode`` of each value.  botocore asks every listing for encoding-type=url, and most keys need none:
    one scan of them all then spares a ``quote`` per key."""
    if encode is _as_is or (encode is _url_encode and _URL_AS_IS.fullmatch("".join(values))):
        return values
    return [encode(v) for v in values]


def _contents_xml(page: Page, encode: Encoder, owner: str, restore_status: bool = False) -> str:
    keys = xml.escape_all(_encode_all(encode, [row[0] for row in page.contents]))
    iso8601 = xml.iso8601
    parts = []
    for key, (_, size, etag, mtime, doc) in zip(keys, page.contents, strict=True):
        # The object's own class (the AWS CLI skips the GLACIER objects a listing names).  S3 also names each
        # object's ChecksumAlgorithm and ChecksumType here; written, they cost a listing half its CPU
        # (bench/RESULTS.md), so only ListObjectVersions, HEAD and GetObjectAttributes name them.
        storage_class = listed_storage_class(doc)
        restored = restore.restore_status_xml(storage_class, listed_restore(doc)) if restore_status else ""
        parts.append(f"<Contents><Key>{key}</Key><LastModified>{iso8601(mtime)}</LastModified>"
                     f"<ETag>&quot;{etag}&quot;</ETag><Size>{size}</Size>{owner}"
                     f"<StorageClass>{storage_class}</StorageClass>{restored}</Contents>")
    parts.extend(f"<CommonPrefixes><Prefix>{xml.escape(encode(p))}</Prefix></CommonPrefixes>"
                 for p in page.prefixes)
    return "".join(parts)


async def list_objects_v2(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    args = call.args
    prefix, delimiter = args.get("prefix", ""), args.get("delimiter", "")
    max_keys = _max_keys(call)
    encoding, encode = encoder(call)
    token = args.get("continuation-token")
    start_after = args.get("start-after", "")
    position = start_after
    if token is not None:
        position = _decode_token(token)
    page = await scan(call, call.bucket, prefix, delimiter, position, max_keys)
    owner = listed_owner_xml(call) if args.get("fetch-owner", "").lower() == "true" else ""
    inner = (
        xml.tag("Name", call.bucket) + xml.tag("Prefix", encode(prefix))
        + (xml.tag("Delimiter", encode(delimiter)) if delimiter else "")
        + xml.tag("MaxKeys", max_keys)
        + xml.tag("EncodingType", encoding)
        + xml.tag("IsTruncated", page.truncated)
        + xml.tag("KeyCount", len(page.contents) + len(page.prefixes))
        + xml.tag("ContinuationToken", token)
        + (xml.tag("NextContinuationToken", _encode_token(page.last)) if page.truncated and page.last else "")
        # not echoed beside a token, which it gives way to (AWS-recorded list-objects-start-after-token)
        + (xml.tag("StartAfter", encode(start_after)) if "start-after" in args and token is None else "")
        + _contents_xml(page, encode, owner, restore.wants_restore_status(call))
    )
    return Response(200, await _listing_headers(call), xml.document("ListBucketResult", inner))


async def list_objects_v1(call: S3Call) -> Response:
    q = await _query(call, "marker")
    page = await scan(call, q.bucket, q.prefix, q.delimiter, q.marker, q.max_keys)
    inner = (
        xml.tag("Name", q.bucket) + xml.tag("Prefix", q.encode(q.prefix)) + xml.tag("Marker", q.encode(q.marker))
        + (xml.tag("NextMarker", q.encode(page.last or "")) if page.truncated and q.delimiter else "")
        + xml.tag("MaxKeys", q.max_keys)
        + (xml.tag("Delimiter", q.encode(q.delimiter)) if q.delimiter else "")
        + xml.tag("EncodingType", q.encoding)
        + xml.tag("IsTruncated", page.truncated)
        + _contents_xml(page, q.encode, listed_owner_xml(call), restore.wants_restore_status(call))
    )
    return Response(200, await _listing_headers(call), xml.document("ListBucketResult", inner))


async def _listing_headers(call: S3Call) -> list[tuple[str, str]]:
    """A listing names its bucket's region, as HeadBucket does (LocalStack's AWS-validated
    test_region_header_exists): clients learn where a bucket lives from either."""
    return [("content-type", "application/xml"), ("x-amz-bucket-region", (await call.existing_bucket()).region)]


def _encode_token(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode("utf-8", "surrogatepass")).decode()


def _decode_token(token: str) -> str:
    """Strict UTF-8: keys (and so the positions tokens hold) never contain lone surrogates, which the metadata
    store could not even look up (UnicodeEncodeError: 500).  An empty token is none S3 gave (LocalStack's
    AWS-recorded snapshot: 400), not the first page."""
    try:
        # only the alphabet tokens are written in: b64decode drops other characters, so "\x00" or "%%%" read as
        # the first page (AWS refuses them), and the token echoed back made the answer unreadable XML
        if not _TOKEN.fullmatch(token):
            raise ValueError(token)
        return base64.urlsafe_b64decode(token.encode()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        error = AwsError("InvalidArgument", "The continuation token provided is incorrect",
                         ArgumentName="continuation-token")
        if token.isprintable():  # echoed when XML can carry it
            error.extra["ArgumentValue"] = token
        raise error from None


_TOKEN = re.compile(r"[A-Za-z0-9_-]+={0,2}")
