"""Policy documents: parse, validate (IAM's MalformedPolicyDocument messages), compile.

PLACEHOLDER: the real parser/validator is being written (issue 3); this minimal version only parses JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storeroom.errors import AwsError


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str | None
    effect: str                 # "Allow" | "Deny"
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    text: str
    version: str
    statements: tuple[Statement, ...]


def parse_policy(text: str, kind: str = "identity") -> Policy:
    """``kind``: "identity" (user, group, managed policies and boundaries: no Principal element) or
    "resource" (bucket policies: Principal or NotPrincipal required).  Raises
    ``AwsError("MalformedPolicyDocument", <IAM's message>, 400)``."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise AwsError("MalformedPolicyDocument", "Syntax errors in policy.", 400) from None
    if not isinstance(doc, dict):
        raise AwsError("MalformedPolicyDocument", "Syntax errors in policy.", 400)
    statements = doc.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return Policy(text, str(doc.get("Version", "2008-10-17")),
                  tuple(Statement(s.get("Sid"), s.get("Effect", ""), s) for s in statements))
