"""Lifecycle configuration: Put/Get/DeleteBucketLifecycleConfiguration, validated as S3 validates it, and what a
configuration says about one object (its ``x-amz-expiration``) or one key's versions (what a run must do).

The document (https://docs.aws.amazon.com/AmazonS3/latest/API/API_LifecycleRule.html): up to 1,000 ``Rule``s,
each with an ``ID`` (at most 255 characters; S3 makes one up when left out), a ``Status`` (``Enabled`` or
``Disabled``), a ``Filter`` — empty, or exactly one of ``Prefix``, ``Tag``, ``ObjectSizeGreaterThan``,
``ObjectSizeLessThan``, or ``And`` of two or more of them — or the older rule-level ``Prefix``, and its actions:
``Expiration`` (exactly one of ``Days``, ``Date``, ``ExpiredObjectDeleteMarker``),
``NoncurrentVersionExpiration`` (``NoncurrentDays``, optionally ``NewerNoncurrentVersions``),
``AbortIncompleteMultipartUpload`` (``DaysAfterInitiation``), ``Transition`` / ``NoncurrentVersionTransition``.

Faults, with S3's answers (its error table, and answers recorded against S3 in public issue trackers):
MalformedXML for what the schema refuses (a bad Status, two predicates directly in a Filter, an And of one,
Days with Date or ExpiredObjectDeleteMarker, an empty action, no Filter nor Prefix, no rules); InvalidArgument
"ID length should not exceed allowed limit of 255", "Rule ID must be unique. Found same ID for more than one
rule", "'Days' for Expiration action must be a positive integer", "'Date' must be at midnight GMT",
"'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer", "'DaysAfterInitiation'
for AbortIncompleteMultipartUpload action must be a positive integer"; InvalidRequest "At least one action
needs to be specified in a rule", "AbortIncompleteMultipartUpload cannot be specified with Tags.", "... with
Object Size.", "ExpiredObjectDeleteMarker cannot be specified with Object Size.", "Duplicate Tag Keys are not
allowed.", "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.", "The number of
lifecycle rules must not exceed the allowed limit of 1000 rules.", and the mix of rule-level prefixes and
filters ("Filter element can only be used in Lifecycle V2.").

Transitions move objects to another storage class; Storeroom keeps every object in one (STANDARD, which is no
transition's target), so a Transition or NoncurrentVersionTransition to any of S3's classes is refused with
``InvalidStorageClass`` — S3's answer for a class the endpoint does not offer — rather than stored and never
applied.

When an action falls due (https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html):
"Amazon S3 calculates the time by adding the number of days specified in the rule to the object creation time
and rounding up the resulting time to the next day at midnight UTC"; noncurrent versions count from "the time
when the new successor version of the object is created"; a Date applies from that midnight on, every day.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from storeroom.errors import AwsError
from storeroom.http.types import Response
from storeroom.numbers import INT32_MAX, parse_int
from storeroom.s3 import xml
from storeroom.s3.document import boolean, only_child_text, read_document
from storeroom.store.meta import ObjectRecord, Upload

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call

MAX_RULES = 1000
DAY = 86400
MAX_SIZE = 1099511627776000  # S3's bound on the size filters: 1,000 TiB
TRANSITION_CLASSES = frozenset({"GLACIER", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "DEEP_ARCHIVE",
                                "GLACIER_IR"})
XML_HEADERS = [("content-type", "application/xml")]


@dataclass(frozen=True, slots=True)
class Filter:
    """What a rule selects; ``form`` keeps how it was written, to write it back the same way: "legacy" (a
    rule-level Prefix), "empty", "prefix", "tag", "gt", "lt", "and", or "and-prefix" (an And that names its
    Prefix, empty or not: S3 echoes an empty one, and Terraform waits until the configuration reads back as
    sent)."""

    form: str = "empty"
    prefix: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    greater_than: int | None = None
    less_than: int | None = None

    def matches_key(self, key: str) -> bool:
        return key.startswith(self.prefix)

    def matches(self, record: ObjectRecord) -> bool:
        """An object version (a delete marker has no tags and no size: only a filter naming neither takes it)."""
        if not record.key.startswith(self.prefix):
            return False
        if self.tags:
            have = record.tags or {}
            if any(have.get(k) != v for k, v in self.tags):
                return False
        if self.greater_than is not None and (record.marker or record.size <= self.greater_than):
            return False
        return self.less_than is None or (not record.marker and record.size < self.less_than)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    enabled: bool
    filter: Filter
    days: int | None = None                    # Expiration
    date: float | None = None
    expired_object_delete_marker: bool | None = None
    noncurrent_days: int | None = None         # NoncurrentVersionExpiration
    newer_noncurrent: int | None = None
    abort_days: int | None = None              # AbortIncompleteMultipartUpload

    def expiry(self, record: ObjectRecord) -> float | None:
        """When the current version ``record`` expires under this rule (None: the rule does not expire it)."""
        if not self.enabled or not self.filter.matches(record):
            return None
        if self.days is not None:
            return due(record.mtime, self.days)
        return self.date


def due(since: float, days: int) -> float:
    """``since`` plus ``days``, rounded up to the next midnight UTC."""
    return math.ceil((since + days * DAY) / DAY) * DAY


DEFAULT_MINIMUM_SIZE = "all_storage_classes_128K"
MINIMUM_SIZES = frozenset({DEFAULT_MINIMUM_SIZE, "varies_by_storage_class"})


@dataclass(slots=True)
class Configuration:
    rules: list[Rule] = field(default_factory=list)
    # x-amz-transition-default-minimum-object-size: which objects a transition skips by default.  Storeroom
    # makes no transitions, so it changes nothing here; it is kept and answered as it was set, as S3 does.
    minimum_size: str = DEFAULT_MINIMUM_SIZE

    def expiration(self, record: ObjectRecord) -> tuple[float, str] | None:
        """(expiry time, rule id) of the current version ``record``: the earliest of the rules that expire it
        (the first listed among equals), as S3 names it in ``x-amz-expiration``."""
        best: tuple[float, str] | None = None
        for rule in self.rules:
            when = rule.expiry(record)
            if when is not None and (best is None or when < best[0]):
                best = (when, rule.id)
        return best

    def abort_date(self, upload: Upload) -> tuple[float, str] | None:
        best: tuple[float, str] | None = None
        for rule in self.rules:
            if rule.enabled and rule.abort_days is not None and rule.filter.matches_key(upload.key):
                when = due(upload.initiated, rule.abort_days)
                if best is None or when < best[0]:
                    best = (when, rule.id)
        return best

    @property
    def has_version_rules(self) -> bool:
        return any(r.enabled and (r.days is not None or r.date is not None or r.expired_object_delete_marker
                                  or r.noncurrent_days is not None) for r in self.rules)


# -- the document ----------------------------------------------------------------------------------------------

def _int(text: str | None) -> int | None:
    if text is None:
        return None
    value = parse_int(text.strip())
    if value is None or not -INT32_MAX - 1 <= value <= INT32_MAX:  # S3 reads an XML integer as a Java int
        raise AwsError("MalformedXML")
    return value


MAX_NEWER_NONCURRENT = 100


def _positive(value: int | None, message: str) -> int | None:
    if value is not None and value <= 0:
        raise AwsError("InvalidArgument", message, 400)
    return value


def _date(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise AwsError("MalformedXML") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    stamp = parsed.timestamp()
    if stamp % DAY:
        raise AwsError("InvalidArgument", "'Date' must be at midnight GMT", 400, ArgumentName="Date",
                       ArgumentValue=text.strip())
    return stamp


def _new_rule_id() -> str:
    """What S3 makes up for a rule sent without an ID: base64 of a version 4 UUID (48 characters)."""
    return base64.b64encode(str(uuid.uuid4()).encode()).decode()


def parse(root: ET.Element) -> Configuration:
    rules = xml.children(root, "Rule")
    if not rules or any(xml.local(c) != "Rule" for c in root):
        raise AwsError("MalformedXML")
    if len(rules) > MAX_RULES:
        raise AwsError("InvalidRequest", "The number of lifecycle rules must not exceed the allowed limit of 1000 "
                       "rules.")
    parsed = [_rule(element) for element in rules]
    ids = [r.id for r in parsed]
    if len(set(ids)) != len(ids):
        raise AwsError("InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule", 400)
    legacy = [r.filter.form == "legacy" for r in parsed]
    if any(legacy) and not all(legacy):
        first_legacy = legacy.index(True) < legacy.index(False)
        raise AwsError("InvalidRequest", "Filter element can only be used in Lifecycle V2." if first_legacy else
                       "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter.")
    if all(legacy):
        _check_overlaps(parsed)
    return Configuration(parsed)


def _check_overlaps(rules: list[Rule]) -> None:
    """Rule-level prefixes (Lifecycle V1) may not overlap for one action type, as S3 refuses them."""
    kinds: dict[str, list[str]] = {"Expiration": [], "NoncurrentVersionExpiration": [],
                                   "AbortIncompleteMultipartUpload": []}
    for r in rules:
        if r.days is not None or r.date is not None or r.expired_object_delete_marker:
            kinds["Expiration"].append(r.filter.prefix)
        if r.noncurrent_days is not None:
            kinds["NoncurrentVersionExpiration"].append(r.filter.prefix)
        if r.abort_days is not None:
            kinds["AbortIncompleteMultipartUpload"].append(r.filter.prefix)
    for name, prefixes in kinds.items():
        for i, a in enumerate(prefixes):
            for b in prefixes[i + 1:]:
                if a.startswith(b) or b.startswith(a):
                    raise AwsError("InvalidRequest", f"Found overlapping prefixes '{a}' and '{b}' for same action "
                                   f"type '{name}'")


def _rule(element: ET.Element) -> Rule:
    known = {"ID", "Status", "Filter", "Prefix", "Expiration", "NoncurrentVersionExpiration",
             "AbortIncompleteMultipartUpload", "Transition", "NoncurrentVersionTransition"}
    if any(xml.local(c) not in known for c in element):
        raise AwsError("MalformedXML")
    rule_id = only_child_text(element, "ID")
    if rule_id is not None and len(rule_id) > 255:
        raise AwsError("InvalidArgument", "ID length should not exceed allowed limit of 255", 400)
    status = only_child_text(element, "Status")
    if status not in ("Enabled", "Disabled"):
        raise AwsError("MalformedXML")
    rule_filter = _rule_filter(element)
    for name in ("Transition", "NoncurrentVersionTransition"):
        for transition in xml.children(element, name):
            storage_class = only_child_text(transition, "StorageClass")
            if storage_class not in TRANSITION_CLASSES:
                raise AwsError("MalformedXML")
            raise AwsError("InvalidStorageClass", f"The storage class you specified is not valid: Storeroom keeps "
                           f"every object in STANDARD and cannot transition objects to {storage_class}.", 400)
    days, date, marker = _expiration(element)
    noncurrent_days, newer = _noncurrent(element, rule_filter)
    abort = _abort(element, rule_filter)
    if days is None and date is None and marker is None and noncurrent_days is None and abort is None:
        raise AwsError("InvalidRequest", "At least one action needs to be specified in a rule")
    if marker is not None and (rule_filter.greater_than is not None or rule_filter.less_than is not None):
        raise AwsError("InvalidRequest", "ExpiredObjectDeleteMarker cannot be specified with Object Size.")
    if marker is not None and rule_filter.tags:
        raise AwsError("InvalidRequest", "ExpiredObjectDeleteMarker cannot be specified with Tags.")
    return Rule(rule_id or _new_rule_id(), status == "Enabled", rule_filter, days, date, marker, noncurrent_days,
                newer, abort)


def _rule_filter(element: ET.Element) -> Filter:
    filters = xml.children(element, "Filter")
    legacy = only_child_text(element, "Prefix")
    if len(filters) > 1 or (filters and legacy is not None) or (not filters and legacy is None):
        raise AwsError("MalformedXML")
    if legacy is not None:
        return Filter("legacy", legacy)
    predicates = list(filters[0])
    if not predicates:
        return Filter("empty")
    if len(predicates) > 1:
        raise AwsError("MalformedXML")  # several predicates go in an And
    only = predicates[0]
    name = xml.local(only)
    if name == "And":
        return _and(only)
    found = _predicates([only])
    return Filter({"Prefix": "prefix", "Tag": "tag", "ObjectSizeGreaterThan": "gt", "ObjectSizeLessThan": "lt"}[
        name], *found)


def _and(element: ET.Element) -> Filter:
    predicates = list(element)
    if len(predicates) < 2:
        raise AwsError("MalformedXML")
    named = any(xml.local(e) == "Prefix" for e in predicates)
    return Filter("and-prefix" if named else "and", *_predicates(predicates))


def _predicates(elements: list[ET.Element]) -> tuple[str, tuple[tuple[str, str], ...], int | None, int | None]:
    prefix, tags, greater, less = "", [], None, None
    seen: set[str] = set()
    for e in elements:
        name = xml.local(e)
        if name in seen and name != "Tag":
            raise AwsError("MalformedXML")
        seen.add(name)
        if name == "Prefix":
            prefix = e.text or ""
        elif name == "Tag":
            key, value = xml.child_text(e, "Key"), xml.child_text(e, "Value")
            if not key:
                raise AwsError("MalformedXML")
            tags.append((key, value or ""))
        elif name in ("ObjectSizeGreaterThan", "ObjectSizeLessThan"):
            size = _int(e.text or "")
            assert size is not None
            if size < 0 or size > MAX_SIZE or (name == "ObjectSizeLessThan" and size < 1):
                raise AwsError("InvalidRequest", f"'{name}' should be between {0 if 'Greater' in name else 1} and "
                               f"{MAX_SIZE}.")
            if name == "ObjectSizeGreaterThan":
                greater = size
            else:
                less = size
        else:
            raise AwsError("MalformedXML")
    if len({k for k, _ in tags}) != len(tags):
        raise AwsError("InvalidRequest", "Duplicate Tag Keys are not allowed.")
    if greater is not None and less is not None and less <= greater:
        raise AwsError("InvalidRequest", "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.")
    return prefix, tuple(tags), greater, less


def _expiration(element: ET.Element) -> tuple[int | None, float | None, bool | None]:
    found = xml.children(element, "Expiration")
    if not found:
        return None, None, None
    if len(found) > 1 or len(list(found[0])) != 1:
        raise AwsError("MalformedXML")  # empty, or more than one of Days, Date, ExpiredObjectDeleteMarker
    expiration = found[0]
    days = _positive(_int(only_child_text(expiration, "Days")),
                     "'Days' for Expiration action must be a positive integer")
    date_text = only_child_text(expiration, "Date")
    marker_text = only_child_text(expiration, "ExpiredObjectDeleteMarker")
    if days is None and date_text is None and marker_text is None:
        raise AwsError("MalformedXML")
    return days, None if date_text is None else _date(date_text), None if marker_text is None else boolean(
        marker_text)


def _noncurrent(element: ET.Element, rule_filter: Filter) -> tuple[int | None, int | None]:
    found = xml.children(element, "NoncurrentVersionExpiration")
    if not found:
        return None, None
    if len(found) > 1:
        raise AwsError("MalformedXML")
    days_text = only_child_text(found[0], "NoncurrentDays")
    newer_text = only_child_text(found[0], "NewerNoncurrentVersions")
    if days_text is None:
        raise AwsError("MalformedXML")
    days = _positive(_int(days_text), "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive "
                     "integer")
    newer = _positive(_int(newer_text), "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be "
                      "a positive integer")
    if newer is not None and newer > MAX_NEWER_NONCURRENT:  # "You can specify up to 100 noncurrent versions"
        raise AwsError("InvalidArgument", "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be "
                       f"a positive integer up to {MAX_NEWER_NONCURRENT}", 400)
    if newer is not None and rule_filter.form == "legacy":
        raise AwsError("InvalidRequest", "NewerNoncurrentVersions element can only be used in Lifecycle V2.")
    return days, newer


def _abort(element: ET.Element, rule_filter: Filter) -> int | None:
    found = xml.children(element, "AbortIncompleteMultipartUpload")
    if not found:
        return None
    if len(found) > 1:
        raise AwsError("MalformedXML")
    days = _int(only_child_text(found[0], "DaysAfterInitiation"))
    if days is None or days <= 0:
        raise AwsError("InvalidArgument", "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a "
                       "positive integer", 400)
    if rule_filter.tags:
        raise AwsError("InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Tags.")
    if rule_filter.greater_than is not None or rule_filter.less_than is not None:
        raise AwsError("InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Object Size.")
    return days


def render(config: Configuration) -> bytes:
    """GetBucketLifecycleConfiguration's document: each rule as ID, Filter (or Prefix), Status, its actions."""
    return xml.document("LifecycleConfiguration", "".join(_rule_xml(r) for r in config.rules))


