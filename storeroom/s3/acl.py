"""ACL writes, answered as S3 answers them on a bucket whose ACLs are disabled -- which every Storeroom bucket is
(Object Ownership "bucket owner enforced", S3's default for new buckets since April 2023).

"Buckets that use this setting only accept PUT requests that don't specify an ACL or PUT requests that specify
bucket owner full control ACLs, such as the bucket-owner-full-control canned ACL or an equivalent form of this
ACL expressed in the XML format. PUT requests that contain other ACLs (for example, custom grants to certain
Amazon Web Services accounts) fail and return a 400 error with the error code AccessControlListNotSupported."
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-ownership-error-responses.html: "Requests to set
ACLs or update ACLs fail with a 400 error and return the AccessControlListNotSupported error code").

So objects take no ACL, ``bucket-owner-full-control``, or an ``AccessControlPolicy`` granting the bucket owner
FULL_CONTROL and nobody anything; the canned ``private`` is not that ACL and is refused, as S3 refuses it
(Ansible's s3_object, whose default permission is ``private``, meets that AWS error on such buckets).
PutBucketAcl always fails.  CreateBucket takes ``private`` (the ACL the bucket gets anyway) and answers
InvalidBucketAclWithObjectOwnership for any other.  Nothing is stored: GetBucketAcl / GetObjectAcl (the owner
with FULL_CONTROL) stay true.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storeroom.errors import AwsError
from storeroom.http.body import Payload
from storeroom.http.types import Response
from storeroom.s3 import xml
from storeroom.s3.owner import canonical_user_id

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

GRANT_HEADERS = ("x-amz-grant-full-control", "x-amz-grant-read", "x-amz-grant-read-acp", "x-amz-grant-write",
                 "x-amz-grant-write-acp")
OWNER_FULL_CONTROL = "bucket-owner-full-control"
MAX_ACL_BODY = 64 * 1024


def not_supported() -> AwsError:
    return AwsError("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)


def check_object_acl_headers(call: S3Call) -> None:
    """PutObject, CopyObject, CreateMultipartUpload: no ACL, or the bucket owner's full control only."""
    acl = call.headers.get("x-amz-acl")
    if (acl is not None and acl != OWNER_FULL_CONTROL) or any(h in call.headers for h in GRANT_HEADERS):
        raise not_supported()


def check_bucket_acl_headers(call: S3Call) -> None:
    """CreateBucket: ACLs stay disabled -- the owner's ``private`` ACL (or bucket-owner-full-control, which S3
    ignores on buckets) is what the bucket has anyway; any other needs ACLs enabled, which Storeroom cannot do."""
    acl = call.headers.get("x-amz-acl")
    if (acl is not None and acl not in ("private", OWNER_FULL_CONTROL)) or any(
            h in call.headers for h in GRANT_HEADERS):
        raise AwsError("InvalidBucketAclWithObjectOwnership",
                       "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting", 400)
    ownership = call.headers.get("x-amz-object-ownership")
    if ownership is not None and ownership != "BucketOwnerEnforced":
        raise AwsError("NotImplemented", "Storeroom buckets have ACLs disabled (BucketOwnerEnforced); other "
                       "Object Ownership settings are not implemented.", Header="x-amz-object-ownership")


async def put_bucket_acl(call: S3Call) -> Response:
    await call.existing_bucket()
    raise not_supported()  # setting a bucket's ACL is refused whatever the ACL, as S3 does with ACLs disabled


async def put_object_acl(call: S3Call) -> Response:
    assert call.bucket is not None and call.key is not None
    if await call.meta.get_object(call.bucket, call.key) is None:
        await call.existing_bucket()
        raise AwsError("NoSuchKey", Key=call.key)
    await call.existing_bucket()
    await _check_object_acl_request(call)
    return Response(200)


async def _check_object_acl_request(call: S3Call) -> None:
    """Accepts only an ACL that gives the bucket owner full control and no one else anything."""
    body = await Payload(call.request, call.ctx.signed, call.ctx.signing_key).read_all(MAX_ACL_BODY)
    acl = call.headers.get("x-amz-acl")
    if any(h in call.headers for h in GRANT_HEADERS):
        raise not_supported()
    if acl is not None:
        if acl != OWNER_FULL_CONTROL:
            raise not_supported()
        return
    if not body.strip():
        raise AwsError("MissingSecurityHeader", "Your request was missing a required header",
                       MissingHeaderName="x-amz-acl")
    if not _owner_full_control_only(body, canonical_user_id(call.s3.account_id)):
        raise not_supported()


def _owner_full_control_only(body: bytes, owner_id: str) -> bool:
    """Whether an ``AccessControlPolicy`` document grants FULL_CONTROL to the owner and nothing else."""
    try:
        root = xml.parse(body)
    except AwsError:
        raise _malformed() from None
    if xml.local(root) != "AccessControlPolicy":
        raise _malformed()
    lists = xml.children(root, "AccessControlList")
    if len(lists) != 1:
        raise _malformed()
    grants = xml.children(lists[0], "Grant")
    found: list[tuple[str | None, str | None]] = []
    for grant in grants:
        grantee = xml.children(grant, "Grantee")
        if len(grantee) != 1:
            raise _malformed()
        found.append((xml.child_text(grantee[0], "ID"), xml.child_text(grant, "Permission")))
    return [(i and i.strip(), p and p.strip()) for i, p in found] == [(owner_id, "FULL_CONTROL")]


def _malformed() -> AwsError:
    return AwsError("MalformedACLError", "The XML you provided was not well-formed or did not validate against "
                    "our published schema", 400)
