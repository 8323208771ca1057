"""S3 server access logging: PutBucketLogging / GetBucketLogging, and log objects delivered to the target bucket.

https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerLogs.html — "Server access logging provides
detailed records for the requests that are made to a bucket."

- **Configuration** (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketLogging.html): a
  ``BucketLoggingStatus`` with ``LoggingEnabled`` (TargetBucket, TargetPrefix, optional TargetObjectKeyFormat)
  turns logging on, an empty one turns it off.  As S3 checks: the target bucket must exist
  (``InvalidTargetBucketForLogging``), be in the same region (``CrossLocationLoggingProhibitted``), and let the
  logging service in, one of S3's two ways: its bucket policy allows the service principal
  ``logging.s3.amazonaws.com`` to ``s3:PutObject`` under the prefix
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html#grant-log-delivery-permissions-general;
  judged by the same policy engine as every request, with ``aws:SourceArn`` (the source bucket) and
  ``aws:SourceAccount`` set as S3 sets them), or, ACLs enabled on it, its ACL grants the Log Delivery group WRITE
  and READ_ACP (``log-delivery-write``).  ``TargetGrants`` are refused as S3 refuses them when the target's ACLs
  are disabled (bucket owner enforced, the default); on a target with ACLs they are kept (the source bucket's
  ``bucket_config`` row ``logging-grants``) and become each log object's ACL, beside the bucket owner's
  FULL_CONTROL.  An explicit ``SimplePrefix`` key format is remembered and read back, as S3 does.
- **Records** (https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html): one line per request on
  the bucket, space-separated fields in AWS's order, ``-`` for what does not apply; made by the audit writer
  thread from the same request entry as the CloudTrail event, kept in ``audit.sqlite3`` until delivered.
- **Delivery**: every ``STOREROOM_ACCESS_LOG_INTERVAL`` seconds (default 300; S3 delivers "within a few hours",
  usually minutes), one worker at a time (a file lock) writes each logged bucket's pending lines as an object
  ``<TargetPrefix>YYYY-mm-DD-HH-MM-SS-<UniqueString>`` (or the partitioned key format) in the target bucket: a
  blob fsynced and a metadata row committed, like any PUT.  The key is derived from the lines it holds, so a
  delivery interrupted by a crash is redone under the same key, not duplicated.

Deviations: a CopyObject is logged as one ``REST.COPY.OBJECT`` record (S3 adds a second for the read of the
source), DeleteObjects as one ``REST.POST.MULTI_OBJECT_DELETE`` record (S3 adds one ``BATCH.DELETE.OBJECT`` per
key); turn-around time is measured from the start of the request, body included.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from storeroom.audit.events import Entry, Event
from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.policy import AuthRequest, evaluate
from storeroom.s3 import acl, object_lock, xml
from storeroom.s3.document import read_body
from storeroom.s3.owner import canonical_user_id
from storeroom.store import generation
from storeroom.store.generation import GenerationCache
from storeroom.store.meta import Bucket, ObjectRecord
from storeroom.store.space import FailureReport
from storeroom.store.sql import Conn

if TYPE_CHECKING:
    from storeroom.audit.log import AuditLog
    from storeroom.s3.service import S3Call, S3Service

log = logging.getLogger("storeroom")

LOGGING_SERVICE = "logging.s3.amazonaws.com"
LOGGING_NS = "http://doc.s3.amazonaws.com/2006-03-01"
DELIVERY_INTERVAL = float(os.environ.get("STOREROOM_ACCESS_LOG_INTERVAL", "300"))
MAX_LINES_PER_OBJECT = 10_000
GRANTS_CONFIG = "logging-grants"  # the source bucket's bucket_config row of its TargetGrants (JSON)
MAX_BODY = 64 * 1024
_BUCKET, _SERVICE = Entry._fields.index("bucket"), Entry._fields.index("service")


@dataclass(frozen=True, slots=True)
class Target:
    bucket: str
    prefix: str
    # "simple" (no TargetObjectKeyFormat given), "simple-prefix" (SimplePrefix given: S3 echoes it), or
    # "partitioned:EventTime" / "partitioned:DeliveryTime"
    key_format: str = "simple"
    # TargetGrants: the ACL grants of each log object, beside the bucket owner's FULL_CONTROL (s3/acl.py's Grant)
    grants: tuple[tuple[str, ...], ...] = ()


# -- the API -------------------------------------------------------------------------------------------------

async def put_bucket_logging(call: S3Call) -> Response:

    assert call.bucket is not None
    source = await call.existing_bucket()
    body = await read_body(call, MAX_BODY)  # its Content-MD5 or checksum, if given, must match
    target = _parse_status(body, canonical_user_id(call.s3.account_id))
    if target is not None:
        await _check_target(call, source.region, target)
    await logging_of(call.s3).store(call.bucket, target)
    return Response(200, [])


async def get_bucket_logging(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    target = await logging_of(call.s3).target(call.bucket)
    inner = ""
    if target is not None:
        grants = "".join(acl.grant_xml(list(grant)) for grant in target.grants)
        inner = ("<LoggingEnabled>" + xml.tag("TargetBucket", target.bucket)
                 + (f"<TargetGrants>{grants}</TargetGrants>" if grants else "")
                 + xml.tag("TargetPrefix", target.prefix) + _key_format_xml(target.key_format) + "</LoggingEnabled>")
    # S3 answers logging in a namespace of its own (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLogging.html)
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<BucketLoggingStatus xmlns="{LOGGING_NS}">{inner}'
            "</BucketLoggingStatus>")
    return Response(200, [("content-type", "application/xml")], body.encode())


def _key_format_xml(key_format: str) -> str:
    if key_format == "simple":
        return ""
    if key_format == "simple-prefix":
        return "<TargetObjectKeyFormat><SimplePrefix/></TargetObjectKeyFormat>"
    source = key_format.partition(":")[2]
    return ("<TargetObjectKeyFormat><PartitionedPrefix>" + xml.tag("PartitionDateSource", source)
            + "</PartitionedPrefix></TargetObjectKeyFormat>")


def _parse_status(body: bytes, owner_id: str) -> Target | None:
    """The target asked for (None: logging off)."""
    root = xml.parse(body)
    if xml.local(root) != "BucketLoggingStatus":
        raise AwsError("MalformedXML")
    enabled = xml.children(root, "LoggingEnabled")
    if not enabled:
        return None
    element = enabled[0]
    bucket, prefix = xml.child_text(element, "TargetBucket"), xml.child_text(element, "TargetPrefix")
    if bucket is None or prefix is None:
        raise AwsError("MalformedXML")
    found = xml.children(element, "TargetGrants")
    if len(found) > 1:
        raise AwsError("MalformedXML")
    grants = acl.parse_target_grants(found[0], owner_id) if found else []
    key_format = "simple"
    formats = xml.children(element, "TargetObjectKeyFormat")
    if formats:
        partitioned = xml.children(formats[0], "PartitionedPrefix")
        if partitioned:
            source = xml.child_text(partitioned[0], "PartitionDateSource") or "EventTime"
            if source not in ("EventTime", "DeliveryTime"):
                raise AwsError("MalformedXML")
            key_format = f"partitioned:{source}"
        elif xml.children(formats[0], "SimplePrefix"):
            key_format = "simple-prefix"
        else:
            raise AwsError("MalformedXML")
    return Target(bucket, prefix, key_format, tuple(tuple(g) for g in grants))


async def _check_target(call: S3Call, source_region: str, target: Target) -> None:
    found = await call.meta.get_bucket(target.bucket)
    if found is None:
        raise AwsError("InvalidTargetBucketForLogging", "The target bucket for logging does not exist", 400,
                       TargetBucket=target.bucket)
    if target.grants and not acl.acls_enabled(found):
        # https://docs.aws.amazon.com/AmazonS3/latest/API/API_TargetGrant.html: "Buckets that use the bucket owner
        # enforced setting for Object Ownership don't support target grants."
        raise AwsError("AccessControlListNotSupported", "The target bucket does not allow ACLs", 400)
    if found.region != source_region:
        raise AwsError("CrossLocationLoggingProhibitted", "Cross S3 location logging not allowed. ", 403,
                       TargetBucketLocation=found.region)
    from storeroom.s3.service import MAX_KEY_BYTES  # (service imports this module)

    longest = object_key(target, call.s3.account_id, source_region, call.bucket or "", time.time(), "0" * 16)
    if len(longest.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        # its logs would be objects no GET or DELETE can name (KeyTooLongError), piling up at every delivery
        raise AwsError("InvalidArgument", f"The TargetPrefix is too long: the log objects' keys would exceed "
                       f"{MAX_KEY_BYTES} bytes.", ArgumentName="TargetPrefix")
    if object_lock.loads(found.object_lock) is not None:
        # "The destination bucket must not have an S3 Object Lock default retention period configuration"
        # (S3 User Guide, enabling server access logging).  The message is ours: AWS does not document it.
        raise AwsError("InvalidTargetBucketForLogging", "The target bucket for logging must not have an Object Lock "
                       "default retention period configuration", 400, TargetBucket=target.bucket)
    # Whether the target lets the logging service in is not asked here: S3 takes a target without a policy or
    # grant for it, with ACLs or without (LocalStack's AWS recordings: test_s3.py TestS3BucketLogging::
    # test_put_bucket_logging, ::test_put_bucket_logging_accept_wrong_grants); each delivery asks it.


async def delivery_allowed(s3: S3Service, account_id: str, source: str, target: Target, bucket: Bucket) -> bool:
    """May the logging service put the source bucket's logs under the target's prefix?  Either way S3 names:
    the target bucket's policy allows it, or (ACLs enabled on the target) its ACL grants the Log Delivery group
    WRITE and READ_ACP.  A policy statement that denies it outweighs the grant, as a Deny outweighs any Allow.
    ``bucket``: the target's row, which the caller has read."""
    verdict = None
    policy = await s3.authorizer.bucket_policy(target.bucket)
    if policy is not None:
        key = object_key(target, account_id, s3.settings.region, source, time.time(), "0" * 16)
        context = {"aws:sourcearn": (f"arn:aws:s3:::{source}",), "aws:sourceaccount": (account_id,),
                   "aws:principalservicename": (LOGGING_SERVICE,)}
        request = AuthRequest("s3:PutObject", f"arn:aws:s3:::{target.bucket}/{key}", "Service",
                              f"Service:{LOGGING_SERVICE}", "", context)
        verdict = evaluate(request, None, policy, account_id, explain=False).decision
    if verdict is not None and verdict != "implicitDeny":
        return verdict == "allowed"
    return acl.acls_enabled(bucket) and acl.log_delivery_granted(await acl.bucket_grants(s3.meta, target.bucket))


