"""Policy documents: parse, validate (IAM's MalformedPolicyDocument messages), compile.

The checks run in the order IAM applies them, so a document with several faults gets the message IAM would
give: syntax, the Principal rule, version, "legacy parsing", Sid uniqueness, missing Action/Resource, resource
format, action format.  The messages are IAM's, as observed by moto's test-suite (tests/test_iam/
test_iam_policies.py, recorded against AWS), and IAM's Sid rule ("Statement IDs (SID) must be alpha-numeric…",
IAM policies only: S3 takes any Sid).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from storeroom.errors import AwsError
from storeroom.policy.conditions import OPERATORS, Condition, compile_condition, parse_date, split_operator
from storeroom.policy.matching import Context, Matcher, compile_patterns, has_variables, variables_in

VERSIONS = ("2012-10-17", "2008-10-17")
KINDS = ("identity", "managed", "resource", "trust")
# What a role's trust policy may allow (the STS actions a trust policy can name)
TRUST_ACTIONS = frozenset(a.lower() for a in (
    "sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity", "sts:TagSession",
    "sts:SetSourceIdentity", "sts:SetContext"))
_NO_PRINCIPALS = ("Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: The passed in policy "
                  "has a statement with no principals!")
# IAM's words of 2026 (LocalStack's AWS recording: test_iam_roles.py test_update_assume_role_policy_errors)
_TRUST_ACTIONS_MESSAGE = "AssumeRole policy may only specify STS AssumeRole actions."
_TOP = frozenset({"Version", "Id", "Statement"})
_ELEMENTS = frozenset({"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
                       "NotResource", "Condition"})
_PRINCIPAL_TYPES = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
_IAM_PATHS = ("user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/", "server-certificate/",
              "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/", "report/", "access-report/")
_VENDOR_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
_SID = re.compile(r"[0-9A-Za-z]*")
_SID_MESSAGE = ("Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression "
                "[0-9A-Za-z]*")


def _not_json(constant: str) -> Any:
    """Python's json reads NaN, Infinity and -Infinity; JSON (and IAM) has no such values."""
    raise ValueError(constant)


def _nothing(value: str, ctx: Context) -> bool:
    return False


class _Syntax(Exception):
    """Any structural fault: IAM answers all of them with "Syntax errors in policy."."""


def _malformed(message: str) -> AwsError:
    return AwsError("MalformedPolicyDocument", message, 400)


