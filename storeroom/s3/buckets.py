"""Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.policy.tags import request_tag_keys
from storeroom.s3 import object_lock, xml
from storeroom.s3.acl import check_bucket_acl_headers
from storeroom.s3.document import read_body
from storeroom.s3.owner import owner_xml
from storeroom.s3.tagging import MAX_BUCKET_TAGS, check_tags

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

XML_HEADERS = [("content-type", "application/xml")]

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

# Regions AWS accepts as a LocationConstraint (plus "EU", the legacy name for eu-west-1).
REGIONS = frozenset({
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "cn-north-1",
    "cn-northwest-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
    "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1",
    "us-east-1", "us-east-2", "us-gov-east-1", "us-gov-west-1", "us-west-1", "us-west-2", "EU",
})


def valid_bucket_name(name: str) -> bool:
    if not _NAME.match(name) or ".." in name or ".-" in name or "-." in name:
        return False
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return False
    try:
        ipaddress.IPv4Address(name)
        return False
    except ValueError:
        return True


async def list_buckets(call: S3Call) -> Response:
    """A page of the account's buckets, in name order.

    "max-buckets: Maximum number of buckets to be returned in response" (1-10000); "continuation-token:
    ContinuationToken indicates to Amazon S3 that the list is being continued on this bucket with a token";
    "prefix: Limits the response to bucket names that begin with the specified bucket name prefix";
    "bucket-region: Limits the response to buckets that are located in the specified Amazon Web Services
    Region". The answer's ContinuationToken is there when more buckets follow.
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html
    """
    args = call.args
    prefix = args.get("prefix", "")
    limit = _max_buckets(args.get("max-buckets"))
    token = args.get("continuation-token")
    after = _bucket_after(token) if token else ""  # an empty token is the first page, as S3 answers (AWS-recorded)
    region = args.get("bucket-region") or None
    if region is not None and region not in REGIONS and region != call.s3.settings.region:
        # S3's answer (LocalStack's AWS-recorded bad-region), rather than an empty list that looks like none
        raise AwsError("InvalidArgument", f"Argument value {region} is not a valid AWS Region",
                       ArgumentName="bucket-region", ArgumentValue=region)
    page = await call.meta.list_buckets(after=after, prefix=prefix, region=region, limit=limit + 1)
    more = len(page) > limit
    page = page[:limit]
    entries = "".join(
        "<Bucket>" + xml.tag("Name", b.name) + xml.tag("CreationDate", xml.iso8601(b.created))
        + xml.tag("BucketRegion", b.region) + "</Bucket>"
        for b in page
    )
    next_token = _token_after(page[-1].name) if more and page else None
    body = xml.document("ListAllMyBucketsResult", owner_xml(call) + f"<Buckets>{entries}</Buckets>"
                        + xml.tag("ContinuationToken", next_token)
                        + (xml.tag("Prefix", prefix) if "prefix" in args else ""))
    return Response(200, list(XML_HEADERS), body)


MAX_BUCKETS = 10_000
_TOKEN_PREFIX = "sr1:"


def _max_buckets(raw: str | None) -> int:
    if raw is None:
        return MAX_BUCKETS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_BUCKETS:
        raise AwsError("InvalidArgument", f"Argument max-buckets must be an integer between 1 and {MAX_BUCKETS}.",
                       ArgumentName="max-buckets", ArgumentValue=raw)
    return value


def _token_after(name: str) -> str:
    """An opaque token for "the buckets after ``name``" (S3's tokens are opaque too)."""
    return base64.urlsafe_b64encode((_TOKEN_PREFIX + name).encode()).decode().rstrip("=")


def _bucket_after(token: str) -> str:
    try:
        decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if not decoded.startswith(_TOKEN_PREFIX) or not valid_bucket_name(decoded[len(_TOKEN_PREFIX):]):
        raise AwsError("InvalidArgument", "The continuation token provided is incorrect",
                       ArgumentName="continuation-token", ArgumentValue=token)
    return decoded[len(_TOKEN_PREFIX):]


async def create_bucket(call: S3Call) -> Response:
    """Authorized here, once its configuration is read: s3:CreateBucket, and s3:TagResource for a bucket made
    with tags, both with the tags' aws:RequestTag/<key> and aws:TagKeys condition keys
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-create-tag.html)."""
    assert call.bucket is not None
    configuration = await _configuration(call)
    tags = _tags(configuration)
    keys = request_tag_keys(list(tags.items())) if tags else None
    await call.require("s3:CreateBucket", call.bucket_arn(), extra=keys)
    if tags:
        await call.require("s3:TagResource", call.bucket_arn(), extra=keys)
    if not valid_bucket_name(call.bucket):
        raise AwsError("InvalidBucketName", BucketName=call.bucket)
    ownership, acl = check_bucket_acl_headers(call)
    locked = object_lock.creation_requested(call)
    if locked:
        # "If ObjectLockEnabledForBucket is set to true in your CreateBucket request,
        # s3:PutBucketObjectLockConfiguration and s3:PutBucketVersioning permissions are required."
        # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html)
        for action in ("s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"):
            await call.require(action, call.bucket_arn())
    region, legacy = _location_constraint(call, configuration)
    # New buckets: Block Public Access on and ACLs disabled unless asked otherwise, as S3's since April 2023
    if not await call.meta.create_bucket(call.bucket, region, ownership=ownership, acl=acl,
                                         object_lock=object_lock.dumps(None) if locked else None,
                                         tagging=json.dumps(list(tags.items())) if tags else None,
                                         location=json.dumps(legacy) if legacy else None):
        # AWS documents a legacy 200 for this in us-east-1, but answers 409 in every other region, as do
        # today's S3-compatible servers; clients (Terraform, the SDKs' waiters) handle the 409.
        raise AwsError("BucketAlreadyOwnedByYou", BucketName=call.bucket)
    return Response(200, [("location", f"/{call.bucket}")])


async def _configuration(call: S3Call) -> ET.Element | None:
    """The ``CreateBucketConfiguration`` document, None without a body."""
    body = await read_body(call, 64 * 1024)  # its Content-MD5 or checksum, if given, must match
    if not body.strip():
        return None
    root = xml.parse(body)
    if xml.local(root) != "CreateBucketConfiguration":
        raise AwsError("MalformedXML")
    return root


def _tags(configuration: ET.Element | None) -> dict[str, str]:
    """``<Tags><Tag><Key/><Value/></Tag>...</Tags>``, checked as PutBucketTagging checks a tag set."""
    found = [] if configuration is None else xml.children(configuration, "Tags")
    if not found:
        return {}
    if len(found) > 1:
        raise AwsError("MalformedXML")
    pairs: list[tuple[str, str]] = []
    for tag in found[0]:
        key, value = xml.child_text(tag, "Key"), xml.child_text(tag, "Value")
        if xml.local(tag) != "Tag" or key is None or value is None:
            raise AwsError("MalformedXML")
        pairs.append((key, value))
    return check_tags(pairs, MAX_BUCKET_TAGS)


def _location_constraint(call: S3Call, configuration: ET.Element | None) -> tuple[str, str | None]:
    """The bucket's region: ``CreateBucketConfiguration/LocationConstraint``, else the region signed for; and
    the constraint when it is ``EU``, the legacy name of eu-west-1, which S3 keeps and GetBucketLocation answers.

    Deviation: AWS refuses (IllegalLocationConstraintException) a create without constraint sent to a
    regional endpoint other than us-east-1; with one endpoint for all regions we take the signing region.
    """
    signed_region = call.ctx.region or call.s3.settings.region
    constraint = None if configuration is None else xml.child_text(configuration, "LocationConstraint")
    if constraint is None:
        _check_region_name(call, signed_region)
        return signed_region, None
    if constraint == "":
        return "us-east-1", None
    # a regional endpoint (other than us-east-1) refuses any other constraint first, valid or not (moto's
    # AWS-verified test_create_bucket_with_wrong_location_constraint: us-east-1, us-gov-east-2 from us-west-2)
    if signed_region not in ("us-east-1", constraint, "eu-west-1" if constraint == "EU" else constraint):
        raise AwsError(
            "IllegalLocationConstraintException",
            f"The {constraint} location constraint is incompatible for the region specific endpoint this "
            "request was sent to.",
        )
    if constraint not in REGIONS or constraint == "us-east-1":
        raise AwsError("InvalidLocationConstraint", LocationConstraint=constraint)
    return ("eu-west-1", constraint) if constraint == "EU" else (constraint, None)


# What botocore accepts as a region name (a host label): a bucket in a region named otherwise could be created,
# but no SDK could then sign for it.
_REGION_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")


def _check_region_name(call: S3Call, region: str) -> None:
    """A bucket takes the region signed for (any well-formed name: one endpoint serves them all); one that is no
    region name (``127.0.0.1``: git-annex signs with the endpoint's host) is refused as S3 refuses a wrong
    region, naming the server's."""
    if _REGION_NAME.fullmatch(region):
        return
    expected = call.s3.settings.region
    signed = call.ctx.signed
    if signed is not None and signed.presigned:
        raise AwsError("AuthorizationQueryParametersError", f"Error parsing the X-Amz-Credential parameter; the "
                       f"region '{region}' is wrong; expecting '{expected}'", Region=expected)
    raise AwsError("AuthorizationHeaderMalformed", f"The authorization header is malformed; the region '{region}' "
                   f"is wrong; expecting '{expected}'", Region=expected)


async def head_bucket(call: S3Call) -> Response:
    bucket = await call.existing_bucket()
    # S3 names an XML content type on this answer without body too (moto's AWS-verified test_header_content_type)
    return Response(200, [("x-amz-bucket-region", bucket.region), ("x-amz-access-point-alias", "false"),
                          ("content-type", "application/xml")])


async def delete_bucket(call: S3Call) -> Response:
    assert call.bucket is not None
    bucket = await call.existing_bucket()
    outcome, aborted = await call.meta.delete_bucket(call.bucket)
    if outcome == "missing":
        raise AwsError("NoSuchBucket", BucketName=call.bucket)
    if outcome == "not-empty":
        # a versioned bucket's answer names what is left (what `aws s3 rb --force` users see)
        raise AwsError("BucketNotEmpty", None if bucket.versioning is None else "The bucket you tried to delete "
                       "is not empty. You must delete all versions in the bucket.", BucketName=call.bucket)
    for upload_id, part_ids in aborted:  # uploads in progress went with the bucket, as on S3
        await call.blobs.abort_upload(upload_id, part_ids)
    return Response(204)


async def get_bucket_location(call: S3Call) -> Response:
    # GetBucketLocation is answered whatever region the request was signed for.
    assert call.bucket is not None
    bucket = await call.existing_bucket(any_region=True)
    # us-east-1 buckets have an empty LocationConstraint; one made with EU says EU.
    stored = await call.meta.get_bucket_config(call.bucket, "location") if bucket.region == "eu-west-1" else None
    value = "" if bucket.region == "us-east-1" else xml.escape(json.loads(stored) if stored else bucket.region)
    return Response(200, list(XML_HEADERS), xml.document("LocationConstraint", value))
