"""Cross-origin resource sharing: Put/Get/DeleteBucketCors, preflight ``OPTIONS`` requests, and the
``Access-Control-*`` headers of actual requests -- as S3 does them.

The configuration (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ManageCorsUsing.html): "You can add up to
100 rules to the configuration"; each rule has one or more ``AllowedOrigin`` ("The origin value can include at
most one '*' wildcard character") and ``AllowedMethod`` (GET, PUT, POST, DELETE, HEAD), optional
``AllowedHeader`` ("Each AllowedHeader string in the rule can contain at most one * wildcard character"),
``ExposeHeader``, ``MaxAgeSeconds`` and ``ID``.  S3's refusals, as it words them: an unknown method is
``InvalidRequest`` "Found unsupported HTTP method in CORS config. Unsupported method is X", a second wildcard
``InvalidRequest`` 'AllowedOrigin "x" can not have more than one wildcard.'; anything off the schema (no rule, a
rule without origin or method) ``MalformedXML``.

Matching (https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html#cors-eval-criteria): "The request's
Origin header must match AllowedOrigin elements.  The request method (for example, GET, PUT, HEAD, and so on) or
the Access-Control-Request-Method header in case of a pre-flight OPTIONS request must be one of the AllowedMethod
elements.  Every header specified in the Access-Control-Request-Headers request header of a pre-flight request
must match an AllowedHeader element."  The first rule that matches applies.  Origins and methods compare with
their case, headers without.

Preflight ``OPTIONS`` requests are answered without authentication (a browser sends no credentials with them).
S3's answers, as recorded by LocalStack's tests against AWS (tests/aws/services/s3/test_s3_cors.snapshot.json):
no ``Origin``: 400 ``BadRequest`` "Insufficient information. Origin request header needed."; a missing bucket:
403 ``AccessForbidden`` "CORSResponse: Bucket not found"; no configuration: "CORSResponse: CORS is not enabled
for this bucket."; with rules, no ``Access-Control-Request-Method`` (or not one of the five methods): 400
``BadRequest`` "Invalid Access-Control-Request-Method: null" (or the value; ceph/s3-tests, Eucalyptus's tests
against S3); no rule matching: "CORSResponse: This CORS request is not allowed. This is usually because the
evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not
whitelisted by the resource's CORS spec." (S3's spelling), each with ``Method`` and ``ResourceType``.  A match is
200 with ``Access-Control-Allow-Origin`` (the request's origin, or ``*`` for a rule allowing every origin, then
without ``Access-Control-Allow-Credentials: true``), ``-Allow-Methods`` (the rule's), ``-Allow-Headers`` (those
requested, lower-cased), ``-Expose-Headers``, ``-Max-Age`` and ``Vary: Origin, Access-Control-Request-Headers,
Access-Control-Request-Method``.  An actual request with an ``Origin`` that a rule matches gets the same headers
(its requested headers are not judged), errors included; one that no rule matches gets none, and is not refused.

Deviation: the console's own listener (another origin, its own process) is not concerned; ListBuckets and other
requests naming no bucket get no CORS headers, as on S3.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from storeroom.errors import AwsError
from storeroom.http.types import Request, Response
from storeroom.numbers import INT32_MAX, parse_int
from storeroom.s3 import xml
from storeroom.s3.document import read_body
from storeroom.store import generation
from storeroom.store.generation import GenerationCache
from storeroom.store.sql import Conn

if TYPE_CHECKING:
    from storeroom.s3.service import S3Call, S3Service
    from storeroom.store.meta import MetaStore

METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
MAX_RULES = 100
MAX_BODY = 64 * 1024  # "The maximum size of a CORS configuration is 64 KB"
MAX_ID = 255
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
               "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
               "whitelisted by the resource's CORS spec.")
_RULE_ELEMENTS = frozenset({"ID", "AllowedHeader", "AllowedMethod", "AllowedOrigin", "ExposeHeader",
                            "MaxAgeSeconds"})
# A header name (RFC 9110's token): what an ExposeHeader may be, since it is written into response headers.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


@dataclass(frozen=True, slots=True)
class Rule:
    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    max_age: int | None = None
    id: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"o": self.origins, "m": self.methods, "h": self.headers, "e": self.expose, "a": self.max_age,
                "i": self.id}

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> Rule:
        def strings(value: object) -> tuple[str, ...]:
            return tuple(str(v) for v in value) if isinstance(value, list) else ()
        age = doc.get("a")
        rule_id = doc.get("i")
        return cls(strings(doc.get("o")), strings(doc.get("m")), strings(doc.get("h")), strings(doc.get("e")),
                   age if isinstance(age, int) else None, rule_id if isinstance(rule_id, str) else None)


# -- the configuration document ----------------------------------------------------------------------------------

def parse_configuration(body: bytes) -> list[Rule]:
    """A ``CORSConfiguration`` document's rules, validated as S3 validates them."""
    root = xml.parse(body)
    if xml.local(root) != "CORSConfiguration":
        raise AwsError("MalformedXML")
    elements = list(root)
    if any(xml.local(e) != "CORSRule" for e in elements) or not 1 <= len(elements) <= MAX_RULES:
        raise AwsError("MalformedXML")
    return [_rule(e) for e in elements]