# -- configuration storage -------------------------------------------------------------------------------------

def logging_of(s3: S3Service) -> AccessLogging:
    found = s3.access_logging
    if not isinstance(found, AccessLogging):
        raise AwsError("InternalError", "We encountered an internal error. Please try again.", 500)
    return found


class AccessLogging:
    """The configuration, the records' hand-over from the audit log, and delivery; one per worker process."""

    def __init__(self, s3: S3Service, audit: AuditLog) -> None:
        self.s3 = s3
        self.meta = s3.meta
        self.audit = audit
        self.account_id = s3.account_id
        self.owner_id = canonical_user_id(s3.account_id)
        self._targets: GenerationCache[str, Target | None] = GenerationCache(self.meta.buckets_generation,
                                                                             self._load)
        self._task: asyncio.Task[None] | None = None
        s3.access_logging = self
        audit.logged_buckets = self.logged_buckets
        audit.access_line = self.line

    async def _load(self, bucket: str) -> Target | None:
        row = await self.meta.db.read.one(
            "SELECT target_bucket, target_prefix, key_format, (SELECT value FROM bucket_config WHERE bucket = ? AND "
            f"name = '{GRANTS_CONFIG}') FROM bucket_logging WHERE bucket = ?", (bucket, bucket))
        if row is None:
            return None
        grants = tuple(tuple(grant) for grant in json.loads(row[3])) if row[3] else ()
        return Target(row[0], row[1], row[2], grants)

    async def target(self, bucket: str) -> Target | None:
        return await self._targets.get(bucket)

    async def store(self, bucket: str, target: Target | None) -> None:
        """Set (or with None clear) the bucket's logging; every worker's cache sees it at its next request."""
        async def job(conn: Conn) -> bool:
            if await conn.one("SELECT 1 FROM buckets WHERE name = ?", (bucket,)) is None:
                return False
            await conn.run(f"DELETE FROM bucket_config WHERE bucket = ? AND name = '{GRANTS_CONFIG}'", (bucket,))
            if target is None:
                await conn.run("DELETE FROM bucket_logging WHERE bucket = ?", (bucket,))
                return True
            await conn.run("INSERT INTO bucket_logging VALUES (?, ?, ?, ?) ON CONFLICT(bucket) DO UPDATE SET "
                           "target_bucket = excluded.target_bucket, target_prefix = excluded.target_prefix, "
                           "key_format = excluded.key_format",
                           (bucket, target.bucket, target.prefix, target.key_format))
            if target.grants:
                await conn.run(f"INSERT INTO bucket_config(bucket, name, value) VALUES (?, '{GRANTS_CONFIG}', ?)",
                               (bucket, json.dumps([list(grant) for grant in target.grants])))
            return True
        stored = await self.meta.db.write(job, bump=(generation.BUCKETS,))
        if not stored:
            raise AwsError("NoSuchBucket", BucketName=bucket)

    # -- from the audit log ------------------------------------------------------------------------------------

    async def logged_buckets(self, entries: Sequence[tuple[Any, ...]]) -> frozenset[str]:
        """Which buckets of a batch have logging on (loop thread: the configuration cache lives here)."""
        found: set[str] = set()
        seen: set[str] = set()
        for raw in entries:
            bucket = raw[_BUCKET]
            if bucket is None or raw[_SERVICE] != "s3" or bucket in seen:
                continue
            seen.add(bucket)
            if await self.target(bucket) is not None:
                found.add(bucket)
        return frozenset(found)

    def line(self, entry: Entry, event: Event) -> str:
        """The request's record in S3's server access log format (writer thread)."""
        return access_log_line(entry, event, self.owner_id, self.audit.host_id)

    # -- delivery ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        report = FailureReport(log, "server access logging: delivery")
        while True:
            await asyncio.sleep(DELIVERY_INTERVAL)
            try:
                await self.deliver()
                report.succeeded()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - delivery is retried at the next interval
                report.failed(exc)

    async def deliver(self) -> int:
        """Deliver every pending line (if no other worker, on any node, is delivering); returns the objects
        written."""
        async with self.audit.db.exclusive("access-log") as mine:
            if not mine:
                return 0
            written = 0
            for (bucket,) in await self.audit.db.read.all("SELECT DISTINCT bucket FROM access_log_lines"):
                written += await self._deliver_bucket(bucket)
            return written

    async def _deliver_bucket(self, source: str) -> int:
        written = 0
        while True:
            rows = await self.audit.db.read.all(
                "SELECT id, time, line FROM access_log_lines WHERE bucket = ? ORDER BY id LIMIT ?",
                (source, MAX_LINES_PER_OBJECT))
            if not rows:
                return written
            target = await self.target(source)
            bucket = None if target is None else await self.meta.get_bucket(target.bucket)
            # S3 delivers only while the target exists and lets the logging service write
            if target is not None and bucket is not None:
                if await delivery_allowed(self.s3, self.account_id, source, target, bucket):
                    for day_rows in _by_day(rows) if target.key_format == "partitioned:EventTime" else [rows]:
                        await self._put(source, target, day_rows)
                        written += 1
                else:
                    log.warning("access logs of bucket %s dropped: bucket %s does not let the logging service "
                                "write under %r (it needs a bucket policy allowing logging.s3.amazonaws.com "
                                "s3:PutObject, or ACLs granting the Log Delivery group WRITE and READ_ACP)",
                                source, target.bucket, target.prefix)
            await self._forget(source, rows[0][0], rows[-1][0])

    async def _forget(self, source: str, first: int, last: int) -> None:
        await self.audit.db.write(lambda conn: conn.run(
            "DELETE FROM access_log_lines WHERE bucket = ? AND id >= ? AND id <= ?", (source, first, last)),
            serializable=False)

    async def _put(self, source: str, target: Target, rows: list[Any]) -> None:
        data = ("".join(f"{line}\n" for _, _, line in rows)).encode()
        unique = hashlib.sha256(f"{source}:{rows[0][0]}".encode()).hexdigest()[:16].upper()
        # the key's time: the day of the records, at 00:00:00, for EventTime ("the hour, minutes and seconds are
        # set to 00 in the key"); else the delivery's, as the last record's time tells it -- not the clock's: a
        # delivery retried after a failure writes the same key again, never a second copy of its records
        when = rows[0][1] // DAY * DAY if target.key_format == "partitioned:EventTime" else rows[-1][1]
        key = object_key(target, self.account_id, self.s3.settings.region, source, when, unique)
        md5 = hashlib.md5(usedforsecurity=False)
        writer = self.s3.blobs.new_writer([md5], len(data))
        try:
            await writer.write(data)
            await writer.commit()
        except BaseException:
            writer.discard()
            raise
        grants = [acl.owner_grant(self.owner_id), *map(list, target.grants)] if target.grants else None
        record = ObjectRecord(target.bucket, key, len(data), md5.hexdigest(), time.time(),
                              [(writer.blob_id, len(data))], {"content-type": "text/plain"}, acl=grants)
        outcome, freed = await self.meta.put_object(record)
        if outcome != "ok":
            self.s3.blobs.delete([writer.blob_id])
            return
        self.s3.blobs.delete(freed)


