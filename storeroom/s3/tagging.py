"""Tags: Put/Get/DeleteObjectTagging (per version), Put/Get/DeleteBucketTagging, and ``x-amz-tagging`` on
PutObject, CreateMultipartUpload and CopyObject (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
object-tagging.html).

S3's rules, with the answers S3 gives (AWS's pages, and S3's answers recorded in public issue trackers):

- "You can associate up to 10 tags with an object" (11: 400 ``BadRequest`` "Object tags cannot be greater than
  10", which S3 answers for the header and for PutObjectTagging alike); a bucket "can contain as many as 50
  tags".  Keys are unique (``InvalidTag`` "Cannot provide multiple Tags with the same key").
- "A tag key can be up to 128 Unicode characters in length, and tag values can be up to 256 Unicode characters
  in length. Amazon S3 object tags are internally represented in UTF-16": counted here in UTF-16 code units;
  "Keys can only contain Unicode letters or numbers, white space, and the following symbols: _ . : / = + @ -"
  (``InvalidTag`` "The TagKey you have provided is invalid" / "The TagValue you have provided is invalid").
- "The reserved prefix is aws:" (``InvalidTag`` "Your TagKey cannot be prefixed with aws:").
- The header "must be encoded as URL Query parameters" (``key1=value1&key2=value2``; a key without ``=`` has an
  empty value); one S3 cannot read as such (a pair with two ``=``, a key twice) is 400 ``InvalidArgument`` "The
  header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name
  duplicates."
- Tagging an object changes no version: PutObjectTagging acts on the current version (or ``versionId``) in
  place, and answers its ``x-amz-version-id``.  GetBucketTagging of an untagged bucket is 404 ``NoSuchTagSet``;
  GetObjectTagging of an untagged object an empty ``TagSet``.
"""

from __future__ import annotations

import json
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.s3 import xml
from storeroom.s3.document import read_document
from storeroom.store.meta import ObjectRecord

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
XML_HEADERS = [("content-type", "application/xml")]
_SYMBOLS = frozenset("_.:/=+@- ")
_HEADER_ERROR = ("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters "
                 "without tag name duplicates.")


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _allowed(text: str) -> bool:
    return all(c in _SYMBOLS or c.isspace() or unicodedata.category(c)[0] in "LN" for c in text)


def check_tags(tags: list[tuple[str, str]], limit: int = MAX_OBJECT_TAGS) -> dict[str, str]:
    """The tag set as a dict (in the order given), or S3's error for the first rule it breaks."""
    if len(tags) > limit:
        if limit == MAX_OBJECT_TAGS:
            raise AwsError("BadRequest", "Object tags cannot be greater than 10", 400)
        raise AwsError("InvalidTag", f"Bucket tag count cannot be greater than {limit}", 400)
    found: dict[str, str] = {}
    # The offending key or value named as S3 names it (LocalStack's AWS-recorded test_tagging_validation), and a
    # bucket's aws: tags in its words for buckets
    for key, value in tags:
        if not key or _utf16_length(key) > 128 or not _allowed(key):
            raise AwsError("InvalidTag", "The TagKey you have provided is invalid", 400, TagKey=key)
        if _utf16_length(value) > 256 or not _allowed(value):
            raise AwsError("InvalidTag", "The TagValue you have provided is invalid", 400, TagValue=value)
        if key.lower().startswith("aws:"):
            raise AwsError("InvalidTag", "Your TagKey cannot be prefixed with aws:" if limit == MAX_OBJECT_TAGS
                           else "System tags cannot be added/updated by requester", 400)
        if key in found:
            raise AwsError("InvalidTag", "Cannot provide multiple Tags with the same key", 400, TagKey=key)
        found[key] = value
    return found


