"""What ``storeroom policy generate`` computes, without I/O: audit events → the IAM actions and resources they
needed (:func:`uses_of`) → a small identity policy allowing exactly those, generalised (:func:`build_policy`).

Each event becomes the action(s) IAM checks for it:

- S3: the action of Storeroom's operation table (``storeroom/s3/operations.py``, which follows AWS's Service
  Authorization Reference: PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload and CopyObject
  all need ``s3:PutObject``; GetObject and HeadObject ``s3:GetObject``; ListObjects, ListObjectsV2 — which
  CloudTrail names "ListObjects" — and HeadBucket ``s3:ListBucket``), plus the operations that table does not
  authorize itself (:data:`S3_EXTRA`); a copy also needs ``s3:GetObject`` on its source, added when the event
  records the source (``x-amz-copy-source`` in requestParameters; Storeroom's events do not, so a source that was
  only ever copied, never read, is missing from the policy).  Resources: ``*`` for
  service-level actions (ListBuckets), the bucket ARN for bucket-level ones, the object ARN for object-level ones.
- IAM: ``iam:<EventName>`` on the resource IAM authorizes it on: the user, group or role it names, the policy
  (``policyArn``, or the one CreatePolicy makes), the MFA device, the caller itself for the operations that
  act on the caller when no ``UserName`` is given, else ``*``.
- STS and CloudTrail: ``sts:<EventName>`` / ``cloudtrail:<EventName>`` on ``*`` (an AssumeRole on its role).
  ``sts:GetCallerIdentity`` and ``sts:GetSessionToken`` need no permission
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_getsessiontoken.html:
  "No permissions are required for a user to get a session token"), nor does signing in: skipped.
- Anything else is reported as not mapped, never guessed.

Generalised as IAM Access Analyzer's policy generation does, by resource: every object an action touched in a
bucket becomes one ARN per bucket, ``arn:aws:s3:::<bucket>/<prefix>*`` with the longest common prefix of the
keys cut back to a whole folder (its last ``/``), or the object's own ARN when it was a single object; then
actions needing the same resources share one statement.
"""

from __future__ import annotations

import json
import os.path
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol
from urllib.parse import unquote

from storeroom.audit.trail import TrailEvent
from storeroom.cli.grant import policy_literal

SERVICE, BUCKET, OBJECT = "service", "bucket", "object"  # as storeroom.s3.operations names the levels
S3_ARN = "arn:aws:s3:::"
# IAM's size limit for a managed policy (whitespace not counted), IAM quotas: "Managed policy length: 6,144".
MANAGED_POLICY_MAX = 6144

