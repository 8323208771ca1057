"""An adversarial review of the policy engine against AWS's documented semantics: one test per discrepancy found
(each failed before its fix), plus the rules checked and found right, pinned so they stay so."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from storeroom.errors import AwsError
from storeroom.policy import AuthRequest, Evaluation, PolicySource, PrincipalPolicies, evaluate, parse_policy
from storeroom.policy.conditions import parse_date
from storeroom.policy.matching import compile_pattern, compile_patterns, glob_match

ACCOUNT = "123456789012"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
BUCKET = "arn:aws:s3:::amzn-s3-demo-bucket"
Ctx = Mapping[str, Sequence[str]]


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> str:
    top: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        top["Version"] = version
    return json.dumps(top)


def holds(condition: dict[str, Any], ctx: Ctx, effect: str = "Allow") -> bool:
    text = doc({"Effect": effect, "Action": "s3:*", "Resource": "*", "Condition": condition})
    return parse_policy(text).statements[0].conditions_hold({k.lower(): v for k, v in ctx.items()})


def user(arn: str, action: str, resource: str, ctx: Ctx | None = None) -> AuthRequest:
    name = arn.rsplit("/", 1)[-1]
    return AuthRequest(action, resource, "IAMUser", arn, ACCOUNT, {"aws:username": (name,), **(ctx or {})})


def identity(*statements: dict[str, Any]) -> PolicySource:
    return PolicySource(parse_policy(doc(*statements)), "user_alice_p", "user")


def bucket_policy(*statements: dict[str, Any]) -> PolicySource:
    return PolicySource(parse_policy(doc(*statements), "resource"), "bucket policy", "resource")


def both(request: AuthRequest, principal: PrincipalPolicies | None, resource: PolicySource | None = None) -> Evaluation:
    """evaluate() with and without explanation: they must agree on decision and reason."""
    full = evaluate(request, principal, resource, ACCOUNT)
    quick = evaluate(request, principal, resource, ACCOUNT, explain=False)
    assert (quick.decision, quick.reason) == (full.decision, full.reason)
    return full


def error(text: str, kind: str = "identity") -> str:
    with pytest.raises(AwsError) as caught:
        parse_policy(text, kind)
    assert caught.value.code == "MalformedPolicyDocument"
    return str(caught.value.message)


# --- wildcards: linear time, whatever the pattern --------------------------------------------------------------

SLOW_CASES = [
    ("arn:aws:s3:::b/*/*/*/*.txt", "arn:aws:s3:::b/" + "a/" * 500 + "x"),
    ("arn:aws:s3:::b/*a*a*a*a*b", "arn:aws:s3:::b/" + "a" * 1000),
    ("*a*a*a*a*a*a*a*a*a*a*b", "a" * 1000),
    ("*?*?*?*?*?*?*?*!", "x" * 1000),
]


@pytest.mark.parametrize(("pattern", "value"), SLOW_CASES, ids=[p for p, _ in SLOW_CASES])
def test_wildcard_matching_does_not_backtrack_exponentially(pattern: str, value: str) -> None:
    """A bucket policy ``Resource`` such as ``b/*/*/*/*.txt`` checked against a 1 KiB key took seconds (Python's
    backtracking regex); any caller could stall a worker with a long key."""
    start = time.perf_counter()
    assert not glob_match(pattern, value)
    assert not compile_patterns([pattern, "arn:aws:s3:::zzz*"], variables=False)(value, {})
    assert not compile_pattern(pattern + "${aws:username}", variables=True)(value, {"aws:username": ("u",)})
    assert not holds({"StringLike": {"s3:prefix": pattern}}, {"s3:prefix": (value,)})
    assert time.perf_counter() - start < 0.5


def test_folded_resource_patterns_do_not_backtrack_exponentially() -> None:
    principal = PrincipalPolicies((identity({"Effect": "Allow", "Action": "s3:GetObject",
                                             "Resource": ["arn:aws:s3:::b/*/*/*/*/*.txt", "arn:aws:s3:::c/*"]}),))
    start = time.perf_counter()
    verdict = both(user(ALICE, "s3:GetObject", "arn:aws:s3:::b/" + "a/" * 500 + "x"), principal)
    assert verdict.decision == "implicitDeny"
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("a*b*c", "abc", True), ("a*b*c", "aXbYbZc", True), ("a*b*c", "acb", False), ("*ab*ab", "abab", True),
    ("*ab*ab", "aabab", True), ("*ab*ab", "abxab", True), ("*ab*ab", "ab", False), ("a?*?c", "abbc", True),
    ("a?*?c", "abc", False), ("*a?b*", "xxa-b", True), ("**", "", True), ("*?", "", False),
])
def test_wildcard_semantics_kept(pattern: str, value: str, expected: bool) -> None:
    assert glob_match(pattern, value) is expected
    assert compile_pattern(pattern.replace("b", "${aws:username}"), variables=True)(value, {"aws:username": ("b",)}) \
        is expected


# --- parse_policy raises nothing but MalformedPolicyDocument ---------------------------------------------------

def test_huge_date_values_are_a_malformed_policy_not_a_crash() -> None:
    text = doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                "Condition": {"DateGreaterThan": {"aws:CurrentTime": "-" + "9" * 5000}}})
    assert error(text) == "The policy failed legacy parsing"


def test_huge_request_dates_and_numbers_do_not_raise() -> None:
    """int() refuses more than 4300 digits: a request value that long must simply not be a date."""
    for value in ("-" + "9" * 5000, "9" * 5000 + "-01-01T00:00:00Z", "9" * 5000):
        assert parse_date(value) is None
        ctx = {"aws:currenttime": (value,)}
        assert not holds({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, ctx)
        assert holds({"DateNotEquals": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, ctx)
    assert holds({"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ("9" * 5000,)})
    assert not holds({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ("9" * 5000,)})


def test_nan_and_infinity_are_not_json() -> None:
    for constant in ("NaN", "Infinity", "-Infinity"):
        text = doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                    "Condition": {"NumericLessThan": {"s3:max-keys": 1}}}).replace("1}", constant + "}")
        assert error(text) == "Syntax errors in policy."


def test_deeply_nested_documents_are_a_syntax_error() -> None:
    assert error("[" * 100_000 + "]" * 100_000) == "Syntax errors in policy."
    nested = '{"Version": "2012-10-17", "Statement": ' + "[" * 50_000 + "]" * 50_000 + "}"
    assert error(nested) == "Syntax errors in policy."


# --- Sid: IAM policies take alphanumerics only ------------------------------------------------------------------

SID_MESSAGE = ("Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression "
               "[0-9A-Za-z]*")


@pytest.mark.parametrize("sid", ["my statement", "autogenerated-id", "under_score", "é"])
def test_iam_policies_reject_non_alphanumeric_sids(sid: str) -> None:
    text = doc({"Sid": sid, "Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert error(text) == SID_MESSAGE
    assert error(text, "managed") == SID_MESSAGE
    # bucket policies accept them (S3's own examples use spaces)
    parse_policy(doc({"Sid": sid, "Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}),
                 "resource")


def test_sid_format_is_checked_before_uniqueness() -> None:
    text = doc({"Sid": "a-b", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
               {"Sid": "a-b", "Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert error(text) == SID_MESSAGE
    parse_policy(doc({"Sid": "", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                     {"Sid": "Ok1", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}))


def test_stored_documents_written_before_the_sid_rule_still_compile() -> None:
    text = doc({"Sid": "written-before", "Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert parse_policy(text, "managed", stored=True).statements[0].sid == "written-before"


def test_the_aws_managed_catalog_still_parses() -> None:
    from storeroom.policy.managed import AWS_MANAGED
    for entry in AWS_MANAGED.values():
        assert entry.policy.statements


# --- NotPrincipal ------------------------------------------------------------------------------------------------

def test_not_principal_deny_naming_only_the_user_still_denies_the_user() -> None:
    """AWS: with Deny, NotPrincipal must also list the account ARN of the not-denied principal, "otherwise the
    policy might deny access to the entire account containing the principal" — so listing Bob alone does not
    exempt him."""
    rp = bucket_policy({"Effect": "Deny", "NotPrincipal": {"AWS": BOB}, "Action": "s3:*", "Resource": f"{BUCKET}/*"})
    allow_all = PrincipalPolicies((identity({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),))
    assert both(user(BOB, "s3:GetObject", f"{BUCKET}/k"), allow_all, rp).decision == "explicitDeny"
    listed = bucket_policy({"Effect": "Deny", "NotPrincipal": {"AWS": [BOB, ROOT]}, "Action": "s3:*",
                            "Resource": f"{BUCKET}/*"})
    assert both(user(BOB, "s3:GetObject", f"{BUCKET}/k"), allow_all, listed).allowed
    assert both(user(ALICE, "s3:GetObject", f"{BUCKET}/k"), allow_all, listed).decision == "explicitDeny"
    root = AuthRequest("s3:GetObject", f"{BUCKET}/k", "Root", ROOT, ACCOUNT, {})
    assert both(root, PrincipalPolicies(()), rp).decision == "explicitDeny"
    assert both(root, PrincipalPolicies(()), listed).decision == "implicitDeny"     # root's exemption: its ARN
    account_only = bucket_policy({"Effect": "Deny", "NotPrincipal": {"AWS": ACCOUNT}, "Action": "s3:*",
                                  "Resource": f"{BUCKET}/*"})
    assert both(user(BOB, "s3:GetObject", f"{BUCKET}/k"), allow_all, account_only).decision == "explicitDeny"


def test_not_principal_allow_naming_the_account_grants_none_of_its_identities() -> None:
    rp = bucket_policy({"Effect": "Allow", "NotPrincipal": {"AWS": ROOT}, "Action": "s3:GetObject",
                        "Resource": f"{BUCKET}/*"})
    assert not both(user(ALICE, "s3:GetObject", f"{BUCKET}/k"), PrincipalPolicies(()), rp).allowed
    anonymous = AuthRequest("s3:GetObject", f"{BUCKET}/k", "Anonymous", "*", "", {})
    assert both(anonymous, None, rp).allowed              # everyone else, anonymous included (AWS's warning)
    other = bucket_policy({"Effect": "Allow", "NotPrincipal": {"AWS": BOB}, "Action": "s3:GetObject",
                           "Resource": f"{BUCKET}/*"})
    assert both(user(ALICE, "s3:GetObject", f"{BUCKET}/k"), PrincipalPolicies(()), other).allowed
    assert not both(user(BOB, "s3:GetObject", f"{BUCKET}/k"), PrincipalPolicies(()), other).allowed


# --- IpAddress ---------------------------------------------------------------------------------------------------

def test_ipv4_mapped_ipv6_addresses_are_their_ipv4_address() -> None:
    """A dual-stack socket reports IPv4 clients as ``::ffff:a.b.c.d``; a Deny on an IPv4 range must still catch
    them, and an IPv4 allow-list must still let them in."""
    assert holds({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, {"aws:sourceip": ("::ffff:192.0.2.7",)})
    assert not holds({"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, {"aws:sourceip": ("::ffff:192.0.2.7",)})
    assert holds({"IpAddress": {"aws:SourceIp": "::ffff:0:0/96"}}, {"aws:sourceip": ("::ffff:192.0.2.7",)})
    assert not holds({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, {"aws:sourceip": ("::ffff:198.51.100.1",)})
    deny = identity({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
                     "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})
    request = user(ALICE, "s3:GetObject", f"{BUCKET}/k", {"aws:sourceip": ("::ffff:10.1.2.3",)})
    assert both(request, PrincipalPolicies((deny,))).decision == "explicitDeny"


def test_ip_address_edge_cases() -> None:
    cond = {"IpAddress": {"aws:SourceIp": ["2001:DB8::/32", "203.0.113.0/24"]}}
    assert holds(cond, {"aws:sourceip": ("2001:db8::1",)})
    assert not holds(cond, {"aws:sourceip": ("2001:db9::1",)})
    assert not holds(cond, {"aws:sourceip": ("not-an-ip",)})
    assert not holds(cond, {"aws:sourceip": ("",)})
    assert not holds({"IpAddress": {"aws:SourceIp": "bogus"}}, {"aws:sourceip": ("203.0.113.1",)})
    assert holds({"IpAddressIfExists": {"aws:SourceIp": "203.0.113.0/24"}}, {})
    assert holds({"NotIpAddressIfExists": {"aws:SourceIp": "203.0.113.0/24"}}, {})
    assert not holds({"NotIpAddressIfExists": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:sourceip": ("203.0.113.9",)})


# --- ARN operators with policy variables ---------------------------------------------------------------------------

def test_arn_operators_substitute_variables_in_any_part() -> None:
    """The ARN is split into its six parts before matching; a variable's own colon (``${aws:…}``) must not
    count as one."""
    cond = {"ArnLike": {"aws:SourceArn": "arn:aws:iam::${aws:PrincipalAccount}:user/*"}}
    ctx = {"aws:principalaccount": (ACCOUNT,)}
    assert holds(cond, {**ctx, "aws:sourcearn": (ALICE,)})
    assert not holds(cond, {**ctx, "aws:sourcearn": ("arn:aws:iam::999999999999:user/x",)})
    deny = identity({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
                     "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:user/bob"}}})
    request = user(BOB, "s3:GetObject", f"{BUCKET}/k", {**ctx, "aws:principalarn": (BOB,)})
    assert both(request, PrincipalPolicies((deny,))).decision == "explicitDeny"
    region = {"ArnLike": {"aws:SourceArn": "arn:aws:sns:${aws:RequestedRegion}:*:topic"}}
    assert holds(region, {"aws:requestedregion": ("eu-west-1",), "aws:sourcearn": ("arn:aws:sns:eu-west-1:1:topic",)})
    assert not holds(region, {"aws:requestedregion": ("eu-west-1",),
                              "aws:sourcearn": ("arn:aws:sns:us-east-1:1:topic",)})


# --- Bool takes policy variables --------------------------------------------------------------------------------

def test_bool_substitutes_policy_variables() -> None:
    cond = {"Bool": {"aws:SecureTransport": "${aws:PrincipalTag/needs-tls, 'true'}"}}
    assert holds(cond, {"aws:securetransport": ("true",)})
    assert not holds(cond, {"aws:securetransport": ("false",)})
    assert holds(cond, {"aws:securetransport": ("false",), "aws:principaltag/needs-tls": ("false",)})
    assert holds({"Bool": {"aws:SecureTransport": "TRUE"}}, {"aws:securetransport": ("true",)})
    assert holds({"Bool": {"aws:SecureTransport": "true"}}, {"aws:securetransport": ("True",)})


# --- unresolvable variables never widen an Allow ----------------------------------------------------------------------

def test_unresolvable_variable_in_a_negated_condition_does_not_allow() -> None:
    """AWS: a variable without a value "causes the statement to be invalid" — an Allow with
    ``StringNotEquals: {s3:prefix: ${aws:PrincipalTag/x}}`` must not grant to a user without the tag."""
    for operator in ("StringNotEquals", "StringNotLike", "StringNotEqualsIgnoreCase", "ForAllValues:StringNotEquals",
                     "ForAnyValue:StringNotLike", "StringNotEqualsIfExists"):
        cond = {operator: {"s3:prefix": "${aws:PrincipalTag/project}/*"}}
        assert not holds(cond, {"s3:prefix": ("private/x",)}), operator
        assert holds(cond, {"s3:prefix": ("private/x",), "aws:principaltag/project": ("blue",)}), operator
        # a Deny stays as strict as before: the unresolvable value matches nothing, the negation holds
        assert holds(cond, {"s3:prefix": ("private/x",)}, effect="Deny"), operator
    arn = {"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::${aws:PrincipalTag/bucket}"}}
    assert not holds(arn, {"aws:sourcearn": ("arn:aws:s3:::x",)})
    assert holds(arn, {"aws:sourcearn": ("arn:aws:s3:::x",)}, effect="Deny")


def test_unresolvable_variable_in_not_resource_does_not_allow() -> None:
    policy = identity({"Effect": "Allow", "Action": "s3:GetObject",
                       "NotResource": f"{BUCKET}/${{aws:PrincipalTag/private}}/*"})
    untagged = user(ALICE, "s3:GetObject", f"{BUCKET}/secret/k")
    assert not both(untagged, PrincipalPolicies((policy,))).allowed
    tagged = user(ALICE, "s3:GetObject", f"{BUCKET}/public/k", {"aws:principaltag/private": ("secret",)})
    assert both(tagged, PrincipalPolicies((policy,))).allowed
    deny = identity({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "s3:*", "NotResource": f"{BUCKET}/${{aws:PrincipalTag/home}}/*"})
    assert both(untagged, PrincipalPolicies((deny,))).decision == "explicitDeny"


# --- Numeric: exact decimal comparison -------------------------------------------------------------------------

def test_numeric_comparison_is_exact() -> None:
    assert not holds({"NumericEquals": {"s3:max-keys": "9007199254740993"}}, {"s3:max-keys": ("9007199254740992",)})
    assert holds({"NumericLessThan": {"s3:max-keys": "9007199254740993"}}, {"s3:max-keys": ("9007199254740992",)})
    assert not holds({"NumericEquals": {"s3:max-keys": "1" + "0" * 400}}, {"s3:max-keys": ("2" + "0" * 400,)})
    assert holds({"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ("10.000",)})
    assert holds({"NumericEquals": {"s3:max-keys": 10}}, {"s3:max-keys": ("10",)})
    assert holds({"NumericGreaterThan": {"s3:max-keys": "-1.5"}}, {"s3:max-keys": ("-1",)})
    for garbage in ("ten", "", "1e3", "0x10", "NaN", "Infinity", " 10", "1_000"):
        assert not holds({"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": (garbage,)}), garbage
        assert not holds({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": (garbage,)}), garbage
        assert holds({"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": (garbage,)}), garbage


# --- rules checked against AWS's documentation and found right: pinned ----------------------------------------

@pytest.mark.parametrize(("operator", "ctx", "expected"), [
    # absent key: positive false, negated true, IfExists true (negated too), ForAllValues true, ForAnyValue false
    ("StringEquals", {}, False), ("StringNotEquals", {}, True), ("StringEqualsIfExists", {}, True),
    ("StringNotEqualsIfExists", {}, True), ("ForAllValues:StringEquals", {}, True),
    ("ForAnyValue:StringEquals", {}, False), ("ForAllValues:StringNotEquals", {}, True),
    ("ForAnyValue:StringNotEquals", {}, False), ("ForAnyValue:StringEqualsIfExists", {}, True),
    # present: IfExists changes nothing
    ("StringNotEqualsIfExists", {"aws:TagKeys": ("a",)}, False),
    ("StringEqualsIfExists", {"aws:TagKeys": ("c",)}, False),
    # ForAllValues:StringNotEquals: no request value is any policy value; ForAnyValue:…Not…: some value is none
    ("ForAllValues:StringNotEquals", {"aws:TagKeys": ("c", "d")}, True),
    ("ForAllValues:StringNotEquals", {"aws:TagKeys": ("c", "a")}, False),
    ("ForAnyValue:StringNotEquals", {"aws:TagKeys": ("a", "c")}, True),
    ("ForAnyValue:StringNotEquals", {"aws:TagKeys": ("a", "b")}, False),
    ("ForAnyValue:StringNotLike", {"aws:TagKeys": ("a", "b")}, False),
    ("ForAllValues:StringLike", {"aws:TagKeys": ("a", "b")}, True),
])
def test_absent_keys_if_exists_and_set_operators(operator: str, ctx: Ctx, expected: bool) -> None:
    assert holds({operator: {"aws:TagKeys": ["a", "b"]}}, ctx) is expected


def test_case_rules() -> None:
    assert holds({"StringEquals": {"AWS:UserName": "alice"}}, {"aws:username": ("alice",)})     # key names: any case
    assert not holds({"StringEquals": {"aws:username": "Alice"}}, {"aws:username": ("alice",)})  # values: exact
    assert not holds({"StringLike": {"aws:username": "A*"}}, {"aws:username": ("alice",)})
    assert holds({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}, {"aws:username": ("alice",)})
    assert not holds({"StringEquals": {"s3:prefix": "home/*"}}, {"s3:prefix": ("home/x",)})       # no wildcards
    assert holds({"StringEquals": {"s3:prefix": "home/*"}}, {"s3:prefix": ("home/*",)})
    assert holds({"Bool": {"aws:SecureTransport": True}}, {"aws:securetransport": ("TRUE",)})
    policy = identity({"Effect": "Allow", "Action": "S3:getobject", "Resource": "arn:aws:s3:::B/*"})
    assert both(user(ALICE, "s3:GetObject", "arn:aws:s3:::B/k"), PrincipalPolicies((policy,))).allowed
    assert not both(user(ALICE, "s3:GetObject", "arn:aws:s3:::b/k"), PrincipalPolicies((policy,))).allowed


@pytest.mark.parametrize(("value", "expected"), [
    ("2020-01-01T00:00:00Z", True), ("2020-01-01T00:00:00.000Z", True), ("2020-01-01T00:00:00.123Z", False),
    ("2020-01-01T01:00:00+01:00", True),
    ("2019-12-31T19:00:00-05:00", True), ("2020-01-01", True), ("1577836800", True), ("2020-01-01T00:00:01Z", False),
    ("not a date", False), ("", False), ("2020-13-01T00:00:00Z", False),
])
def test_date_formats(value: str, expected: bool) -> None:
    assert holds({"DateEquals": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:currenttime": (value,)}) is expected


def test_variables_user_names_with_wildcards_are_literal_and_2008_policies_do_not_substitute() -> None:
    policy = identity({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/${{aws:username}}/*"})
    star = AuthRequest("s3:GetObject", f"{BUCKET}/bob/k", "IAMUser", ALICE, ACCOUNT, {"aws:username": ("*",)})
    assert not both(star, PrincipalPolicies((policy,))).allowed
    question = AuthRequest("s3:GetObject", f"{BUCKET}/b/k", "IAMUser", ALICE, ACCOUNT, {"aws:username": ("?",)})
    assert not both(question, PrincipalPolicies((policy,))).allowed
    old = PolicySource(parse_policy(doc({"Effect": "Allow", "Action": "s3:GetObject",
                                         "Resource": f"{BUCKET}/${{aws:username}}/*"}, version=None)), "p", "user")
    assert not both(user(ALICE, "s3:GetObject", f"{BUCKET}/alice/k"), PrincipalPolicies((old,))).allowed
    assert both(user(ALICE, "s3:GetObject", f"{BUCKET}/${{aws:username}}/k"), PrincipalPolicies((old,))).allowed
    spaced = {"StringEquals": {"s3:prefix": "${aws:PrincipalTag/team, 'shared team'}"}}
    assert holds(spaced, {"s3:prefix": ("shared team",)})
    multi = {"StringEquals": {"s3:prefix": "${aws:TagKeys, 'none'}"}}                 # multivalued: the default
    assert holds(multi, {"s3:prefix": ("none",), "aws:tagkeys": ("a", "b")})
    # variables only in String/Bool/Arn values: a Numeric or IpAddress value with one is never satisfied
    assert not holds({"NumericEquals": {"s3:max-keys": "${s3:max-keys}"}}, {"s3:max-keys": ("1",)})
    assert not holds({"IpAddress": {"aws:SourceIp": "${aws:SourceIp}"}}, {"aws:sourceip": ("10.0.0.1",)})


def test_principal_forms() -> None:
    rp = bucket_policy(
        {"Sid": "canonical user", "Effect": "Allow", "Principal": {"CanonicalUser": "79a59df900b949e55d96a1e698fbace"},
         "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"},
        {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com", "Federated": "cognito-identity.amazonaws.com"},
         "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"})
    anonymous = AuthRequest("s3:GetObject", f"{BUCKET}/k", "Anonymous", "*", "", {})
    assert not both(anonymous, None, rp).allowed
    assert not both(user(ALICE, "s3:GetObject", f"{BUCKET}/k"), PrincipalPolicies(()), rp).allowed
    for principal in ("*", {"AWS": "*"}, {"AWS": ["*"]}):
        everyone = bucket_policy({"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject",
                                  "Resource": f"{BUCKET}/*"})
        assert both(anonymous, None, everyone).allowed
        assert both(user(ALICE, "s3:GetObject", f"{BUCKET}/k"), PrincipalPolicies(()), everyone).allowed
    listed = bucket_policy({"Effect": "Allow", "Principal": {"AWS": [BOB, ALICE]}, "Action": "s3:GetObject",
                            "Resource": f"{BUCKET}/*"})
    assert both(user(ALICE, "s3:GetObject", f"{BUCKET}/k"), PrincipalPolicies(()), listed).allowed
    boundary = PolicySource(parse_policy(doc({"Effect": "Allow", "Action": "iam:*", "Resource": "*"})), "B",
                            "permissions-boundary")
    capped = both(user(ALICE, "s3:GetObject", f"{BUCKET}/k"), PrincipalPolicies((), boundary), listed)
    assert capped.allowed                               # a boundary does not cap a grant naming the user
    account = bucket_policy({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "s3:GetObject",
                             "Resource": f"{BUCKET}/*"})
    s3_all = identity({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    verdict = both(user(ALICE, "s3:GetObject", f"{BUCKET}/k"), PrincipalPolicies((s3_all,), boundary), account)
    assert verdict.reason == "because no permissions boundary allows the s3:GetObject action"
