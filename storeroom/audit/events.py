"""One request → one CloudTrail event, in the shape of AWS's "CloudTrail record contents"
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html).

Sans-IO and run off the request path: the request path only queues what :func:`capture` takes from the
request (a flat tuple of values and of references to objects that already exist: no copying, no formatting, and
few objects kept alive, so that the garbage collector has little more to walk); the audit writer thread reads it
as an :class:`Entry` and :func:`build` turns it into an :class:`Event` — the JSON record plus the columns
LookupEvents searches on.

What follows AWS, and where it says so:

- ``userIdentity`` (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html):
  ``Root`` and ``IAMUser`` with their access key; an anonymous S3 request is ``AWSAccount`` with account
  ``ANONYMOUS_PRINCIPAL``, as CloudTrail writes it.  A request signed with a key Storeroom does not know is
  ``Unknown`` with the key's id (CloudTrail does not log those at all; an audit trail should).
- S3 object-level operations are data events (``eventCategory: Data``, ``managementEvent: false``), bucket-level
  ones management events (https://docs.aws.amazon.com/AmazonS3/latest/userguide/cloudtrail-logging-s3-info.html);
  S3 events carry ``requestParameters`` ``bucketName``/``Host``/``key`` and the query parameters,
  ``additionalEventData`` (``SignatureVersion``, ``AuthenticationMethod``, ``bytesTransferredIn/Out``,
  ``x-amz-id-2``) and ``resources`` (``AWS::S3::Object``, ``AWS::S3::Bucket``).
- IAM, STS and CloudTrail events carry the API's parameters with AWS's lower-camel-case member names;
  ``responseElements`` only for operations that change something ("If an action does not change state ...
  this element is omitted"); a member whose shape botocore's model marks ``sensitive`` (secret access keys,
  passwords, private keys) is written ``HIDDEN_DUE_TO_SECURITY_REASONS``, as CloudTrail does.  IAM error codes
  are written as IAM's exception names (``NoSuchEntityException``), as CloudTrail records them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson

from storeroom.http.context import Context
from storeroom.http.types import Request, Response
from storeroom.identity import Principal
from storeroom.s3 import xml

EVENT_VERSION = "1.11"
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
ANONYMOUS = "ANONYMOUS_PRINCIPAL"



class Entry(NamedTuple):
    """What a request leaves for its audit event (queued as a plain tuple, read back as this)."""

    request_id: str
    started: float
    responded: float                  # the response was ready
    ended: float                      # the response was sent
    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]
    args: dict[str, str]
    client_ip: str
    http_version: str
    received: int                     # request body bytes
    body: bytes | None                # a small body read whole (IAM, STS, CloudTrail)
    service: str
    region: str
    principal: Principal
    signature_version: str            # "AWS4-HMAC-SHA256", or "AWS" for SigV2
    presigned: bool | None            # SigV4 query (True) or header (False) signature; None: not SigV4-signed
    operation: str | None
    bucket: str | None
    key: str | None
    details: tuple[Any, Any, Any] | None   # Context.audit: (operation model, parameters, result)
    status: int
    error_code: str | None
    error_message: str | None
    response_headers: list[tuple[str, str]]
    sent: int                         # response body bytes
    acl_required: bool                # allowed by an ACL grant alone (S3's aclRequired)


def capture(request: Request, ctx: Context, response: Response, responded: float, ended: float,
            sent: int | None = None) -> tuple[Any, ...]:
    """The request path's part: one tuple, in :class:`Entry`'s order."""
    signed = ctx.signed
    return (request.request_id, request.started, responded, ended, request.method, request.raw_path,
            request.raw_query, request.headers, request.args, request.client_ip,
            request.scope.get("http_version", "1.1"), request.received, request.body, ctx.service, ctx.region,
            ctx.principal, ctx.signature_version, None if signed is None else signed.presigned, ctx.operation,
            ctx.bucket, ctx.key, ctx.audit, response.status, response.error_code, response.error_message,
            response.headers, response.sent if sent is None else sent, ctx.acl_required)

# S3 object-level operations, and the bucket-level ones CloudTrail also logs as data events
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/cloudtrail-logging-s3-info.html#cloudtrail-object-level-tracking).
S3_DATA_EVENTS = frozenset({
    "AbortMultipartUpload", "CompleteMultipartUpload", "DeleteObjects", "DeleteObject", "GetObject",
    "GetObjectAcl", "GetObjectAttributes", "GetObjectTagging", "HeadObject", "CreateMultipartUpload",
    "ListParts", "PostObject", "RestoreObject", "PutObject", "PutObjectAcl", "PutObjectTagging", "CopyObject",
    "UploadPart", "UploadPartCopy", "ListObjects", "ListObjectsV2", "ListObjectVersions", "HeadBucket",
    "GetObjectRetention", "PutObjectRetention", "GetObjectLegalHold", "PutObjectLegalHold",
    "DeleteObjectTagging", "SelectObjectContent", "GetObjectTorrent", "RenameObject",
    "PreflightRequest",  # a CORS preflight (CloudTrail logs none; S3's access log: REST.OPTIONS.PREFLIGHT)
})
# CloudTrail names ListObjectsV2 calls ListObjects (with "list-type": "2" in requestParameters).
_S3_EVENT_NAMES = {"ListObjectsV2": "ListObjects",
                   # and these by their older names (real records; the detections written for them: Sigma's
                   # PutBucketPublicAccessBlock, Stratus Red Team's PutBucketLifecycle)
                   "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
                   "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
                   "DeletePublicAccessBlock": "DeleteBucketPublicAccessBlock",
                   "GetBucketLifecycleConfiguration": "GetBucketLifecycle",
                   "PutBucketLifecycleConfiguration": "PutBucketLifecycle"}
_READ_PREFIXES = ("Get", "List", "Head", "Describe", "Lookup", "Simulate")
# CloudTrail records a role assumption as read-only, with the role among its resources (a real AssumeRole record:
# "readOnly":true,"resources":[{"accountId":…,"type":"AWS::IAM::Role","ARN":…}]).
_ROLE_ASSUMPTIONS = frozenset({"AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})
# Query parameters that authenticate a presigned request and are secret or stand for the caller: never logged.
# CloudTrail keeps the others (X-Amz-Date, X-Amz-Expires, X-Amz-Algorithm, X-Amz-SignedHeaders: how long a
# presigned URL lives is what an auditor wants to see).
_AUTH_PARAMS = frozenset({"x-amz-credential", "x-amz-signature", "x-amz-security-token", "awsaccesskeyid",
                          "signature"})  # (compared in lower case: SigV2 presigners write the token so)
# Response headers an S3 write's CloudTrail record keeps in responseElements (a real PutObject record:
# {"x-amz-server-side-encryption": …, "x-amz-version-id": …}).
_RESPONSE_ELEMENTS = frozenset({"x-amz-version-id", "x-amz-server-side-encryption", "x-amz-delete-marker"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(slots=True)
class Event:
    """A built event: the record (without ``eventID``, given when it is stored) and its lookup columns; or, for an
    S3 event stored as its parts (:func:`s3_parts`), those parts, the record left to be made when it is read."""

    time: float
    name: str
    source: str                                   # "s3.amazonaws.com"
    read_only: bool
    management: bool
    username: str | None
    access_key_id: str | None
    lookup_resources: list[tuple[str, str]]       # (ResourceType, ResourceName) as LookupEvents shows them
    record: dict[str, Any]
    bucket: str | None = None                     # for S3 server access logging
    status: int = 0
    access_line: str | None = None                # an event not made from a request: its access log line, if any
    parts: list[Any] | None = None                # an S3 event stored as its parts (``record`` then empty)


def event_time(t: float) -> str:
    """CloudTrail's eventTime (whole seconds).  The audit writer makes one per event, thousands a second that
    share a few seconds: each second's text is made once."""
    return _event_second(math.floor(t))


