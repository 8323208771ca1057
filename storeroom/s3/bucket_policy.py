"""Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy, GetBucketPolicyStatus.

The policy is the bucket's resource-based policy: every request on the bucket is judged with it as well as
with the caller's identity policies (``S3Call.check``).  It is validated when stored (the IAM policy grammar,
plus S3's own rules: S3 actions only, resources inside this bucket, a Principal in every statement) and
answered back as stored.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.policy import parse_policy
from storeroom.s3 import xml

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

MAX_POLICY_BYTES = 20 * 1024  # https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-policies.html

# Conditions on these keys tie a grant to known callers or networks: such a policy is not public
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html#access-control-block-public-access-policy-status).
_RESTRICTING_KEYS = frozenset({
    "aws:sourceip", "aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceaccount", "aws:sourceowner",
    "aws:principalaccount", "aws:principalarn", "aws:principalorgid", "aws:principalorgpaths", "aws:userid",
    "aws:principalservicename", "s3:dataaccesspointarn", "s3:dataaccesspointaccount",
})


async def put_bucket_policy(call: S3Call) -> Response:
    from storeroom.http.body import Payload

    assert call.bucket is not None
    call.existing_bucket()
    body = await Payload(call.request, call.ctx.signed, call.ctx.signing_key).read_all(MAX_POLICY_BYTES + 1)
    if len(body) > MAX_POLICY_BYTES:
        raise AwsError("PolicyTooLarge", "Policy exceeds the maximum allowed document size.", 400)
    text = _validated(body, call.bucket)
    if not await call.meta.put_bucket_policy(call.bucket, text):
        raise AwsError("NoSuchBucket", BucketName=call.bucket)
    return Response(204, [])


async def get_bucket_policy(call: S3Call) -> Response:
    text = _stored(call)
    return Response(200, [("content-type", "application/json")], text.encode())


async def delete_bucket_policy(call: S3Call) -> Response:
    assert call.bucket is not None
    call.existing_bucket()
    await call.meta.put_bucket_policy(call.bucket, None)
    return Response(204, [])


async def get_bucket_policy_status(call: S3Call) -> Response:
    document = json.loads(_stored(call))
    public = any(_is_public(statement) for statement in _statements(document))
    body = xml.document("PolicyStatus", xml.tag("IsPublic", "true" if public else "false"))
    return Response(200, [("content-type", "application/xml")], body)


def _stored(call: S3Call) -> str:
    assert call.bucket is not None
    call.existing_bucket()
    text = call.meta.get_bucket_policy(call.bucket)
    if text is None:
        raise AwsError("NoSuchBucketPolicy", BucketName=call.bucket)
    return text


def _validated(body: bytes, bucket: str) -> str:
    """The policy text if S3 would accept it for ``bucket``, else MalformedPolicy with S3's message."""
    try:
        text = body.decode("utf-8")
        document = json.loads(text)
    except ValueError:
        raise AwsError("MalformedPolicy", "This policy contains invalid Json", 400) from None
    if not isinstance(document, dict):
        raise AwsError("MalformedPolicy", "This policy contains invalid Json", 400)
    for statement in _statements(document):
        for action in _strings(statement.get("Action", statement.get("NotAction"))):
            if action != "*" and not action.lower().startswith("s3:"):
                raise AwsError("MalformedPolicy", "Policy has invalid action", 400)
        for resource in _strings(statement.get("Resource", statement.get("NotResource"))):
            if not _in_bucket(resource, bucket):
                raise AwsError("MalformedPolicy", "Policy has invalid resource", 400)
    try:
        parse_policy(text, "resource")
    except AwsError as err:
        raise AwsError("MalformedPolicy", err.message, 400) from None
    return text


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


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _is_public(statement: dict[str, Any]) -> bool:
    if statement.get("Effect") != "Allow" or "NotPrincipal" in statement:
        return False
    principal = statement.get("Principal")
    everyone = principal == "*" or (isinstance(principal, dict) and "*" in _strings(principal.get("AWS")))
    if not everyone:
        return False
    condition = statement.get("Condition") or {}
    keys = {key.lower() for block in condition.values() if isinstance(block, dict) for key in block}
    return not keys & _RESTRICTING_KEYS