DAY = 86400


def _by_day(rows: list[Any]) -> list[list[Any]]:
    """Rows (id, time, line) in id order, cut where the day of their time changes: one log object per day."""
    days: list[list[Any]] = []
    for row in rows:
        if days and days[-1][0][1] // DAY == row[1] // DAY:
            days[-1].append(row)
        else:
            days.append([row])
    return days


def object_key(target: Target, account_id: str, region: str, source: str, when: float, unique: str) -> str:
    """``[TargetPrefix]YYYY-mm-DD-HH-MM-SS-[UniqueString]``, or with a partitioned prefix
    ``[TargetPrefix][SourceAccountId]/[SourceRegion]/[SourceBucket]/[YYYY]/[MM]/[DD]/YYYY-mm-DD-HH-MM-SS-[UniqueString]``
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ServerLogs.html#server-log-keyname-format)."""
    tm = time.gmtime(when)
    name = time.strftime("%Y-%m-%d-%H-%M-%S", tm) + f"-{unique}"
    if not target.key_format.startswith("partitioned:"):
        return target.prefix + name
    return (f"{target.prefix}{account_id}/{region}/{source}/{tm.tm_year:04d}/{tm.tm_mon:02d}/{tm.tm_mday:02d}/"
            f"{name}")


# -- the record ------------------------------------------------------------------------------------------------

