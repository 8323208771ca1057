"""Object Ownership and ACLs: Put/Get/DeleteBucketOwnershipControls, Put/GetBucketAcl, Put/GetObjectAcl, the ACL
headers of CreateBucket, PutObject, CopyObject and CreateMultipartUpload, and ACL grants in authorization.

**Object Ownership** (https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html), per
bucket in ``buckets.ownership``:

- ``BucketOwnerEnforced``, the default of every bucket ("Bucket owner enforced is the default setting for all
  newly created buckets", S3 since April 2023; Storeroom's buckets always were): "Access control lists (ACLs)
  are disabled and no longer affect permissions ... The bucket only accepts PUT requests that don't specify an
  ACL or specify bucket owner full control ACLs (such as the predefined bucket-owner-full-control canned ACL or
  a custom ACL in XML format that grants the same permissions)"; "Requests to set ACLs or update ACLs fail with
  a 400 error and return the AccessControlListNotSupported error code. Requests to read ACLs are still
  supported. Requests to read ACLs always return a response that shows full control for the bucket owner"
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-ownership-error-responses.html).
  The canned ``private`` is not "bucket owner full control" and is refused on object writes: AWS's documented
  behaviour (and s3-tests' ``_test_object_ownership_bucket_owner_enforced``), although the issue that asked for
  this feature read ``private`` as accepted.  CreateBucket takes ``private`` (the ACL the bucket has anyway).
- ``ObjectWriter`` / ``BucketOwnerPreferred``: ACLs are kept and evaluated.  Every principal of Storeroom is
  of the one account, which owns every bucket and object, so the two differ only in name.
- DeleteBucketOwnershipControls leaves the bucket without the setting (``""``): ACLs enabled, as
  ``ObjectWriter``, and GetBucketOwnershipControls answers ``OwnershipControlsNotFoundError``.

**ACLs** (https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html): a canned ACL
(``x-amz-acl``), grant headers (``x-amz-grant-read: uri="…", id="…"``), or an ``AccessControlPolicy``
document; "You can use either a canned ACL or specify access permissions explicitly. You cannot do both"
(``InvalidRequest`` "Specifying both Canned ACLs and Header Grants is not allowed").  Grantees: the account's
canonical user id (any other id is S3's ``InvalidArgument`` "Invalid id": no other account exists here, but for
Amazon EC2's, which the ``aws-exec-read`` canned ACL grants READ: kept and read back, allowing nothing), the
groups AllUsers, AuthenticatedUsers and LogDelivery; e-mail grantees are ``405 MethodNotAllowed``, as S3 answers
them since October 2025.  At most 100 grants.

**Evaluation**: an ACL grant is a resource-based permission, consulted when the policies leave a request
implicitly denied (an explicit deny always wins): the permission → actions mapping is AWS's
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/acl-overview.html#acl-access-policy-permission-mapping).
A grant to AllUsers allows anyone, anonymous callers included; to AuthenticatedUsers, any signed caller; a grant
to the account's own canonical id names the account, which (as a bucket policy naming the account) lets only
its root in directly, and root needs no grant.  Block Public Access's IgnorePublicAcls makes the two groups'
grants count for nothing (s3/access.py).  Stored grants count only while the bucket has ACLs enabled.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.s3 import xml
from storeroom.s3.document import read_body, read_document
from storeroom.s3.owner import canonical_user_id, owner_xml
from storeroom.store.meta import Bucket, MetaStore, ObjectRecord

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

Grant = list[str]  # [grantee type ("CanonicalUser" | "Group"), id or group URI, permission]

GRANT_HEADERS = {"x-amz-grant-full-control": "FULL_CONTROL", "x-amz-grant-read": "READ",
                 "x-amz-grant-read-acp": "READ_ACP", "x-amz-grant-write": "WRITE", "x-amz-grant-write-acp": "WRITE_ACP"}
OWNER_FULL_CONTROL = "bucket-owner-full-control"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
# Amazon EC2's canonical user, which the aws-exec-read canned ACL grants READ ("Amazon EC2 gets READ access to GET an
# Amazon Machine Image (AMI) bundle"; "za-team" in the DisplayName S3 gave it until 2025).  It has no requests here:
# the grant is kept and read back (tools compare ACLs, and put back what they read), and allows nothing.
EC2_READER = "6aa5a366c34c1cbe25dc49211496e913e0351eb0e8c37aa3477e40942ec6b97c"
GROUPS = frozenset({ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY})
PUBLIC_GROUPS = frozenset({ALL_USERS, AUTHENTICATED_USERS})
PERMISSIONS = ("FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP")
OBJECT_CANNED = frozenset({"private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read",
                           "bucket-owner-read", OWNER_FULL_CONTROL})
BUCKET_CANNED = frozenset({"private", "public-read", "public-read-write", "authenticated-read", "log-delivery-write",
                           "aws-exec-read"})
# What a bucket's x-amz-acl takes: its canned ACLs (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
# acl-overview.html#canned-acl: aws-exec-read is "Bucket and object"), and bucket-owner-full-control, which S3
# ignores on a bucket.
BUCKET_ACCEPTED = BUCKET_CANNED | {OWNER_FULL_CONTROL}
OWNERSHIPS = ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter")
MAX_GRANTS = 100
XML_HEADERS = [("content-type", "application/xml")]
XSI = "http://www.w3.org/2001/XMLSchema-instance"

# ACL permission → the actions it allows, on a bucket and on an object (AWS's mapping table)
_BUCKET_ACTIONS = {
    "READ": {"s3:listbucket", "s3:listbucketversions", "s3:listbucketmultipartuploads"},
    "WRITE": {"s3:putobject", "s3:deleteobject", "s3:deleteobjectversion"},
    "READ_ACP": {"s3:getbucketacl"},
    "WRITE_ACP": {"s3:putbucketacl"},
}
_OBJECT_ACTIONS = {
    "READ": {"s3:getobject", "s3:getobjectversion", "s3:getobjecttorrent"},
    "READ_ACP": {"s3:getobjectacl", "s3:getobjectversionacl"},
    "WRITE_ACP": {"s3:putobjectacl", "s3:putobjectversionacl"},
}
BUCKET_ACL_ACTIONS = frozenset(a for actions in _BUCKET_ACTIONS.values() for a in actions)
OBJECT_ACL_ACTIONS = frozenset(a for actions in _OBJECT_ACTIONS.values() for a in actions)


def not_supported() -> AwsError:
    return AwsError("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)


def acls_enabled(bucket: Bucket) -> bool:
    return bucket.ownership not in (None, "BucketOwnerEnforced")


def owner_grant(owner_id: str) -> Grant:
    return ["CanonicalUser", owner_id, "FULL_CONTROL"]


def canned_grants(name: str, owner_id: str) -> list[Grant]:
    """The grants of a canned ACL (the object owner and the bucket owner are the one account here)."""
    grants = [owner_grant(owner_id)]
    if name in ("public-read", "public-read-write"):
        grants.append(["Group", ALL_USERS, "READ"])
    if name == "public-read-write":
        grants.append(["Group", ALL_USERS, "WRITE"])
    if name == "authenticated-read":
        grants.append(["Group", AUTHENTICATED_USERS, "READ"])
    if name == "log-delivery-write":
        grants += [["Group", LOG_DELIVERY, "WRITE"], ["Group", LOG_DELIVERY, "READ_ACP"]]
    if name == "aws-exec-read":
        grants.append(["CanonicalUser", EC2_READER, "READ"])
    return grants


def is_public(grants: list[Grant] | None) -> bool:
    """An ACL is public when it grants anything to AllUsers or AuthenticatedUsers (Block Public Access's
    definition)."""
    return any(kind == "Group" and who in PUBLIC_GROUPS for kind, who, _ in grants or ())


def is_owner_only(grants: list[Grant], owner_id: str) -> bool:
    return all(kind == "CanonicalUser" and who == owner_id for kind, who, _ in grants)


def is_default(grants: list[Grant], owner_id: str) -> bool:
    """The ACL every object and bucket starts with (stored as none); any other is kept as written, the owner's
    own READ or an empty list included, and read back so (ceph/s3-tests' _check_object_acl)."""
    return grants == [owner_grant(owner_id)]


# -- reading ACLs from requests --------------------------------------------------------------------------------

_GRANTEE = re.compile(r'\s*(id|uri|emailAddress)\s*=\s*"?([^",]*)"?\s*(?:,|$)', re.IGNORECASE)


def _header_grants(call: S3Call, owner_id: str) -> list[Grant]:
    grants: list[Grant] = []
    for header, permission in GRANT_HEADERS.items():
        value = call.headers.get(header)
        if value is None:
            continue
        position = 0
        while position < len(value):
            match = _GRANTEE.match(value, position)
            if match is None or match.end() == position:  # e.g. fakekey="1234" (LocalStack's AWS recording)
                raise AwsError("InvalidArgument", "Argument format not recognized", ArgumentName=header,
                               ArgumentValue=value)
            grants.append(_grantee(match.group(1).lower(), match.group(2).strip(), permission, owner_id,
                                   in_header=True))
            position = match.end()
    return grants


def _grantee(kind: str, value: str, permission: str, owner_id: str, *, in_header: bool = False) -> Grant:
    """One grantee; S3 names a bad one's argument as the header spells it (``id``, ``uri``) or as the document
    does (``CanonicalUser/ID``, ``Group/URI``) -- LocalStack's AWS recordings, test_s3_bucket_acl_exceptions."""
    if kind == "id":
        if value not in (owner_id, EC2_READER):
            raise AwsError("InvalidArgument", "Invalid id", ArgumentName="id" if in_header else "CanonicalUser/ID",
                           ArgumentValue=value)
        return ["CanonicalUser", value, permission]
    if kind == "uri":
        if value not in GROUPS:
            raise AwsError("InvalidArgument", "Invalid group uri", ArgumentName="uri" if in_header else "Group/URI",
                           ArgumentValue=value)
        return ["Group", value, permission]
    # "As of October 1, 2025, Amazon S3 has discontinued support for Email Grantee Access Control Lists ...
    # the request will receive an HTTP 405 (Method Not Allowed) error" (API_PutBucketAcl and the other ACL pages)
    raise AwsError("MethodNotAllowed", "Email grantee ACLs are no longer supported: grant to a canonical user id "
                   "instead.", 405, EmailAddress=value)


def request_grants(call: S3Call, canned: frozenset[str]) -> list[Grant] | None:
    """The ACL a request's headers give (a canned ACL or grant headers), None when they give none."""
    owner_id = canonical_user_id(call.s3.account_id)
    name = call.headers.get("x-amz-acl")
    headers = _header_grants(call, owner_id)
    if name is not None and headers:
        raise AwsError("InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed")
    if name is not None:
        if name not in canned:
            raise AwsError("InvalidArgument", "", ArgumentName="x-amz-acl", ArgumentValue=name)
        return canned_grants(name, owner_id)
    if headers:
        return headers
    return None


def parse_policy(body: bytes, owner_id: str) -> list[Grant]:
    """An ``AccessControlPolicy`` document's grants (MalformedACLError for what its schema refuses)."""
    try:
        root = xml.parse(body)
    except AwsError:
        raise _malformed() from None
    lists, owners = xml.children(root, "AccessControlList"), xml.children(root, "Owner")
    # the Owner is required, and must be the bucket owner (LocalStack's AWS recordings, put-bucket-acp-acl-1/-3)
    if xml.local(root) != "AccessControlPolicy" or len(lists) != 1 or len(owners) != 1:
        raise _malformed()
    owner = (xml.child_text(owners[0], "ID") or "").strip()
    if owner != owner_id:
        raise AwsError("InvalidArgument", "Invalid id", ArgumentName="CanonicalUser/ID", ArgumentValue=owner)
    grants = _grants_of(lists[0], PERMISSIONS, owner_id)
    if grants is None:
        raise _malformed()
    return grants


_GRANTEE_TYPES = ("CanonicalUser", "Group", "AmazonCustomerByEmail")


def _grants_of(element: ET.Element, permissions: tuple[str, ...], owner_id: str) -> list[Grant] | None:
    """The ``Grant`` children of an ACL document's ``AccessControlList`` or of PutBucketLogging's ``TargetGrants``;
    None when they break the schema (each caller answers that in its own error)."""
    grants: list[Grant] = []
    for grant in element:
        grantees = xml.children(grant, "Grantee")
        permission = (xml.child_text(grant, "Permission") or "").strip()
        if xml.local(grant) != "Grant" or len(grantees) != 1 or permission not in permissions:
            return None
        if grantees[0].get(f"{{{XSI}}}type", "CanonicalUser") not in _GRANTEE_TYPES:  # e.g. xsi:type="BadType"
            return None
        for kind, name in (("id", "ID"), ("uri", "URI"), ("emailaddress", "EmailAddress")):
            value = xml.child_text(grantees[0], name)
            if value is not None:
                grants.append(_grantee(kind, value.strip(), permission, owner_id))
                break
        else:
            return None
    return grants if len(grants) <= MAX_GRANTS else None


# S3's BucketLogsPermission names FULL_CONTROL, READ and WRITE, but S3 takes an ACL's other permissions too
# (LocalStack's AWS recording: test_s3.py TestS3BucketLogging::test_put_bucket_logging_accept_wrong_grants, READ_ACP)
LOG_GRANT_PERMISSIONS = ("FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP")


def parse_target_grants(element: ET.Element, owner_id: str) -> list[Grant]:
    """PutBucketLogging's ``TargetGrants``: grantees and permissions as in an ACL (MalformedXML otherwise)."""
    grants = _grants_of(element, LOG_GRANT_PERMISSIONS, owner_id)
    if grants is None:
        raise AwsError("MalformedXML")
    return grants


def grant_xml(grant: Grant) -> str:
    """One ``<Grant>`` of an ACL document (or of GetBucketLogging's ``TargetGrants``); a canonical user without
    a DisplayName, which S3 no longer returns (API_Grantee.html, since November 21, 2025)."""
    kind, who, permission = grant
    inner = xml.tag("ID", who) if kind == "CanonicalUser" else xml.tag("URI", who)
    return (f'<Grant><Grantee xmlns:xsi="{XSI}" xsi:type="{kind}">{inner}</Grantee>'
            f"{xml.tag('Permission', permission)}</Grant>")


def _malformed() -> AwsError:
    return AwsError("MalformedACLError", "The XML you provided was not well-formed or did not validate against "
                    "our published schema", 400)


# -- the ACL headers of writes ---------------------------------------------------------------------------------

async def object_write_acl(call: S3Call, bucket: Bucket) -> list[Grant] | None:
    """PutObject, CopyObject, CreateMultipartUpload: the new object's ACL (None: the default, the owner's full
    control), or S3's refusal: ACLs disabled take only bucket-owner-full-control; Block Public Access's
    BlockPublicAcls refuses a public one."""
    if not acls_enabled(bucket):
        name = call.headers.get("x-amz-acl")
        if (name is not None and name != OWNER_FULL_CONTROL) or any(h in call.headers for h in GRANT_HEADERS):
            raise not_supported()
        return None
    grants = request_grants(call, OBJECT_CANNED)
    if grants is not None and is_public(grants):
        from storeroom.s3.access import refuse_public_acl
        await refuse_public_acl(call, bucket)
    if grants is not None and is_default(grants, canonical_user_id(call.s3.account_id)):
        return None
    return grants


def check_bucket_acl_headers(call: S3Call) -> tuple[str | None, str | None]:
    """CreateBucket: (Object Ownership, the bucket ACL's JSON) the new bucket gets.  With ACLs disabled (the
    default) only ``private`` (or bucket-owner-full-control, which S3 ignores on buckets) is taken, else
    InvalidBucketAclWithObjectOwnership; a public ACL meets the new bucket's Block Public Access:
    InvalidBucketAclWithBlockPublicAccessError."""
    ownership = call.headers.get("x-amz-object-ownership")
    if ownership is not None and ownership not in OWNERSHIPS:
        # S3's words (LocalStack's AWS-recorded ownership-wrong-value-at-creation)
        raise AwsError("InvalidArgument", f"Invalid x-amz-object-ownership header: {ownership}",
                       ArgumentName="x-amz-object-ownership")
    if ownership in (None, "BucketOwnerEnforced"):
        name = call.headers.get("x-amz-acl")
        if (name is not None and name not in ("private", OWNER_FULL_CONTROL)) or any(
                h in call.headers for h in GRANT_HEADERS):
            raise AwsError("InvalidBucketAclWithObjectOwnership",
                           "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting", 400)
        return None, None
    grants = request_grants(call, BUCKET_ACCEPTED)
    if grants is not None and is_public(grants):
        raise AwsError("InvalidBucketAclWithBlockPublicAccessError",
                       "Bucket cannot have public ACLs set with BlockPublicAccess enabled", 400)
    owner_id = canonical_user_id(call.s3.account_id)
    stored = None if grants is None or is_default(grants, owner_id) else json.dumps(grants)
    return ownership, stored


# -- evaluation ------------------------------------------------------------------------------------------------

def grants_allow(grants: list[Grant] | None, action: str, object_level: bool, anonymous: bool,
                 ignore_public: bool) -> bool:
    """Whether an ACL lets a caller who is not the account's root perform ``action`` (lower-cased)."""
    table = _OBJECT_ACTIONS if object_level else _BUCKET_ACTIONS
    for kind, who, permission in grants or ():
        if kind != "Group" or who not in PUBLIC_GROUPS or ignore_public:
            continue  # the account's own id delegates to its policies; LogDelivery is S3's own service
        if who == AUTHENTICATED_USERS and anonymous:
            continue
        if permission == "FULL_CONTROL" or action in table.get(permission, ()):
            return True
    return False


def log_delivery_granted(grants: list[Grant] | None) -> bool:
    """Does a bucket ACL let S3's log delivery write server access logs into the bucket?  S3 asks for the Log
    Delivery group's WRITE and READ_ACP ("give the log-delivery group WRITE and READ_ACP permissions to the
    target bucket"; the ``log-delivery-write`` canned ACL grants both)."""
    permissions = {permission for kind, who, permission in grants or () if kind == "Group" and who == LOG_DELIVERY}
    return "FULL_CONTROL" in permissions or {"WRITE", "READ_ACP"} <= permissions


async def bucket_grants(meta: MetaStore, bucket: str) -> list[Grant] | None:
    stored = await meta.get_bucket_config(bucket, "acl")
    return None if stored is None else list(json.loads(stored))


# -- the operations --------------------------------------------------------------------------------------------

def _policy_xml(call: S3Call, grants: list[Grant] | None) -> bytes:
    owner_id = canonical_user_id(call.s3.account_id)
    entries = [grant_xml(grant) for grant in (grants if grants is not None else [owner_grant(owner_id)])]
    return xml.document("AccessControlPolicy", owner_xml(call) + f"<AccessControlList>{''.join(entries)}"
                        "</AccessControlList>")


async def get_bucket_acl(call: S3Call) -> Response:
    assert call.bucket is not None
    bucket = await call.existing_bucket()
    grants = await bucket_grants(call.meta, call.bucket) if acls_enabled(bucket) else None
    return Response(200, list(XML_HEADERS), _policy_xml(call, grants))


async def get_object_acl(call: S3Call) -> Response:
    from storeroom.s3.objects import existing_version
    bucket = await call.existing_bucket()
    record = await existing_version(call)
    headers = list(XML_HEADERS)
    if bucket.versioning is not None:
        headers.append(("x-amz-version-id", record.version_id))
    return Response(200, headers, _policy_xml(call, record.acl if acls_enabled(bucket) else None))


async def _requested_acl(call: S3Call, canned: frozenset[str]) -> list[Grant]:
    """PutBucketAcl / PutObjectAcl: the ACL of the headers or of the body (not both)."""
    body = await read_body(call)
    grants = request_grants(call, canned)
    if grants is not None:
        if body.strip():
            raise AwsError("UnexpectedContent", "This request does not support content", 400)
        return grants
    if not body.strip():
        raise AwsError("MissingSecurityHeader", "Your request was missing a required header",
                       MissingHeaderName="x-amz-acl")
    return parse_policy(body, canonical_user_id(call.s3.account_id))


async def put_bucket_acl(call: S3Call) -> Response:
    assert call.bucket is not None
    bucket = await call.existing_bucket()
    grants = await _requested_acl(call, BUCKET_ACCEPTED)  # a bad request is answered as such, ACLs or not
    if not acls_enabled(bucket):
        raise not_supported()  # whatever the ACL, as S3 does with ACLs disabled (LocalStack's AWS recordings)
    if is_public(grants):
        from storeroom.s3.access import refuse_public_acl
        await refuse_public_acl(call, bucket)
    owner_id = canonical_user_id(call.s3.account_id)
    stored = None if is_default(grants, owner_id) else json.dumps(grants)
    if not await call.meta.put_bucket_config(call.bucket, "acl", stored):
        raise AwsError("NoSuchBucket", BucketName=call.bucket)
    return Response(200)


async def put_object_acl(call: S3Call) -> Response:
    from storeroom.s3.objects import existing_version, version_arg
    assert call.bucket is not None and call.key is not None
    bucket = await call.existing_bucket()
    version_id = version_arg(call)
    if version_id is None and bucket.versioning is not None and await call.meta.get_object(
            call.bucket, call.key) is None:
        marker = await call.meta.latest_marker(call.bucket, call.key)
        if marker is not None:  # a deleted key: S3 answers 405 (a GET of it: 404)
            raise _marker_not_allowed(marker)
    await existing_version(call)
    if not acls_enabled(bucket):
        await _check_owner_full_control(call)
        return Response(200)
    grants = await _requested_acl(call, OBJECT_CANNED)
    if is_public(grants):
        from storeroom.s3.access import refuse_public_acl
        await refuse_public_acl(call, bucket)
    owner_id = canonical_user_id(call.s3.account_id)

    def change(record: ObjectRecord) -> None:
        record.acl = None if is_default(grants, owner_id) else grants
    record = await call.meta.update_version(call.bucket, call.key, version_id, change)
    if record is None:
        raise AwsError("NoSuchKey", Key=call.key)
    if record.marker:
        raise _marker_not_allowed(record)
    return Response(200, [("x-amz-version-id", record.version_id)] if bucket.versioning else [])


def _marker_not_allowed(marker: ObjectRecord) -> AwsError:
    return AwsError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
                    headers={"x-amz-delete-marker": "true", "x-amz-version-id": marker.version_id,
                             "allow": "DELETE"}, Method="PUT", ResourceType="DeleteMarker")