def _rule(element: Element) -> Rule:
    values: dict[str, list[str]] = {}
    for child in element:
        name = xml.local(child)
        if name not in _RULE_ELEMENTS or len(child):
            raise AwsError("MalformedXML")
        values.setdefault(name, []).append((child.text or "").strip() if name != "AllowedOrigin" else
                                           (child.text or ""))
    origins, methods = values.get("AllowedOrigin", []), values.get("AllowedMethod", [])
    if not origins or not methods or len(values.get("ID", [])) > 1 or len(values.get("MaxAgeSeconds", [])) > 1:
        raise AwsError("MalformedXML")
    for method in methods:
        if method not in METHODS:
            raise AwsError("InvalidRequest", f"Found unsupported HTTP method in CORS config. Unsupported method is "
                           f"{method}")
    for origin in origins:
        if origin.count("*") > 1:
            raise AwsError("InvalidRequest", f'AllowedOrigin "{origin}" can not have more than one wildcard.')
    headers = values.get("AllowedHeader", [])
    for header in headers:
        if header.count("*") > 1:
            raise AwsError("InvalidRequest", f'AllowedHeader "{header}" can not have more than one wildcard.')
    expose = values.get("ExposeHeader", [])
    for name in expose:
        if not _TOKEN.match(name):
            raise AwsError("InvalidRequest", f'ExposeHeader "{name}" contains invalid character.')
    rule_id = values["ID"][0] if "ID" in values else None
    if rule_id is not None and len(rule_id) > MAX_ID:
        raise AwsError("InvalidArgument", f"ID length should not exceed allowed limit of {MAX_ID}")
    max_age = None
    if "MaxAgeSeconds" in values:
        max_age = parse_int(values["MaxAgeSeconds"][0])  # ASCII digits ("²" is no number), a Java int
        if max_age is None or not -INT32_MAX - 1 <= max_age <= INT32_MAX:
            raise AwsError("MalformedXML")
    return Rule(tuple(origins), tuple(methods), tuple(headers), tuple(expose), max_age, rule_id)


def configuration_xml(rules: Sequence[Rule]) -> bytes:
    """GetBucketCors's document: each rule's elements in S3's order."""
    parts = []
    for rule in rules:
        inner = xml.tag("ID", rule.id)
        inner += "".join(xml.tag("AllowedHeader", h) for h in rule.headers)
        inner += "".join(xml.tag("AllowedMethod", m) for m in rule.methods)
        inner += "".join(xml.tag("AllowedOrigin", o) for o in rule.origins)
        inner += "".join(xml.tag("ExposeHeader", h) for h in rule.expose)
        inner += xml.tag("MaxAgeSeconds", rule.max_age)
        parts.append(f"<CORSRule>{inner}</CORSRule>")
    return xml.document("CORSConfiguration", "".join(parts))


# -- matching ----------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _pattern(wildcard: str, ignore_case: bool) -> re.Pattern[str]:
    """An anchored pattern for a value with at most one ``*`` (any run of characters, the empty one included)."""
    before, star, after = wildcard.partition("*")
    body = re.escape(before) + (".*" + re.escape(after) if star else "")
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _matches(wildcard: str, value: str, ignore_case: bool = False) -> bool:
    if "*" not in wildcard:
        return value.lower() == wildcard.lower() if ignore_case else value == wildcard
    return _pattern(wildcard, ignore_case).fullmatch(value) is not None


def requested_headers(value: str | None) -> list[str]:
    """``Access-Control-Request-Headers``: the header names a preflight asks for, lower-cased."""
    if not value:
        return []
    return [h.strip().lower() for h in value.split(",") if h.strip()]


def match(rules: Sequence[Rule], origin: str, method: str, headers: Sequence[str] = ()) -> Rule | None:
    """The first rule allowing ``origin`` to send ``method`` with ``headers`` (a preflight's), or None."""
    for rule in rules:
        if method not in rule.methods:
            continue
        if not any(_matches(allowed, origin) for allowed in rule.origins):
            continue
        if all(any(_matches(allowed, h, ignore_case=True) for allowed in rule.headers) for h in headers):
            return rule
    return None


def allow_headers(rule: Rule, origin: str, headers: Sequence[str]) -> list[tuple[str, str]]:
    """The ``Access-Control-*`` headers (and ``Vary``) of a request that ``rule`` allows."""
    every = "*" in rule.origins
    out = [("access-control-allow-origin", "*" if every else origin)]
    if not every:
        out.append(("access-control-allow-credentials", "true"))
    out.append(("vary", VARY))
    out.append(("access-control-allow-methods", ", ".join(rule.methods)))
    if headers:
        out.append(("access-control-allow-headers", ", ".join(headers)))
    if rule.expose:
        out.append(("access-control-expose-headers", ", ".join(rule.expose)))
    if rule.max_age is not None:
        out.append(("access-control-max-age", str(rule.max_age)))
    return out


