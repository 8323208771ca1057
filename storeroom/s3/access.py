"""S3 Block Public Access, for a bucket and for the account, and what "public" means for a bucket policy or an ACL
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html).

The four settings, each on if the bucket's or the account's configuration has it on:

- **BlockPublicAcls**: "PUT Bucket acl and PUT Object acl calls fail if the specified ACL is public. PUT Object
  calls fail if the request includes a public ACL. PUT Bucket calls fail if the request includes a public ACL."
  (403 AccessDenied.)
- **IgnorePublicAcls**: "Amazon S3 ... ignore[s] all public ACLs on this bucket and objects in this bucket."
- **BlockPublicPolicy**: "reject calls to PUT Bucket policy if the specified bucket policy allows public access"
  (403 AccessDenied).
- **RestrictPublicBuckets**: "restricts access to an access point or bucket with a public policy to only AWS
  service principals and authorized users within the bucket owner's account": an anonymous caller gets nothing
  from a public bucket policy.

"Amazon S3 considers a bucket policy public unless at least one of the following conditions is true: The policy
limits access to a set of CIDRs using aws:SourceIp ... The policy grants permissions, not including any 'bad
actions,' to one of the following: A fixed AWS principal, user, role, or service principal; A fixed
aws:SourceArn; A fixed aws:SourceVpc; A fixed aws:SourceVpce; A fixed aws:SourceOwner; A fixed
aws:SourceAccount; A fixed value of s3:x-amz-server-side-encryption-aws-kms-key-id; A fixed value of aws:userid
outside the pattern 'AROLEID:*'" — "fixed" meaning no wildcard — and "'Bad actions' are ... s3:Get*, s3:List*,
s3:AbortMultipartUpload, s3:Delete*, s3:Put*, and s3:RestoreObject"
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_PublicAccessBlockConfiguration.html).  So a statement is
public when it allows a wildcard principal a bad action without such a condition.  An ACL is public when it
grants to AllUsers or AuthenticatedUsers.  GetBucketPolicyStatus answers with the same definition.

New buckets get all four on ("Block Public Access ... enabled by default for new buckets", AWS since April
2023); buckets made before schema 8 keep none, so public policies that worked still do.  The account's setting
is the S3 Control API's ``/v20180820/configuration/publicAccessBlock`` (``x-amz-account-id``), answered on this
endpoint: ``boto3.client("s3control", endpoint_url=…, config=Config(inject_host_prefix=False))``.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.s3 import xml
from storeroom.s3.document import boolean, only_child_text, read_document
from storeroom.store.generation import GenerationCache
from storeroom.store.meta import Bucket

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call, S3Service

FIELDS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
ACCOUNT_KV = "s3:account-public-access-block"
CONTROL_NS = "http://awss3control.amazonaws.com/doc/2018-08-20/"
CONTROL_PATH = "/v20180820/configuration/publicAccessBlock"
XML_HEADERS = [("content-type", "application/xml")]


@dataclass(frozen=True, slots=True)
class Block:
    block_acls: bool = False
    ignore_acls: bool = False
    block_policy: bool = False
    restrict_buckets: bool = False

    @classmethod
    def of(cls, flags: str | None) -> Block:
        if not flags:
            return NONE
        return cls(*(c == "1" for c in flags[:4]))

    def flags(self) -> str:
        return "".join("1" if v else "0" for v in (self.block_acls, self.ignore_acls, self.block_policy,
                                                   self.restrict_buckets))

    def __or__(self, other: Block) -> Block:
        return Block(self.block_acls or other.block_acls, self.ignore_acls or other.ignore_acls,
                     self.block_policy or other.block_policy, self.restrict_buckets or other.restrict_buckets)


NONE = Block()


class AccountBlock:
    """The account's setting, cached per process until a bucket setting changes (writes bump BUCKETS)."""

    def __init__(self, s3: S3Service) -> None:
        self._cache: GenerationCache[str, str | None] = GenerationCache(s3.meta.buckets_generation, s3.meta.get_kv)

    async def get(self) -> str | None:
        return await self._cache.get(ACCOUNT_KV)