@lru_cache(maxsize=256)
def _event_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def build(e: Entry, account_id: str, host_id: str, *, as_parts: bool = False) -> Event:
    """The event of one request.  ``as_parts``: an S3 event's record is not made now but when it is read
    (:func:`expand`): the audit writer stores its parts."""
    if e.service == "s3":
        return _s3_event(e, account_id, host_id, as_parts)
    service = e.service
    name = _event_name(e)
    read_only = name.startswith(_READ_PREFIXES) or name in _ROLE_ASSUMPTIONS
    identity, username = user_identity(e.principal)
    record = _head(identity, e.ended, f"{service}.amazonaws.com", name, e.region, e.client_ip,
                   e.headers.get("user-agent", ""), _error_code(service, e.error_code) if e.error_code else None,
                   e.error_message)
    lookup: list[tuple[str, str]] = []
    # responseElements: what a change made -- and what a role assumption gave (its credentials, the secret hidden)
    _api_details(record, e, not read_only or name in _ROLE_ASSUMPTIONS, lookup)
    roles = [{"accountId": account_id, "type": kind, "ARN": arn} for kind, arn in lookup
             if kind == "AWS::IAM::Role" and arn.startswith("arn:")] if name in _ROLE_ASSUMPTIONS else None
    _tail(record, e.request_id, read_only, roles, True, account_id)
    return Event(e.ended, name, record["eventSource"], read_only, True, username, e.principal.access_key_id,
                 lookup, record, None, e.status)