def parse_header(value: str) -> dict[str, str]:
    """``x-amz-tagging`` (URL query parameters) as a checked tag set."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for part in value.split("&"):
        if not part:
            continue
        raw_key, equals, raw_value = part.partition("=")
        if "=" in raw_value:
            raise AwsError("InvalidArgument", _HEADER_ERROR, ArgumentName="x-amz-tagging", ArgumentValue=value)
        try:
            key = unquote_plus(raw_key, errors="strict")
            text = unquote_plus(raw_value, errors="strict") if equals else ""
        except UnicodeDecodeError:
            raise AwsError("InvalidArgument", _HEADER_ERROR, ArgumentName="x-amz-tagging",
                           ArgumentValue=value) from None
        if key in seen:
            raise AwsError("InvalidArgument", _HEADER_ERROR, ArgumentName="x-amz-tagging", ArgumentValue=value)
        seen.add(key)
        pairs.append((key, text))
    return check_tags(pairs)


def header_tags(call: S3Call) -> dict[str, str] | None:
    """The tags a PutObject / CreateMultipartUpload / CopyObject request sets (None: no header)."""
    value = call.headers.get("x-amz-tagging")
    if value is None:
        return None
    return parse_header(value) or None


def condition_keys(tags: Mapping[str, str], prefix: str) -> dict[str, tuple[str, ...]]:
    """``s3:RequestObjectTag/<key>`` (or ExistingObjectTag) condition keys of a tag set, names lower-cased as the
    policy engine compares them; with ``s3:RequestObjectTagKeys`` for request tags."""
    keys: dict[str, tuple[str, ...]] = {f"{prefix}/{k.lower()}": (v,) for k, v in tags.items()}
    if prefix == "s3:requestobjecttag":
        keys["s3:requestobjecttagkeys"] = tuple(tags)
    return keys


def _tag_set_xml(tags: Mapping[str, str]) -> str:
    return "<TagSet>" + "".join(f"<Tag>{xml.tag('Key', k)}{xml.tag('Value', v)}</Tag>" for k, v in tags.items()) \
        + "</TagSet>"


async def _read_tag_set(call: S3Call, limit: int) -> dict[str, str]:
    # PutBucketTagging: "Content-MD5 ... is required" (API_PutBucketTagging); for objects it is checked if given
    return tag_set(await read_document(call, "Tagging", required=call.key is None), limit)


def form_tags(document: str) -> dict[str, str] | None:
    """POST Object's ``tagging`` field: "The tag-set must be encoded as XML", the ``<Tagging><TagSet>`` document
    PutObjectTagging takes (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html); read with the
    same rules (``MalformedXML``, ``InvalidTag``, at most 10).  None: no tags."""
    root = xml.parse(document.encode())
    if xml.local(root) != "Tagging":  # XML, but no tag set: no tags, as S3 stores the upload (AWS-recorded,
        return None                   # LocalStack's test_post_object_with_tags[invalid]); not XML: MalformedXML
    return tag_set(root, MAX_OBJECT_TAGS) or None


def tag_set(root: ET.Element, limit: int) -> dict[str, str]:
    """The checked tags of a ``<Tagging>`` document; ``<Tagging/>`` is no tags, as S3 takes it (LocalStack's
    AWS-validated test_put_bucket_tagging_none_value)."""
    sets = xml.children(root, "TagSet")
    if not sets and not len(root):
        return {}
    if len(sets) != 1:
        raise AwsError("MalformedXML")
    pairs: list[tuple[str, str]] = []
    for tag in sets[0]:
        if xml.local(tag) != "Tag":
            raise AwsError("MalformedXML")
        key, value = xml.child_text(tag, "Key"), xml.child_text(tag, "Value")
        if key is None or value is None:
            raise AwsError("MalformedXML")
        pairs.append((key, value))
    return check_tags(pairs, limit)


# -- objects ---------------------------------------------------------------------------------------------------

def _version_arg(call: S3Call) -> str | None:
    from storeroom.s3.objects import version_arg
    return version_arg(call)


async def _missing(call: S3Call, version_id: str | None) -> AwsError:
    """A key whose latest version is a delete marker is that marker's 405, as S3 answers tagging requests
    (LocalStack's AWS-recorded "get-object-tags-delete-marker-latest") -- to a caller who may list the bucket,
    as a GET names the marker only to one; else the missing key's answer."""
    from storeroom.s3.objects import missing_error
    assert call.bucket is not None and call.key is not None
    if version_id is None and (await call.existing_bucket()).versioning is not None:
        marker = await call.meta.latest_marker(call.bucket, call.key)
        if marker is not None and await call.may_list_bucket():
            return _marker_not_allowed(call, marker)
    return await missing_error(call, version_id)


def _version_headers(call: S3Call, record: ObjectRecord) -> list[tuple[str, str]]:
    bucket = call._bucket_record
    return [("x-amz-version-id", record.version_id)] if bucket is not None and bucket.versioning else []


async def get_object_tagging(call: S3Call) -> Response:
    assert call.bucket is not None and call.key is not None
    await call.existing_bucket()
    version_id = _version_arg(call)
    record = await (call.meta.get_object(call.bucket, call.key) if version_id is None
                    else call.meta.get_version(call.bucket, call.key, version_id))
    if record is None or record.marker:
        raise await _missing(call, version_id) if record is None else _marker_not_allowed(call, record)
    return Response(200, [*XML_HEADERS, *_version_headers(call, record)],
                    xml.document("Tagging", _tag_set_xml(record.tags or {})))


def _marker_not_allowed(call: S3Call, record: ObjectRecord) -> AwsError:
    """S3's answer to a tagging request on a delete marker: it has no data, no tags."""
    return AwsError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
                    headers={"x-amz-delete-marker": "true", "x-amz-version-id": record.version_id,
                             "allow": "DELETE"},
                    Method=call.request.method, ResourceType="DeleteMarker")


