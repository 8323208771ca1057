"""Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy, GetBucketPolicyStatus.

The policy is the bucket's resource-based policy: every request on the bucket is judged with it as well as
with the caller's identity policies (``S3Call.check``).  It is validated when stored (the IAM policy grammar,
plus S3's own rules: S3 actions only, resources inside this bucket, a Principal in every statement, principals
that exist) and answered back as stored — except that users and roles of this account are stored by unique id,
as AWS does, and read back by their current ARN, or by the bare id once deleted (storeroom/iam/principal_ids.py):
a user or role deleted and made again under the same name is not granted what the policy granted the first.
Whether it is public, for GetBucketPolicyStatus and Block Public Access's BlockPublicPolicy: s3/access.py.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import TYPE_CHECKING, Any

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.iam import principal_ids
from storeroom.policy import parse_policy
from storeroom.policy.matching import glob_match
from storeroom.s3 import access, action_names, xml
from storeroom.s3.document import read_body

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

# 20 KB, counted without the whitespace between JSON tokens (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
# bucket-policies.html): a pretty-printed policy may be larger on the wire.  Bodies beyond MAX_BODY_BYTES are not
# read at all.
MAX_POLICY_BYTES = 20 * 1024
MAX_BODY_BYTES = 256 * 1024


async def put_bucket_policy(call: S3Call) -> Response:
    assert call.bucket is not None
    bucket = await call.existing_bucket()
    body = await read_body(call, MAX_BODY_BYTES)  # its Content-MD5 or checksum, if given, must match
    text = _validated(body, call.bucket)
    try:
        stored = await principal_ids.to_ids(call.meta.db.read, call.s3.account_id, text)
    except principal_ids.UnknownPrincipal:
        raise AwsError("MalformedPolicy", "Invalid principal in policy", 400) from None
    await access.refuse_public_policy(call, bucket, json.loads(text))
    if not await call.meta.put_bucket_policy(call.bucket, stored):
        raise AwsError("NoSuchBucket", BucketName=call.bucket)
    return Response(204, [])


async def get_bucket_policy(call: S3Call) -> Response:
    text, = await principal_ids.shown(call.meta.db.read, call.s3.account_id, [await _stored(call)])
    return Response(200, [("content-type", "application/json")], text.encode())


async def delete_bucket_policy(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    await call.meta.put_bucket_policy(call.bucket, None)
    return Response(204, [])


async def get_bucket_policy_status(call: S3Call) -> Response:
    public = access.policy_is_public(json.loads(await _stored(call)))
    body = xml.document("PolicyStatus", xml.tag("IsPublic", "true" if public else "false"))
    return Response(200, [("content-type", "application/xml")], body)


async def _stored(call: S3Call) -> str:
    assert call.bucket is not None
    await call.existing_bucket()
    text = await call.meta.get_bucket_policy(call.bucket)
    if text is None:
        raise AwsError("NoSuchBucketPolicy", BucketName=call.bucket)
    return text


_INVALID_JSON = "This policy contains invalid Json"
# S3's words for a document that is JSON but not an object (a bare string, an array ...)
_NOT_AN_OBJECT = "Policies must be valid JSON and the first byte must be '{'"


def check_policy(text: str, bucket: str) -> str:
    """``text`` if S3 would accept it as ``bucket``'s policy, else MalformedPolicy with S3's message (the
    console's bucket policy editor uses it to place PutBucketPolicy's refusal at a statement)."""
    return _validated(text.encode("utf-8", "surrogatepass"), bucket)


def _validated(body: bytes, bucket: str) -> str:
    """The policy text if S3 would accept it for ``bucket``, else MalformedPolicy with S3's message.

    A document nested deeper than Python's recursion limit (``"[" * 1000``, a Condition 1,000 levels deep) is
    refused like any other invalid JSON: the policy grammar is at most six levels deep, and S3 answers such a
    document 400 MalformedPolicy."""
    try:
        return _checked(body, bucket)
    except RecursionError:
        raise AwsError("MalformedPolicy", _INVALID_JSON, 400) from None


def _checked(body: bytes, bucket: str) -> str:
    if not body.lstrip().startswith(b"{"):
        raise AwsError("MalformedPolicy", _NOT_AN_OBJECT, 400)
    try:
        text = body.decode("utf-8")
        document = json.loads(text)
    except ValueError:
        raise AwsError("MalformedPolicy", _INVALID_JSON, 400) from None
    if not isinstance(document, dict):
        raise AwsError("MalformedPolicy", _INVALID_JSON, 400)
    # surrogatepass: a "\ud800" escape is valid JSON and decodes to a lone surrogate, which plain UTF-8 refuses
    compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    if len(compact.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
        raise AwsError("PolicyTooLarge", "Policy exceeds the maximum allowed document size.", 400)
    # S3's own words for these (versity/versitygw#646 and #1176 record them); IAM's are "Syntax errors in policy."
    if "Statement" not in document:
        raise AwsError("MalformedPolicy", "Missing required field Statement", 400)
    if document["Statement"] == []:
        raise AwsError("MalformedPolicy", "Could not parse the policy: Statement is empty!", 400)
    for statement in _statements(document):
        if not _valid_addresses(statement.get("Condition")):
            raise AwsError("MalformedPolicy", "Invalid IP address in Conditions", 400)
        if not all(_known_condition_key(key) for key in _condition_keys(statement.get("Condition"))):
            raise AwsError("MalformedPolicy", "Policy has an invalid condition key", 400)
        actions = _strings(statement.get("Action", statement.get("NotAction")))
        if not all(_known_action(action) for action in actions):
            raise AwsError("MalformedPolicy", "Policy has invalid action", 400)
        resources = _strings(statement.get("Resource", statement.get("NotResource")))
        for resource in resources:
            if not _in_bucket(resource, bucket):
                raise AwsError("MalformedPolicy", "Policy has invalid resource", 400)
        if "Action" in statement and "Resource" in statement and not _applies(actions, resources):
            raise AwsError("MalformedPolicy", "Action does not apply to any resource(s) in statement", 400)
        for principal in _principals(statement):
            if not _valid_principal(principal):
                raise AwsError("MalformedPolicy", "Invalid principal in policy", 400)
    try:
        parse_policy(text, "resource")
    except AwsError as err:
        raise AwsError("MalformedPolicy", err.message, 400) from None
    return text


# Actions whose resource is an object (arn:aws:s3:::bucket/key); the other S3 actions name the bucket.  From the
# Service Authorization Reference; used only to refuse statements whose every action and resource miss.
OBJECT_ACTIONS = frozenset(a.lower() for a in (
    "s3:AbortMultipartUpload", "s3:BypassGovernanceRetention", "s3:DeleteObject", "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersion", "s3:DeleteObjectVersionTagging", "s3:GetObject", "s3:GetObjectAcl",
    "s3:GetObjectAttributes", "s3:GetObjectLegalHold", "s3:GetObjectRetention", "s3:GetObjectTagging",
    "s3:GetObjectTorrent", "s3:GetObjectVersion", "s3:GetObjectVersionAcl", "s3:GetObjectVersionAttributes",
    "s3:GetObjectVersionTagging", "s3:GetObjectVersionTorrent", "s3:ListMultipartUploadParts", "s3:PutObject",
    "s3:PutObjectAcl", "s3:PutObjectLegalHold", "s3:PutObjectRetention", "s3:PutObjectTagging",
    "s3:PutObjectVersionAcl", "s3:PutObjectVersionTagging", "s3:RestoreObject",
))
BUCKET_ACTIONS = frozenset(a.lower() for a in (
    "s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation",
    "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:GetBucketPolicyStatus",
    "s3:DeleteBucket", "s3:GetBucketAcl", "s3:PutBucketAcl", "s3:GetBucketVersioning", "s3:PutBucketVersioning",
    "s3:GetBucketTagging", "s3:PutBucketTagging", "s3:GetBucketCORS", "s3:PutBucketCORS",
    "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration",
))


def _applies(actions: list[str], resources: list[str]) -> bool:
    """False when every action is a known object action and no resource can name an object, or every action a
    known bucket action and no resource can name the bucket (S3's "Action does not apply to any resource(s) in
    statement").  Wildcard and unknown actions apply to anything."""
    tails = ["*" if r == "*" else r[len("arn:aws:s3:::"):] for r in resources]
    lowered = [a.lower() for a in actions]
    if lowered and all(a in OBJECT_ACTIONS for a in lowered):
        return any("/" in t or "*" in t for t in tails)  # a wildcard spans "/"
    if lowered and all(a in BUCKET_ACTIONS for a in lowered):
        return any("/" not in t for t in tails)
    return True


def _known_action(action: str) -> bool:
    """``*``, or an S3 action S3 defines; a wildcard must stand for at least one of them (``s3:Get*``)."""
    if action == "*":
        return True
    prefix, _, name = action.partition(":")
    if prefix.lower() != "s3":
        return False
    lowered = name.lower()
    if "*" not in lowered and "?" not in lowered:
        return lowered in action_names.LOWERED
    return any(glob_match(lowered, known) for known in action_names.LOWERED)


def _principals(statement: dict[str, Any]) -> list[str]:
    """The AWS principals a statement names (``"*"`` included); other principal types are not checked."""
    principal = statement.get("Principal", statement.get("NotPrincipal"))
    if isinstance(principal, str):
        return [principal]
    if isinstance(principal, dict):
        return _strings(principal.get("AWS"))
    return []


_ACCOUNT = re.compile(r"\d{12}")
_IAM_PRINCIPAL = re.compile(r"arn:aws:iam::\d{12}:(root|user/.+|role/.+)")  # groups are not principals
_STS_PRINCIPAL = re.compile(r"arn:aws:sts::\d{12}:(assumed-role|federated-user)/.+")


def _valid_principal(value: str) -> bool:
    """The shapes S3 takes.  A wildcard within an ARN names nobody ("you can't use a wildcard to match part of a
    principal name or ARN"); whether this account's users and roles exist is checked when the policy is stored
    (storeroom/iam/principal_ids.py)."""
    if value == "*" or _ACCOUNT.fullmatch(value):
        return True
    return ("*" not in value and "?" not in value
            and bool(_IAM_PRINCIPAL.fullmatch(value) or _STS_PRINCIPAL.fullmatch(value)))


def _in_bucket(resource: str, bucket: str) -> bool:
    """S3 accepts only resources of this bucket: the bucket ARN or object ARNs under it (wildcards may
    stand for the bucket name's end)."""
    if not resource.startswith("arn:aws:s3:::"):
        return False
    name = resource[len("arn:aws:s3:::"):].split("/", 1)[0]
    if "*" in name or "?" in name:
        from fnmatch import fnmatchcase
        return fnmatchcase(bucket, name)
    return name == bucket


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if isinstance(s, dict)] if isinstance(statements, list) else []


