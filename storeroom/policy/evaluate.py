"""AWS's policy evaluation logic, for requests within one account.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html:

1. an explicit Deny in any applicable policy (identity, resource, permissions boundary, session) denies;
2. a resource policy Allow naming the caller itself (a user by its unique id, as stored policies name this
   account's users and roles: storeroom/iam/principal_ids.py; a role session's ARN; or ``*``) allows, whatever
   the identity policies, boundary and session policies say (same-account rule); naming the account only
   delegates to the identity policies;
3. a permissions boundary that does not allow the action denies (implicitly);
4. session policies (AssumeRole's ``Policy`` / ``PolicyArns``) that do not allow the action deny (implicitly):
   "The resulting session's permissions are the intersection of the role's identity-based policy and the session
   policies" (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session);
5. an identity policy Allow allows — and so does a resource policy Allow naming a role session's *role* (its id),
   which counts as granted to the role, so boundary and session policies limit it ("If the resource-based
   policy specifies the ARN of the role … the session policy limits the permissions"; the same page) —
   otherwise the request is implicitly denied.

Anonymous callers have no identity policies: only a resource policy with Principal ``*`` can allow them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from storeroom.policy.document import Policy, Statement
from storeroom.policy.matching import glob_to_regex


@dataclass(frozen=True, slots=True)
class PolicySource:
    policy: Policy
    # Simulator terms (SourcePolicyId / SourcePolicyType): the managed policy ARN or name, or for inline
    # policies "user_<user>_<policy name>" / "group_<group>_<policy name>"; "PolicyInputList.1" for
    # SimulateCustomPolicy inputs; "<bucket> bucket policy" for resource policies.
    source_id: str
    # "aws-managed" | "user-managed" | "user" (inline on a user) | "group" (inline on a group) |
    # "resource" | "permissions-boundary" | "none"
    source_type: str
    # the customer/AWS managed policy ARN, when there is one (named in explicit-deny messages)
    arn: str | None = None


# (source, statement) pairs whose Action/NotAction covers one action
_Candidates = tuple[tuple[PolicySource, Statement], ...]
_ANYTHING = re.compile(".*", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The statements one action brings into play, split so that the common case costs one regex match per
    effect: the static ones (plain Resource patterns, no Condition) of each effect are folded into a single
    pattern, consulted statement by statement only when it matches; the others are checked one by one."""
    candidates: _Candidates
    dynamic: _Candidates = ()
    static_allow: _Candidates = ()
    static_deny: _Candidates = ()
    allow_pattern: re.Pattern[str] | None = None
    deny_pattern: re.Pattern[str] | None = None
    # The literal beginnings of every dynamic statement's Resource patterns: a resource that starts with none
    # of them cannot match any (None when some statement has no such beginning, e.g. NotResource or "*…").
    dynamic_heads: tuple[str, ...] | None = None


def _folded(pairs: _Candidates) -> re.Pattern[str] | None:
    if not pairs:
        return None
    if any(st.any_resource for _, st in pairs):
        return _ANYTHING
    texts = {text for _, st in pairs for text in st.resource_texts}
    return re.compile("|".join(f"(?:{glob_to_regex(t)})" for t in sorted(texts)), re.DOTALL)


_HEAD_END = re.compile(r"[*?]|\$\{")


def _heads(pairs: _Candidates) -> tuple[str, ...] | None:
    heads: set[str] = set()
    for _, st in pairs:
        if st.not_resource or st.any_resource or not st.resource_texts:
            return None
        for text in st.resource_texts:
            head = _HEAD_END.split(text, maxsplit=1)[0]
            if not head:
                return None
            heads.add(head)
    return tuple(sorted(heads))


def _plan(candidates: _Candidates) -> _Plan:
    allow = tuple(pair for pair in candidates if pair[1].static and pair[1].effect == "Allow")
    deny = tuple(pair for pair in candidates if pair[1].static and pair[1].effect == "Deny")
    dynamic = tuple(pair for pair in candidates if not pair[1].static)
    return _Plan(candidates, dynamic, allow, deny, _folded(allow), _folded(deny), _heads(dynamic))


