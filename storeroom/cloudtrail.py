"""CloudTrail on the shared endpoint (JSON 1.1, ``X-Amz-Target: com.amazonaws.cloudtrail.v20131101.
CloudTrail_20131101.<Operation>``): LookupEvents over the audit log, so ``aws cloudtrail lookup-events`` and boto3's
``cloudtrail`` client (paginator included) work unchanged.  botocore's ``cloudtrail`` model is the wire spec.

LookupEvents (https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html): at most
one of the lookup attributes EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource,
AccessKeyId; StartTime/EndTime; MaxResults 1..50 (default 50); NextToken, valid only with the parameters it was
issued for; newest first.  Where Storeroom differs, on purpose:

- AWS's Event history holds management events only; Storeroom's also holds S3 data events (GetObject,
  PutObject, …), because "who read this object?" is what an owner asks.  ``EventCategory: "Management"``
  restricts a lookup to management events, as AWS answers.  (The model's only EventCategory value is
  ``insight``: Storeroom has no Insights events, so that lookup is truthfully empty; ``Management`` is an
  extension the SDKs pass through, as they do not check enums.)
- Events are kept ``--audit-retention-days`` (default 90, the Event history window), not a fixed 90 days.

DescribeTrails and ListTrails answer truthfully that there are no trails (``--audit-export`` writes CloudTrail
log files, but is not a trail one could configure through the API).  Other operations answer
UnknownOperationException, as before.  Every operation is authorized as ``cloudtrail:<Operation>`` on ``*``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from storeroom.audit.events import valid_text
from storeroom.audit.log import AuditLog, StoredEvent
from storeroom.authz import Authorizer
from storeroom.errors import AwsError
from storeroom.http.context import Context
from storeroom.http.types import Response
from storeroom.query import service_model
from storeroom.store.space import is_storage_full

TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
SHORT_TARGET_PREFIX = "CloudTrail_20131101."
MAX_BODY = 1 << 20
MAX_RESULTS = 50
ATTRIBUTE_KEYS = ("EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource",
                  "AccessKeyId")
_JSON = [("content-type", "application/x-amz-json-1.1")]


def _error(code: str, message: str) -> AwsError:
    return AwsError(code, message, 400)


class CloudTrailService:
    def __init__(self, audit: AuditLog, authorizer: Authorizer) -> None:
        self.audit = audit
        self.authorizer = authorizer
        self._operations: dict[str, Callable[[Context, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "LookupEvents": self.lookup_events,
            "DescribeTrails": self.describe_trails,
            "ListTrails": self.list_trails,
        }

    async def handle(self, ctx: Context) -> Response:
        request = ctx.request
        target = request.headers.get("x-amz-target", "")
        # botocore's long form, or the short one the smithy-based SDKs send (JavaScript v3: CloudTrail_20131101.X)
        name = next((target[len(p):] for p in (TARGET_PREFIX, SHORT_TARGET_PREFIX) if target.startswith(p)), "")
        operation = self._operations.get(name)
        if operation is None:
            ctx.operation = target.rpartition(".")[2] or None
            raise _error("UnknownOperationException",
                         f"{target.rpartition('.')[2] or 'Operation'} is not supported by this Storeroom version")
        ctx.operation = name
        params = _parse_body(await request.read_body(MAX_BODY))
        ctx.audit = (service_model("cloudtrail").operation_model(name), params, None)
        await self._require(ctx, f"cloudtrail:{name}")
        result = await operation(ctx, params)
        return Response(200, list(_JSON), json.dumps(result, separators=(",", ":")).encode())

    async def _require(self, ctx: Context, action: str) -> None:
        evaluation = await self.authorizer.check(ctx, action, "*")
        if not evaluation.allowed:
            raise _error("AccessDeniedException", f"User: {ctx.principal.arn} is not authorized to perform: "
                         f"{action} {evaluation.reason}".rstrip())

    async def describe_trails(self, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        return {"trailList": []}

    async def list_trails(self, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        return {"Trails": []}

    async def lookup_events(self, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        query = LookupQuery.parse(params)
        if query.category == "insight":  # no Insights events exist here
            return {"Events": []}
        try:
            await self.audit.flush()  # this worker's queued events: a lookup right after a request finds it
        except Exception as exc:
            if not is_storage_full(exc):
                raise
            # a full disk: they stay queued (stored once there is room), and the lookup answers what is stored
        rows = await self.audit.lookup(query.attribute, query.value, start=query.start, end=query.end,
                                       management_only=query.category == "Management", after=query.after,
                                       limit=query.limit + 1)
        result: dict[str, Any] = {"Events": [self._event(row) for row in rows[:query.limit]]}
        if len(rows) > query.limit:
            last = rows[query.limit - 1]
            result["NextToken"] = query.token_after(last.time, last.id)
        return result

    def _event(self, row: StoredEvent) -> dict[str, Any]:
        event: dict[str, Any] = {"EventId": row.event_id, "EventName": row.name,
                                 "ReadOnly": "true" if row.read_only else "false"}
        if row.access_key_id:
            event["AccessKeyId"] = row.access_key_id
        event["EventTime"] = math.floor(row.time)
        event["EventSource"] = row.source
        if row.username:
            event["Username"] = row.username
        event["Resources"] = [{"ResourceType": kind, "ResourceName": name}
                              for kind, name in row.resources]
        event["CloudTrailEvent"] = row.record
        return event


def _parse_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        params = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _error("SerializationException", "Unable to parse the request body as JSON") from None
    if not isinstance(params, dict):
        raise _error("SerializationException", "Start of list found where not expected")
    return params


class LookupQuery:
    """A LookupEvents request, validated as CloudTrail does."""

    def __init__(self, attribute: str | None, value: str | None, start: float, end: float, limit: int,
                 category: str | None, after: tuple[float, int] | None, fingerprint: str) -> None:
        self.attribute, self.value = attribute, value
        self.start, self.end, self.limit, self.category = start, end, limit, category
        self.after, self.fingerprint = after, fingerprint

    @classmethod
    def parse(cls, params: dict[str, Any]) -> LookupQuery:
        attribute, value = _attribute(params.get("LookupAttributes"))
        start = _timestamp(params, "StartTime", 0.0)
        end = _timestamp(params, "EndTime", math.inf)
        if start > end:
            raise _error("InvalidTimeRangeException", "Start time must be earlier than end time.")
        # "events that occur before or at the specified time", as they are shown (EventTime: whole seconds): an
        # event shown at the EndTime itself is in, whatever fraction of that second it came at
        end = math.floor(end) + _LAST_INSTANT if math.isfinite(end) else end
        limit = params.get("MaxResults", MAX_RESULTS)
        if (isinstance(limit, bool) or not isinstance(limit, int | float)
                or isinstance(limit, float) and (not math.isfinite(limit) or limit != int(limit))):
            raise _error("SerializationException", "MaxResults must be an integer")
        if not 1 <= limit <= MAX_RESULTS:
            raise _error("InvalidMaxResultsException", f"Value {int(limit)} for MaxResults is invalid: it must be "
                         f"between 1 and {MAX_RESULTS}.")
        category = params.get("EventCategory")
        if category is not None and category not in ("insight", "Management"):
            raise _error("InvalidEventCategoryException", f"Event category {category!r} is not valid: the valid "
                         "values are insight (and, in Storeroom, Management).")
        fingerprint = hashlib.sha256(json.dumps(
            [attribute, value, params.get("StartTime"), params.get("EndTime"), category]).encode()).hexdigest()[:16]
        query = cls(attribute, value, start, end, int(limit), category, None, fingerprint)
        token = params.get("NextToken")
        if token is not None:
            query.after = query._parse_token(token)
        return query

    def token_after(self, t: float, row_id: int) -> str:
        raw = json.dumps({"t": t, "i": row_id, "q": self.fingerprint}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _parse_token(self, token: Any) -> tuple[float, int]:
        invalid = _error("InvalidNextTokenException", "Invalid NextToken: it is not valid, or was issued for a "
                         "request with other parameters.")
        if not isinstance(token, str) or not token:
            raise invalid
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            t, row_id, fingerprint = float(data["t"]), int(data["i"]), data["q"]
        # RecursionError: JSON nested thousands deep; OverflowError: "i": 1e999 (both were 500s: fuzzing)
        except (ValueError, TypeError, KeyError, binascii.Error, RecursionError, OverflowError):
            raise invalid from None
        if fingerprint != self.fingerprint or not math.isfinite(t):
            raise invalid
        return t, row_id


def _attribute(raw: Any) -> tuple[str | None, str | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, list):
        raise _error("SerializationException", "LookupAttributes must be a list")
    if not raw:
        return None, None
    if len(raw) > 1:
        raise _error("InvalidLookupAttributesException", "You can specify only one lookup attribute.")
    item = raw[0]
    if not isinstance(item, dict):
        raise _error("SerializationException", "A lookup attribute must be a structure")
    key, value = item.get("AttributeKey"), item.get("AttributeValue")
    if key not in ATTRIBUTE_KEYS:
        raise _error("InvalidLookupAttributesException", f"Lookup attribute key {key!r} is not valid: it must be "
                     f"one of {', '.join(ATTRIBUTE_KEYS)}.")
    if not isinstance(value, str) or not 1 <= len(value) <= 2000:
        raise _error("InvalidLookupAttributesException", "A lookup attribute value must be 1 to 2000 characters.")
    if key == "ReadOnly":
        if value.lower() not in ("true", "false"):
            raise _error("InvalidLookupAttributesException", "The value of ReadOnly must be true or false.")
        value = value.lower()
    return key, valid_text(value)  # a lone surrogate ("\ud800" in JSON) can match nothing, nor be bound in SQL


_LAST_INSTANT = 0.999999  # of a second, as stored times go (microseconds)


def _timestamp(params: dict[str, Any], name: str, default: float) -> float:
    """JSON 1.1 timestamps are epoch seconds (botocore sends numbers; an ISO 8601 string is accepted too)."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        raise _error("SerializationException", f"{name} must be a timestamp")
    if isinstance(value, int | float):
        try:  # an integer of 400 digits is no float (OverflowError: a 500, found by fuzzing)
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise _error("SerializationException", f"{name} must be a timestamp")
        return number
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _error("SerializationException", f"{name} must be a timestamp") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    raise _error("SerializationException", f"{name} must be a timestamp")
