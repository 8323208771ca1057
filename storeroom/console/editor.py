"""The JSON policy editors (IAM's "Create policy", S3's bucket policy): the API's validation message, placed at
a line and column of the text the person typed; a warning for S3 actions that do not exist."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storeroom.console.services import ServiceError
from storeroom.errors import AwsError
from storeroom.policy.document import parse_policy, statement_positions
from storeroom.s3 import action_names


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str                   # the API's words (MalformedPolicyDocument, MalformedPolicy, …)
    line: int | None = None
    column: int | None = None
    detail: str = ""               # what the JSON parser said, or which statement the API refused


def locate_problem(err: ServiceError, text: str, malformed: str, check: Callable[[str], Any]) -> Problem:
    """Where in ``text`` the API found the problem: the JSON syntax error's line and column, or the first
    statement that ``check`` (the API's own validator, given a document with that statement alone) refuses.
    ``malformed``: the API's code for a refused document (IAM's MalformedPolicyDocument, S3's MalformedPolicy)."""
    if err.code != malformed:
        return Problem(err.code, err.message)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as bad:
        return Problem(err.code, err.message, bad.lineno, bad.colno, bad.msg)
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    positions = statement_positions(text)
    if isinstance(statements, list) and len(positions) == len(statements):
        for i, (statement, (start, _)) in enumerate(zip(statements, positions, strict=True), 1):
            alone = json.dumps({"Version": doc.get("Version", "2012-10-17"), "Statement": [statement]})
            try:
                check(alone)
            except AwsError as refused:
                return Problem(err.code, err.message, start[0], start[1], f"Statement {i}: {refused.message}")
    return Problem(err.code, err.message, 1, 1)


_S3_ACTIONS = frozenset(name.lower() for name in action_names.NAMES)


def action_warning(text: str) -> str:
    """" Warning: …" naming the ``s3:`` actions (no wildcard) of an identity policy that S3 has not — IAM takes
    any action name, and a misspelt one matches no request, as AWS's console warns — else ""."""
    try:
        policy = parse_policy(text, "managed")  # (IAM took it: it parses)
    except AwsError:
        return ""
    unknown: list[str] = []
    for st in policy.statements:
        named = st.raw.get("NotAction" if st.not_action else "Action")
        for name in [named] if isinstance(named, str) else named or []:
            if (name.lower().startswith("s3:") and not {"*", "?"} & set(name)
                    and name[3:].lower() not in _S3_ACTIONS and name not in unknown):
                unknown.append(name)
    if not unknown:
        return ""
    one = len(unknown) == 1
    return (f" Warning: {', '.join(unknown)} {'is not an action' if one else 'are not actions'} of Amazon S3: "
            f"{'it matches' if one else 'they match'} no request.")