# --- compiled forms -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Principals:
    """A Principal/NotPrincipal element: ``"*"``, or ARNs/account ids per type."""
    any: bool = False
    # user/role ARNs or, in stored trust and bucket policies, this account's users' and roles' unique ids
    # (storeroom/iam/principal_ids.py); account root ARNs (account ids normalised)
    aws: frozenset[str] = frozenset()
    others: frozenset[str] = frozenset()     # "Service:s3.amazonaws.com", "CanonicalUser:…", "Federated:…"

    def names(self, principal_arn: str, principal_type: str, account_id: str, effect: str) -> bool:
        """Does this Principal element name the caller (``principal_arn``: its ARN, or its unique id when the
        policy is a stored one: ``AuthRequest.caller_key``)?  An account (``"123456789012"``/``…:root``) names its
        root user; for a Deny it names every identity of the account (an Allow to the account only delegates to
        it, which the identity policies then decide).  A service principal (S3's log delivery) is asked about as
        ``"Service:<name>"``."""
        if self.any or principal_arn in self.aws or principal_arn in self.others:
            return True
        if not account_id or f"arn:aws:iam::{account_id}:root" not in self.aws:
            return False
        return principal_type == "Root" or effect == "Deny"

    def exempts(self, principal_arn: str, account_id: str, effect: str) -> bool:
        """Does this NotPrincipal element keep the caller out of its statement?  AWS evaluates a NotPrincipal
        against the caller's account as well as the caller ("you must also specify the account ARN of the
        not-denied principal. Otherwise, the policy might deny access to the entire account"), so:

        - a Deny spares the caller only when it lists the caller and the caller's account (the account's root
          user is both);
        - an Allow leaves out the caller when it lists the caller or the caller's account."""
        if self.any:
            return True
        account = f"arn:aws:iam::{account_id}:root" if account_id else None
        listed, account_listed = principal_arn in self.aws, account is not None and account in self.aws
        if effect == "Deny":
            return listed and account_listed
        return listed or account_listed


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str | None
    effect: str                              # "Allow" | "Deny"
    raw: dict[str, Any]
    actions: Matcher = _nothing              # Action or NotAction patterns (case-insensitive)
    not_action: bool = False
    resources: Matcher = _nothing            # Resource or NotResource patterns
    resource_texts: tuple[str, ...] = ()
    not_resource: bool = False
    any_resource: bool = False               # Resource "*" (fast path)
    static: bool = False                     # Resource patterns without variables, no Condition (fast path)
    principal: Principals | None = None      # Principal or NotPrincipal (resource policies)
    not_principal: bool = False
    conditions: tuple[Condition, ...] = ()
    # the context keys its policy variables without a default value name, as (lower-cased, as written): in
    # Resource/NotResource and in condition values; the simulator lists those a request lacks as missing
    resource_variables: tuple[tuple[str, str], ...] = ()
    condition_variables: tuple[tuple[str, str], ...] = ()
    start: tuple[int, int] = (1, 1)          # (line, column) of the statement's "{", 1-based
    end: tuple[int, int] = (1, 1)            # just after its "}"

    def matches_action(self, action: str) -> bool:
        """``action`` lower-cased."""
        return self.actions(action, {}) != self.not_action

    def matches_resource(self, resource: str, ctx: Context) -> bool:
        """``resource`` is matched literally, also when it is ``*`` (an action without resource-level
        permissions): only a pattern that matches the text ``*`` covers it, as IAM requires ``"Resource": "*"``
        for such actions — a policy scoped to ``user/${aws:username}`` must not grant iam:GetAccountSummary."""
        if self.any_resource:
            return True
        return self.resources(resource, ctx) != self.not_resource

    def conditions_hold(self, ctx: Context) -> bool:
        return all(c.holds(ctx) for c in self.conditions)


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    text: str
    version: str
    statements: tuple[Statement, ...]
    id: str | None = None
    # action (lower-cased) -> indexes of the statements whose Action/NotAction covers it (filled lazily)
    by_action: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False, compare=False)
    # the text names s3:ExistingObjectTag: only then does S3 read an object's tags to judge a request
    names_existing_tags: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names_existing_tags", "existingobjecttag" in self.text.lower())

    def statements_for(self, action: str) -> tuple[int, ...]:
        try:
            return self.by_action[action]
        except KeyError:
            found = tuple(i for i, s in enumerate(self.statements) if s.matches_action(action))
            if len(self.by_action) > 4096:
                self.by_action.clear()
            self.by_action[action] = found
            return found


# --- parsing ------------------------------------------------------------------------------------------------

