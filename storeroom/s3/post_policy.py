"""POST Object's form, signature and policy (sans-IO): what an HTML form upload may do, with S3's answers.

A browser-based upload (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html) carries its authority
in form fields instead of a signed request: a base64 JSON *policy* and its signature, "calculated by using the
base64-encoded policy as the string to sign" (https://docs.aws.amazon.com/AmazonS3/latest/API/
sigv4-authentication-HTTPPOST.html) -- with ``x-amz-algorithm``, ``x-amz-credential``, ``x-amz-date`` and
``x-amz-signature`` (Signature Version 4), or ``AWSAccessKeyId`` and ``signature`` (an HMAC-SHA1, Version 2).  A
form without them is anonymous and uploads only where a bucket policy lets anyone write.

The policy (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html): "The POST policy
always contains the expiration and conditions elements"; conditions are exact matches (``{"acl": "public-read"}``
or ``["eq", "$acl", "public-read"]``), ``["starts-with", "$key", "user/"]`` ("Content-Types values for a
starts-with condition that include commas are interpreted as lists. Each value in the list must meet the
condition"), and ``["content-length-range", min, max]``.  "Each form field that you specify in a form (except
x-amz-signature, file, policy, and field names that have an x-ignore- prefix) must appear in the list of
conditions."  Field names compare without their case, values with it; ``bucket`` is the bucket the URL names.

S3's answers, as recorded against AWS (LocalStack's snapshot tests; the refusals' wording also in versitygw's
s3err/post-object.go): a missing field ``InvalidArgument`` "Bucket POST must contain a field named 'X'.  If it
is specified, please check the order of the fields."; a policy that is not one ``InvalidPolicyDocument``
"Invalid Policy: ..."; an expired one ``AccessDenied`` "Invalid according to Policy: Policy expired."; a failed
condition ``AccessDenied`` "Invalid according to Policy: Policy Condition failed: [\\"eq\\", \\"$key\\", \\"k\\"]"
(the condition's items as JSON); a field no condition covers ``AccessDenied`` "Invalid according to Policy:
Extra input fields: name".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from storeroom.errors import AwsError
from storeroom.http.types import UNSENDABLE
from storeroom.numbers import parse_int

ALGORITHM = "AWS4-HMAC-SHA256"
# The fields that sign a V4 form, in the order S3 names the first one missing.
V4_FIELDS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature", "Policy")
V2_FIELDS = ("AWSAccessKeyId", "Signature", "Policy")
# Fields no condition need cover.
_UNCOVERED_V4 = frozenset({"x-amz-signature", "file", "policy"})
_UNCOVERED_V2 = frozenset({"awsaccesskeyid", "signature", "file", "policy"})
IGNORED_PREFIX = "x-ignore-"
# Fields that sign the form or shape the answer: they stand for no header of the upload.
_AUTHORIZING = frozenset({"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature",
                          "x-amz-security-token"})
# The fields other than x-amz-* that stand for PutObject's headers of the same names.
CONTENT_FIELDS = ("cache-control", "content-disposition", "content-encoding", "content-language", "content-md5",
                  "content-type", "expires")


class Form:
    """The fields before the file, by name without case; each keeps the name as sent (for error messages)."""

    def __init__(self, pairs: list[tuple[str, str]], filename: str | None) -> None:
        self._fields: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            lower = name.lower()
            if lower.startswith("x-amz-meta-") and lower in self._fields:
                value = f"{self._fields[lower][1]},{value}"  # repeated metadata fields are joined, as headers
            self._fields[lower] = (name, value)
        if "key" in self._fields and filename is not None:
            # "${filename}: ... the variable is replaced with the name of the file the user chose" (its last path
            # element: some browsers send a full path)
            base = filename.replace("\\", "/").rpartition("/")[2]
            name, value = self._fields["key"]
            self._fields["key"] = (name, value.replace("${filename}", base))

    def get(self, name: str) -> str | None:
        found = self._fields.get(name.lower())
        return None if found is None else found[1]

    def sent_names(self) -> list[str]:
        return [name for name, _ in self._fields.values()]

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._fields


def missing(name: str) -> AwsError:
    return AwsError("InvalidArgument", f"Bucket POST must contain a field named '{name}'.  If it is specified, "
                    "please check the order of the fields.", ArgumentName=name, ArgumentValue="")


# -- the signature -----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Signed:
    """A signed form's credentials: V4 (``date``, ``region`` of the credential scope) or V2 ("AWS")."""

    version: str
    access_key_id: str
    policy: str
    signature: str
    date: str = ""
    region: str = ""