# -- storage -----------------------------------------------------------------------------------------------------

class CorsRules:
    """Each bucket's rules, cached per process until any worker changes a bucket (the buckets generation)."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta
        self._rules: GenerationCache[str, tuple[Rule, ...] | None] = GenerationCache(meta.buckets_generation,
                                                                                    self._load)

    async def _load(self, bucket: str) -> tuple[Rule, ...] | None:
        row = await self.meta.db.read.one("SELECT rules FROM bucket_cors WHERE bucket = ?", (bucket,))
        if row is None:
            return None
        return tuple(Rule.from_json(doc) for doc in json.loads(row[0]))

    async def of(self, bucket: str) -> tuple[Rule, ...] | None:
        return await self._rules.get(bucket)

    async def store(self, bucket: str, rules: Sequence[Rule] | None) -> None:
        """Set (or with None remove) the bucket's rules; NoSuchBucket if it went meanwhile."""
        text = None if rules is None else json.dumps([r.to_json() for r in rules], separators=(",", ":"))

        async def job(conn: Conn) -> bool:
            if await conn.one("SELECT 1 FROM buckets WHERE name = ?", (bucket,)) is None:
                return False
            if text is None:
                await conn.run("DELETE FROM bucket_cors WHERE bucket = ?", (bucket,))
            else:
                await conn.run("INSERT INTO bucket_cors(bucket, rules) VALUES (?, ?) ON CONFLICT(bucket) DO UPDATE "
                               "SET rules = excluded.rules", (bucket, text))
            return True
        if not await self.meta.db.write(job, bump=(generation.BUCKETS,)):
            raise AwsError("NoSuchBucket", BucketName=bucket)


# -- the API -----------------------------------------------------------------------------------------------------

async def put_bucket_cors(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    body = await read_body(call, MAX_BODY, required=True)
    await call.s3.cors.store(call.bucket, parse_configuration(body))
    return Response(200)


async def get_bucket_cors(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    rules = await call.s3.cors.of(call.bucket)
    if rules is None:
        raise AwsError("NoSuchCORSConfiguration", "The CORS configuration does not exist", 404,
                       BucketName=call.bucket)
    return Response(200, [("content-type", "application/xml")], configuration_xml(rules))


async def delete_bucket_cors(call: S3Call) -> Response:
    assert call.bucket is not None
    await call.existing_bucket()
    await call.s3.cors.store(call.bucket, None)
    return Response(204)


def _forbidden(message: str, method: str, resource_type: str) -> AwsError:
    return AwsError("AccessForbidden", message, 403, Method=method, ResourceType=resource_type)


async def preflight(s3: S3Service, request: Request) -> Response:
    """A preflight ``OPTIONS`` request: answered from the bucket's rules, whoever asks (no authentication)."""
    origin = request.headers.get("origin")
    if not origin:
        raise AwsError("BadRequest", "Insufficient information. Origin request header needed.", 400)
    bucket, key = s3.address(request)
    method = request.headers.get("access-control-request-method") or "OPTIONS"
    if bucket is None or await s3.meta.get_bucket(bucket) is None:
        raise _forbidden("CORSResponse: Bucket not found", method, "BUCKET")
    rules = await s3.cors.of(bucket)
    if rules is None:
        raise _forbidden("CORSResponse: CORS is not enabled for this bucket.", method, "BUCKET")
    asked = request.headers.get("access-control-request-method")
    if asked not in METHODS:  # judged only once the bucket has rules, as S3 does
        raise AwsError("BadRequest", f"Invalid Access-Control-Request-Method: {'null' if asked is None else asked}",
                       400)
    headers = requested_headers(request.headers.get("access-control-request-headers"))
    rule = match(rules, origin, method, headers)
    if rule is None:
        raise _forbidden(NOT_ALLOWED, method, "OBJECT" if key is not None else "BUCKET")
    return Response(200, allow_headers(rule, origin, headers))


async def response_headers(s3: S3Service, request: Request) -> list[tuple[str, str]]:
    """The CORS headers an actual request's answer (an error's too) gets: those of the first rule of its bucket
    that allows its ``Origin`` and method (``Access-Control-Request-Method`` stands for the method when sent), and
    the ``Access-Control-Request-Headers`` it names, if any."""
    origin = request.headers.get("origin")
    if not origin:
        return []
    bucket, _ = s3.address(request)
    if bucket is None:
        return []
    rules = await s3.cors.of(bucket)
    if not rules:
        return []
    # the Access-Control-Request-* headers are judged when sent, as in a preflight (S3 answers an actual request
    # whose requested headers no rule allows without CORS headers: LocalStack's AWS-recorded CORS snapshots)
    rule = match(rules, origin, request.headers.get("access-control-request-method") or request.method,
                 requested_headers(request.headers.get("access-control-request-headers")))
    return [] if rule is None else allow_headers(rule, origin, ())
