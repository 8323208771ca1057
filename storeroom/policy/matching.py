"""Wildcard patterns and policy variables, compiled once when a policy is parsed.

IAM's wildcards: ``*`` matches any run of characters (including none, and across ``/`` and ``:``), ``?``
exactly one character.  Actions compare case-insensitively, resources and condition values case-sensitively.

Policy variables (``${aws:username}``, ``${aws:PrincipalTag/team, 'default'}``) are substituted from the
request context (keys looked up lower-cased); ``${*}``, ``${?}`` and ``${$}`` stand for the literal characters.
A substituted value is matched literally: a user named ``a*`` does not become a wildcard.  A variable without
a value or default makes the pattern match nothing (or, on request, everything: ``unresolved``).
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html

Matching takes time linear in the value for every pattern (see ``_starred``): resources and condition values
come from callers, and a backtracking match is a way to stall a worker.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence

Context = Mapping[str, Sequence[str]]
# (value, context) -> does the pattern match?
Matcher = Callable[[str, Context], bool]

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,\s]+)\s*,\s*'([^']*)'\s*$")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


def _segment(text: str) -> str:
    """The regular expression of wildcard text without ``*``: ``?`` is any one character."""
    return "".join("." if c == "?" else re.escape(c) for c in text)


def _starred(segments: Sequence[str]) -> str:
    """The regular expression (for ``fullmatch``) of segments (regular expressions of fixed length) joined by
    ``*``.  Written so that it cannot backtrack more than linearly: each inner segment is taken at its leftmost
    occurrence and kept (an atomic group), which loses no match — ``*`` can absorb anything, so an earlier end
    leaves every later segment at least the room a later one would.  The plain ``.*…`` translation backtracks
    polynomially in the number of stars: ``b/*/*/*/*.txt`` against a 1 KiB key took seconds."""
    if len(segments) == 1:
        return segments[0]
    inner = "".join(f"(?>.*?{s})" for s in segments[1:-1] if s)
    return f"{segments[0]}{inner}.*{segments[-1]}"


def glob_to_regex(pattern: str) -> str:
    """The regular expression (for ``fullmatch``, DOTALL) of an IAM wildcard pattern: ``*`` any run of
    characters, ``?`` one character."""
    return _starred([_segment(s) for s in pattern.split("*")])


@functools.lru_cache(maxsize=4096)
def _compiled(regex: str, flags: int) -> re.Pattern[str]:
    return re.compile(regex, flags | re.DOTALL)


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """One-off wildcard match (compiled patterns are cached)."""
    return _plain(pattern, ignore_case)(value, {})


def _plain(pattern: str, ignore_case: bool) -> Matcher:
    """A matcher for a pattern without variables, choosing the cheapest test that is exact."""
    if ignore_case:
        pattern = pattern.lower()
    if pattern == "*":
        return lambda value, ctx: True
    if "*" not in pattern and "?" not in pattern:
        if ignore_case:
            return lambda value, ctx: value.lower() == pattern
        return lambda value, ctx: value == pattern
    head = pattern[:-1]
    if pattern.endswith("*") and "*" not in head and "?" not in head:
        if ignore_case:
            return lambda value, ctx: value.lower().startswith(head)
        return lambda value, ctx: value.startswith(head)
    regex = _compiled(glob_to_regex(pattern), re.IGNORECASE if ignore_case else 0)
    return lambda value, ctx: regex.fullmatch(value) is not None


# A template part: ("glob", text) is matched with wildcards, ("literal", text) exactly,
# ("var", key, default) is replaced by the context value (or default) and matched exactly.
Part = tuple[str, str, str | None]


def parse_template(text: str) -> tuple[Part, ...]:
    parts: list[Part] = []
    pos = 0
    for m in _VARIABLE.finditer(text):
        if m.start() > pos:
            parts.append(("glob", text[pos:m.start()], None))
        inner = m.group(1)
        if inner in _ESCAPES:
            parts.append(("literal", _ESCAPES[inner], None))
        else:
            d = _DEFAULT.match(inner)
            key, default = (d.group(1), d.group(2)) if d else (inner.strip(), None)
            parts.append(("var", key.lower(), default))
        pos = m.end()
    if pos < len(text):
        parts.append(("glob", text[pos:], None))
    return tuple(parts)


def variables_in(text: str) -> list[tuple[str, bool]]:
    """The context keys ``text`` names as policy variables, as written, each with whether it has a default value
    (``${aws:PrincipalTag/team, 'none'}``); the escapes ``${*}``, ``${?}``, ``${$}`` name none."""
    out: list[tuple[str, bool]] = []
    for m in _VARIABLE.finditer(text):
        inner = m.group(1)
        if inner not in _ESCAPES:
            d = _DEFAULT.match(inner)
            out.append((d.group(1), True) if d else (inner.strip(), False))
    return out


def has_variables(text: str) -> bool:
    return _VARIABLE.search(text) is not None


def variable_value(key: str, default: str | None, ctx: Context) -> str | None:
    """A single-valued context key's value, else the default (multivalued keys cannot be variables)."""
    values = ctx.get(key)
    if values is not None and len(values) == 1:
        return values[0]
    return default


def substitute(text: str, ctx: Context) -> str | None:
    """``text`` with its variables replaced, or None when one has no value (for exact-comparison operators)."""
    out: list[str] = []
    for kind, value, default in parse_template(text):
        if kind == "var":
            resolved = variable_value(value, default, ctx)
            if resolved is None:
                return None
            out.append(resolved)
        else:
            out.append(value)
    return "".join(out)


def _template(parts: tuple[Part, ...], ignore_case: bool, unresolved: bool) -> Matcher:
    flags = re.IGNORECASE if ignore_case else 0
    # The pattern as ``*``-separated segments, each a list of regex text (fixed) and variables (key, default)
    # resolved at the request, so that the stars of the whole pattern, not of each fixed part, make the regex.
    segments: list[list[str | tuple[str, str | None]]] = [[]]
    for kind, text, default in parts:
        if kind == "var":
            segments[-1].append((text, default))
        elif kind == "literal":
            segments[-1].append(re.escape(text))
        else:
            first, *rest = text.split("*")
            segments[-1].append(_segment(first))
            segments.extend([_segment(piece)] for piece in rest)
    # most candidates fail on the literal text before the first variable or wildcard: test that first
    head = ""
    if parts and parts[0][0] == "glob":
        head = re.split(r"[*?]", parts[0][1], maxsplit=1)[0]
        if ignore_case:
            head = head.lower()

    def match(value: str, ctx: Context) -> bool:
        if head and not (value.lower() if ignore_case else value).startswith(head):
            return False
        texts: list[str] = []
        for segment in segments:
            regex: list[str] = []
            for piece in segment:
                if isinstance(piece, str):
                    regex.append(piece)
                    continue
                resolved = variable_value(piece[0], piece[1], ctx)
                if resolved is None:
                    return unresolved
                regex.append(re.escape(resolved))
            texts.append("".join(regex))
        return _compiled(_starred(texts), flags).fullmatch(value) is not None

    return match


def compile_pattern(pattern: str, *, variables: bool, ignore_case: bool = False,
                    unresolved: bool = False) -> Matcher:
    """Compile an Action/Resource/StringLike pattern; ``variables`` is False for 2008-10-17 policies, whose
    ``${...}`` is literal text.  ``unresolved`` is the answer when a variable has neither a value nor a default:
    AWS then holds the whole statement invalid, so the caller picks what keeps the statement from applying
    (see ``document._compile``)."""
    if variables and has_variables(pattern):
        return _template(parse_template(pattern), ignore_case, unresolved)
    return _plain(pattern, ignore_case)


def compile_patterns(patterns: Sequence[str], *, variables: bool, ignore_case: bool = False,
                     unresolved: bool = False) -> Matcher:
    """One matcher for a list of patterns (any may match): a set lookup when all are literal, one combined
    regular expression when none has variables, else the patterns one by one."""
    if variables and any(map(has_variables, patterns)):
        each = [compile_pattern(p, variables=True, ignore_case=ignore_case, unresolved=unresolved)
                for p in patterns]
        return lambda value, ctx: any(m(value, ctx) for m in each)
    if ignore_case:
        patterns = [p.lower() for p in patterns]
    if "*" in patterns:
        return lambda value, ctx: True
    if len(patterns) == 1:
        return _plain(patterns[0], ignore_case)
    if not any("*" in p or "?" in p for p in patterns):
        literal = frozenset(patterns)
        if ignore_case:
            return lambda value, ctx: value.lower() in literal
        return lambda value, ctx: value in literal
    combined = _compiled("|".join(f"(?:{glob_to_regex(p)})" for p in patterns), re.IGNORECASE if ignore_case else 0)
    return lambda value, ctx: combined.fullmatch(value) is not None
