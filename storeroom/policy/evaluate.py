"""AWS's policy evaluation logic, for requests within one account.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html:

1. an explicit Deny in any applicable policy (identity, resource, permissions boundary) denies;
2. a resource policy Allow naming the caller itself (its ARN, or ``*``) allows, whatever the identity policies
   and boundary say (same-account rule); naming the account only delegates to the identity policies;
3. a permissions boundary that does not allow the action denies (implicitly);
4. an identity policy Allow allows; otherwise the request is implicitly denied.

Anonymous callers have no identity policies: only a resource policy with Principal ``*`` can allow them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from storeroom.policy.document import Policy, Statement


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


@dataclass(frozen=True, slots=True)
class PrincipalPolicies:
    identity: tuple[PolicySource, ...]
    boundary: PolicySource | None = None
    # action (lower-cased) -> the identity statements whose Action/NotAction covers it; filled on first use
    by_action: dict[str, _Candidates] = field(default_factory=dict, compare=False, repr=False)

    def candidates(self, action: str) -> _Candidates:
        try:
            return self.by_action[action]
        except KeyError:
            found = _candidates(self.identity, action)
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
    principal_type: str                          # "Root" | "IAMUser" | "Anonymous"
    principal_arn: str                           # "arn:aws:iam::123456789012:user/alice", or "*" if anonymous
    account_id: str                              # the principal's account ("" for anonymous)
    # condition keys, names lower-cased ("aws:username", "s3:prefix", "aws:principaltag/team") → values
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


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

    __slots__ = ("allow", "deny", "missing")

    def __init__(self, missing: dict[str, str]) -> None:
        self.allow: list[tuple[PolicySource, Statement]] = []
        self.deny: list[tuple[PolicySource, Statement]] = []
        self.missing = missing                   # shared by the tallies of one request

    def consider(self, src: PolicySource, st: Statement, request: AuthRequest) -> None:
        ctx = request.context
        if not st.matches_resource(request.resource, ctx):
            return
        if st.conditions:
            for c in st.conditions:
                if not c.is_null and c.key_lower not in ctx:
                    self.missing.setdefault(c.key_lower, c.key)
            if not st.conditions_hold(ctx):
                return
        (self.deny if st.effect == "Deny" else self.allow).append((src, st))


def _tally(candidates: _Candidates, request: AuthRequest, missing: dict[str, str]) -> _Tally:
    tally = _Tally(missing)
    for src, st in candidates:
        tally.consider(src, st, request)
    return tally


def _names_caller(st: Statement, request: AuthRequest) -> bool:
    if st.principal is None:
        return False
    if st.not_principal:
        # NotPrincipal excludes exactly who it lists: the account ARN excludes the root user, not the account's
        # users (AWS's "everyone but Bob" example lists Bob's ARN and his account's)
        return not st.principal.names(request.principal_arn, request.principal_type, request.account_id, "Allow")
    return st.principal.names(request.principal_arn, request.principal_type, request.account_id, st.effect)


def _matched(pairs: Sequence[tuple[PolicySource, Statement]]) -> tuple[MatchedStatement, ...]:
    return tuple(MatchedStatement(src.source_id, src.source_type, st.start, st.end) for src, st in pairs)


def _with_arn(text: str, pairs: Sequence[tuple[PolicySource, Statement]]) -> str:
    """AWS names the denying managed policy: "... in an identity-based policy: arn:aws:iam::…:policy/X"."""
    arn = next((src.arn for src, _ in pairs if src.arn), None)
    return f"{text}: {arn}" if arn else text


def evaluate(request: AuthRequest, principal: PrincipalPolicies | None,
             resource_policy: PolicySource | None = None, resource_account: str | None = None) -> Evaluation:
    """Decide ``request``.  ``principal`` is None for anonymous callers.  ``resource_account`` (the resource
    owner) is accepted for the cross-account rules, which are not modelled: every caller is treated as in the
    resource's account."""
    action = request.action.lower()
    missing: dict[str, str] = {}
    identity = _tally(principal.candidates(action) if principal else (), request, missing)
    boundary = None
    if principal is not None and principal.boundary is not None:
        boundary = _tally(_candidates((principal.boundary,), action), request, missing)
    resource = None
    if resource_policy is not None:
        applicable = tuple(pair for pair in _candidates((resource_policy,), action) if _names_caller(pair[1], request))
        resource = _tally(applicable, request, missing)
    keys = tuple(missing.values())

    def verdict(decision: str, reason: str, pairs: Sequence[tuple[PolicySource, Statement]] = ()) -> Evaluation:
        return Evaluation(decision, reason, _matched(pairs), keys)

    if identity.deny:
        return verdict("explicitDeny", _with_arn("with an explicit deny in an identity-based policy", identity.deny),
                       identity.deny)
    if resource is not None and resource.deny:
        return verdict("explicitDeny", "with an explicit deny in a resource-based policy", resource.deny)
    if boundary is not None and boundary.deny:
        return verdict("explicitDeny", _with_arn("with an explicit deny in a permissions boundary", boundary.deny),
                       boundary.deny)
    if resource is not None and resource.allow:
        direct = [pair for pair in resource.allow if _grants_directly(pair[1], request)]
        if direct:
            return verdict("allowed", "", direct)
    if principal is None:
        return verdict("implicitDeny", f"because no resource-based policy allows the {request.action} action")
    if boundary is not None and not boundary.allow:
        return verdict("implicitDeny", f"because no permissions boundary allows the {request.action} action")
    if identity.allow:
        return verdict("allowed", "", identity.allow)
    return verdict("implicitDeny", f"because no identity-based policy allows the {request.action} action")


def _grants_directly(st: Statement, request: AuthRequest) -> bool:
    """An Allow that names the caller itself (not merely its account, which only delegates to the account's
    identity policies — except for the account's root user, which the account ARN does name)."""
    p = st.principal
    if p is None:
        return False
    if st.not_principal:
        return True
    return p.any or request.principal_arn in p.aws or request.principal_type == "Root"
