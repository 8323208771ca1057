"""Authorization: may this principal perform this IAM action on this resource?

Every request reaches here with the IAM action(s) and resource ARN(s) that AWS documents for its operation
(see ``storeroom/s3/operations.py``).  Today the account has only its root identity, which AWS never denies
within its own account, and anonymous callers, whom nothing allows until bucket policies exist.  The IAM
policy engine plugs in here: same inputs, a :class:`Decision` that carries its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from storeroom.identity import Principal


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    # AWS's wording for AccessDenied messages, e.g. "because no identity-based policy allows the … action".
    reason: str = ""
    matched: tuple[str, ...] = field(default=())


ALLOW_ROOT = Decision(True, "the account root is allowed every action in its account")
DENY_ANONYMOUS = Decision(False, "because no resource-based policy allows the action")
DENY_NO_POLICY = Decision(False, "because no identity-based policy allows the action")


def authorize(principal: Principal, action: str, resource: str,
              context: dict[str, object] | None = None) -> Decision:
    if principal.is_root:
        return ALLOW_ROOT
    if principal.is_anonymous:
        return DENY_ANONYMOUS
    return DENY_NO_POLICY
