"""evaluate(): AWS's evaluation logic, one test per rule, from the IAM User Guide's examples."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from storeroom.policy import (
    AuthRequest,
    Evaluation,
    MatchedStatement,
    PolicySource,
    PrincipalPolicies,
    evaluate,
    parse_policy,
)
from storeroom.policy.managed import AWS_MANAGED

ACCOUNT = "123456789012"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
BUCKET = "arn:aws:s3:::amzn-s3-demo-bucket"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def inline(*statements: dict[str, Any], name: str = "p") -> PolicySource:
    return PolicySource(parse_policy(doc(*statements)), f"user_alice_{name}", "user")


def managed(arn: str) -> PolicySource:
    return PolicySource(AWS_MANAGED[arn].policy, arn, "aws-managed", arn)


def bucket_policy(*statements: dict[str, Any]) -> PolicySource:
    return PolicySource(parse_policy(doc(*statements), "resource"), "amzn-s3-demo-bucket bucket policy", "resource")


def alice(action: str, resource: str, ctx: Mapping[str, Sequence[str]] | None = None) -> AuthRequest:
    context = {"aws:username": ("alice",), "aws:userid": ("AIDAEXAMPLE",), **(ctx or {})}
    return AuthRequest(action, resource, "IAMUser", ALICE, ACCOUNT, context)


def anonymous(action: str, resource: str) -> AuthRequest:
    return AuthRequest(action, resource, "Anonymous", "*", "", {})


def run(request: AuthRequest, *identity: PolicySource, boundary: PolicySource | None = None,
        resource: PolicySource | None = None) -> Evaluation:
    return evaluate(request, PrincipalPolicies(identity, boundary), resource, ACCOUNT)


S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def test_no_policy_is_an_implicit_deny() -> None:
    verdict = run(alice("s3:GetObject", f"{BUCKET}/k"))
    assert verdict.decision == "implicitDeny" and not verdict.allowed
    assert verdict.reason == "because no identity-based policy allows the s3:GetObject action"


def test_an_allow_allows_and_reports_the_statement() -> None:
    verdict = run(alice("s3:GetObject", f"{BUCKET}/k"), managed(S3_READ))
    assert verdict.allowed
    assert verdict.matched == (MatchedStatement(S3_READ, "aws-managed", (4, 5), (14, 6)),)


def test_actions_compare_case_insensitively() -> None:
    policy = inline({"Effect": "Allow", "Action": "S3:getobject", "Resource": "*"})
    assert run(alice("s3:GetObject", f"{BUCKET}/k"), policy).allowed


def test_explicit_deny_overrides_allow() -> None:
    deny = inline({"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"{BUCKET}/*"}, name="deny")
    verdict = run(alice("s3:DeleteObject", f"{BUCKET}/k"), managed(S3_FULL), deny)
    assert verdict.decision == "explicitDeny"
    assert verdict.reason == "with an explicit deny in an identity-based policy"
    assert [m.source_id for m in verdict.matched] == ["user_alice_deny"]


def test_explicit_deny_names_the_managed_policy_arn() -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:policy/NoDeletes"
    deny = PolicySource(parse_policy(doc({"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"})),
                        arn, "user-managed", arn)
    verdict = run(alice("s3:DeleteObject", f"{BUCKET}/k"), managed(S3_FULL), deny)
    assert verdict.reason == f"with an explicit deny in an identity-based policy: {arn}"


def test_home_directory_policy_with_aws_username() -> None:
    # IAM User Guide: "Amazon S3: Allows IAM users access to their S3 home directory, programmatically"
    policy = inline(
        {"Sid": "ListYourObjects", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": [BUCKET],
         "Condition": {"StringLike": {"s3:prefix": ["${aws:username}/*"]}}},
        {"Sid": "RWYourObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": [f"{BUCKET}/${{aws:username}}/*"]},
    )
    assert run(alice("s3:PutObject", f"{BUCKET}/alice/notes.txt"), policy).allowed
    assert not run(alice("s3:PutObject", f"{BUCKET}/bob/notes.txt"), policy).allowed
    assert run(alice("s3:ListBucket", BUCKET, {"s3:prefix": ("alice/",)}), policy).allowed
    assert not run(alice("s3:ListBucket", BUCKET, {"s3:prefix": ("bob/",)}), policy).allowed
    nobody = AuthRequest("s3:PutObject", f"{BUCKET}/alice/x", "IAMUser", ALICE, ACCOUNT, {})
    assert not run(nobody, policy).allowed                      # no aws:username: the Resource matches nothing


def test_deny_without_secure_transport() -> None:
    deny = inline({"Effect": "Deny", "Action": "s3:*", "Resource": "*",
                   "Condition": {"Bool": {"aws:SecureTransport": "false"}}}, name="tls")
    plain = alice("s3:GetObject", f"{BUCKET}/k", {"aws:securetransport": ("false",)})
    tls = alice("s3:GetObject", f"{BUCKET}/k", {"aws:securetransport": ("true",)})
    assert run(plain, managed(S3_FULL), deny).decision == "explicitDeny"
    assert run(tls, managed(S3_FULL), deny).allowed


def test_deny_outside_an_ip_range() -> None:
    # IAM User Guide: "AWS: Denies access to AWS based on the source IP"
    deny = inline({"Effect": "Deny", "Action": "*", "Resource": "*",
                   "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}})
    inside = alice("s3:GetObject", f"{BUCKET}/k", {"aws:sourceip": ("192.0.2.10",)})
    outside = alice("s3:GetObject", f"{BUCKET}/k", {"aws:sourceip": ("198.51.100.1",)})
    assert run(inside, managed(S3_FULL), deny).allowed
    assert run(outside, managed(S3_FULL), deny).decision == "explicitDeny"


def test_not_resource_with_deny() -> None:
    # Deny everything outside the payroll prefix of the HR bucket
    policy = inline({"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "s3:*",
                     "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]})
    assert run(alice("s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/jan"), policy).allowed
    assert run(alice("s3:GetObject", "arn:aws:s3:::HRBucket/Other"), policy).decision == "explicitDeny"


def test_not_action_with_deny_unless_mfa() -> None:
    # IAM User Guide: "DenyAllExceptListedIfNoMFA"
    policy = inline({"Effect": "Allow", "Action": "*", "Resource": "*"},
                    {"Effect": "Deny", "NotAction": ["iam:ChangePassword", "iam:GetUser"], "Resource": "*",
                     "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}})
    assert run(alice("iam:ChangePassword", ALICE), policy).allowed
    verdict = run(alice("s3:GetObject", f"{BUCKET}/k"), policy)
    assert verdict.decision == "explicitDeny"                     # key absent: BoolIfExists holds
    assert run(alice("s3:GetObject", f"{BUCKET}/k", {"aws:multifactorauthpresent": ("true",)}), policy).allowed


def test_not_action_allow() -> None:
    policy = inline({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert run(alice("s3:GetObject", f"{BUCKET}/k"), policy).allowed
    assert not run(alice("iam:CreateUser", "*"), policy).allowed


def test_permissions_boundary_caps_s3_full_access() -> None:
    boundary_arn = f"arn:aws:iam::{ACCOUNT}:policy/ReadOnlyBoundary"
    boundary = PolicySource(parse_policy(doc({"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"],
                                              "Resource": "*"})), boundary_arn, "permissions-boundary",
                            boundary_arn)
    assert run(alice("s3:GetObject", f"{BUCKET}/k"), managed(S3_FULL), boundary=boundary).allowed
    verdict = run(alice("s3:PutObject", f"{BUCKET}/k"), managed(S3_FULL), boundary=boundary)
    assert verdict.decision == "implicitDeny"
    assert verdict.reason == "because no permissions boundary allows the s3:PutObject action"
    # the boundary alone grants nothing
    assert not run(alice("s3:GetObject", f"{BUCKET}/k"), boundary=boundary).allowed


def test_explicit_deny_in_a_permissions_boundary() -> None:
    boundary = PolicySource(parse_policy(doc({"Effect": "Allow", "Action": "*", "Resource": "*"},
                                             {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"})),
                            "Boundary", "permissions-boundary")
    verdict = run(alice("s3:DeleteBucket", BUCKET), managed(S3_FULL), boundary=boundary)
    assert (verdict.decision, verdict.reason) == ("explicitDeny", "with an explicit deny in a permissions boundary")


def test_resource_policy_naming_the_user_allows_without_identity_policy_or_boundary() -> None:
    rp = bucket_policy({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "s3:GetObject",
                        "Resource": f"{BUCKET}/*"})
    assert run(alice("s3:GetObject", f"{BUCKET}/k"), resource=rp).allowed
    boundary = PolicySource(parse_policy(doc({"Effect": "Allow", "Action": "iam:*", "Resource": "*"})),
                            "B", "permissions-boundary")
    verdict = run(alice("s3:GetObject", f"{BUCKET}/k"), boundary=boundary, resource=rp)
    assert verdict.allowed and verdict.matched[0].source_type == "resource"
    assert not run(alice("s3:PutObject", f"{BUCKET}/k"), resource=rp).allowed


def test_resource_policy_naming_the_account_only_delegates() -> None:
    rp = bucket_policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "s3:*", "Resource": "*"})
    assert not run(alice("s3:GetObject", f"{BUCKET}/k"), resource=rp).allowed
    assert run(alice("s3:GetObject", f"{BUCKET}/k"), managed(S3_READ), resource=rp).allowed
    root = AuthRequest("s3:GetObject", f"{BUCKET}/k", "Root", ROOT, ACCOUNT, {})
    assert evaluate(root, PrincipalPolicies(()), rp, ACCOUNT).allowed


def test_resource_policy_deny_applies_to_the_account_and_its_users() -> None:
    rp = bucket_policy({"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "s3:DeleteBucket", "Resource": BUCKET})
    verdict = run(alice("s3:DeleteBucket", BUCKET), managed(S3_FULL), resource=rp)
    assert (verdict.decision, verdict.reason) == ("explicitDeny", "with an explicit deny in a resource-based policy")
    root = AuthRequest("s3:DeleteBucket", BUCKET, "Root", ROOT, ACCOUNT, {})
    assert evaluate(root, PrincipalPolicies(()), rp, ACCOUNT).decision == "explicitDeny"


def test_anonymous_access_through_principal_star() -> None:
    rp = bucket_policy({"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "Resource": f"{BUCKET}/*"})
    assert evaluate(anonymous("s3:GetObject", f"{BUCKET}/k"), None, rp, ACCOUNT).allowed
    assert run(alice("s3:GetObject", f"{BUCKET}/k"), resource=rp).allowed       # "*" names everyone
    verdict = evaluate(anonymous("s3:PutObject", f"{BUCKET}/k"), None, rp, ACCOUNT)
    assert verdict.decision == "implicitDeny"
    assert verdict.reason == "because no resource-based policy allows the s3:PutObject action"
    named = bucket_policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "s3:*", "Resource": "*"})
    assert not evaluate(anonymous("s3:GetObject", f"{BUCKET}/k"), None, named, ACCOUNT).allowed
    assert not evaluate(anonymous("s3:GetObject", f"{BUCKET}/k"), None, None, ACCOUNT).allowed


def test_not_principal_deny_everyone_but_alice() -> None:
    rp = bucket_policy({"Effect": "Deny", "NotPrincipal": {"AWS": [ALICE, f"arn:aws:iam::{ACCOUNT}:root"]},
                        "Action": "s3:*", "Resource": [BUCKET, f"{BUCKET}/*"]})
    bob = AuthRequest("s3:GetObject", f"{BUCKET}/k", "IAMUser", f"arn:aws:iam::{ACCOUNT}:user/bob", ACCOUNT, {})
    assert run(bob, managed(S3_FULL), resource=rp).decision == "explicitDeny"
    assert run(alice("s3:GetObject", f"{BUCKET}/k"), managed(S3_FULL), resource=rp).allowed
    assert evaluate(anonymous("s3:GetObject", f"{BUCKET}/k"), None, rp, ACCOUNT).decision == "explicitDeny"


def test_missing_context_lists_keys_of_relevant_statements() -> None:
    policy = inline({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET,
                     "Condition": {"StringLike": {"s3:prefix": "home/*"}}},
                    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                     "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})
    verdict = run(alice("s3:ListBucket", BUCKET), policy)
    assert verdict.missing_context == ("s3:prefix",)
    assert run(alice("s3:ListBucket", BUCKET, {"s3:prefix": ("home/x",)}), policy).missing_context == ()


def test_actions_without_resource_level_permissions() -> None:
    """S3 asks ListAllMyBuckets on ``arn:aws:s3:::*`` (AWS's examples grant it with that Resource or ``*``);
    actions without any resource type are asked on ``*``, which only ``"Resource": "*"`` covers."""
    policy = inline({"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "arn:aws:s3:::*"})
    assert run(alice("s3:ListAllMyBuckets", "arn:aws:s3:::*"), policy).allowed
    one_bucket = inline({"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": BUCKET})
    assert not run(alice("s3:ListAllMyBuckets", "arn:aws:s3:::*"), one_bucket).allowed
    self_service = inline({"Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam::*:user/${aws:username}"})
    assert not run(alice("iam:GetAccountSummary", "*"), self_service).allowed
    everything = inline({"Effect": "Allow", "Action": "iam:*", "Resource": "*"})
    assert run(alice("iam:GetAccountSummary", "*"), everything).allowed


def test_date_and_numeric_conditions_in_statements() -> None:
    policy = inline({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET,
                     "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
                                   "NumericLessThanEquals": {"s3:max-keys": "100"}}})
    ok = alice("s3:ListBucket", BUCKET, {"aws:currenttime": ("2026-05-01T00:00:00Z",), "s3:max-keys": ("50",)})
    late = alice("s3:ListBucket", BUCKET, {"aws:currenttime": ("2031-05-01T00:00:00Z",), "s3:max-keys": ("50",)})
    many = alice("s3:ListBucket", BUCKET, {"aws:currenttime": ("2026-05-01T00:00:00Z",), "s3:max-keys": ("500",)})
    assert run(ok, policy).allowed
    assert not run(late, policy).allowed
    assert not run(many, policy).allowed


def test_principal_tag_variable_with_default() -> None:
    policy = inline({"Effect": "Allow", "Action": "s3:GetObject",
                     "Resource": f"{BUCKET}/${{aws:PrincipalTag/team, 'shared'}}/*"})
    tagged = alice("s3:GetObject", f"{BUCKET}/blue/x", {"aws:principaltag/team": ("blue",)})
    assert run(tagged, policy).allowed
    assert run(alice("s3:GetObject", f"{BUCKET}/shared/x"), policy).allowed
    assert not run(alice("s3:GetObject", f"{BUCKET}/blue/x"), policy).allowed


def test_iam_user_change_password_managed_policy() -> None:
    src = managed("arn:aws:iam::aws:policy/IAMUserChangePassword")
    assert run(alice("iam:ChangePassword", ALICE), src).allowed
    assert not run(alice("iam:ChangePassword", f"arn:aws:iam::{ACCOUNT}:user/bob"), src).allowed
    assert run(alice("iam:GetAccountPasswordPolicy", "*"), src).allowed


def test_the_action_memo_does_not_change_answers() -> None:
    principal = PrincipalPolicies((managed(S3_READ),))
    for _ in range(2):
        assert evaluate(alice("s3:GetObject", f"{BUCKET}/k"), principal).allowed
        assert not evaluate(alice("s3:PutObject", f"{BUCKET}/k"), principal).allowed
    assert principal == PrincipalPolicies((managed(S3_READ),))   # the memo is not part of equality


RESOURCE_PATTERNS = ["*", "arn:aws:s3:::b/*", "arn:aws:s3:::b/a?", "arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::c"]
RESOURCES = ["arn:aws:s3:::b/ab", "arn:aws:s3:::b/alice/x", "arn:aws:s3:::c", "arn:aws:s3:::d", "*"]


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny"])),
                                 "Action": draw(st.sampled_from(["s3:GetObject", "s3:*", "s3:Put*"]))}
    key = draw(st.sampled_from(["Resource", "NotResource"]))
    statement[key] = draw(st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=3))
    if draw(st.booleans()):
        statement["Condition"] = {"StringEquals": {"aws:username": draw(st.sampled_from(["alice", "bob"]))}}
    return statement


@given(st.lists(st.lists(statements(), min_size=1, max_size=4), min_size=1, max_size=3),
       st.sampled_from(RESOURCES), st.sampled_from(["s3:GetObject", "s3:PutObject"]))
@settings(max_examples=200, deadline=None)
def test_fast_path_agrees_with_statement_by_statement_evaluation(
        policies: list[list[dict[str, Any]]], resource: str, action: str) -> None:
    sources = [inline(*p, name=str(i)) for i, p in enumerate(policies)]
    request = alice(action, resource)
    applies = [(src, s) for src in sources for s in src.policy.statements
               if s.matches_action(action.lower()) and s.matches_resource(resource, request.context)
               and s.conditions_hold(request.context)]
    verdict = run(request, *sources)
    if any(s.effect == "Deny" for _, s in applies):
        expected = "explicitDeny"
    else:
        expected = "allowed" if applies else "implicitDeny"
    assert verdict.decision == expected
    assert len(verdict.matched) == sum(1 for _, s in applies if (s.effect == "Deny") == (expected == "explicitDeny"))
    # enforcement's unexplained evaluation (folded patterns, no statement lists for allows) decides the same
    quick = evaluate(request, PrincipalPolicies(tuple(sources)), explain=False)
    assert (quick.decision, quick.reason) == (verdict.decision, verdict.reason)


# --- the whole engine against a reference, with and without explanation ------------------------------------------

BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "iam:GetAccountSummary"]
ACTION_PATTERNS = ["s3:GetObject", "s3:*", "s3:Put*", "S3:get?bject", "*", "iam:*"]
RICH_RESOURCES = ["*", "arn:aws:s3:::b/*", "arn:aws:s3:::b/a?", "arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::c",
                  "arn:aws:s3:::b/${aws:PrincipalTag/team, 'shared'}/*", "arn:aws:s3:::b/${aws:PrincipalTag/x}*",
                  "arn:aws:s3:::*/*/*.txt", "arn:aws:s3:::b/${*}"]
RICH_REQUESTS = ["arn:aws:s3:::b/ab", "arn:aws:s3:::b/alice/x", "arn:aws:s3:::b/shared/k", "arn:aws:s3:::b/blue/k",
                 "arn:aws:s3:::c", "arn:aws:s3:::b/d/e.txt", "arn:aws:s3:::b/*", "*"]
CONDITIONS: list[dict[str, Any]] = [
    {"StringEquals": {"aws:username": "alice"}},
    {"StringNotEquals": {"aws:username": ["bob", "carol"]}},
    {"StringLike": {"s3:prefix": ["home/${aws:username}/*", ""]}},
    {"StringNotLike": {"s3:prefix": "${aws:PrincipalTag/x}/*"}},
    {"StringEqualsIgnoreCase": {"aws:PrincipalTag/team": "BLUE"}},
    {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}},
    {"NotIpAddressIfExists": {"aws:SourceIp": "192.0.2.0/24"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
    {"NumericLessThanEquals": {"s3:max-keys": "100"}},
    {"Null": {"aws:PrincipalTag/team": "false"}},
    {"ForAnyValue:StringLike": {"aws:TagKeys": "t*"}},
    {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}},
    {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:user/*"}},
    {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
]
CONTEXTS: list[dict[str, tuple[str, ...]]] = [
    {},
    {"s3:prefix": ("home/alice/x",), "aws:sourceip": ("10.1.2.3",), "aws:securetransport": ("true",)},
    {"aws:principaltag/team": ("blue",), "aws:sourceip": ("::ffff:192.0.2.9",), "s3:max-keys": ("1000",)},
    {"aws:principaltag/x": ("p",), "s3:prefix": ("p/q",), "aws:tagkeys": ("team", "secret"),
     "aws:currenttime": ("2026-01-01T00:00:00Z",), "aws:principalaccount": (ACCOUNT,), "aws:principalarn": (ALICE,)},
    {"aws:multifactorauthpresent": ("true",), "s3:max-keys": ("ten",), "aws:tagkeys": (),
     "aws:sourceip": ("2001:db8::5",), "aws:securetransport": ("FALSE",)},
]
PRINCIPALS: list[tuple[str, Any]] = [
    ("Principal", "*"), ("Principal", {"AWS": "*"}), ("Principal", {"AWS": ALICE}), ("Principal", {"AWS": ACCOUNT}),
    ("Principal", {"AWS": [BOB, ROOT]}), ("Principal", {"Service": "s3.amazonaws.com"}),
    ("NotPrincipal", {"AWS": ALICE}), ("NotPrincipal", {"AWS": [ALICE, ROOT]}), ("NotPrincipal", {"AWS": BOB}),
]


@st.composite
def rich_statements(draw: st.DrawFn, resource_policy: bool = False) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Allow", "Deny"]))}
    statement[draw(st.sampled_from(["Action", "Action", "NotAction"]))] = draw(
        st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=2))
    statement[draw(st.sampled_from(["Resource", "Resource", "NotResource"]))] = draw(
        st.lists(st.sampled_from(RICH_RESOURCES), min_size=1, max_size=3))
    conditions = draw(st.lists(st.sampled_from(CONDITIONS), max_size=2))
    if conditions:
        statement["Condition"] = {k: v for c in conditions for k, v in c.items()}
    if resource_policy:
        key, value = draw(st.sampled_from(PRINCIPALS))
        statement[key] = value
    return statement


def reference_decision(request: AuthRequest, identity: Sequence[PolicySource], boundary: PolicySource | None,
                       resource: PolicySource | None, anonymous: bool) -> str:
    """AWS's evaluation logic spelled out, on the statement-level primitives (tested on their own)."""
    action, ctx = request.action.lower(), request.context

    def applies(s: Any) -> bool:
        return bool(s.matches_action(action) and s.matches_resource(request.resource, ctx)
                    and s.conditions_hold(ctx))

    def statements(src: PolicySource | None) -> list[Any]:
        return [] if src is None else [s for s in src.policy.statements if applies(s)]

    mine = [] if anonymous else [s for src in identity for s in statements(src)]
    bound = None if boundary is None or anonymous else statements(boundary)
    account_root = f"arn:aws:iam::{request.account_id}:root"

    def named(s: Any) -> tuple[bool, bool]:
        """(the statement applies to the caller, it names the caller itself)"""
        aws = s.raw.get("Principal", s.raw.get("NotPrincipal"))
        aws = {"AWS": "*"} if aws == "*" else aws
        listed = aws.get("AWS", [])
        listed = [listed] if isinstance(listed, str) else listed
        listed = [f"arn:aws:iam::{a}:root" if a == ACCOUNT else a for a in listed]
        me, everyone = request.principal_arn in listed, "*" in listed
        account = bool(request.account_id) and account_root in listed
        if "NotPrincipal" in s.raw:
            spared = everyone or (me and account if s.effect == "Deny" else me or account)
            return not spared, not spared
        if s.effect == "Deny":
            return everyone or me or account, True
        return everyone or me or account, everyone or me

    theirs = [(s, named(s)) for s in statements(resource)]
    if any(s.effect == "Deny" for s in mine) or any(s.effect == "Deny" and n[0] for s, n in theirs) \
            or any(s.effect == "Deny" for s in bound or ()):
        return "explicitDeny"
    if any(s.effect == "Allow" and n[1] for s, n in theirs):
        return "allowed"
    if anonymous or (bound is not None and not any(s.effect == "Allow" for s in bound)):
        return "implicitDeny"
    return "allowed" if any(s.effect == "Allow" for s in mine) else "implicitDeny"


@given(st.lists(st.lists(rich_statements(), min_size=1, max_size=4), max_size=3),
       st.none() | st.lists(rich_statements(), min_size=1, max_size=3),
       st.none() | st.lists(rich_statements(resource_policy=True), min_size=1, max_size=3),
       st.sampled_from(RICH_REQUESTS), st.sampled_from(ACTIONS), st.sampled_from(CONTEXTS),
       st.sampled_from(["alice", "bob", "anonymous"]))
@settings(max_examples=600, deadline=None)
def test_explained_and_unexplained_evaluation_agree_with_the_reference(
        policies: list[list[dict[str, Any]]], boundary_statements: list[dict[str, Any]] | None,
        resource_statements: list[dict[str, Any]] | None, resource: str, action: str,
        ctx: dict[str, tuple[str, ...]], caller: str) -> None:
    sources = tuple(inline(*p, name=str(i)) for i, p in enumerate(policies))
    boundary = None if boundary_statements is None else PolicySource(
        parse_policy(doc(*boundary_statements), "managed"), "Boundary", "permissions-boundary")
    rp = None if resource_statements is None else bucket_policy(*resource_statements)
    if caller == "anonymous":
        request = AuthRequest(action, resource, "Anonymous", "*", "", ctx)
        principal = None
    else:
        arn = ALICE if caller == "alice" else BOB
        request = AuthRequest(action, resource, "IAMUser", arn, ACCOUNT, {"aws:username": (caller,), **ctx})
        principal = PrincipalPolicies(sources, boundary)
    full = evaluate(request, principal, rp, ACCOUNT)
    # a fresh PrincipalPolicies (empty memo) and the memoised one decide alike
    fresh = None if principal is None else PrincipalPolicies(sources, boundary)
    for quick in (evaluate(request, principal, rp, ACCOUNT, explain=False),
                  evaluate(request, fresh, rp, ACCOUNT, explain=False),
                  evaluate(request, principal, rp, ACCOUNT, explain=False)):
        assert (quick.decision, quick.reason) == (full.decision, full.reason)
    assert full.decision == reference_decision(request, sources, boundary, rp, caller == "anonymous")


# -- role sessions: session policies, resource policies naming roles and sessions, trust policies ----------------

ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/job-1"


def session_request(action: str, resource: str) -> AuthRequest:
    return AuthRequest(action, resource, "AssumedRole", SESSION, ACCOUNT, {}, ROLE)


def session_run(request: AuthRequest, identity: tuple[PolicySource, ...], session: tuple[PolicySource, ...] | None,
                resource: PolicySource | None = None, explain: bool = False) -> Evaluation:
    return evaluate(request, PrincipalPolicies(identity, None, session), resource, ACCOUNT, explain=explain)


READ_ONLY_SESSION = PolicySource(parse_policy(doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})),
                                 "session policy", "session")