# S3 operations whose row in storeroom/s3/operations.py does not name the action (the handler authorizes, or it
# is not built yet), and CloudTrail's names for some operations, with the action the Service Authorization
# Reference gives (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html).
S3_EXTRA: dict[str, tuple[tuple[str, str], ...]] = {
    "CreateBucket": (("s3:CreateBucket", BUCKET),),  # (s3:TagResource too when made with tags: not recorded)
    "DeleteObjects": (("s3:DeleteObject", OBJECT),),  # each key is judged as a DeleteObject
    "GetObjectAttributes": (("s3:GetObject", OBJECT), ("s3:GetObjectAttributes", OBJECT)),
    "PutObjectTagging": (("s3:PutObjectTagging", OBJECT),),
    "DeleteObjectTagging": (("s3:DeleteObjectTagging", OBJECT),),
    "GetObjectRetention": (("s3:GetObjectRetention", OBJECT),),
    "PutObjectRetention": (("s3:PutObjectRetention", OBJECT),),
    "GetObjectLegalHold": (("s3:GetObjectLegalHold", OBJECT),),
    "PutObjectLegalHold": (("s3:PutObjectLegalHold", OBJECT),),
    "RestoreObject": (("s3:RestoreObject", OBJECT),),
    "SelectObjectContent": (("s3:GetObject", OBJECT),),
    "GetObjectTorrent": (("s3:GetObjectTorrent", OBJECT),),
    "PutBucketVersioning": (("s3:PutBucketVersioning", BUCKET),),
    "PutBucketTagging": (("s3:PutBucketTagging", BUCKET),),
    "DeleteBucketTagging": (("s3:PutBucketTagging", BUCKET),),
    "PutBucketCors": (("s3:PutBucketCORS", BUCKET),),
    "DeleteBucketCors": (("s3:PutBucketCORS", BUCKET),),
    "PutBucketLifecycleConfiguration": (("s3:PutLifecycleConfiguration", BUCKET),),
    "PutBucketLifecycle": (("s3:PutLifecycleConfiguration", BUCKET),),
    "GetBucketLifecycle": (("s3:GetLifecycleConfiguration", BUCKET),),
    "DeleteBucketLifecycle": (("s3:PutLifecycleConfiguration", BUCKET),),
    "PutBucketEncryption": (("s3:PutEncryptionConfiguration", BUCKET),),
    "DeleteBucketEncryption": (("s3:PutEncryptionConfiguration", BUCKET),),
    "PutBucketWebsite": (("s3:PutBucketWebsite", BUCKET),),
    "DeleteBucketWebsite": (("s3:DeleteBucketWebsite", BUCKET),),
    "PutBucketNotificationConfiguration": (("s3:PutBucketNotification", BUCKET),),
    "PutBucketNotification": (("s3:PutBucketNotification", BUCKET),),
    "GetBucketNotification": (("s3:GetBucketNotification", BUCKET),),
    "PutBucketReplication": (("s3:PutReplicationConfiguration", BUCKET),),
    "DeleteBucketReplication": (("s3:PutReplicationConfiguration", BUCKET),),
    "PutBucketRequestPayment": (("s3:PutBucketRequestPayment", BUCKET),),
    "PutBucketAccelerateConfiguration": (("s3:PutAccelerateConfiguration", BUCKET),),
    "PutBucketOwnershipControls": (("s3:PutBucketOwnershipControls", BUCKET),),
    "DeleteBucketOwnershipControls": (("s3:PutBucketOwnershipControls", BUCKET),),
    "PutPublicAccessBlock": (("s3:PutBucketPublicAccessBlock", BUCKET),),
    "DeletePublicAccessBlock": (("s3:PutBucketPublicAccessBlock", BUCKET),),
    "PutBucketPublicAccessBlock": (("s3:PutBucketPublicAccessBlock", BUCKET),),
    "GetBucketPublicAccessBlock": (("s3:GetBucketPublicAccessBlock", BUCKET),),
    "DeleteBucketPublicAccessBlock": (("s3:PutBucketPublicAccessBlock", BUCKET),),
    "PutObjectLockConfiguration": (("s3:PutBucketObjectLockConfiguration", BUCKET),),
    "PutBucketObjectLockConfiguration": (("s3:PutBucketObjectLockConfiguration", BUCKET),),
    "GetBucketObjectLockConfiguration": (("s3:GetBucketObjectLockConfiguration", BUCKET),),
}
# Calls that need no permission: IAM cannot deny them, a policy has nothing to allow.
NO_PERMISSION = {("sts.amazonaws.com", "GetCallerIdentity"), ("sts.amazonaws.com", "GetSessionToken")}
NO_PERMISSION_SOURCES = {"signin.amazonaws.com"}  # console sign-in is authentication, not an API call
# IAM operations that act on the caller when no UserName is given, besides those whose UserName is optional in
# IAM's model (:func:`_self_operations`).
IAM_SELF = {"ChangePassword"}


@cache
def s3_actions() -> dict[str, tuple[tuple[str, str], ...]]:
    """S3 event name → ((IAM action, level), ...)."""
    from storeroom.s3.operations import OPERATIONS

    table: dict[str, tuple[tuple[str, str], ...]] = {
        op.name: ((op.action, op.level),) for op in OPERATIONS if op.action}
    table.update(S3_EXTRA)
    table.setdefault("ListObjects", (("s3:ListBucket", BUCKET),))
    return table


