"""The Condition element: operators compiled once, evaluated against a request context.

Rules (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
and ``reference_policies_condition-single-vs-multi-valued-context-keys.html``):

- several operators, and several keys in one operator, are ANDed; several values for one key are ORed;
- a negated operator (``StringNotEquals``, ``NotIpAddress``…) holds when the request value matches none of them;
- a key absent from the request makes a positive operator false and a negated one true; ``…IfExists`` makes
  it true; ``ForAllValues:`` is true and ``ForAnyValue:`` false on an absent or empty key;
- ``Null`` tests presence: ``"true"`` holds when the key is absent.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import ipaddress
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from storeroom.policy.matching import Context, compile_pattern, has_variables, substitute

# request value, context -> does it match this one policy value?
ValueTest = Callable[[str, Context], bool]

# base operator -> its positive form (negated operators evaluate the positive one and invert)
NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
POSITIVE = (
    "StringEquals", "StringEqualsIgnoreCase", "StringLike",
    "NumericEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals",
    "DateEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals",
    "Bool", "BinaryEquals", "IpAddress", "ArnEquals", "ArnLike", "Null",
)
OPERATORS = frozenset(POSITIVE) | frozenset(NEGATED)
QUALIFIERS = ("ForAllValues:", "ForAnyValue:")


def split_operator(operator: str) -> tuple[str | None, str, bool]:
    """``"ForAnyValue:StringLikeIfExists"`` → ("ForAnyValue", "StringLike", True).  The base is returned even
    when it is not a known operator: the caller decides."""
    qualifier = None
    for prefix in QUALIFIERS:
        if operator.startswith(prefix):
            qualifier, operator = prefix[:-1], operator[len(prefix):]
            break
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    return qualifier, operator, if_exists


# --- value parsers -------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DATE = re.compile(
    r"^(?P<y>-?\d+)(?:-(?P<mo>\d{1,2})(?:-(?P<d>\d{1,2}))?)?"
    r"(?:[tT](?:(?P<h>\d{1,2})(?::(?P<mi>\d{1,2})(?::(?P<s>\d{1,2})(?:\.(?P<f>\d{1,9}))?)?)?)?"
    r"(?:(?P<z>[zZ])|(?P<sign>[+-])(?P<th>\d{1,2})(?::?(?P<tm>\d{2}))?)?)?$"
)
_EPOCH = re.compile(r"^-?\d+$")


def parse_number(text: str) -> float | None:
    return float(text) if _NUMBER.match(text) else None


def parse_date(text: str) -> float | None:
    """ISO 8601 (date, optional time, fraction and zone; naive means UTC) or epoch seconds → epoch seconds.
    None when it is neither.  Out-of-range years compare as ±infinity."""
    if "-" not in text and "t" not in text.lower():
        return float(text) if _EPOCH.match(text) else None
    m = _DATE.match(text)
    if m is None:
        return None
    year = int(m["y"])
    month, day = int(m["mo"] or 1), int(m["d"] or 1)
    hour, minute, second = int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0)
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 59):
        return None
    offset = 0
    if m["sign"]:
        th, tm = int(m["th"]), int(m["tm"] or 0)
        if th > 23 or tm > 59:
            return None
        offset = (th * 3600 + tm * 60) * (1 if m["sign"] == "+" else -1)
    if not 1 <= year <= 9999:
        return -math.inf if year < 1 else math.inf
    fraction = float("0." + m["f"]) if m["f"] else 0.0
    return calendar.timegm((year, month, day, hour, minute, second)) + fraction - offset


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


# --- per-operator value tests -------------------------------------------------------------------------------

def _string_equals(value: str, variables: bool, fold: bool) -> ValueTest:
    if variables and has_variables(value):
        def dynamic(request: str, ctx: Context) -> bool:
            expected = substitute(value, ctx)
            if expected is None:
                return False
            return request.lower() == expected.lower() if fold else request == expected
        return dynamic
    if fold:
        folded = value.lower()
        return lambda request, ctx: request.lower() == folded
    return lambda request, ctx: request == value


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "Equals": lambda r, p: r == p,
    "LessThan": lambda r, p: r < p,
    "LessThanEquals": lambda r, p: r <= p,
    "GreaterThan": lambda r, p: r > p,
    "GreaterThanEquals": lambda r, p: r >= p,
}


def _ordered(value: str, compare: Callable[[float, float], bool],
             parse: Callable[[str], float | None]) -> ValueTest:
    expected = parse(value)
    if expected is None:
        return lambda request, ctx: False

    def test(request: str, ctx: Context) -> bool:
        got = parse(request)
        return got is not None and compare(got, expected)
    return test


def _ip_test(value: str) -> ValueTest:
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return lambda request, ctx: False

    def test(request: str, ctx: Context) -> bool:
        address = _ip(request)
        return address is not None and address.version == network.version and address in network
    return test


def _arn_test(value: str, variables: bool) -> ValueTest:
    """ArnLike/ArnEquals (AWS treats them alike): each of the six colon-separated parts is matched on its own,
    so a ``*`` does not run across a ``:``."""
    parts = value.split(":", 5)
    if len(parts) < 6:
        # not an ARN pattern: only a bare "*" (any ARN) can match
        return lambda request, ctx: value == "*"
    matchers = [compile_pattern(part, variables=variables) for part in parts]

    def test(request: str, ctx: Context) -> bool:
        got = request.split(":", 5)
        return len(got) == 6 and all(m(g, ctx) for m, g in zip(matchers, got, strict=True))
    return test


def _binary_test(value: str) -> ValueTest:
    expected = _b64(value)

    def test(request: str, ctx: Context) -> bool:
        got = _b64(request)
        return expected is not None and (got if got is not None else request.encode()) == expected
    return test


def value_test(base: str, value: str, variables: bool) -> ValueTest:
    """The test of one policy value under a positive base operator."""
    if base == "StringEquals":
        return _string_equals(value, variables, fold=False)
    if base == "StringEqualsIgnoreCase":
        return _string_equals(value, variables, fold=True)
    if base == "StringLike":
        return compile_pattern(value, variables=variables)
    if base.startswith("Numeric"):
        return _ordered(value, _COMPARE[base[len("Numeric"):]], parse_number)
    if base.startswith("Date"):
        return _ordered(value, _COMPARE[base[len("Date"):]], parse_date)
    if base == "Bool":
        expected = value.lower()
        return lambda request, ctx: request.lower() == expected
    if base == "BinaryEquals":
        return _binary_test(value)
    if base == "IpAddress":
        return _ip_test(value)
    if base in ("ArnEquals", "ArnLike"):
        return _arn_test(value, variables)
    raise ValueError(base)


# --- a compiled condition -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Condition:
    operator: str                    # as written: "ForAnyValue:StringLikeIfExists"
    key: str                         # as written: "aws:SourceIp"
    key_lower: str
    values: tuple[str, ...]
    qualifier: str | None            # "ForAllValues" | "ForAnyValue" | None
    if_exists: bool
    negated: bool
    is_null: bool
    tests: tuple[ValueTest, ...]

    def holds(self, ctx: Mapping[str, Sequence[str]]) -> bool:
        present = ctx.get(self.key_lower)
        if self.is_null:
            absent = not present
            return any((v.lower() == "true") == absent for v in self.values)
        if not present:
            if self.if_exists or self.qualifier == "ForAllValues":
                return True
            if self.qualifier == "ForAnyValue":
                return False
            return self.negated
        tests = self.tests
        if self.qualifier == "ForAllValues":
            if self.negated:
                return all(not any(t(r, ctx) for t in tests) for r in present)
            return all(any(t(r, ctx) for t in tests) for r in present)
        if self.qualifier == "ForAnyValue" and self.negated:
            return any(not any(t(r, ctx) for t in tests) for r in present)
        matched = any(t(r, ctx) for r in present for t in tests)
        return not matched if self.negated else matched


def compile_condition(operator: str, key: str, values: tuple[str, ...], variables: bool) -> Condition:
    """Compile one (operator, key, values) triple; ``operator`` must have been validated."""
    qualifier, base, if_exists = split_operator(operator)
    negated = base in NEGATED
    positive = NEGATED.get(base, base)
    is_null = positive == "Null"
    tests = () if is_null else tuple(value_test(positive, v, variables) for v in values)
    return Condition(operator, key, key.lower(), values, qualifier, if_exists, negated, is_null, tests)