def test_session_policies_intersect_with_the_roles() -> None:
    """access_policies.html#policies_session: "The resulting session's permissions are the intersection of the
    role's identity-based policy and the session policies"."""
    role = (managed(S3_FULL),)
    for explain in (False, True):   # the fast path and the full one agree
        assert session_run(session_request("s3:GetObject", f"{BUCKET}/k"), role, (READ_ONLY_SESSION,),
                           explain=explain).allowed
        denied = session_run(session_request("s3:PutObject", f"{BUCKET}/k"), role, (READ_ONLY_SESSION,),
                             explain=explain)
        assert (denied.decision, denied.reason) == ("implicitDeny",
                                                    "because no session policy allows the s3:PutObject action")
        # a session policy cannot grant what the role does not have
        wide = PolicySource(parse_policy(doc({"Effect": "Allow", "Action": "*", "Resource": "*"})), "s", "session")
        assert not session_run(session_request("iam:ListUsers", "*"), role, (wide,), explain=explain).allowed
    deny = PolicySource(parse_policy(doc({"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"})), "d",
                        "session")
    verdict = session_run(session_request("s3:GetObject", f"{BUCKET}/k"), role, (READ_ONLY_SESSION, deny))
    assert (verdict.decision, verdict.reason) == ("explicitDeny", "with an explicit deny in a session policy")