# S3's operation names in access logs (REST.<method>.<resource type>)
_OPERATIONS = {
    "GetObject": "REST.GET.OBJECT", "PutObject": "REST.PUT.OBJECT", "HeadObject": "REST.HEAD.OBJECT",
    "DeleteObject": "REST.DELETE.OBJECT", "CopyObject": "REST.COPY.OBJECT", "ListObjects": "REST.GET.BUCKET",
    "ListObjectsV2": "REST.GET.BUCKET", "ListObjectVersions": "REST.GET.BUCKETVERSIONS",
    "HeadBucket": "REST.HEAD.BUCKET", "CreateBucket": "REST.PUT.BUCKET", "DeleteBucket": "REST.DELETE.BUCKET",
    "GetBucketLocation": "REST.GET.LOCATION", "GetBucketVersioning": "REST.GET.VERSIONING",
    "GetBucketAcl": "REST.GET.ACL", "GetObjectAcl": "REST.GET.ACL", "GetBucketPolicy": "REST.GET.BUCKETPOLICY",
    "PutBucketPolicy": "REST.PUT.BUCKETPOLICY", "DeleteBucketPolicy": "REST.DELETE.BUCKETPOLICY",
    "GetBucketPolicyStatus": "REST.GET.POLICY_STATUS", "DeleteObjects": "REST.POST.MULTI_OBJECT_DELETE",
    "CreateMultipartUpload": "REST.POST.UPLOADS", "UploadPart": "REST.PUT.PART",
    "UploadPartCopy": "REST.COPY.PART", "CompleteMultipartUpload": "REST.POST.UPLOAD",
    "AbortMultipartUpload": "REST.DELETE.UPLOAD", "ListParts": "REST.GET.UPLOAD",
    "ListMultipartUploads": "REST.GET.UPLOADS", "GetBucketLogging": "REST.GET.LOGGING_STATUS",
    "PutBucketLogging": "REST.PUT.LOGGING_STATUS", "PutBucketVersioning": "REST.PUT.VERSIONING",
    "GetObjectTagging": "REST.GET.OBJECT_TAGGING", "PutObjectTagging": "REST.PUT.OBJECT_TAGGING",
    "DeleteObjectTagging": "REST.DELETE.OBJECT_TAGGING", "GetBucketTagging": "REST.GET.TAGGING",
    "PutBucketTagging": "REST.PUT.TAGGING", "DeleteBucketTagging": "REST.DELETE.TAGGING",
    "GetBucketLifecycleConfiguration": "REST.GET.LIFECYCLE", "PutBucketLifecycleConfiguration": "REST.PUT.LIFECYCLE",
    "DeleteBucketLifecycle": "REST.DELETE.LIFECYCLE", "PutBucketAcl": "REST.PUT.ACL", "PutObjectAcl": "REST.PUT.ACL",
    "GetBucketOwnershipControls": "REST.GET.OWNERSHIP_CONTROLS",
    "PutBucketOwnershipControls": "REST.PUT.OWNERSHIP_CONTROLS",
    "DeleteBucketOwnershipControls": "REST.DELETE.OWNERSHIP_CONTROLS",
    "GetPublicAccessBlock": "REST.GET.PUBLIC_ACCESS_BLOCK", "PutPublicAccessBlock": "REST.PUT.PUBLIC_ACCESS_BLOCK",
    "DeletePublicAccessBlock": "REST.DELETE.PUBLIC_ACCESS_BLOCK", "GetBucketCors": "REST.GET.CORS",
    "PutBucketCors": "REST.PUT.CORS", "DeleteBucketCors": "REST.DELETE.CORS",
    "PreflightRequest": "REST.OPTIONS.PREFLIGHT", "PostObject": "REST.POST.OBJECT",
}


