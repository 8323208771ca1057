"""The Condition element: operators compiled once, evaluated against a request context.

Rules (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
and ``reference_policies_condition-single-vs-multi-valued-context-keys.html``):

- several operators, and several keys in one operator, are ANDed; several values for one key are ORed;
- a negated operator (``StringNotEquals``, ``NotIpAddress``…) holds when the request value matches none of them;
- a key absent from the request makes a positive operator false and a negated one true; ``…IfExists`` makes
  it true; ``ForAllValues:`` is true and ``ForAnyValue:`` false on an absent or empty key;
- ``Null`` tests presence: ``"true"`` holds when the key is absent;
- policy variables are substituted in the values of the String, Bool and Arn operators only; a variable that has
  neither a value nor a default makes AWS hold the statement invalid: here its value matches nothing, except
  under a negated operator of an Allow, where it keeps the condition from holding (an Allow never applies
  because of a variable it could not resolve; a Deny stays at least as strict as AWS);
- a request value the operator cannot read (a non-number for Numeric…, a non-address for IpAddress) matches no
  policy value, and nothing here raises on it.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import ipaddress
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from storeroom.policy.matching import (
    Context,
    compile_pattern,
    has_variables,
    parse_template,
    substitute,
    variable_value,
)

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
    r"(?:(?P<z>[zZ])|(?P<sign>[+-])(?P<th>\d{2})(?::?(?P<tm>\d{2}))?)?)?$"
)  # a zone's hours take two digits: IAM refuses "...+1" ("failed legacy parsing") and takes "...+23"
_EPOCH = re.compile(r"^-?\d+$")


def parse_number(text: str) -> Decimal | None:
    """An integer or decimal, exactly (``float`` would make 2**53 + 1 equal 2**53); None when it is not one."""
    return Decimal(text) if _NUMBER.match(text) else None


_LONGEST_DATE = 64      # "-2020-01-01T00:00:00.123456789+01:00" is 36; longer texts are not dates


def parse_date(text: str) -> float | None:
    """ISO 8601 (date, optional time, fraction and zone; naive means UTC) or epoch seconds → epoch seconds.
    None when it is neither.  Out-of-range years compare as ±infinity."""
    if len(text) > _LONGEST_DATE:       # int() refuses more than 4300 digits: never reach it
        return None
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
    """The address, an IPv4-mapped IPv6 address (``::ffff:192.0.2.1``, what a dual-stack socket reports for an
    IPv4 client) as its IPv4 address."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


# --- per-operator value tests -------------------------------------------------------------------------------

def _string_equals(value: str, variables: bool, fold: bool, unresolved: bool) -> ValueTest:
    if variables and has_variables(value):
        def dynamic(request: str, ctx: Context) -> bool:
            expected = substitute(value, ctx)
            if expected is None:
                return unresolved
            return request.lower() == expected.lower() if fold else request == expected
        return dynamic
    if fold:
        folded = value.lower()
        return lambda request, ctx: request.lower() == folded
    return lambda request, ctx: request == value


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "LessThanEquals": operator.le,
    "GreaterThan": operator.gt,
    "GreaterThanEquals": operator.ge,
}


def _ordered(value: str, compare: Callable[[Any, Any], bool], parse: Callable[[str], Any]) -> ValueTest:
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

    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        # "::ffff:192.0.2.0/120": the IPv4 addresses it maps
        network = ipaddress.ip_network(f"{network.network_address.ipv4_mapped}/{network.prefixlen - 96}")

    def test(request: str, ctx: Context) -> bool:
        address = _ip(request)
        return address is not None and address.version == network.version and address in network
    return test


_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_VARIABLE_OR_COLON = re.compile(r"\$\{[^}]*\}|:")


def _arn_parts(value: str) -> list[str]:
    """``value`` split at its first five colons, a colon inside a policy variable (``${aws:username}``) not
    counting as one."""
    parts = [""]
    pos = 0
    for m in _VARIABLE_OR_COLON.finditer(value):
        if m.group() == ":" and len(parts) < 6:
            parts[-1] += value[pos:m.start()]
            parts.append("")
            pos = m.end()
    parts[-1] += value[pos:]
    return parts


def _arn_test(value: str, variables: bool, unresolved: bool) -> ValueTest:
    """ArnLike/ArnEquals (AWS treats them alike): each of the six colon-separated parts is matched on its own,
    so a ``*`` does not run across a ``:``."""
    parts = _arn_parts(value) if variables else value.split(":", 5)
    if len(parts) < 6:
        # not an ARN pattern: only a bare "*" (any ARN) can match
        return lambda request, ctx: value == "*"
    matchers = [compile_pattern(part, variables=variables) for part in parts]
    references = [(key, default) for kind, key, default in parse_template(value) if kind == "var"] \
        if variables else []

    def test(request: str, ctx: Context) -> bool:
        if references and any(variable_value(key, default, ctx) is None for key, default in references):
            return unresolved
        got = request.split(":", 5)
        return len(got) == 6 and all(m(g, ctx) for m, g in zip(matchers, got, strict=True))
    return test


def _bool_test(value: str, variables: bool, unresolved: bool) -> ValueTest:
    """``"true"``/``"false"``, any case (JSON ``true`` is read as ``"true"``)."""
    if variables and has_variables(value):
        def dynamic(request: str, ctx: Context) -> bool:
            expected = substitute(value, ctx)
            return unresolved if expected is None else request.lower() == expected.lower()
        return dynamic
    expected = value.lower()
    return lambda request, ctx: request.lower() == expected


def _binary_test(value: str) -> ValueTest:
    expected = _b64(value)

    def test(request: str, ctx: Context) -> bool:
        got = _b64(request)
        return expected is not None and (got if got is not None else request.encode()) == expected
    return test


def value_test(base: str, value: str, variables: bool, unresolved: bool = False) -> ValueTest:
    """The test of one policy value under a positive base operator.  ``variables``: the policy is 2012-10-17
    (String, Bool and Arn values substitute policy variables); ``unresolved``: the answer when a variable has
    neither a value nor a default."""
    if base == "StringEquals":
        return _string_equals(value, variables, fold=False, unresolved=unresolved)
    if base == "StringEqualsIgnoreCase":
        return _string_equals(value, variables, fold=True, unresolved=unresolved)
    if base == "StringLike":
        return compile_pattern(value, variables=variables, unresolved=unresolved)
    if base.startswith("Numeric"):
        return _ordered(value, _COMPARE[base[len("Numeric"):]], parse_number)
    if base.startswith("Date"):
        return _ordered(value, _COMPARE[base[len("Date"):]], parse_date)
    if base == "Bool":
        return _bool_test(value, variables, unresolved)
    if base == "BinaryEquals":
        return _binary_test(value)
    if base == "IpAddress":
        return _ip_test(value)
    if base in ("ArnEquals", "ArnLike"):
        return _arn_test(value, variables, unresolved)
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


def compile_condition(operator: str, key: str, values: tuple[str, ...], variables: bool,
                      effect: str = "Allow") -> Condition:
    """Compile one (operator, key, values) triple of a statement of ``effect``; ``operator`` must have been
    validated."""
    qualifier, base, if_exists = split_operator(operator)
    negated = base in NEGATED
    positive = NEGATED.get(base, base)
    is_null = positive == "Null"
    # an unresolvable variable must not make a negated operator hold in an Allow: let it "match"
    unresolved = negated and effect == "Allow"
    tests = () if is_null else tuple(value_test(positive, v, variables, unresolved) for v in values)
    return Condition(operator, key, key.lower(), values, qualifier, if_exists, negated, is_null, tests)