def _head(identity: dict[str, Any], ended: float, source: str, name: str, region: str, ip: str, agent: str,
          error_code: str | None, error_message: str | None) -> dict[str, Any]:
    """A record's first members, in CloudTrail's order."""
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": event_time(ended),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
    }
    if error_code:
        record["errorCode"] = error_code
        record["errorMessage"] = error_message or error_code
    return record


def _tail(record: dict[str, Any], request_id: str, read_only: bool, resources: list[dict[str, str]] | None,
          management: bool, account_id: str) -> None:
    """A record's last members, after its details."""
    record["requestID"] = request_id
    record["eventID"] = ""  # made from the event's row id when it is stored (audit/log.py), in this place
    record["readOnly"] = read_only
    if resources:
        record["resources"] = resources
    record["eventType"] = "AwsApiCall"
    record["managementEvent"] = management
    record["recipientAccountId"] = account_id
    record["eventCategory"] = "Management" if management else "Data"
    identity = record["userIdentity"]
    if "sessionContext" in identity and "accessKeyId" not in identity and identity.get("type") in ("Root",
                                                                                               "IAMUser"):
        record["sessionCredentialFromConsole"] = "true"  # a console session: the only keyless one of its types


def user_identity(p: Principal) -> tuple[dict[str, Any], str | None]:
    """CloudTrail's ``userIdentity``, and the user name LookupEvents files the event under (a role session's:
    its session name)."""
    if p.type == "Anonymous":
        return {"type": "AWSAccount", "principalId": "", "accountId": ANONYMOUS}, ANONYMOUS
    if p.type == "Unknown":
        return {"type": "Unknown", "accessKeyId": p.access_key_id or ""}, None
    if p.type == "WebIdentityUser":   # AssumeRoleWithWebIdentity's caller: the token's subject
        return {"type": "WebIdentityUser", "principalId": p.principal_id, "userName": p.user_name or "",
                "identityProvider": p.issuer_arn or ""}, p.user_name
    if p.type == "AWSService":        # the container-credentials endpoint, as EC2 for an instance profile
        return {"type": "AWSService", "invokedBy": p.principal_id}, None
    identity: dict[str, Any] = {"type": p.type, "principalId": p.principal_id, "arn": p.arn,
                                "accountId": p.account_id}
    if p.access_key_id:
        identity["accessKeyId"] = p.access_key_id
    if p.user_name:
        identity["userName"] = p.user_name
    if p.session is not None:
        identity["sessionContext"] = _session_context(p)
    elif p.console_signin is not None:  # a console session's own temporary credentials, on AWS
        signed_in, mfa = p.console_signin
        identity["sessionContext"] = {"attributes": {"creationDate": event_time(signed_in),
                                                     "mfaAuthenticated": "true" if mfa else "false"}}
    if p.type == "AssumedRole":
        return identity, p.principal_id.partition(":")[2]
    return identity, (p.user_name if p.type == "IAMUser" else "root")