# The other operations are named as S3 names them, after their sub-resource: REST.GET.ENCRYPTION,
# REST.PUT.LEGAL_HOLD, REST.GET.REQUEST_PAYMENT, REST.POST.RESTORE... (seen in real logs: REST.GET.ENCRYPTION,
# REST.GET.OBJECT_LOCK_CONFIGURATION, REST.GET.OBJECT_ATTRIBUTES, REST.POST.RESTORE, REST.GET.WEBSITE...).  A
# generic REST.PUT.BUCKET would log a bucket created, REST.DELETE.BUCKET one deleted, that never were.
_SUBRESOURCE_NAMES = {"object-lock": "OBJECT_LOCK_CONFIGURATION", "attributes": "OBJECT_ATTRIBUTES"}


@functools.cache
def _by_subresource() -> dict[str, str]:
    from storeroom.s3.operations import OPERATIONS  # (that module imports this one)

    def name(sub: str) -> str:
        return _SUBRESOURCE_NAMES.get(sub) or re.sub(r"(?<=[a-z])(?=[A-Z])", "_", sub).replace("-", "_").upper()
    return {op.name: f"REST.{op.method}.{name(op.subresource)}" for op in OPERATIONS if op.subresource}


_ARN_REQUESTERS = frozenset({"IAMUser", "AssumedRole"})


