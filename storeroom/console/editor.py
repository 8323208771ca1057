"""The JSON policy editors (IAM's "Create policy", S3's bucket policy): the API's validation message, placed at
a line and column of the text the person typed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storeroom.console.services import ServiceError
from storeroom.errors import AwsError
from storeroom.policy.document import statement_positions


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