@dataclass(frozen=True, slots=True)
class PrincipalPolicies:
    identity: tuple[PolicySource, ...]
    boundary: PolicySource | None = None
    # a role session's session policies (None: none were passed, nothing is narrowed)
    session: tuple[PolicySource, ...] | None = None
    # action (lower-cased) -> plans for the identity policies, the boundary and the session policies
    by_action: dict[str, tuple[_Plan, _Plan | None, _Plan | None]] = field(default_factory=dict, compare=False,
                                                                          repr=False)
    # an identity, boundary or session policy names s3:ExistingObjectTag (decided once, not on every request)
    names_existing_tags: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        sources = (*self.identity, *((self.boundary,) if self.boundary is not None else ()), *(self.session or ()))
        object.__setattr__(self, "names_existing_tags", any(src.policy.names_existing_tags for src in sources))

    def plans(self, action: str) -> tuple[_Plan, _Plan | None, _Plan | None]:
        try:
            return self.by_action[action]
        except KeyError:
            boundary = None if self.boundary is None else _plan(_candidates((self.boundary,), action))
            session = None if self.session is None else _plan(_candidates(self.session, action))
            found = (_plan(_candidates(self.identity, action)), boundary, session)
            if len(self.by_action) > 4096:
                self.by_action.clear()
            self.by_action[action] = found
            return found


def _candidates(sources: Sequence[PolicySource], action: str) -> _Candidates:
    return tuple((src, src.policy.statements[i]) for src in sources for i in src.policy.statements_for(action))


@dataclass(frozen=True, slots=True)
class AuthRequest:
    action: str                                  # "s3:GetObject", "iam:CreateUser"
    resource: str                                # "arn:aws:s3:::bucket/key", "*"
    principal_type: str                          # "Root" | "IAMUser" | "Anonymous" | "Service"
    principal_arn: str                           # "arn:aws:iam::123456789012:user/alice", "*" if anonymous,
    #                                              "Service:logging.s3.amazonaws.com" for a service
    account_id: str                              # the principal's account ("" for anonymous)
    # condition keys, names lower-cased ("aws:username", "s3:prefix", "aws:principaltag/team") → values
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)
    role_arn: str | None = None                  # a role session's role ARN (resource policies may name it)
    # The caller's unique ids, set when judging a request against stored policies, which name this account's
    # users and roles by id (storeroom/iam/principal_ids.py): an IAM user's AIDA… (then the user is matched by
    # it, not by principal_arn) and a role session's role's AROA… (then matched instead of role_arn).  None: by
    # ARN (the simulator's CallerArn and its ResourcePolicy, written with ARNs).
    user_id: str | None = None
    role_id: str | None = None

    @property
    def caller_key(self) -> str:
        """What a Principal element names the caller itself by."""
        return self.user_id or self.principal_arn

    @property
    def role_key(self) -> str | None:
        """What a Principal element names a role session's role by."""
        return self.role_id or self.role_arn


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    source_id: str
    source_type: str
    start: tuple[int, int] = (1, 1)              # (line, column) in the document's text, 1-based
    end: tuple[int, int] = (1, 1)


@dataclass(frozen=True, slots=True)
class Evaluation:
    decision: str                                # "allowed" | "explicitDeny" | "implicitDeny"
    reason: str = ""                             # AccessDenied wording, see evaluate()
    matched: tuple[MatchedStatement, ...] = ()
    missing_context: tuple[str, ...] = ()        # condition keys the request did not supply

    @property
    def allowed(self) -> bool:
        return self.decision == "allowed"


class _Tally:
    """The statements that apply to the request, by policy type and effect, and the condition keys the
    request lacked while they were checked."""

    __slots__ = ("allow", "deny", "missing", "static_allow")

    def __init__(self, missing: dict[str, str]) -> None:
        self.allow: list[tuple[PolicySource, Statement]] = []
        self.deny: list[tuple[PolicySource, Statement]] = []
        self.missing = missing                   # shared by the tallies of one request
        self.static_allow = False                # a static Allow matched, not enumerated (explain=False)

    @property
    def allows(self) -> bool:
        return self.static_allow or bool(self.allow)

    def consider(self, src: PolicySource, st: Statement, request: AuthRequest) -> None:
        ctx = request.context
        if not st.matches_resource(request.resource, ctx):
            return
        if st.conditions:
            for c in st.conditions:
                if not c.is_null and c.key_lower not in ctx:
                    self.missing.setdefault(c.key_lower, c.key)
            for lower, written in st.condition_variables:
                if lower not in ctx:
                    self.missing.setdefault(lower, written)
            if not st.conditions_hold(ctx):
                return
        (self.deny if st.effect == "Deny" else self.allow).append((src, st))