async def _check_owner_full_control(call: S3Call) -> None:
    """ACLs disabled: only an ACL that gives the bucket owner full control and nobody anything else."""
    body = await read_body(call)
    name = call.headers.get("x-amz-acl")
    if any(h in call.headers for h in GRANT_HEADERS):
        raise not_supported()
    if name is not None:
        if name != OWNER_FULL_CONTROL:
            raise not_supported()
        return
    if not body.strip():
        raise AwsError("MissingSecurityHeader", "Your request was missing a required header",
                       MissingHeaderName="x-amz-acl")
    owner_id = canonical_user_id(call.s3.account_id)
    try:
        grants = parse_policy(body, owner_id)
    except AwsError as err:
        if err.code == "MalformedACLError":
            raise
        raise not_supported() from None
    if grants != [owner_grant(owner_id)]:
        raise not_supported()


# -- ownership controls ----------------------------------------------------------------------------------------

async def get_bucket_ownership_controls(call: S3Call) -> Response:
    bucket = await call.existing_bucket()
    if bucket.ownership == "":
        raise AwsError("OwnershipControlsNotFoundError", "The bucket ownership controls were not found", 404,
                       BucketName=call.bucket or "")
    value = bucket.ownership or "BucketOwnerEnforced"
    return Response(200, list(XML_HEADERS), xml.document(
        "OwnershipControls", f"<Rule>{xml.tag('ObjectOwnership', value)}</Rule>"))