@cache
def s3_version_actions() -> dict[str, str]:
    """S3 event name → the IAM action a request naming a versionId needs instead (s3:GetObjectVersion …)."""
    from storeroom.s3.operations import OPERATIONS

    return {op.name: op.version_action for op in OPERATIONS if op.version_action}


@cache
def _self_operations() -> frozenset[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("iam")
    names = set(IAM_SELF)
    for name in model.operation_names:
        shape = model.operation_model(name).input_shape
        if shape is not None and "UserName" in shape.members and "UserName" not in shape.required_members:
            names.add(name)
    return frozenset(names)


class Resolver(Protocol):
    """The ARNs of IAM entities named in events (their paths are not in the events)."""

    def entity_arn(self, account: str, kind: str, name: str) -> str: ...

    def key_owner_arn(self, account: str, access_key_id: str) -> str | None: ...


@dataclass(frozen=True, order=True)
class Use:
    """An action one event needed, on the concrete resource it touched (for an object: its bucket and key)."""

    action: str
    resource: str                  # the concrete ARN, or "*"
    bucket: str | None = None      # object-level S3 uses: the bucket...
    key: str | None = None         # ... and the key (None: any object of the bucket, e.g. DeleteObjects)

    @property
    def object_level(self) -> bool:
        return self.bucket is not None


@dataclass
class Outcome:
    """What a list of events needed: the uses, and the events that need no permission or are not mapped."""

    uses: list[Use]
    skipped: dict[str, int]     # "sts:GetCallerIdentity" → events
    unmapped: dict[str, int]    # "ec2.amazonaws.com:RunInstances" → events


def collect(events: Iterable[TrailEvent], resolver: Resolver) -> Outcome:
    outcome = Outcome([], {}, {})
    seen: set[Use] = set()
    for e in events:
        uses = uses_of(e, resolver)
        label = f"{e.source.split('.')[0]}:{e.name}"
        if uses is None:
            outcome.unmapped[f"{e.source}:{e.name}"] = outcome.unmapped.get(f"{e.source}:{e.name}", 0) + 1
        elif not uses:
            outcome.skipped[label] = outcome.skipped.get(label, 0) + 1
        for use in uses or []:
            if use not in seen:
                seen.add(use)
                outcome.uses.append(use)
    return outcome


def uses_of(e: TrailEvent, resolver: Resolver) -> list[Use] | None:
    """The actions ``e`` needed ([] when none), None when it is not mapped."""
    if (e.source, e.name) in NO_PERMISSION or e.source in NO_PERMISSION_SOURCES:
        return []
    if e.source == "s3.amazonaws.com":
        return _s3_uses(e)
    if e.source == "iam.amazonaws.com":
        return [Use(f"iam:{e.name}", _iam_resource(e, resolver))]
    if e.source == "sts.amazonaws.com":
        role = e.params.get("roleArn")
        return [Use(f"sts:{e.name}", str(role) if role else "*")]
    if e.source == "cloudtrail.amazonaws.com":
        return [Use(f"cloudtrail:{e.name}", "*")]
    return None


def _s3_uses(e: TrailEvent) -> list[Use] | None:
    rows = s3_actions().get(e.name)
    if rows is None:
        return None
    bucket = e.bucket or next((name for kind, name in e.resources if kind == "AWS::S3::Bucket"), None)
    uses: list[Use] = []
    versioned = s3_version_actions().get(e.name) if e.params.get("versionId") else None
    for action, level in rows:
        if versioned is not None and level not in (SERVICE, BUCKET):
            action = versioned  # the version's own action: s3:GetObject alone does not allow it
        if level == SERVICE:
            uses.append(Use(action, "*"))
        elif bucket is None:
            return None
        elif level == BUCKET:
            uses.append(Use(action, S3_ARN + bucket))
        else:
            key = e.key
            uses.append(Use(action, f"{S3_ARN}{bucket}/{'*' if key is None else key}", bucket, key))
    source = e.params.get("x-amz-copy-source")  # CopyObject, UploadPartCopy: reading the source
    if isinstance(source, str) and "/" in source.lstrip("/"):
        path, _, query = source.lstrip("/").partition("?")
        src_bucket, src_key = unquote(path).split("/", 1)
        action = "s3:GetObjectVersion" if "versionId=" in query else "s3:GetObject"
        uses.append(Use(action, f"{S3_ARN}{src_bucket}/{src_key}", src_bucket, src_key))
    return uses


def _iam_resource(e: TrailEvent, resolver: Resolver) -> str:
    params, account = e.params, e.account_id
    for member, kind in (("userName", "user"), ("groupName", "group"), ("roleName", "role")):
        name = params.get(member)
        if isinstance(name, str) and name:
            return resolver.entity_arn(account, kind, name)
    if e.name == "CreatePolicy" and params.get("policyName"):
        return f"arn:aws:iam::{account}:policy{params.get('path') or '/'}{params['policyName']}"
    if e.name == "CreateVirtualMFADevice" and params.get("virtualMFADeviceName"):
        return f"arn:aws:iam::{account}:mfa{params.get('path') or '/'}{params['virtualMFADeviceName']}"
    for member in ("policyArn", "serialNumber"):
        value = params.get(member)
        if isinstance(value, str) and value.startswith("arn:"):
            return value
    caller = str(e.identity.get("arn") or "")
    if e.name == "GetAccessKeyLastUsed" and params.get("accessKeyId"):
        return resolver.key_owner_arn(account, str(params["accessKeyId"])) or caller or "*"
    if e.name in _self_operations() and caller:
        return caller
    return "*"


# -- the policy --------------------------------------------------------------------------------------------------


def object_pattern(bucket: str, keys: set[str | None]) -> str:
    """One ARN for every object of ``bucket`` that was used: the object's own when there was one, else the
    longest common prefix cut back to its last ``/`` followed by ``*`` (policy text: ``*?$`` in keys escaped)."""
    if None not in keys and len(keys) == 1:
        (key,) = keys
        return f"{S3_ARN}{bucket}/{policy_literal(str(key))}"
    if None in keys:
        prefix = ""
    else:
        common = os.path.commonprefix(sorted(str(k) for k in keys))
        prefix = common[:common.rfind("/") + 1]
    return f"{S3_ARN}{bucket}/{policy_literal(prefix)}*"


def build_policy(uses: Iterable[Use]) -> dict[str, Any]:
    """A policy allowing every use: object ARNs generalised per bucket, then one statement per set of
    resources, with every action needing exactly that set."""
    uses = list(uses)
    keys: dict[str, set[str | None]] = {}
    for use in uses:
        if use.bucket is not None:
            keys.setdefault(use.bucket, set()).add(use.key)
    patterns = {bucket: object_pattern(bucket, ks) for bucket, ks in keys.items()}
    resources: dict[str, set[str]] = {}
    for use in uses:
        pattern = patterns[use.bucket] if use.bucket is not None else use.resource
        resources.setdefault(use.action, set()).add(pattern)
    by_resources: dict[frozenset[str], list[str]] = {}
    for action, found in resources.items():
        if "*" in found:
            found = {"*"}
        by_resources.setdefault(frozenset(found), []).append(action)
    statements = [_statement(sorted(actions), sorted(res)) for res, actions in by_resources.items()]
    statements.sort(key=lambda s: (json.dumps(s["Resource"]), json.dumps(s["Action"])))
    return {"Version": "2012-10-17", "Statement": statements}


def _statement(actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions[0] if len(actions) == 1 else actions,
            "Resource": resources[0] if len(resources) == 1 else resources}


def policy_size(document: dict[str, Any]) -> int:
    """The length IAM counts against its quota (no whitespace outside strings)."""
    return len(json.dumps(document, separators=(",", ":")))