def _session_context(p: Principal) -> dict[str, Any]:
    """``sessionContext`` of temporary credentials: who issued the session (a role session's role), when and
    with MFA or not, its source identity, and a web identity session's provider
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html)."""
    session = p.session
    assert session is not None
    context: dict[str, Any] = {}
    if p.type == "AssumedRole" and p.issuer_arn is not None:
        context["sessionIssuer"] = {"type": "Role", "principalId": p.principal_id.partition(":")[0],
                                    "arn": p.issuer_arn, "accountId": p.account_id,
                                    "userName": p.issuer_arn.rpartition("/")[2]}
    if session.provider is not None:
        context["webIdFederationData"] = {"federatedProvider": session.provider, "attributes": {}}
    context["attributes"] = {"creationDate": event_time(session.issued),
                             "mfaAuthenticated": "true" if session.mfa is not None else "false"}
    if session.source_identity is not None:
        context["sourceIdentity"] = session.source_identity
    return context


def _event_name(e: Entry) -> str:
    if e.operation:
        return e.operation
    # refused before the operation was known (a bad signature, an unknown key): name it from the request
    if e.service in ("iam", "sts"):
        params = dict(parse_qsl((e.body or b"").decode("utf-8", "replace"))) | e.args
        return params.get("Action") or "Unknown"
    target = e.headers.get("x-amz-target", "")
    return target.rpartition(".")[2] or "Unknown"


# -- S3: an event stored as its parts, its record made when it is read -------------------------------------------
#
# Why: an S3 request's record is ~1 KiB of JSON that LookupEvents reads for a few events at most, while the
# audit writer stored one per request (thousands a second).  Storing the values the record is made of (a short
# JSON list, a third of the bytes) and making the record when an event is read cuts the writer's work per event
# by about a third (bench/RESULTS.md "The audit trail's records stored as their parts").  Both ways go through
# :func:`s3_record`, so a record read back is the record the exports write.

S3_PARTS = "s3.1"      # the first of an S3 event's stored parts: their layout's version


def s3_parts(e: Entry, host_id: str) -> tuple[list[Any], str | None]:
    """What an S3 event's record is made of (JSON values), and the user name LookupEvents files it under."""
    identity, username = user_identity(e.principal)
    args = e.args
    params = {name: value for name, value in args.items() if name.lower() not in _AUTH_PARAMS} if args else None
    try:
        asked = _asked(e)
    except Exception:  # noqa: BLE001 - the event is recorded whatever its request held
        asked = {}
    if asked:
        params = {**(params or {}), **asked}
    sigv2 = e.signature_version == "AWS"
    signature = method = None
    if e.presigned is not None or sigv2:
        signature = "SigV2" if sigv2 else "SigV4"
        method = "QueryString" if (("Signature" in args) if sigv2 else e.presigned) else "AuthHeader"
    headers = e.headers
    parts = [S3_PARTS, _event_name(e), e.ended, identity, e.region, e.client_ip, headers.get("user-agent", ""),
             headers.get("host", ""), e.bucket, e.key, params or None, e.error_code, e.error_message, e.request_id,
             signature, method, e.received, e.sent, host_id]
    more: dict[str, Any] = {}  # (a 20th part, when there is any: records stored before it have 19)
    if e.error_code is None and e.method in ("PUT", "POST", "DELETE"):
        # what a change made, as CloudTrail's responseElements name it: the version written, its encryption
        made = {name: value for name, value in e.response_headers if name in _RESPONSE_ELEMENTS}
        if made:
            more["responseElements"] = made
    if e.acl_required:
        more["aclRequired"] = "Yes"
    if more:
        parts.append(more)
    return parts, username