def _rule_xml(rule: Rule) -> str:
    f = rule.filter
    if f.form == "legacy":
        selector = xml.tag("Prefix", f.prefix)
    elif f.form == "empty":
        selector = "<Filter></Filter>"
    else:
        inner = (xml.tag("Prefix", f.prefix) if f.form in ("prefix", "and-prefix") or (f.form == "and" and f.prefix)
                 else "")
        inner += "".join(f"<Tag>{xml.tag('Key', k)}{xml.tag('Value', v)}</Tag>" for k, v in f.tags)
        inner += xml.tag("ObjectSizeGreaterThan", f.greater_than) + xml.tag("ObjectSizeLessThan", f.less_than)
        selector = f"<Filter>{f'<And>{inner}</And>' if f.form.startswith('and') else inner}</Filter>"
    actions = ""
    if rule.days is not None or rule.date is not None or rule.expired_object_delete_marker is not None:
        actions += "<Expiration>" + xml.tag("Days", rule.days) + (
            xml.tag("Date", xml.iso8601(rule.date)) if rule.date is not None else "") + xml.tag(
            "ExpiredObjectDeleteMarker", rule.expired_object_delete_marker) + "</Expiration>"
    if rule.noncurrent_days is not None:
        actions += ("<NoncurrentVersionExpiration>" + xml.tag("NoncurrentDays", rule.noncurrent_days)
                    + xml.tag("NewerNoncurrentVersions", rule.newer_noncurrent) + "</NoncurrentVersionExpiration>")
    if rule.abort_days is not None:
        actions += ("<AbortIncompleteMultipartUpload>" + xml.tag("DaysAfterInitiation", rule.abort_days)
                    + "</AbortIncompleteMultipartUpload>")
    return (f"<Rule>{xml.tag('ID', rule.id)}{selector}{xml.tag('Status', 'Enabled' if rule.enabled else 'Disabled')}"
            f"{actions}</Rule>")