def _tally(plan: _Plan, request: AuthRequest, missing: dict[str, str], explain: bool = True) -> _Tally:
    tally = _Tally(missing)
    resource = request.resource
    ctx = request.context
    if plan.deny_pattern is not None and plan.deny_pattern.fullmatch(resource):
        tally.deny.extend(pair for pair in plan.static_deny if pair[1].matches_resource(resource, ctx))
    if plan.allow_pattern is not None and plan.allow_pattern.fullmatch(resource):
        if explain:  # which statements allowed matters only to the simulator
            tally.allow.extend(pair for pair in plan.static_allow if pair[1].matches_resource(resource, ctx))
        else:
            tally.static_allow = True
    if plan.dynamic_heads is not None and not resource.startswith(plan.dynamic_heads):
        return tally
    for src, st in plan.dynamic:
        # the resource test inlined: most dynamic candidates fail it
        if st.resources(resource, ctx) != st.not_resource:
            tally.consider(src, st, request)
        elif explain and st.resource_variables:  # the simulator: a variable without a value matched nothing
            for lower, written in st.resource_variables:
                if lower not in ctx:
                    tally.missing.setdefault(lower, written)
    return tally


def _static_decision(plan: _Plan, resource: str) -> bool | None:
    """The common case decided by the folded patterns alone: True (a static Allow matches, and no Deny or
    dynamic statement can apply), False (nothing can apply: implicit deny), None (needs the full tally)."""
    if plan.deny_pattern is not None and plan.deny_pattern.fullmatch(resource):
        return None
    if plan.dynamic and (plan.dynamic_heads is None or resource.startswith(plan.dynamic_heads)):
        return None
    return plan.allow_pattern is not None and plan.allow_pattern.fullmatch(resource) is not None


def _names_caller(st: Statement, request: AuthRequest) -> bool:
    if st.principal is None:
        return False
    role = request.role_key
    if st.not_principal:
        # AWS's "everyone but Bob" Deny lists Bob (his id, once stored) and his account: both are needed to spare
        # Bob
        return not (st.principal.exempts(request.caller_key, request.account_id, st.effect)
                    or (role is not None and st.principal.exempts(role, request.account_id, st.effect)))
    return st.principal.names(request.caller_key, request.principal_type, request.account_id, st.effect) or (
        role is not None and role in st.principal.aws)


@functools.lru_cache(maxsize=8192)
def _matched_statement(source_id: str, source_type: str, start: tuple[int, int],
                       end: tuple[int, int]) -> MatchedStatement:
    return MatchedStatement(source_id, source_type, start, end)


def _verdict(decision: str, reason: str, pairs: Sequence[tuple[PolicySource, Statement]],
             missing: dict[str, str]) -> Evaluation:
    if not pairs and not missing:
        return _plain_verdict(decision, reason)
    matched = tuple(_matched_statement(src.source_id, src.source_type, st.start, st.end) for src, st in pairs)
    return Evaluation(decision, reason, matched, tuple(missing.values()))


@functools.lru_cache(maxsize=4096)
def _plain_verdict(decision: str, reason: str) -> Evaluation:
    """Verdicts without statements or missing keys recur for every request of an action: build each once."""
    return Evaluation(decision, reason)


def _with_arn(text: str, pairs: Sequence[tuple[PolicySource, Statement]]) -> str:
    """AWS names the denying managed policy: "... in an identity-based policy: arn:aws:iam::…:policy/X"."""
    arn = next((src.arn for src, _ in pairs if src.arn), None)
    return f"{text}: {arn}" if arn else text


_NO_PLAN = _Plan(())