def signature_of(form: Form, region: str) -> Signed | None:
    """The form's signature fields, checked as S3 checks them; None for an anonymous form.  ``region`` is the
    bucket's: "The bucket must be in the region that you specified in the credential scope"."""
    if any(name in form for name in V4_FIELDS[:4]):
        values = []
        for name in V4_FIELDS:
            value = form.get(name)
            if value is None:
                raise missing(name)
            values.append(value)
        algorithm, credential, date, signature, policy = values
        if algorithm != ALGORITHM:
            raise AwsError("InvalidArgument", 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
                           ArgumentName="X-Amz-Algorithm", ArgumentValue=algorithm)
        if _amz_date(date) is None:
            raise AwsError("InvalidArgument", "X-Amz-Date must be formated via ISO8601 Long format",
                           ArgumentName="X-Amz-Date", ArgumentValue=date)
        access_key, day, scoped = _scope(credential, region)
        return Signed(ALGORITHM, access_key, policy, signature, day, scoped)
    if "AWSAccessKeyId" in form or "Signature" in form:
        values = []
        for name in V2_FIELDS:
            value = form.get(name)
            if value is None:
                raise missing(name)
            values.append(value)
        return Signed("AWS", values[0], values[2], values[1])
    return None


def _amz_date(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ")
    except ValueError:
        return None


def _scope(credential: str, region: str) -> tuple[str, str, str]:
    """``<access key>/<yyyymmdd>/<region>/s3/aws4_request``: (access key, day, region), with S3's refusals."""
    def fault(message: str, region_expected: str | None = None) -> AwsError:
        err = AwsError("InvalidArgument", message, ArgumentName="X-Amz-Credential", ArgumentValue=credential)
        if region_expected is not None:
            err.extra["Region"] = region_expected
        return err
    parts = credential.rsplit("/", 4)
    if len(parts) != 5:
        raise fault('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
    access_key, day, scoped, service, terminal = parts
    if not access_key:
        raise fault("a non-empty Access Key (AKID) must be provided in the credential.")
    if len(day) != 8 or _amz_date(f"{day}T000000Z") is None:
        raise fault(f'incorrect date format "{day}". This date in the credential must be in the format "yyyyMMdd".')
    if scoped and scoped != region:
        raise fault(f"the region '{scoped}' is wrong; expecting '{region}'", region)
    if service != "s3":
        raise fault(f'incorrect service "{service}". This endpoint belongs to "s3".')
    if terminal != "aws4_request":
        raise fault(f'incorrect terminal "{terminal}". This endpoint uses "aws4_request".')
    return access_key, day, scoped  # signed as sent: an empty region is the server's, as for headers


def verify(signed: Signed, secret: str) -> None:
    """SignatureDoesNotMatch unless the signature is the policy's, as sent, under ``secret``."""
    policy = signed.policy.encode()
    if signed.version == ALGORITHM:
        key = f"AWS4{secret}".encode()
        for part in (signed.date, signed.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, policy, hashlib.sha256).hexdigest()
    else:
        expected = base64.b64encode(hmac.new(secret.encode(), policy, hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(expected.encode(), signed.signature.encode()):
        raise AwsError("SignatureDoesNotMatch", AWSAccessKeyId=signed.access_key_id, StringToSign=signed.policy,
                       SignatureProvided=signed.signature,
                       StringToSignBytes=" ".join(f"{b:02x}" for b in policy))


# -- the policy --------------------------------------------------------------------------------------------------

def _invalid(message: str) -> AwsError:
    return AwsError("InvalidPolicyDocument", f"Invalid Policy: {message}", 400)


@dataclass(frozen=True, slots=True)
class Condition:
    operator: str              # "eq", "starts-with" or "content-length-range"
    field: str | None          # the form field a condition names ($-less; None: the name lacked its '$')
    operand: str = ""
    low: int | None = None     # content-length-range's bounds (None: a string that holds no size)
    high: int | None = None
    written: str = ""          # the condition as S3 writes it in an error

    def covers(self, name: str) -> bool:
        return self.field is not None and self.field.lower() == name.lower()


@dataclass(slots=True)
class Policy:
    expiration: float
    conditions: list[Condition] = field(default_factory=list)


def read_policy(text: str) -> Policy:
    """The policy a form's ``policy`` field holds, or ``InvalidPolicyDocument`` with S3's words."""
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("invalid Base64 encoding.") from None
    if not decoded.strip():
        raise _invalid("Expecting '{' but found End-of-Input")
    try:
        document = json.loads(decoded)
    except (ValueError, RecursionError):
        raise _invalid("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid("Invalid JSON.")
    for name in document:
        if name not in ("expiration", "conditions"):
            raise _invalid(f"Unexpected: '{name.lower()}'")
    if "expiration" not in document:
        raise _invalid("Policy missing expiration.")
    expiration = _expiration(document["expiration"])
    if "conditions" not in document:
        raise _invalid("Policy missing conditions.")
    conditions = document["conditions"]
    if not isinstance(conditions, list):
        raise _invalid("Invalid 'conditions' value: must be a List.")
    return Policy(expiration, [_condition(c) for c in conditions])


def _expiration(value: object) -> float:
    """"The expiration element specifies the expiration date and time of the POST policy in ISO8601 GMT date
    format" -- a UTC time written with ``Z``; S3 refuses an offset or a space for the ``T``."""
    text = value if isinstance(value, str) else json.dumps(value)
    if isinstance(value, str) and value.endswith("Z") and len(value) > 10 and value[10] == "T":
        try:
            return dt.datetime.fromisoformat(value).timestamp()
        except ValueError:
            pass
    raise _invalid(f"Invalid 'expiration' value: '{text}'")


def _written(items: list[Any]) -> str:
    return "[" + ", ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def _condition(value: object) -> Condition:
    if isinstance(value, dict):
        if len(value) != 1:
            raise _invalid("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
        ((name, operand),) = value.items()
        if operand is None:
            raise _invalid("Invalid JSON.")
        if not isinstance(operand, str):
            raise _invalid("Invalid Simple-Condition: value must be a string.")
        return Condition("eq", name, operand, written=_written(["eq", f"${name}", operand]))
    if not isinstance(value, list):
        raise _invalid("Invalid condition test: must be a List or Object.")
    if not value or not isinstance(value[0], str):
        raise _invalid("Invalid Condition: missing operation identifier.")
    operator = value[0].lower()
    if operator not in ("eq", "starts-with", "content-length-range"):
        raise _invalid(f"Invalid Condition: unknown operation '{value[0]}'.")
    if len(value) != 3:
        raise _invalid(f"Invalid {value[0]}: wrong number of arguments.")
    written = _written(value)
    if operator == "content-length-range":
        return Condition(operator, None, low=_bound(value[1]), high=_bound(value[2]), written=written)
    name, operand = value[1], value[2]
    if not isinstance(name, str) or not isinstance(operand, str):
        raise _invalid("Invalid JSON.")
    return Condition(operator, name[1:] if name.startswith("$") else None, operand, written=written)


def _bound(value: object) -> int | None:
    """A size: a whole number (``512.0`` and negatives are "Invalid JSON." on S3), or a string of digits (any
    other string makes the condition fail)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid("Invalid JSON.")
    if isinstance(value, int):
        if value < 0:
            raise _invalid("Invalid JSON.")
        return value
    return parse_int(value, signed=False)  # more digits than a Java long holds: no size either


@dataclass(frozen=True, slots=True)
class Size:
    """The file sizes the policy allows, bounds included."""

    low: int = 0
    high: int | None = None


def check_policy(policy: Policy, form: Form, bucket: str, now: float, signed: Signed) -> Size:
    """Expiration, then each condition in turn, then that every field is covered; returns the allowed sizes."""
    if now > policy.expiration:
        raise AwsError("AccessDenied", "Invalid according to Policy: Policy expired.")
    low, high = 0, None
    for condition in policy.conditions:
        if condition.operator == "content-length-range":
            if condition.low is None or condition.high is None:
                _failed(condition)
            assert condition.low is not None and condition.high is not None
            low = max(low, condition.low)
            high = condition.high if high is None else min(high, condition.high)
            continue
        value = None if condition.field is None else (
            bucket if condition.field.lower() == "bucket" else form.get(condition.field))
        if value is None:
            _failed(condition)  # a field the form does not hold fails its condition, even starts-with ""
        assert value is not None and condition.field is not None
        if condition.operator == "eq":
            holds = value == condition.operand
        elif condition.field.lower() == "content-type":
            holds = all(v.strip(" \t").startswith(condition.operand) for v in value.split(","))
        else:
            holds = value.startswith(condition.operand)
        if not holds:
            _failed(condition)
    exempt = _UNCOVERED_V4 if signed.version == ALGORITHM else _UNCOVERED_V2
    for name in form.sent_names():
        lower = name.lower()
        if lower in exempt or lower.startswith(IGNORED_PREFIX):
            continue
        if not any(c.covers(name) for c in policy.conditions):
            raise AwsError("AccessDenied", f"Invalid according to Policy: Extra input fields: {name}")
    return Size(low, high)


def _failed(condition: Condition) -> None:
    raise AwsError("AccessDenied", f"Invalid according to Policy: Policy Condition failed: {condition.written}")


# -- what the form asks of the upload ----------------------------------------------------------------------------

def upload_headers(form: Form) -> dict[str, str]:
    """The PutObject headers the form's fields stand for ("Parameters that are passed to PUT through HTTP headers
    are instead passed as form fields"): ``acl`` is ``x-amz-acl``; names lower-case."""
    headers: dict[str, str] = {}
    for name in form.sent_names():
        lower = name.lower()
        value = form.get(name)
        assert value is not None
        if (lower == "acl" or lower in CONTENT_FIELDS or lower.startswith("x-amz-")) and UNSENDABLE.search(value):
            # a header's value cannot hold a line break or another control character: stored, it would make
            # every GET and HEAD of the object unanswerable
            raise AwsError("InvalidArgument", f"The {name} field holds a control character, which a header cannot "
                           "carry.", ArgumentName=name)
        if lower == "acl":
            headers["x-amz-acl"] = value
        elif lower in CONTENT_FIELDS or (lower.startswith("x-amz-") and lower not in _AUTHORIZING):
            headers[lower] = value
    return headers


def redirect_to(url: str, bucket: str, key: str, etag: str) -> str | None:
    """``success_action_redirect`` with ``bucket``, ``key`` and the quoted ``etag`` added to its query, each
    form-encoded as S3 adds them; None for what S3 cannot interpret ("If Amazon S3 cannot interpret the URL, it
    acts as if the field is not present"): anything but an absolute http(s) URL a Location header can carry."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not url.isascii() or not url.isprintable():
        return None
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not host or " " in host:
        return None
    base, hash_sign, fragment = url.partition("#")
    query = (f"bucket={quote_plus(bucket, safe='')}&key={quote_plus(key, safe='')}"
             f"&etag={quote_plus(chr(34) + etag + chr(34), safe='')}")
    return base + ("&" if "?" in base else "?") + query + (hash_sign + fragment)


def object_location(scheme: str, host: str, bucket: str, key: str, virtual_host: bool) -> str:
    """The uploaded object's URL, its key percent-encoded (``/`` included), as S3 writes ``Location``."""
    encoded = quote(key, safe="")
    return f"{scheme}://{host}/{encoded}" if virtual_host else f"{scheme}://{host}/{bucket}/{encoded}"