async def put_bucket_ownership_controls(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    root = await read_document(call, "OwnershipControls")
    rules = xml.children(root, "Rule")
    if len(rules) != 1 or len(list(root)) != 1:
        raise AwsError("MalformedXML")
    value = (xml.child_text(rules[0], "ObjectOwnership") or "").strip()
    if value not in OWNERSHIPS:
        raise AwsError("MalformedXML")
    acl = await call.meta.get_bucket_config(call.bucket, "acl")

    def check(bucket: Bucket) -> None:
        # "If your bucket ACL grants access outside your account, you must migrate ACL permissions ... before
        # applying Bucket owner enforced" (about-object-ownership): S3 refuses while the bucket ACL grants others.
        if value == "BucketOwnerEnforced" and acl is not None and not is_owner_only(
                json.loads(acl), canonical_user_id(call.s3.account_id)):
            raise AwsError("InvalidBucketAclWithObjectOwnership",
                           "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting", 400)
    if not await call.meta.set_bucket_setting(call.bucket, "ownership", None if value == "BucketOwnerEnforced"
                                              else value, check):
        raise AwsError("NoSuchBucket", BucketName=call.bucket)
    return Response(200)


async def delete_bucket_ownership_controls(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    await call.meta.set_bucket_setting(call.bucket, "ownership", "")
    return Response(204)
