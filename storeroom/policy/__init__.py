"""The IAM policy language: parse and validate documents, evaluate requests against them.

Public interface (used by authz.py, the IAM API and the S3 bucket-policy handlers):

- :func:`parse_policy` — JSON text → compiled, immutable :class:`Policy`, or ``MalformedPolicyDocument``.
- :class:`AuthRequest` — what is asked: action, resource, who asks, condition-key context.
- :class:`PolicySource` — a compiled policy + where it came from (for messages and the simulator).
- :class:`PrincipalPolicies` — a principal's identity policies and permissions boundary.
- :func:`evaluate` — AWS's evaluation logic → :class:`Evaluation` (decision, reason, matched statements).
- ``managed.AWS_MANAGED`` — the AWS managed policy catalog.
"""

from storeroom.policy.document import Policy, Statement, context_keys, parse_policy
from storeroom.policy.evaluate import (
    AuthRequest,
    Evaluation,
    MatchedStatement,
    PolicySource,
    PrincipalPolicies,
    evaluate,
)

__all__ = [
    "AuthRequest", "Evaluation", "MatchedStatement", "Policy", "PolicySource", "PrincipalPolicies", "Statement",
    "context_keys", "evaluate", "parse_policy",
]
