"""AWS's policy evaluation logic.

PLACEHOLDER: the real engine is being written (issue 3); this version allows nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from storeroom.policy.document import Policy


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


@dataclass(frozen=True, slots=True)
class PrincipalPolicies:
    identity: tuple[PolicySource, ...]
    boundary: PolicySource | None = None


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


def evaluate(request: AuthRequest, principal: PrincipalPolicies | None,
             resource_policy: PolicySource | None = None, resource_account: str | None = None) -> Evaluation:
    return Evaluation("implicitDeny", f"because no identity-based policy allows the {request.action} action")