def parse_policy(text: str, kind: str = "identity", *, stored: bool = False) -> Policy:
    """``kind``: "identity" (user and group inline policies: no Principal element), "managed" (customer managed
    policies and their versions, permissions boundaries: also Version 2012-10-17 required, as CreatePolicy
    demands), "resource" (bucket policies: Principal or NotPrincipal required) or "trust" (a role's trust policy:
    a Principal, STS actions only, no Resource — the role is the resource).  Raises
    ``AwsError("MalformedPolicyDocument", <IAM's message>, 400)``.  ``stored``: the document was accepted when
    written; rules added since (the Sid format) are not applied to it again, so an older data dir's policies
    still compile."""
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r}")
    try:
        doc = json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError):
        # a role's trust policy that is no JSON has IAM's other words (LocalStack's AWS recordings: test_iam.py
        # test_create_role_with_malformed_assume_role_policy_document, and UpdateAssumeRolePolicy's)
        raise _malformed("This policy contains invalid Json" if kind == "trust" else "Syntax errors in policy.") \
            from None
    try:
        statements = _check_syntax(doc)
    except (ValueError, RecursionError, _Syntax):
        raise _malformed("Syntax errors in policy.") from None
    _check_principals(statements, kind)
    version = doc.get("Version")
    if kind == "managed" and version != "2012-10-17":
        raise _malformed("Policy document must be version 2012-10-17 or greater.")
    resource_error = _check_legacy(statements)
    _check_sids(statements, alphanumeric=kind != "resource" and not stored)
    if kind == "trust":
        _check_trust(statements)
        resource_error = ""
    else:
        _check_present(statements, kind)
    if resource_error:
        raise _malformed(resource_error)
    for st in statements:
        for key in ("Action", "NotAction"):
            for action in _strings(st.get(key)):
                _check_action(action)
    version = version or "2008-10-17"
    try:
        positions = _statement_positions(text)
    except (ValueError, IndexError):         # positions are a nicety: never fail a valid document over them
        positions = []
    if len(positions) != len(statements):
        positions = [((1, 1), (1, 1))] * len(statements)
    if kind == "trust":  # its statements are about the role itself: as if each said "Resource": "*"
        statements = [{**st, "Resource": "*"} for st in statements]
    compiled = tuple(_compile(st, version == "2012-10-17", pos) for st, pos in zip(statements, positions,
                                                                                   strict=True))
    return Policy(text, version, compiled, doc.get("Id"))


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _string_or_list(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _check_syntax(doc: Any) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or not _TOP.issuperset(doc):
        raise _Syntax
    if "Version" in doc and doc["Version"] not in VERSIONS:
        raise _Syntax
    if "Id" in doc and not isinstance(doc["Id"], str):
        raise _Syntax
    raw = doc.get("Statement")
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements:
        raise _Syntax
    for st in statements:
        _check_statement_syntax(st)
    return statements


def _check_statement_syntax(st: Any) -> None:
    if not isinstance(st, dict) or not _ELEMENTS.issuperset(st):
        raise _Syntax
    for a, b in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
        if a in st and b in st:
            raise _Syntax
    effect = st.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        raise _Syntax
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        if key in st and not _string_or_list(st[key]):
            raise _Syntax
    if "Sid" in st and not isinstance(st["Sid"], str):
        raise _Syntax
    for key in ("Principal", "NotPrincipal"):
        if key in st:
            _check_principal_syntax(st[key])
    if "Condition" in st:
        _check_condition_syntax(st["Condition"])


def _check_principal_syntax(value: Any) -> None:
    if value == "*":
        return
    if not isinstance(value, dict) or not value or not _PRINCIPAL_TYPES.issuperset(value):
        raise _Syntax
    for names in value.values():
        if not _string_or_list(names):
            raise _Syntax


def _condition_value(value: Any) -> bool:
    return isinstance(value, (str, bool, int, float))


def _check_condition_syntax(block: Any) -> None:
    if not isinstance(block, dict):
        raise _Syntax
    for operator, keys in block.items():
        if not isinstance(keys, dict):
            raise _Syntax
        for values in keys.values():
            if not (_condition_value(values) or (isinstance(values, list) and all(map(_condition_value, values)))):
                raise _Syntax
        _qualifier, base, _if_exists = split_operator(operator)
        if base not in OPERATORS and keys:
            raise _Syntax


def _check_principals(statements: list[dict[str, Any]], kind: str) -> None:
    for st in statements:
        has = "Principal" in st or "NotPrincipal" in st
        if kind not in ("resource", "trust") and has:
            raise _malformed("Policy document should not specify a principal.")
        if kind == "resource" and not has:
            raise _malformed("Missing required field Principal")
        if kind == "trust" and not has:
            raise _malformed(_NO_PRINCIPALS)


def _check_trust(statements: list[dict[str, Any]]) -> None:
    """A trust policy's statements name STS actions only (wildcards included: ``sts:*``,
    ``sts:AssumeRole*``) and no Resource; IAM checks in that order (moto's recordings of IAM; the messages are
    the newer ones AWS answered in 2026)."""
    if not all(_present(st, "Action", "NotAction") for st in statements):
        raise _malformed("Policy statement must contain actions.")
    for st in statements:
        for action in _strings(st.get("Action", st.get("NotAction"))):
            lowered = action.lower()
            if lowered not in TRUST_ACTIONS and not (
                    ("*" in lowered or "?" in lowered) and lowered.startswith(("sts:", "*"))):
                raise _malformed(_TRUST_ACTIONS_MESSAGE)
    if any("Resource" in st or "NotResource" in st for st in statements):
        raise _malformed("Has prohibited field Resource")


def _legacy_date(text: str) -> bool:
    """A date IAM's parser takes: ISO 8601, or epoch seconds within a Java long (moto's AWS-derived cases:
    9223372036854775808 "failed legacy parsing")."""
    if parse_date(text) is None:
        return False
    return not text.lstrip("-").isdigit() or -(2**63) <= int(text) < 2**63


def _check_legacy(statements: list[dict[str, Any]]) -> str:
    """IAM's "legacy parsing" pass: case-sensitive Effect, parseable dates, ARN shapes.  Returns the first
    resource-format message, which IAM reports only after the Sid and Action/Resource presence checks; while
    none is found, each statement's resources must also pass the legacy ARN parser."""
    for st in statements:
        if st["Effect"] not in ("Allow", "Deny"):
            raise _malformed("The policy failed legacy parsing")
        for operator, keys in st.get("Condition", {}).items():
            if split_operator(operator)[1].startswith("Date"):
                for values in keys.values():
                    if any(not _legacy_date(_as_text(v)) for v in _listed(values)):
                        raise _malformed("The policy failed legacy parsing")
    first_error = ""
    for key in ("Resource", "NotResource"):
        for st in statements:
            resources = _strings(st.get(key))
            for resource in sorted(resources, reverse=True):
                first_error = first_error or _resource_error(resource)
            if key in st and not first_error and not all(map(_legacy_arn, resources)):
                raise _malformed("The policy failed legacy parsing")
    return first_error


def _legacy_arn(resource: str) -> bool:
    if resource == "*":
        return True
    parts = resource.split(":")
    return (len(parts) > 5 or "::" not in resource) and len(parts) > 2 and parts[2] != ""


def _listed(values: Any) -> list[Any]:
    return values if isinstance(values, list) else [values]


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _resource_error(resource: str) -> str:
    """IAM's message for a resource that is neither "*" nor a well-formed ARN, or "".  Like IAM, the text
    before the first colon is not looked at."""
    if resource == "*":
        return ""
    if ":" not in resource:
        return f'Resource {resource} must be in ARN format or "*".'
    partition, colon, rest = resource.partition(":")[2].partition(":")
    if partition != "aws":
        parts = rest.split(":")
        arn1 = parts[0] if parts[0] != "" or len(parts) > 1 else "*"
        arn2 = parts[1] if len(parts) > 1 else "*"
        arn3 = parts[2] if len(parts) > 2 else "*"
        arn4 = ":".join(parts[3:]) if len(parts) > 3 else "*"
        return f'Partition "{partition}" is not valid for resource "arn:{partition}:{arn1}:{arn2}:{arn3}:{arn4}".'
    if not colon:
        return "Resource vendor must be fully qualified and cannot contain regexes."
    service, _, rest = rest.partition(":")
    # a bucket's or an object's ARN names no region; an access point's, a job's, ... name one with their account
    # (arn:aws:s3:us-west-2:123456789012:accesspoint/x), which IAM accepts (LocalStack's AWS-recorded policies)
    s3_with_account = service == "s3" and rest.partition(":")[2].partition(":")[0] != ""
    if service in ("iam", "s3") and not rest.startswith(":") and not s3_with_account:
        return (f"IAM resource {resource} cannot contain region information." if service == "iam"
                else f"Resource {resource} can not contain region information.")
    path = rest.partition(":")[2].partition(":")[2]
    # "*" and the account's root (arn:aws:iam::123456789012:root) are IAM resources too, as IAM's message says
    # (AWS's answers quoted in deploy logs, 2026: 'IAM resource path must either be "*", root, or start with ...')
    if service == "iam" and path not in ("*", "root") and not path.startswith(_IAM_PATHS):
        return 'IAM resource path must either be "*", root, or start with ' + ", ".join(_IAM_PATHS) + "."
    return ""


def _check_sids(statements: list[dict[str, Any]], alphanumeric: bool) -> None:
    """IAM policies take only alphanumeric Sids (checked before uniqueness, as IAM does); bucket policies any."""
    if alphanumeric and not all(_SID.fullmatch(st.get("Sid", "")) for st in statements):
        raise _malformed(_SID_MESSAGE)
    seen: set[str] = set()
    for st in statements:
        sid = st.get("Sid")
        if sid:
            if sid in seen:
                raise _malformed("Statement IDs (SID) in a single policy must be unique.")
            seen.add(sid)


def _check_present(statements: list[dict[str, Any]], kind: str) -> None:
    if not all(_present(st, "Action", "NotAction") for st in statements):
        raise _malformed("Policy statement must contain actions.")
    if not all(_present(st, "Resource", "NotResource") for st in statements):
        raise _malformed("Policy statement must contain resources." if kind != "resource"
                         else "Missing required field Resource")


def _present(st: dict[str, Any], key: str, not_key: str) -> bool:
    """An element counts when given, even as "" (its format is checked later), but not as []."""
    value = st.get(key, st.get(not_key))
    return value is not None and value != []


def _check_action(action: str) -> None:
    if action == "*":
        return
    parts = action.split(":")
    if len(parts) == 1:
        raise _malformed("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
    if len(parts) > 2:
        raise _malformed("Actions/Condition can contain only one colon.")
    if parts[0] != "*" and not _VENDOR_OK.issuperset(parts[0]):
        raise _malformed(f"Vendor {parts[0]} is not valid")


# --- compiling ----------------------------------------------------------------------------------------------

def _compile(st: dict[str, Any], variables: bool, position: tuple[tuple[int, int], tuple[int, int]]) -> Statement:
    not_action = "NotAction" in st
    actions = compile_patterns(_strings(st.get("NotAction" if not_action else "Action")), variables=False,
                               ignore_case=True)
    not_resource = "NotResource" in st
    texts = tuple(_strings(st.get("NotResource" if not_resource else "Resource")))
    # A variable that cannot be resolved makes AWS hold the statement invalid.  A pattern with one matches no
    # resource — except in the NotResource of an Allow, where matching none would allow every resource: there it
    # matches all, so the Allow applies to none.
    resources = compile_patterns(texts, variables=variables, unresolved=not_resource and st["Effect"] == "Allow")
    not_principal = "NotPrincipal" in st
    principal_element = st.get("NotPrincipal" if not_principal else "Principal")
    conditions = tuple(
        compile_condition(operator, key, tuple(_as_text(v) for v in _listed(values)), variables, st["Effect"])
        for operator, keys in st.get("Condition", {}).items() if keys
        for key, values in keys.items()
    )
    return Statement(
        sid=st.get("Sid"), effect=st["Effect"], raw=st,
        actions=actions, not_action=not_action,
        resources=resources, resource_texts=texts, not_resource=not_resource,
        any_resource=not not_resource and "*" in texts,
        static=not not_resource and not conditions and not (variables and any(map(has_variables, texts))),
        principal=None if principal_element is None else _principals(principal_element),
        not_principal=not_principal,
        conditions=conditions, start=position[0], end=position[1],
        resource_variables=_variables(texts, with_defaults=False) if variables else (),
        condition_variables=_variables([v for c in conditions for v in c.values], with_defaults=False)
        if variables else (),
    )


def _variables(texts: Sequence[str], *, with_defaults: bool = True) -> tuple[tuple[str, str], ...]:
    seen: dict[str, str] = {}
    for text in texts:
        for key, defaulted in variables_in(text):
            if with_defaults or not defaulted:
                seen.setdefault(key.lower(), key)
    return tuple(seen.items())


def _principals(element: Any) -> Principals:
    if element == "*":
        return Principals(any=True)
    aws: set[str] = set()
    others: set[str] = set()
    any_ = False
    for kind, names in element.items():
        for name in _strings(names):
            if kind != "AWS":
                others.add(f"{kind}:{name}")
            elif name == "*":
                any_ = True
            elif name.isdigit() and len(name) == 12:
                aws.add(f"arn:aws:iam::{name}:root")
            else:
                aws.add(name)
    return Principals(any_, frozenset(aws), frozenset(others))


def statement_positions(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) as (line, column) of each statement of a policy's JSON text, for pointing at one (the
    console's policy editor); [] when they cannot be found."""
    try:
        return _statement_positions(text)
    except (ValueError, IndexError):
        return []


def _statement_positions(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) of each statement object in ``text``, found by walking the top-level object with
    ``raw_decode`` (the text is already known to be valid JSON)."""
    decoder = json.JSONDecoder()
    spans: list[tuple[int, int]] = []
    i = _skip(text, 0)
    if text[i:i + 1] != "{":
        return []
    i = _skip(text, i + 1)
    while i < len(text) and text[i] != "}":
        key, i = decoder.raw_decode(text, i)
        i = _skip(text, _skip(text, i) + 1)           # past ":"
        if key == "Statement":
            spans = []
            if text[i] == "[":
                i = _skip(text, i + 1)
                while text[i] != "]":
                    _, end = decoder.raw_decode(text, i)
                    spans.append((i, end))
                    i = _skip(text, end)
                    if text[i] == ",":
                        i = _skip(text, i + 1)
                i += 1
            else:
                _, end = decoder.raw_decode(text, i)
                spans.append((i, end))
                i = end
        else:
            _, i = decoder.raw_decode(text, i)
        i = _skip(text, i)
        if text[i:i + 1] == ",":
            i = _skip(text, i + 1)
    return [(_line_column(text, start), _line_column(text, end)) for start, end in spans]


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def context_keys(policy: Policy) -> list[str]:
    """Every context key the policy references, as written, in the order written (for the simulator's
    GetContextKeysFor…): the variables of each statement's Resource, its condition keys, the variables of its
    condition values — AWS's example answers ``["aws:username", "aws:CurrentTime"]`` for a Resource ending in
    ``${aws:username}`` and a condition on aws:CurrentTime."""
    seen: dict[str, str] = {}
    variables = policy.version == "2012-10-17"
    for st in policy.statements:
        for lower, written in _variables(st.resource_texts) if variables else ():
            seen.setdefault(lower, written)
        for c in st.conditions:
            seen.setdefault(c.key_lower, c.key)
        for lower, written in _variables([v for c in st.conditions for v in c.values]) if variables else ():
            seen.setdefault(lower, written)
    return list(seen.values())