async def effective(call: S3Call, bucket: Bucket) -> Block:
    account = await account_block(call.s3).get()
    return Block.of(bucket.public_block) | Block.of(account)


def account_block(s3: S3Service) -> AccountBlock:
    found = getattr(s3, "_account_block", None)
    if not isinstance(found, AccountBlock):
        found = AccountBlock(s3)
        s3._account_block = found  # type: ignore[attr-defined]
    return found


def _acl_blocked(call: S3Call) -> AwsError:
    return AwsError("AccessDenied", _denied(call, "public ACLs are prevented by the BlockPublicAcls setting in S3 "
                                                  "Block Public Access."))


def _denied(call: S3Call, why: str) -> str:
    principal = call.ctx.principal
    if principal.is_anonymous:
        return "Access Denied"
    action = f"s3:{call.operation.name}"
    resource = call.bucket_arn() if call.key is None else call.object_arn()
    return (f'User: {principal.arn} is not authorized to perform: {action} on resource: "{resource}" '
            f"because {why}")


async def refuse_public_policy(call: S3Call, bucket: Bucket, document: dict[str, Any]) -> None:
    """PutBucketPolicy under BlockPublicPolicy (the bucket's or the account's)."""
    if (await effective(call, bucket)).block_policy and policy_is_public(document):
        raise AwsError("AccessDenied", _denied(call, "public policies are blocked by the BlockPublicPolicy block "
                                                     "public access setting."))


async def refuse_public_acl(call: S3Call, bucket: Bucket) -> None:
    """A request that sets a public ACL, under BlockPublicAcls (the bucket's or the account's)."""
    if (await effective(call, bucket)).block_acls:
        raise _acl_blocked(call)


# -- what is public --------------------------------------------------------------------------------------------

_BAD_ACTIONS = ("s3:get*", "s3:list*", "s3:abortmultipartupload", "s3:delete*", "s3:put*", "s3:restoreobject")
_FIXED_KEYS = frozenset({"aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceowner", "aws:sourceaccount",
                         "s3:x-amz-server-side-encryption-aws-kms-key-id", "aws:userid", "aws:principalaccount",
                         "aws:principalarn", "aws:principalorgid"})
_EQUALS = ("stringequals", "stringequalsignorecase", "arnequals", "stringlike", "arnlike")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements if isinstance(s, dict)] if isinstance(statements, list) else []


def _wildcard_principal(statement: dict[str, Any]) -> bool:
    if "NotPrincipal" in statement:
        return True  # everyone but a few
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any("*" in v or "?" in v for values in principal.values() for v in _strings(values))
    return False


def _bad_action(statement: dict[str, Any]) -> bool:
    if "NotAction" in statement:
        return True
    for action in _strings(statement.get("Action")):
        lowered = action.lower()
        if lowered in ("*", "s3:*") or any(fnmatch.fnmatchcase(lowered, bad) or fnmatch.fnmatchcase(bad, lowered)
                                           for bad in _BAD_ACTIONS):
            return True
    return False


def _restricting(condition: Any) -> bool:
    """Whether a Condition block ties the statement to fixed values (or to CIDRs) AWS counts as non-public."""
    if not isinstance(condition, dict):
        return False
    for operator, block in condition.items():
        if not isinstance(block, dict):
            continue
        op = operator.lower().removeprefix("forallvalues:").removeprefix("foranyvalue:").removesuffix("ifexists")
        for key, values in block.items():
            name, found = key.lower(), _strings(values)
            if not found:
                continue
            if name == "aws:sourceip" and op == "ipaddress" and all(_narrow(v) for v in found):
                return True
            if name in _FIXED_KEYS and op in _EQUALS and all("*" not in v and "?" not in v for v in found):
                if name != "aws:userid" or not any(v.upper().startswith("AROLEID:") for v in found):
                    return True
    return False