def test_resource_policies_naming_the_role_or_the_session() -> None:
    """Granted to the session's ARN: not limited by session policies; granted to the role's ARN: limited."""
    to_role = bucket_policy({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:PutObject",
                             "Resource": f"{BUCKET}/*"})
    to_session = bucket_policy({"Effect": "Allow", "Principal": {"AWS": SESSION}, "Action": "s3:PutObject",
                                "Resource": f"{BUCKET}/*"})
    put = session_request("s3:PutObject", f"{BUCKET}/k")
    assert session_run(put, (), None, to_role).allowed
    assert not session_run(put, (), (READ_ONLY_SESSION,), to_role).allowed
    assert session_run(put, (), (READ_ONLY_SESSION,), to_session).allowed
    other = AuthRequest("s3:PutObject", f"{BUCKET}/k", "AssumedRole",
                        f"arn:aws:sts::{ACCOUNT}:assumed-role/app/job-2", ACCOUNT, {}, ROLE)
    assert not session_run(other, (), None, to_session).allowed


def trust(*statements: dict[str, Any]) -> PolicySource:
    return PolicySource(parse_policy(doc(*statements), "trust"), "trust policy", "resource", ROLE)


def test_trust_policies_must_let_the_caller_in() -> None:
    from storeroom.policy.evaluate import trusts

    assume = AuthRequest("sts:AssumeRole", ROLE, "IAMUser", ALICE, ACCOUNT, {"sts:externalid": ("x",)})
    assert trusts(assume, trust({"Principal": {"AWS": ALICE}, "Effect": "Allow", "Action": "sts:AssumeRole"})) \
        == "allow"
    account = trust({"Principal": {"AWS": ACCOUNT}, "Effect": "Allow", "Action": "sts:AssumeRole"})
    assert trusts(assume, account) == "allow"
    # the account only delegates: the caller's own policies must then allow it
    assert not run(assume, resource=account).allowed
    assert run(assume, inline({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE}),
               resource=account).allowed
    other = trust({"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, "Effect": "Allow",
                   "Action": "sts:AssumeRole"})
    assert trusts(assume, other) == "none"
    external = trust({"Principal": {"AWS": ALICE}, "Effect": "Allow", "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"sts:ExternalId": "y"}}})
    assert trusts(assume, external) == "none"
    denied = trust({"Principal": {"AWS": ALICE}, "Effect": "Allow", "Action": "sts:AssumeRole"},
                   {"Principal": {"AWS": ALICE}, "Effect": "Deny", "Action": "sts:AssumeRole"})
    assert trusts(assume, denied) == "deny"
    service = AuthRequest("sts:AssumeRole", ROLE, "Service", "Service:ec2.amazonaws.com", "")
    assert trusts(service, trust({"Principal": {"Service": "ec2.amazonaws.com"}, "Effect": "Allow",
                                  "Action": "sts:AssumeRole"})) == "allow"
    assert trusts(service, account) == "none"
