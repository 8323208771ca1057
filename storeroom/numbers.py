"""Integers in client input (query parameters, headers), read as strictly as AWS reads them.

AWS's front ends read these as Java does (``Integer.parseInt`` / ``Long.parseLong``): an optional sign, then
digits, nothing else.  Python's ``int()`` is laxer: it takes surrounding whitespace, underscores (``"1_0"`` is 10)
and digits of any script (``"١"`` is 1), so ``max-keys=1_0`` would list ten keys where S3 answers
InvalidArgument.  Values beyond a Java ``long`` are no number either (S3: "not an integer or within integer
range"), which also keeps a 4,000-digit value from costing a quadratic conversion.
"""

from __future__ import annotations

import re

INT32_MAX = 2**31 - 1

_SIGNED = re.compile(r"[+-]?[0-9]{1,19}")
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_int(text: str, *, signed: bool = True) -> int | None:
    """The integer ``text`` spells (ASCII digits, with an optional sign if ``signed``), else None."""
    if (_SIGNED if signed else _DIGITS).fullmatch(text) is None:
        return None
    return int(text)
