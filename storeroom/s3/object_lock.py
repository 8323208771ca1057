"""Object Lock (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html): a bucket's configuration
(Put/GetObjectLockConfiguration, CreateBucket's ``x-amz-bucket-object-lock-enabled``), a version's retention and
legal hold (Put/GetObjectRetention, Put/GetObjectLegalHold, the ``x-amz-object-lock-*`` headers of PutObject,
CreateMultipartUpload, CopyObject and POST forms), and what GET/HEAD show of them.

Where it is kept: the configuration as JSON in ``bucket_config`` ('object-lock': ``{}`` or ``{"mode", "days" |
"years"}``), read with the bucket's cached record; a version's lock in its row's ``doc`` (store/locks.py).
Where it is enforced: store/locks.py's rule, applied by the transaction that would remove a version
(store/versions.py ``remove_version``: DELETE ?versionId, DeleteObjects, lifecycle), and here for changes of a
retention.  A lock bucket's versioning stays Enabled (s3/versioning.py), so no write replaces a version in place.

S3's answers (AWS's pages, and S3's answers as recorded by projects that test against it):

- GetObjectLockConfiguration of a bucket without it: 404 ``ObjectLockConfigurationNotFoundError`` "Object Lock
  configuration does not exist for this bucket".
- PutObjectLockConfiguration: ``ObjectLockEnabled`` must be ``Enabled``, a ``Rule`` has one ``DefaultRetention``
  with a ``Mode`` (GOVERNANCE | COMPLIANCE) and exactly one of ``Days`` / ``Years`` ("You cannot specify Days and
  Years at the same time"), else ``MalformedXML``; a period that is not positive is 400 ``InvalidArgument``
  "Default retention period must be a positive integer value."; on a bucket without Object Lock it is enabled
  when versioning is Enabled ("You can enable Object Lock for new or existing buckets",
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectLockConfiguration.html), else 409
  ``InvalidBucketState`` "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration".
  Once enabled it cannot be disabled.
- Retention and legal hold requests on a bucket without Object Lock: 400 ``InvalidRequest`` "Bucket is missing
  Object Lock Configuration"; reading them on a version that has none: 404 ``NoSuchObjectLockConfiguration``
  "The specified object does not have a ObjectLock configuration".
- "You can extend a retention period ... Any user with permissions to place an object retention period can extend
  a retention period"; shortening or removing one, or turning COMPLIANCE into GOVERNANCE, is refused -- in
  GOVERNANCE mode unless the caller sends ``x-amz-bypass-governance-retention: true`` and may
  ``s3:BypassGovernanceRetention``: 403 ``AccessDenied`` "Access Denied because object protected by object lock."
  (the answer to a delete of a locked version too).
- The write headers: "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
  "Unknown wormMode directive.", "The retain until date must be in the future!", "Legal Hold must be either of
  'ON' or 'OFF'" (400 ``InvalidArgument``); on a bucket without Object Lock, ``InvalidRequest`` as above.  "The
  Content-MD5 or x-amz-sdk-checksum-algorithm header is required for any request to upload an object with a
  retention period configured using Amazon S3 Object Lock" (API_PutObject.html): 400 ``InvalidRequest``
  "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"
  (and "for Put Part requests" for the parts of such an upload); the bucket's default retention counts.
- Writing the headers needs ``s3:PutObjectRetention`` / ``s3:PutObjectLegalHold`` besides ``s3:PutObject``;
  GET and HEAD answer ``x-amz-object-lock-mode``, ``-retain-until-date`` and ``-legal-hold`` only to callers
  allowed ``s3:GetObjectRetention`` / ``s3:GetObjectLegalHold`` ("If you don't have the s3:GetObjectRetention
  permission, these headers are not returned", API_HeadObject.html).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from storeroom import clock
from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.numbers import parse_int
from storeroom.s3 import xml
from storeroom.s3.document import only_child_text, read_document
from storeroom.store.locks import COMPLIANCE, GOVERNANCE, MODES, protected
from storeroom.store.meta import Bucket, ObjectRecord

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

XML_HEADERS = [("content-type", "application/xml")]
LOCKED = "Access Denied because object protected by object lock."
DAY_MS = 86_400_000
# Storeroom's bounds of a default retention: 100 years, as S3 documents for its console and other S3 servers check
MAX_DAYS, MAX_YEARS = 36_500, 100
MODE_HEADER = "x-amz-object-lock-mode"
UNTIL_HEADER = "x-amz-object-lock-retain-until-date"
HOLD_HEADER = "x-amz-object-lock-legal-hold"
BYPASS_HEADER = "x-amz-bypass-governance-retention"


def locked_error() -> AwsError:
    return AwsError("AccessDenied", LOCKED)


def _missing_configuration() -> AwsError:
    return AwsError("InvalidRequest", "Bucket is missing Object Lock Configuration")


def now_ms() -> int:
    """The time retention is judged by (storeroom/clock.py: the real time, shifted only by the tests' clock)."""
    return int(clock.now() * 1000)


def iso(ms: int) -> str:
    """``2030-01-01T00:00:00.000Z``, as S3 writes a retain-until date (milliseconds kept)."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


_EPOCH, _MS = datetime(1970, 1, 1, tzinfo=UTC), timedelta(milliseconds=1)


def parse_date(text: str) -> int | None:
    """An ISO 8601 date-time (``Z`` or an offset; without one, UTC) in epoch milliseconds; None if it is none."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:  # 9999-12-31T23:59:59-23:59 is in the year 10000 in UTC: no date S3 (nor iso()) can write
        when.astimezone(UTC)
    except OverflowError:
        return None
    return (when - _EPOCH) // _MS  # exact, sub-milliseconds dropped


# -- the bucket's configuration ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Rule:
    """A default retention: the mode and the period new versions get."""

    mode: str
    days: int | None = None
    years: int | None = None

    def until(self, now: int) -> int:
        """The retain-until date of a version made at ``now`` (ms); a year is 365 days."""
        return now + (self.days if self.days is not None else 365 * (self.years or 0)) * DAY_MS


def loads(text: str | None) -> Rule | None:
    """The default retention of a stored configuration (None: none, or no configuration)."""
    if not text:
        return None
    data = json.loads(text)
    return Rule(data["mode"], data.get("days"), data.get("years")) if data.get("mode") else None


def dumps(rule: Rule | None) -> str:
    if rule is None:
        return "{}"
    return json.dumps({"mode": rule.mode, **({"days": rule.days} if rule.days is not None else {"years": rule.years})})


def _period(text: str | None, name: str, maximum: int) -> int | None:
    if text is None:
        return None
    value = parse_int(text.strip())  # ASCII digits only: "1_0" and "٣" are no number (MalformedXML)
    if value is None:
        raise AwsError("MalformedXML")
    if value <= 0:
        raise AwsError("InvalidArgument", "Default retention period must be a positive integer value.",
                       ArgumentName=name, ArgumentValue=text.strip())
    if value > maximum:
        raise AwsError("InvalidArgument", f"Default retention period cannot exceed {maximum} {name.lower()}.",
                       ArgumentName=name, ArgumentValue=text.strip())
    return value


def parse_rule(element: Element) -> Rule:
    retentions = xml.children(element, "DefaultRetention")
    if len(retentions) != 1 or len(element) != 1:
        raise AwsError("MalformedXML")
    retention = retentions[0]
    if any(xml.local(c) not in ("Mode", "Days", "Years") for c in retention):
        raise AwsError("MalformedXML")
    mode = only_child_text(retention, "Mode")
    days_text, years_text = only_child_text(retention, "Days"), only_child_text(retention, "Years")
    if mode not in MODES or (days_text is None) == (years_text is None):
        raise AwsError("MalformedXML")
    return Rule(mode, _period(days_text, "Days", MAX_DAYS), _period(years_text, "Years", MAX_YEARS))


async def put_object_lock_configuration(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    # no body: moto's AWS-verified test_put_object_lock_misconfiguration
    root = await read_document(call, "ObjectLockConfiguration", required=True, empty_is_missing=True)
    if any(xml.local(c) not in ("ObjectLockEnabled", "Rule") for c in root):
        raise AwsError("MalformedXML")
    if only_child_text(root, "ObjectLockEnabled") != "Enabled":
        raise AwsError("MalformedXML")  # it cannot be turned off, nor left out
    rules = xml.children(root, "Rule")
    if len(rules) > 1:
        raise AwsError("MalformedXML")
    rule = parse_rule(rules[0]) if rules else None

    def check(bucket: Bucket) -> None:
        if bucket.object_lock is None and bucket.versioning != "Enabled":
            raise AwsError("InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object "
                           "Lock configuration", 409)
    if not await call.meta.put_object_lock(call.bucket, dumps(rule), check):
        raise AwsError("NoSuchBucket", BucketName=call.bucket)
    return Response(200)


async def get_object_lock_configuration(call: S3Call) -> Response:
    assert call.bucket is not None
    bucket = await call.existing_bucket()
    if bucket.object_lock is None:
        raise AwsError("ObjectLockConfigurationNotFoundError",
                       "Object Lock configuration does not exist for this bucket", 404, BucketName=call.bucket)
    rule = loads(bucket.object_lock)
    inner = "<ObjectLockEnabled>Enabled</ObjectLockEnabled>"
    if rule is not None:
        inner += ("<Rule><DefaultRetention>" + xml.tag("Mode", rule.mode) + xml.tag("Days", rule.days)
                  + xml.tag("Years", rule.years) + "</DefaultRetention></Rule>")
    return Response(200, list(XML_HEADERS), xml.document("ObjectLockConfiguration", inner))


def creation_requested(call: S3Call) -> bool:
    """CreateBucket's ``x-amz-bucket-object-lock-enabled: true``."""
    return call.headers.get("x-amz-bucket-object-lock-enabled", "").strip().lower() == "true"


# -- a version's retention and legal hold ------------------------------------------------------------------------

def refuse_bypass_without_lock(call: S3Call, bucket: Bucket) -> None:
    """The bypass header, ``true`` or ``false``, on a bucket without Object Lock is S3's 400 (LocalStack's
    AWS-recorded delete-object-bypass-no-lock, delete-objects-bypass-no-lock): the client believes in a lock
    that is not there."""
    if bucket.object_lock is None and BYPASS_HEADER in call.headers:
        raise AwsError("InvalidArgument", "x-amz-bypass-governance-retention is only applicable to Object Lock "
                       "enabled buckets.", ArgumentName=BYPASS_HEADER, ArgumentValue=call.headers[BYPASS_HEADER])


async def _lock_bucket(call: S3Call) -> Bucket:
    bucket = await call.existing_bucket()
    if bucket.object_lock is None:
        raise _missing_configuration()
    return bucket


async def _version(call: S3Call) -> ObjectRecord:
    from storeroom.s3.objects import existing_version
    return await existing_version(call)


def _no_lock() -> AwsError:
    return AwsError("NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration",
                    404)


def _version_headers(call: S3Call, record: ObjectRecord) -> list[tuple[str, str]]:
    return [("x-amz-version-id", record.version_id)] if "versionId" in call.args else []


async def get_object_retention(call: S3Call) -> Response:
    await _lock_bucket(call)
    record = await _version(call)
    if record.retention is None:
        raise _no_lock()
    mode, until = record.retention
    return Response(200, list(XML_HEADERS), xml.document(
        "Retention", xml.tag("Mode", mode) + xml.tag("RetainUntilDate", iso(until))))


async def get_object_legal_hold(call: S3Call) -> Response:
    await _lock_bucket(call)
    record = await _version(call)
    if record.legal_hold is None:
        raise _no_lock()
    return Response(200, list(XML_HEADERS), xml.document(
        "LegalHold", xml.tag("Status", "ON" if record.legal_hold else "OFF")))


def retention_keys(retention: tuple[str, int] | None, now: int) -> dict[str, tuple[str, ...]]:
    """The condition keys a retention sets (s3:object-lock-mode, s3:object-lock-retain-until-date,
    s3:object-lock-remaining-retention-days: whole days left, rounded up)."""
    if retention is None:
        return {}
    mode, until = retention
    days = max(0, math.ceil((until - now) / DAY_MS))
    return {"s3:object-lock-mode": (mode,), "s3:object-lock-retain-until-date": (iso(until),),
            "s3:object-lock-remaining-retention-days": (str(days),)}


async def may_bypass(call: S3Call, resource: str, extra: Mapping[str, tuple[str, ...]] | None = None, *,
                     entry_version: str | None = None) -> bool:
    """``x-amz-bypass-governance-retention: true`` from a caller allowed s3:BypassGovernanceRetention (asked only
    when the header is there; without the permission the header changes nothing).  ``entry_version``: the
    version a DeleteObjects entry names, which the permission is judged on (not the request's ?versionId=)."""
    if call.headers.get(BYPASS_HEADER, "").strip().lower() != "true":
        return False
    if entry_version is not None:
        return (await call.check("s3:BypassGovernanceRetention", resource, extra=extra,
                                 version=entry_version)).allowed
    return (await call.check("s3:BypassGovernanceRetention", resource, extra=extra)).allowed


async def put_object_retention(call: S3Call) -> Response:
    """Authorized here once the body is read: the retention asked for gives the condition keys."""
    from storeroom.s3.objects import missing_error, version_arg
    assert call.bucket is not None and call.key is not None
    version_id = version_arg(call)
    root = await read_document(call, "Retention", required=True)
    if any(xml.local(c) not in ("Mode", "RetainUntilDate") for c in root):
        raise AwsError("MalformedXML")
    mode, date = only_child_text(root, "Mode"), only_child_text(root, "RetainUntilDate")
    now = now_ms()
    retention: tuple[str, int] | None = None
    if mode is not None or date is not None:
        until = None if date is None else parse_date(date)
        if mode not in MODES or until is None:
            raise AwsError("MalformedXML")
        if until <= now:
            raise AwsError("InvalidArgument", "The retain until date must be in the future!",
                           ArgumentName="RetainUntilDate", ArgumentValue=date or "")
        retention = (mode, until)
    keys = retention_keys(retention, now)
    await call.require("s3:PutObjectRetention", call.object_arn(), extra=keys)
    await _lock_bucket(call)
    bypass = await may_bypass(call, call.object_arn(), keys)

    def change(record: ObjectRecord) -> None:
        old = record.retention
        if old is not None and weakens(old, retention, now) and (old[0] == COMPLIANCE or not bypass):
            raise locked_error()
        record.retention = retention
    record = await call.meta.update_version(call.bucket, call.key, version_id, change)
    if record is None:
        raise await missing_error(call, version_id)
    if record.marker:
        from storeroom.s3.objects import marker_error
        raise marker_error(call, record)
    return Response(200, _version_headers(call, record))


def weakens(old: tuple[str, int] | None, new: tuple[str, int] | None, now: int) -> bool:
    """Whether replacing a version's retention ``old`` by ``new`` alters a protection still in force beyond
    extending it: an earlier date, none at all, or another mode.  GOVERNANCE turned into COMPLIANCE is one too:
    governance keeps its lock settings to those who may bypass it (ceph/ceph#42505, tried on S3), or anyone
    allowed s3:PutObjectRetention could make a version undeletable by everyone."""
    if old is None or not protected(old, None, now / 1000):
        return False
    return new is None or new[1] < old[1] or new[0] != old[0]


async def put_object_legal_hold(call: S3Call) -> Response:
    from storeroom.s3.objects import marker_error, missing_error, version_arg
    assert call.bucket is not None and call.key is not None
    version_id = version_arg(call)
    root = await read_document(call, "LegalHold", required=True)
    if any(xml.local(c) != "Status" for c in root):
        raise AwsError("MalformedXML")
    status = only_child_text(root, "Status")
    if status not in ("ON", "OFF"):
        raise AwsError("MalformedXML")
    await call.require("s3:PutObjectLegalHold", call.object_arn(), extra={"s3:object-lock-legal-hold": (status,)})
    await _lock_bucket(call)

    def change(record: ObjectRecord) -> None:
        record.legal_hold = status == "ON"
    record = await call.meta.update_version(call.bucket, call.key, version_id, change)
    if record is None:
        raise await missing_error(call, version_id)
    if record.marker:
        raise marker_error(call, record)
    return Response(200, _version_headers(call, record))


# -- writes: the x-amz-object-lock-* headers and the bucket's default ----------------------------------------------

@dataclass(slots=True)
class WriteLock:
    """The lock a new version gets."""

    retention: tuple[str, int] | None = None
    legal_hold: bool | None = None

    @property
    def any(self) -> bool:
        return self.retention is not None or self.legal_hold is not None


def _invalid(message: str, name: str, value: str) -> AwsError:
    return AwsError("InvalidArgument", message, ArgumentName=name, ArgumentValue=value)


async def requested(call: S3Call, bucket: Bucket, headers: Mapping[str, str]) -> WriteLock:
    """The lock the ``x-amz-object-lock-*`` headers (or a form's fields) ask for, checked, and authorized
    (s3:PutObjectRetention, s3:PutObjectLegalHold on the object).  The bucket's default is not applied here."""
    mode, date, hold = headers.get(MODE_HEADER), headers.get(UNTIL_HEADER), headers.get(HOLD_HEADER)
    if mode is None and date is None and hold is None:
        return WriteLock()
    if bucket.object_lock is None:
        raise _missing_configuration()
    lock = WriteLock()
    if (mode is None) != (date is None):
        raise AwsError("InvalidArgument", "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both "
                       "be supplied")
    if mode is not None and date is not None:
        if mode not in MODES:
            raise _invalid("Unknown wormMode directive.", MODE_HEADER, mode)
        until = parse_date(date)
        if until is None:
            raise _invalid("The retain until date must be provided in ISO 8601 format", UNTIL_HEADER, date)
        if until <= now_ms():
            raise _invalid("The retain until date must be in the future!", UNTIL_HEADER, date)
        await call.require("s3:PutObjectRetention", call.object_arn())
        lock.retention = (mode, until)
    if hold is not None:
        if hold not in ("ON", "OFF"):
            raise _invalid("Legal Hold must be either of 'ON' or 'OFF'", HOLD_HEADER, hold)
        await call.require("s3:PutObjectLegalHold", call.object_arn())
        lock.legal_hold = hold == "ON"
    return lock


def with_default(lock: WriteLock, bucket: Bucket) -> WriteLock:
    """The lock with the bucket's default retention when the request named none ("If your request to place an
    object version in a bucket contains an explicit retention mode and period, those settings override any
    bucket default settings for that object version")."""
    rule = loads(bucket.object_lock)
    if lock.retention is None and rule is not None:
        return WriteLock((rule.mode, rule.until(now_ms())), lock.legal_hold)
    return lock


def require_integrity(call: S3Call, lock: WriteLock, bucket: Bucket, what: str = "Put Object") -> None:
    """A body that will be a locked version's must carry Content-MD5 or an x-amz-checksum-* (header or trailer)."""
    if not lock.any and loads(bucket.object_lock) is None:
        return
    headers = call.headers
    if "content-md5" in headers or any(h.startswith("x-amz-checksum-") and h not in (
            "x-amz-checksum-type", "x-amz-checksum-algorithm") for h in headers):
        return
    if headers.get("x-amz-trailer", "").strip().lower().startswith("x-amz-checksum-"):
        return
    raise AwsError("InvalidRequest", f"Content-MD5 OR x-amz-checksum- HTTP header is required for {what} requests "
                   "with Object Lock parameters")


def apply(record: ObjectRecord, lock: WriteLock) -> None:
    record.retention, record.legal_hold = lock.retention, lock.legal_hold


# -- reads -------------------------------------------------------------------------------------------------------

async def lock_headers(call: S3Call, record: ObjectRecord) -> list[tuple[str, str]]:
    """GET/HEAD's ``x-amz-object-lock-*`` headers, for callers who may read them."""
    headers: list[tuple[str, str]] = []
    if record.retention is not None and (await call.check("s3:GetObjectRetention", call.object_arn())).allowed:
        headers += [(MODE_HEADER, record.retention[0]), (UNTIL_HEADER, iso(record.retention[1]))]
    if record.legal_hold is not None and (await call.check("s3:GetObjectLegalHold", call.object_arn())).allowed:
        headers.append((HOLD_HEADER, "ON" if record.legal_hold else "OFF"))
    return headers


__all__ = ["COMPLIANCE", "GOVERNANCE", "WriteLock", "lock_headers", "requested", "with_default"]