def access_log_line(e: Entry, event: Event, owner_id: str, host_id: str) -> str:
    principal = e.principal
    # the account's canonical id for root, the caller's ARN for a user or a role session
    # (arn:aws:sts::…:assumed-role/role/session), "-" for the anonymous
    requester = owner_id if principal.type == "Root" else principal.arn if principal.type in _ARN_REQUESTERS else "-"
    operation = _OPERATIONS.get(e.operation or "") or _by_subresource().get(e.operation or "") or \
        f"REST.{e.method}.{'OBJECT' if e.key is not None else 'BUCKET'}"
    target = e.raw_path + (f"?{e.raw_query}" if e.raw_query else "")
    extra = event.record.get("additionalEventData") or {}
    fields = [
        owner_id,
        e.bucket or "-",
        time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", time.gmtime(e.started)),
        _field(e.client_ip),
        requester,
        e.request_id,
        operation,
        quote(e.key, safe="/") if e.key is not None else "-",
        _quoted(f"{e.method} {target} HTTP/{e.http_version}"),
        str(e.status),
        e.error_code or "-",
        str(e.sent) if e.sent else "-",
        _object_size(e),
        str(max(0, int((e.ended - e.started) * 1000))),
        str(max(0, int((e.responded - e.started) * 1000))),
        _quoted(e.headers.get("referer", "-")),
        _quoted(e.headers.get("user-agent", "-")),
        _field(_version_field(e)),
        host_id,
        extra.get("SignatureVersion", "-"),
        "-",                                  # cipher suite: plain HTTP
        extra.get("AuthenticationMethod", "-"),
        _field(e.headers.get("host")),
        "-",                                  # TLS version
        "-",                                  # access point ARN
        "Yes" if e.acl_required else "-",     # aclRequired: allowed by an ACL grant alone
        "-",                                  # source region: not from an AWS region
    ]
    return " ".join(fields)