def dumps(config: Configuration) -> str:
    """The stored form: the rules' list, or {"rules": …, "size": …} when the minimum size is not the default."""
    rules = [[r.id, r.enabled, [r.filter.form, r.filter.prefix, [list(t) for t in r.filter.tags],
                                r.filter.greater_than, r.filter.less_than], r.days, r.date,
              r.expired_object_delete_marker, r.noncurrent_days, r.newer_noncurrent, r.abort_days]
             for r in config.rules]
    stored: object = rules if config.minimum_size == DEFAULT_MINIMUM_SIZE else {"rules": rules,
                                                                               "size": config.minimum_size}
    return json.dumps(stored, separators=(",", ":"))


_LOADED: dict[str, Configuration] = {}


def loads(text: str) -> Configuration:
    """The stored configuration (parsed once per process for each distinct text: headers ask on every GET)."""
    found = _LOADED.get(text)
    if found is None:
        stored = json.loads(text)
        minimum_size = DEFAULT_MINIMUM_SIZE
        if isinstance(stored, dict):
            stored, minimum_size = stored["rules"], stored["size"]
        rules = []
        for rid, enabled, (form, prefix, tags, gt, lt), days, date, marker, nc_days, newer, abort in stored:
            rules.append(Rule(rid, enabled, Filter(form, prefix, tuple((k, v) for k, v in tags), gt, lt), days, date,
                              marker, nc_days, newer, abort))
        if len(_LOADED) > 1024:
            _LOADED.clear()
        found = _LOADED[text] = Configuration(rules, minimum_size)
    return found