async def put_object_tagging(call: S3Call) -> Response:
    """Authorized here, once the body is read: the new tags are the ``s3:RequestObjectTag`` condition keys."""
    assert call.bucket is not None and call.key is not None
    version_id = _version_arg(call)
    tags = await _read_tag_set(call, MAX_OBJECT_TAGS)
    action = "s3:PutObjectVersionTagging" if version_id is not None else "s3:PutObjectTagging"
    await call.require(action, call.object_arn(), extra=condition_keys(tags, "s3:requestobjecttag"))
    return await _set_tags(call, version_id, tags)


async def delete_object_tagging(call: S3Call) -> Response:
    response = await _set_tags(call, _version_arg(call), None)
    return Response(204, response.headers)


async def _set_tags(call: S3Call, version_id: str | None, tags: dict[str, str] | None) -> Response:
    assert call.bucket is not None and call.key is not None
    await call.existing_bucket()

    def change(record: ObjectRecord) -> None:
        record.tags = tags or None
    record = await call.meta.update_version(call.bucket, call.key, version_id, change)
    if record is None:
        raise await _missing(call, version_id)
    if record.marker:
        raise _marker_not_allowed(call, record)
    return Response(200, _version_headers(call, record))


# -- buckets ---------------------------------------------------------------------------------------------------

async def get_bucket_tagging(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    stored = await call.meta.get_bucket_config(call.bucket, "tagging")
    if stored is None:
        raise AwsError("NoSuchTagSet", "The TagSet does not exist", 404, BucketName=call.bucket)
    tags: dict[str, str] = dict(json.loads(stored))
    return Response(200, list(XML_HEADERS), xml.document("Tagging", _tag_set_xml(tags)))


async def put_bucket_tagging(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    tags = await _read_tag_set(call, MAX_BUCKET_TAGS)
    if not await call.meta.put_bucket_config(call.bucket, "tagging", json.dumps(list(tags.items())) if tags else None):
        raise AwsError("NoSuchBucket", BucketName=call.bucket)
    return Response(204)


async def delete_bucket_tagging(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    await call.meta.put_bucket_config(call.bucket, "tagging", None)
    return Response(204)