# Request headers CloudTrail keeps in an S3 record's requestParameters (real records: "x-amz-acl": "private",
# "x-amz-server-side-encryption", "x-amz-storage-class" ...): what a detection of "made public", "unencrypted"
# looks for.
_RECORDED_HEADERS = ("x-amz-acl", "x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp",
                     "x-amz-grant-write-acp", "x-amz-grant-full-control", "x-amz-server-side-encryption",
                     "x-amz-storage-class", "x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date",
                     "x-amz-object-lock-legal-hold", "x-amz-bucket-object-lock-enabled", "x-amz-object-ownership",
                     "x-amz-bypass-governance-retention")


def _asked(e: Entry) -> dict[str, Any]:
    """What an S3 request asked for beyond its query: the headers above, and a bucket configuration's document
    (PutBucketPolicy's policy as ``bucketPolicy``; an XML document under its root element, as CloudTrail records
    ``PublicAccessBlockConfiguration``, ``LifecycleConfiguration``, ``AccessControlPolicy`` ...)."""
    # (reads -- most events -- send none of these headers and no document)
    if e.method in ("GET", "HEAD"):
        return {}
    asked: dict[str, Any] = {name: e.headers[name] for name in _RECORDED_HEADERS if name in e.headers}
    body = e.body
    if body and e.method in ("PUT", "POST") and e.operation is not None and e.operation not in S3_DATA_EVENTS:
        if e.operation == "PutBucketPolicy":
            try:
                asked["bucketPolicy"] = json.loads(body)
            except (ValueError, RecursionError):
                pass
        else:
            asked.update(_xml_document(body))
    return asked


def _xml_document(body: bytes) -> dict[str, Any]:
    """An XML document as CloudTrail writes one in requestParameters: its root element by name, each element a
    member (repeated ones a list), ``true``/``false`` and whole numbers as JSON values, and the namespace as
    ``xmlns``.  Whatever a body holds, the event is recorded: one that cannot be read so is left out."""
    try:
        root = xml.parse(body)
        document = _xml_value(root)
    except Exception:  # noqa: BLE001 - a body S3 refused: the event without its document
        return {}
    if isinstance(document, dict) and root.tag.startswith("{"):
        document = {"xmlns": root.tag[1:].partition("}")[0], **document}
    return {xml.local(root): document}


def _xml_value(element: Any) -> Any:
    children = list(element)
    if not children:
        text = (element.text or "").strip()
        if text in ("true", "false"):
            return text == "true"
        # a whole number as S3 writes one (ASCII digits, no leading zero, within JSON's 64-bit integers): "0042",
        # "³" or 5,000 digits stay text
        number = text.isascii() and text.isdigit() and len(text) <= 18 and (text == "0" or text[0] != "0")
        return int(text) if number else text
    out: dict[str, Any] = {}
    for child in children:
        name, item = xml.local(child), _xml_value(child)
        if name in out:
            out[name] = [*out[name], item] if isinstance(out[name], list) else [out[name], item]
        else:
            out[name] = item
    return out