# -- the operations --------------------------------------------------------------------------------------------

async def put_bucket_lifecycle(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    minimum_size = call.headers.get("x-amz-transition-default-minimum-object-size", DEFAULT_MINIMUM_SIZE)
    if minimum_size not in MINIMUM_SIZES:
        raise AwsError("InvalidRequest", "Invalid TransitionDefaultMinimumObjectSize found: " + minimum_size)
    config = parse(await read_document(call, "LifecycleConfiguration", 1024 * 1024, required=True))
    config.minimum_size = minimum_size
    if not await call.meta.put_bucket_config(call.bucket, "lifecycle", dumps(config)):
        raise AwsError("NoSuchBucket", BucketName=call.bucket)
    return Response(200, [("x-amz-transition-default-minimum-object-size", minimum_size)])


async def get_bucket_lifecycle(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    stored = await call.meta.get_bucket_config(call.bucket, "lifecycle")
    if stored is None:
        raise AwsError("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist", 404,
                       BucketName=call.bucket)
    config = loads(stored)
    return Response(200, [*XML_HEADERS, ("x-amz-transition-default-minimum-object-size", config.minimum_size)],
                    render(config))


async def delete_bucket_lifecycle(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    await call.meta.put_bucket_config(call.bucket, "lifecycle", None)
    return Response(204)


# -- headers ---------------------------------------------------------------------------------------------------

def expiration_header(lifecycle: str | None, record: ObjectRecord) -> list[tuple[str, str]]:
    """``x-amz-expiration: expiry-date="<date>", rule-id="<id>"`` of a current version (PutObject, GetObject,
    HeadObject, CopyObject, CompleteMultipartUpload), when a rule expires it."""
    if lifecycle is None:
        return []
    found = loads(lifecycle).expiration(record)
    if found is None:
        return []
    # "The value of the rule-id is URL-encoded." (PutObject, GetObject, HeadObject: x-amz-expiration)
    return [("x-amz-expiration", f'expiry-date="{xml.http_date(found[0])}", rule-id="{quote(found[1], safe="")}"')]


_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))  # printable ASCII, the space and "%" included


def abort_headers(lifecycle: str | None, upload: Upload) -> list[tuple[str, str]]:
    """``x-amz-abort-date`` / ``x-amz-abort-rule-id`` (CreateMultipartUpload, ListParts)."""
    if lifecycle is None:
        return []
    found = loads(lifecycle).abort_date(upload)
    if found is None:
        return []
    # the rule's ID as x-amz-expiration names it, URL-encoded: an ID may hold what no header can carry (a newline)
    return [("x-amz-abort-date", xml.http_date(found[0])), ("x-amz-abort-rule-id", quote(found[1], safe=_PRINTABLE))]


# -- what a run does to one key --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Action:
    """One lifecycle action on a key: "expire" (its current version), "delete" (a noncurrent version) or
    "marker" (a delete marker left alone); ``operation`` is how S3's server access log names it."""

    kind: str
    rule_id: str
    version: ObjectRecord


def plan_key(config: Configuration, versioning: str | None, versions: list[ObjectRecord], now: float) -> list[Action]:
    """What the rules do to one key at ``now``, seeing all its versions newest first (the first is the latest;
    ``marker`` set on delete markers).  Pure: the run calls it inside the transaction that applies it."""
    if not versions:
        return []
    actions: list[Action] = []
    latest = versions[0]
    rules = [r for r in config.rules if r.enabled]
    if not latest.marker:
        expiring = [(when, r.id) for r in rules if (when := r.expiry(latest)) is not None and when <= now]
        if expiring:
            actions.append(Action("expire", min(expiring)[1], latest))
    elif len(versions) == 1:
        # "ExpiredObjectDeleteMarker removes a delete marker with zero noncurrent versions"; an Expiration does the
        # same ("If the current object version is the only object version and it is also a delete marker ...,
        # Amazon S3 removes the expired object delete marker"): a Days rule once the marker is as old as its age
        # criterion, a Date rule once its date has come
        for r in rules:
            if r.filter.matches(latest) and (r.expired_object_delete_marker or (
                    r.days is not None and due(latest.mtime, r.days) <= now) or (
                    r.date is not None and r.date <= now)):
                actions.append(Action("marker", r.id, latest))
                break
    if versioning is not None:
        actions += _noncurrent_actions(rules, versions, now)
    return actions


def _noncurrent_actions(rules: list[Rule], versions: list[ObjectRecord], now: float) -> list[Action]:
    """Noncurrent versions whose NoncurrentDays (counted from their successor's creation) have passed, beyond
    the NewerNoncurrentVersions newest ones: "both the NoncurrentDays and the NewerNoncurrentVersions values must
    be exceeded"."""
    actions = []
    for position in range(1, len(versions)):
        version, successor = versions[position], versions[position - 1]
        newer_noncurrent = position - 1  # noncurrent versions newer than this one
        for r in rules:
            if r.noncurrent_days is None or not r.filter.matches(version):
                continue
            if r.newer_noncurrent is not None and newer_noncurrent < r.newer_noncurrent:
                continue
            if due(successor.mtime, r.noncurrent_days) <= now:
                actions.append(Action("delete", r.id, version))
                break
    return actions