def evaluate(request: AuthRequest, principal: PrincipalPolicies | None,
             resource_policy: PolicySource | None = None, resource_account: str | None = None,
             explain: bool = True) -> Evaluation:
    """Decide ``request``.  ``principal`` is None for anonymous callers.  ``resource_account`` (the resource
    owner) is accepted for the cross-account rules, which are not modelled: every caller is treated as in the
    resource's account.  ``explain=False`` (enforcement) leaves out the identity and boundary statements that
    allowed, which only the simulator reports; denials are always explained."""
    action = request.action.lower()
    if not explain and resource_policy is None and principal is not None and principal.boundary is None:
        identity_plan, _, session_plan = principal.plans(action)
        quick = _static_decision(identity_plan, request.resource)
        # a role session's session policies decided the same way (the order of the reasons: the full path's)
        session_quick = True if session_plan is None else _static_decision(session_plan, request.resource)
        if quick is not None and session_quick is not None:
            if not session_quick:
                return _plain_verdict("implicitDeny", f"because no session policy allows the {request.action} "
                                                      f"action")
            return _plain_verdict("allowed", "") if quick else _plain_verdict(
                "implicitDeny", f"because no identity-based policy allows the {request.action} action")
    missing: dict[str, str] = {}
    identity_plan, boundary_plan, session_plan = (principal.plans(action) if principal is not None
                                                  else (_NO_PLAN, None, None))
    identity = _tally(identity_plan, request, missing, explain)
    boundary = None if boundary_plan is None else _tally(boundary_plan, request, missing, explain)
    session = None if session_plan is None else _tally(session_plan, request, missing, explain)
    resource = None
    if resource_policy is not None:
        applicable = tuple(pair for pair in _candidates((resource_policy,), action) if _names_caller(pair[1], request))
        resource = _tally(_Plan(applicable, applicable), request, missing)

    if identity.deny:
        return _verdict("explicitDeny", _with_arn("with an explicit deny in an identity-based policy", identity.deny),
                        identity.deny, missing)
    if resource is not None and resource.deny:
        return _verdict("explicitDeny", "with an explicit deny in a resource-based policy", resource.deny, missing)
    if boundary is not None and boundary.deny:
        return _verdict("explicitDeny", _with_arn("with an explicit deny in a permissions boundary", boundary.deny),
                        boundary.deny, missing)
    if session is not None and session.deny:
        return _verdict("explicitDeny", "with an explicit deny in a session policy", session.deny, missing)
    if resource is not None and resource.allow:
        direct = [pair for pair in resource.allow if _grants_directly(pair[1], request)]
        if direct:
            return _verdict("allowed", "", direct, missing)
    if principal is None:
        return _verdict("implicitDeny", f"because no resource-based policy allows the {request.action} action", (),
                        missing)
    if boundary is not None and not boundary.allows:
        return _verdict("implicitDeny", f"because no permissions boundary allows the {request.action} action", (),
                        missing)
    if session is not None and not session.allows:
        return _verdict("implicitDeny", f"because no session policy allows the {request.action} action", (),
                        missing)
    if identity.allows:
        return _verdict("allowed", "", identity.allow, missing)
    if resource is not None and resource.allow:  # granted to a role session's role: limited like the role's own
        return _verdict("allowed", "", resource.allow, missing)
    return _verdict("implicitDeny", f"because no identity-based policy allows the {request.action} action", (),
                    missing)


def _grants_directly(st: Statement, request: AuthRequest) -> bool:
    """An Allow that names the caller itself (not merely its account, which only delegates to the account's
    identity policies — except for the account's root user, which the account ARN does name)."""
    p = st.principal
    if p is None:
        return False
    if st.not_principal:
        return True
    return (p.any or request.caller_key in p.aws or request.principal_type == "Root"
            or request.principal_arn in p.others)


def trusts(request: AuthRequest, trust: PolicySource) -> str:
    """Does a role's trust policy let the caller in for ``request.action``: "allow" when an Allow statement whose
    conditions hold names the caller, or the caller's account (which then defers to the caller's identity
    policies, judged by :func:`evaluate` with the trust policy as resource policy), and no Deny names it; "deny"
    when a Deny does; "none" otherwise.  A trust policy, unlike a bucket policy, must allow: no statement for the
    caller is a refusal."""
    account_root = f"arn:aws:iam::{request.account_id}:root" if request.account_id else None
    allowed = False
    for _, st in _candidates((trust,), request.action.lower()):
        if st.principal is None:
            continue
        named = _names_caller(st, request) or (
            st.effect == "Allow" and not st.not_principal and account_root is not None
            and account_root in st.principal.aws)
        if not named or (st.conditions and not st.conditions_hold(request.context)):
            continue
        if st.effect == "Deny":
            return "deny"
        allowed = True
    return "allow" if allowed else "none"