def _narrow(cidr: str) -> bool:
    """A CIDR that limits access: not the whole Internet (/0)."""
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen > 0
    except ValueError:
        return False


def statement_is_public(statement: dict[str, Any]) -> bool:
    return (statement.get("Effect") == "Allow" and _wildcard_principal(statement) and _bad_action(statement)
            and not _restricting(statement.get("Condition")))


def policy_is_public(document: dict[str, Any]) -> bool:
    return any(statement_is_public(s) for s in _statements(document))


def policy_text_is_public(text: str) -> bool:
    try:
        document = json.loads(text)
    except ValueError:
        return False
    return isinstance(document, dict) and policy_is_public(document)


# -- the configuration documents -------------------------------------------------------------------------------

async def _parse(call: S3Call) -> Block:
    root = await read_document(call, "PublicAccessBlockConfiguration")
    if any(xml.local(c) not in FIELDS for c in root):
        raise AwsError("MalformedXML")
    values = [boolean(only_child_text(root, name)) for name in FIELDS]
    return Block(*values)


def _render(block: Block, namespace: str | None = None) -> bytes:
    inner = "".join(xml.tag(name, value) for name, value in zip(FIELDS, (
        block.block_acls, block.ignore_acls, block.block_policy, block.restrict_buckets), strict=True))
    if namespace is None:
        return xml.document("PublicAccessBlockConfiguration", inner)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<PublicAccessBlockConfiguration xmlns="{namespace}">{inner}'
            "</PublicAccessBlockConfiguration>").encode()


def _not_found(bucket: str | None = None) -> AwsError:
    err = AwsError("NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found", 404)
    if bucket:
        err.extra["BucketName"] = bucket
    return err


async def get_public_access_block(call: S3Call) -> Response:
    bucket = await call.existing_bucket()
    if bucket.public_block is None:
        raise _not_found(bucket.name)
    return Response(200, list(XML_HEADERS), _render(Block.of(bucket.public_block)))


async def put_public_access_block(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    block = await _parse(call)
    if not await call.meta.set_bucket_setting(call.bucket, "public_block", block.flags()):
        raise AwsError("NoSuchBucket", BucketName=call.bucket)
    return Response(200)


async def delete_public_access_block(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    await call.meta.set_bucket_setting(call.bucket, "public_block", None)
    return Response(204)


# -- the account's setting (S3 Control) ------------------------------------------------------------------------

def control_operation(method: str, path: str, headers: dict[str, str]) -> str | None:
    """The S3 Control operation a request is (PutPublicAccessBlock … of the account), None if it is no such request.
    Its path would otherwise read as the bucket ``v20180820``: a request naming ``x-amz-account-id`` is S3
    Control's, as S3 Control requires that header."""
    if "x-amz-account-id" not in headers or path.rstrip("/") != CONTROL_PATH:
        return None
    return {"GET": "GetPublicAccessBlock", "PUT": "PutPublicAccessBlock",
            "DELETE": "DeletePublicAccessBlock"}.get(method)


CONTROL_ACTIONS = {"GetPublicAccessBlock": "s3:GetAccountPublicAccessBlock",
                   "PutPublicAccessBlock": "s3:PutAccountPublicAccessBlock",
                   "DeletePublicAccessBlock": "s3:PutAccountPublicAccessBlock"}


async def handle_control(call: S3Call, name: str) -> Response:
    account = call.headers.get("x-amz-account-id", "")
    if account != call.s3.account_id:
        raise AwsError("AccessDenied")
    await call.require(CONTROL_ACTIONS[name], "*")
    if name == "GetPublicAccessBlock":
        stored = await call.meta.get_kv(ACCOUNT_KV)
        if stored is None:
            raise _not_found()
        return Response(200, list(XML_HEADERS), _render(Block.of(stored), CONTROL_NS))
    value = (await _parse(call)).flags() if name == "PutPublicAccessBlock" else None
    await call.meta.put_setting(ACCOUNT_KV, value)
    return Response(200 if name == "PutPublicAccessBlock" else 204)