def s3_record(parts: list[Any], account_id: str) -> dict[str, Any]:
    """An S3 event's CloudTrail record, made from its parts (:func:`s3_parts`)."""
    (_, name, ended, identity, region, ip, agent, host, bucket, key, args, error_code, error_message, request_id,
     signature, method, received, sent, host_id, *rest) = parts
    more: dict[str, Any] = rest[0] if rest else {}
    management = name not in S3_DATA_EVENTS
    record = _head(identity, ended, "s3.amazonaws.com", _S3_EVENT_NAMES.get(name, name), region, ip, agent,
                   error_code, error_message)
    params: dict[str, Any] = {}
    if bucket is not None:
        params["bucketName"] = bucket
    params["Host"] = host
    if key is not None:
        params["key"] = key
    if args:
        params.update(args)
    record["requestParameters"] = params
    record["responseElements"] = more.get("responseElements")
    extra: dict[str, Any] = {}
    if signature is not None:
        extra["SignatureVersion"] = signature
    extra["bytesTransferredIn"] = received
    if method is not None:
        extra["AuthenticationMethod"] = method
    extra["x-amz-id-2"] = host_id
    extra["bytesTransferredOut"] = sent
    if "aclRequired" in more:  # "Yes": the request needed an ACL to be allowed
        extra["aclRequired"] = more["aclRequired"]
    record["additionalEventData"] = extra
    resources: list[dict[str, str]] = []
    if bucket is not None:
        bucket_arn = f"arn:aws:s3:::{bucket}"
        if key is not None:
            resources.append({"type": "AWS::S3::Object", "ARN": f"{bucket_arn}/{key}"})
        resources.append({"accountId": account_id, "type": "AWS::S3::Bucket", "ARN": bucket_arn})
    _tail(record, request_id, name.startswith(_READ_PREFIXES), resources, management, account_id)
    return record


def expand(text: str, account_id: str, event_id: str) -> str:
    """A stored event's CloudTrail record: as stored, or made from its parts (a stored JSON list)."""
    if not text.startswith("["):
        return text
    parts = orjson.loads(text)
    if not parts or parts[0] != S3_PARTS:
        return text
    record = s3_record(parts, account_id)
    record["eventID"] = event_id
    return dumps(record)


def _s3_event(e: Entry, account_id: str, host_id: str, as_parts: bool) -> Event:
    parts, username = s3_parts(e, host_id)
    name = parts[1]
    bucket, key = e.bucket, e.key
    lookup: list[tuple[str, str]] = []
    if bucket is not None:
        if key is not None:
            lookup.append(("AWS::S3::Object", f"arn:aws:s3:::{bucket}/{key}"))
        lookup.append(("AWS::S3::Bucket", bucket))
    return Event(e.ended, _S3_EVENT_NAMES.get(name, name), "s3.amazonaws.com", name.startswith(_READ_PREFIXES),
                 name not in S3_DATA_EVENTS, username, e.principal.access_key_id, lookup,
                 {} if as_parts else s3_record(parts, account_id), bucket, e.status,
                 parts=parts if as_parts else None)


# -- IAM, STS, CloudTrail: the API's parameters, through botocore's model ---------------------------------------

# Request parameters that name a resource, and the resource type LookupEvents files the event under.
_RESOURCE_PARAMS = {
    "UserName": "AWS::IAM::User", "NewUserName": "AWS::IAM::User", "GroupName": "AWS::IAM::Group",
    "NewGroupName": "AWS::IAM::Group", "PolicyArn": "AWS::IAM::Policy", "PermissionsBoundary": "AWS::IAM::Policy",
    "AccessKeyId": "AWS::IAM::AccessKey", "RoleName": "AWS::IAM::Role", "RoleArn": "AWS::IAM::Role",
    "InstanceProfileName": "AWS::IAM::InstanceProfile",
    "OpenIDConnectProviderArn": "AWS::IAM::OIDCProvider",
}


def _api_details(record: dict[str, Any], e: Entry, with_response: bool, lookup: list[tuple[str, str]]) -> None:
    details = e.details
    ok = e.error_code is None
    params: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    if details is not None:
        op, raw_params, result = details
        if raw_params:
            params = _convert(op.input_shape, raw_params)
        if result and ok and with_response and op.output_shape is not None:
            response = _convert(op.output_shape, result)
        _api_resources(raw_params or {}, result if ok else None, lookup)
    record["requestParameters"] = params
    record["responseElements"] = response