def _valid_addresses(condition: Any) -> bool:
    """Whether every value of an IpAddress / NotIpAddress condition (…IfExists and ForAnyValue:/ForAllValues:
    forms too) is an address or a CIDR range: S3 refuses the policy otherwise, where IAM lets it match nothing."""
    if not isinstance(condition, dict):
        return True
    for operator, block in condition.items():
        if not isinstance(block, dict) or not str(operator).split(":")[-1].removesuffix("IfExists").endswith(
                "IpAddress"):
            continue
        for value in (v for values in block.values() for v in (values if isinstance(values, list) else [values])):
            try:
                ipaddress.ip_network(str(value).strip(), strict=False)
            except ValueError:
                return False
    return True


# S3's own condition keys (the Service Authorization Reference, "Condition keys for Amazon S3"), lower-cased: S3
# refuses a bucket policy naming an "s3:" key it does not define (a typo such as "s3:x-acl" would otherwise match
# nothing, silently).  Keys of other prefixes are let through, as S3 lets any "aws:" key through.
S3_CONDITION_KEYS = frozenset(k.lower() for k in (
    "s3:AccessGrantScope", "s3:AccessGrantsInstanceArn", "s3:AccessGrantsLocationScope",
    "s3:AccessPointNetworkOrigin", "s3:DataAccessPointAccount", "s3:DataAccessPointArn", "s3:ExistingJobOperation",
    "s3:ExistingJobPriority", "s3:InventoryAccessibleOptionalFields", "s3:JobSuspendedCause",
    "s3:ObjectCreationOperation", "s3:RequestJobOperation", "s3:RequestJobPriority", "s3:RequestObjectTagKeys",
    "s3:ResourceAccount", "s3:TlsVersion", "s3:annotation-prefix", "s3:authType", "s3:delimiter",
    "s3:deliverySourceArn", "s3:destinationRegion", "s3:if-match", "s3:if-none-match",
    "s3:isReplicationPauseRequest", "s3:locationconstraint", "s3:logType", "s3:max-annotation-results",
    "s3:max-keys", "s3:object-lock-legal-hold", "s3:object-lock-mode", "s3:object-lock-remaining-retention-days",
    "s3:object-lock-retain-until-date", "s3:prefix", "s3:resourceArnBeingAuthorized", "s3:signatureAge",
    "s3:signatureversion", "s3:versionid", "s3:x-amz-acl", "s3:x-amz-bucket-namespace", "s3:x-amz-content-sha256",
    "s3:x-amz-copy-source", "s3:x-amz-grant-full-control", "s3:x-amz-grant-read", "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write", "s3:x-amz-grant-write-acp", "s3:x-amz-metadata-directive",
    "s3:x-amz-object-annotation-directive", "s3:x-amz-object-if-match", "s3:x-amz-object-ownership",
    "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-server-side-encryption-customer-algorithm", "s3:x-amz-storage-class",
    "s3:x-amz-website-redirect-location",
))
# Keys that name a tag after the slash ("s3:ExistingObjectTag/project").
S3_TAG_CONDITION_KEYS = ("s3:accesspointtag/", "s3:buckettag/", "s3:existingobjecttag/", "s3:requestobjecttag/")


def _condition_keys(condition: Any) -> list[str]:
    if not isinstance(condition, dict):
        return []
    return [str(key) for block in condition.values() if isinstance(block, dict) for key in block]


def _known_condition_key(key: str) -> bool:
    lowered = key.lower()
    if not lowered.startswith("s3:") or lowered in S3_CONDITION_KEYS:
        return True
    return any(lowered.startswith(tag) and len(lowered) > len(tag) for tag in S3_TAG_CONDITION_KEYS)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