def lifecycle_log_line(owner_id: str, bucket: str, when: float, request_id: str, operation: str, key: str,
                       version_id: str | None, size: int, host_id: str) -> str:
    """The record of a lifecycle action: S3 logs it with its own operation (``S3.EXPIRE.OBJECT``,
    ``S3.CREATE.DELETEMARKER``, ``S3.DELETE.UPLOAD``), as requester ``AmazonS3``, and ``-`` for every field of
    a request it did not receive."""
    fields = [owner_id, bucket, time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", time.gmtime(when)), "-", "AmazonS3",
              request_id, operation, quote(key, safe="/"), "-", "-", "-", "-", str(size) if size else "-", "-", "-",
              "-", "-", version_id or "-", host_id, "-", "-", "-", "-", "-", "-", "-", "-"]
    return " ".join(fields)


# What the caller sends is written so that it cannot end a record or a field, nor fake another (a versionId with
# a line break wrote a whole forged record, found by fuzzing): control characters are percent-encoded, and so, in
# an unquoted field, are the space, the quote and the backslash
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_UNQUOTABLE = re.compile('[\x00-\x20\x7f"\\\\]')


def _escaped(match: re.Match[str]) -> str:
    return f"%{ord(match.group()):02X}"


def _quoted(value: str) -> str:
    return '"' + _CONTROL.sub(_escaped, value.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def _field(value: str | None) -> str:
    return _UNQUOTABLE.sub(_escaped, value) if value else "-"


def _version_field(e: Entry) -> str:
    """The version the request named (``versionId``), or that its write made (``x-amz-version-id``)."""
    named = e.args.get("versionId")
    if named:
        return named
    return dict(e.response_headers).get("x-amz-version-id", "-")


def _object_size(e: Entry) -> str:
    if e.operation in ("PutObject", "UploadPart"):
        decoded = e.headers.get("x-amz-decoded-content-length")  # a number only on an aws-chunked body
        return decoded if decoded is not None and decoded.isascii() and decoded.isdigit() else (
            str(e.received) if e.received else "-")
    if e.operation in ("GetObject", "HeadObject"):
        values = dict(e.response_headers)
        ranged = values.get("content-range")
        if ranged and "/" in ranged:
            return ranged.rpartition("/")[2]
        return values.get("content-length", "-")
    return "-"