def _api_resources(params: dict[str, Any], result: dict[str, Any] | None,
                   lookup: list[tuple[str, str]]) -> None:
    seen: set[tuple[str, str]] = set()
    found = [(kind, params.get(member)) for member, kind in _RESOURCE_PARAMS.items()]
    if result:  # what a create made: the new policy's ARN, the new key's id
        created = result.get("Policy") or {}
        found.append(("AWS::IAM::Policy", created.get("Arn") if isinstance(created, dict) else None))
        key = result.get("AccessKey") or {}
        found.append(("AWS::IAM::AccessKey", key.get("AccessKeyId") if isinstance(key, dict) else None))
        credentials = result.get("Credentials") or {}   # STS: the session's temporary key
        found.append(("AWS::IAM::AccessKey",
                      credentials.get("AccessKeyId") if isinstance(credentials, dict) else None))
    for kind, value in found:
        if isinstance(value, str) and value and (kind, value) not in seen:
            seen.add((kind, value))
            lookup.append((kind, value))


def _convert(shape: Any, value: Any) -> Any:
    """A value of a botocore shape in CloudTrail's words: lower-camel-case members, AWS's timestamps,
    sensitive members hidden."""
    if shape is None:
        return value
    if shape.metadata.get("sensitive"):
        return HIDDEN
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        out: dict[str, Any] = {}
        for member, member_shape in shape.members.items():
            if member in value and value[member] is not None:
                out[member[:1].lower() + member[1:]] = _convert(member_shape, value[member])
        return out
    if kind == "list" and isinstance(value, list):
        return [_convert(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _convert(shape.value, v) for k, v in value.items()}
    if kind == "timestamp" and isinstance(value, int | float):
        return ct_timestamp(float(value))
    return value


_FIRST_SECOND, _LAST_SECOND = -62135596800, 253402300799  # 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z


def ct_timestamp(t: float) -> str:
    """How CloudTrail writes timestamps inside IAM's responseElements: ``Oct 4, 2023, 9:44:23 PM``.  A time outside
    the years 1-9999 (a LookupEvents asked for 1e300) is written as the nearest one: the event was dropped."""
    tm = time.gmtime(min(max(t, _FIRST_SECOND), _LAST_SECOND))
    hour = tm.tm_hour % 12 or 12
    return (f"{_MONTHS[tm.tm_mon - 1]} {tm.tm_mday}, {tm.tm_year}, {hour}:{tm.tm_min:02d}:{tm.tm_sec:02d} "
            f"{'AM' if tm.tm_hour < 12 else 'PM'}")


@cache
def _error_names(service: str) -> dict[str, str]:
    """A Query-protocol error code → the exception name CloudTrail records (``NoSuchEntity`` →
    ``NoSuchEntityException``)."""
    if service not in ("iam", "sts"):
        return {}
    from storeroom.query import service_model
    names: dict[str, str] = {}
    for shape in service_model(service).error_shapes:
        code = shape.metadata.get("error", {}).get("code")
        if code:
            names[code] = shape.name
    return names


def _error_code(service: str, code: str) -> str:
    return _error_names(service).get(code, code)


# the standard library's encoder, for what orjson refuses (a lone surrogate, an integer past 64 bits)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(record: dict[str, Any] | list[Any]) -> str:
    """The record (or an event's parts) as compact JSON text, valid Unicode.  orjson: 1.3 µs for a GetObject
    record where the standard library takes 8.7 (same text: compact, non-ASCII as is)."""
    try:
        return orjson.dumps(record).decode()
    except TypeError:
        return valid_text(_ENCODER.encode(record))


def valid_text(text: str) -> str:
    """``text`` as valid Unicode: a lone surrogate (a client can send ``%ED%A0%80`` or JSON's ``\\ud800``) becomes
    U+FFFD, so that the event can be stored and exported as UTF-8 at all."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
