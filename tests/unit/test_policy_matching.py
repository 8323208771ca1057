"""Wildcards and policy variables: property tests against a reference matcher, and AWS's variable rules."""

from __future__ import annotations

import functools

from hypothesis import given
from hypothesis import strategies as st

from storeroom.policy.matching import compile_pattern, glob_match, substitute


def reference(pattern: str, value: str) -> bool:
    """Textbook wildcard matching by dynamic programming: ``*`` any run, ``?`` one character."""
    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(value)
        if pattern[i] == "*":
            return match(i + 1, j) or (j < len(value) and match(i, j + 1))
        return j < len(value) and pattern[i] in ("?", value[j]) and match(i + 1, j + 1)
    return match(0, 0)


ALPHABET = st.sampled_from("ab/:*?.[]\\$^")
PATTERNS = st.text(ALPHABET, max_size=12)
VALUES = st.text(st.sampled_from("ab/:*?.[]\\$^xY"), max_size=12)


@given(PATTERNS, VALUES)
def test_matches_like_the_reference(pattern: str, value: str) -> None:
    assert glob_match(pattern, value) == reference(pattern, value)


@given(VALUES)
def test_star_matches_anything_including_empty(value: str) -> None:
    assert glob_match("*", value)
    assert glob_match("**", value)


@given(st.text(st.characters(blacklist_characters="*?"), max_size=20))
def test_literal_strings_match_only_themselves(text: str) -> None:
    assert glob_match(text, text)
    assert not glob_match(text, text + "x")


@given(st.text(st.sampled_from("aBcD:*"), max_size=10), st.text(st.sampled_from("aBcD:"), max_size=10))
def test_actions_ignore_case_resources_do_not(pattern: str, value: str) -> None:
    assert glob_match(pattern, value, ignore_case=True) == reference(pattern.lower(), value.lower())
    assert glob_match(pattern, value) == reference(pattern, value)


def test_star_spans_slashes_and_colons() -> None:
    assert glob_match("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c")
    assert glob_match("arn:aws:s3:::*", "arn:aws:s3:::bucket/key")
    assert not glob_match("arn:aws:s3:::bucket/?", "arn:aws:s3:::bucket/ab")
    assert glob_match("S3:Get*", "s3:getobject", ignore_case=True)
    assert not glob_match("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/x")


CTX = {"aws:username": ("alice",), "aws:principaltag/team": ("blue",), "s3:prefix": ("home/",),
       "aws:tagkeys": ("a", "b")}


def test_variables_are_substituted_from_lower_cased_keys() -> None:
    home = compile_pattern("arn:aws:s3:::b/home/${aws:username}/*", variables=True)
    assert home("arn:aws:s3:::b/home/alice/x", CTX)
    assert not home("arn:aws:s3:::b/home/bob/x", CTX)
    assert compile_pattern("${aws:PrincipalTag/team}", variables=True)("blue", CTX)
    assert substitute("${aws:UserName}-${s3:prefix}", CTX) == "alice-home/"


def test_missing_variable_matches_nothing_unless_defaulted() -> None:
    pattern = compile_pattern("arn:aws:s3:::b/${aws:PrincipalTag/dept}/*", variables=True)
    assert not pattern("arn:aws:s3:::b/x/y", CTX)
    assert not pattern("arn:aws:s3:::b/${aws:PrincipalTag/dept}/y", CTX)
    defaulted = compile_pattern("arn:aws:s3:::b/${aws:PrincipalTag/dept, 'shared'}/*", variables=True)
    assert defaulted("arn:aws:s3:::b/shared/y", CTX)
    assert compile_pattern("${aws:PrincipalTag/team, 'shared'}", variables=True)("blue", CTX)
    assert substitute("${aws:PrincipalTag/dept}", CTX) is None
    # multivalued keys cannot be variables
    assert not compile_pattern("${aws:TagKeys}", variables=True)("a", CTX)


def test_substituted_values_and_escapes_are_literal() -> None:
    ctx = {"aws:username": ("a*",)}
    pattern = compile_pattern("home/${aws:username}", variables=True)
    assert pattern("home/a*", ctx)
    assert not pattern("home/abc", ctx)
    escaped = compile_pattern("${*}${?}${$}x*", variables=True)
    assert escaped("*?$xyz", {})
    assert not escaped("ab$xyz", {})


def test_variables_are_literal_text_in_2008_policies() -> None:
    pattern = compile_pattern("home/${aws:username}", variables=False)
    assert pattern("home/${aws:username}", CTX)
    assert not pattern("home/alice", CTX)


def reference_tokens(tokens: list[tuple[str, str]], value: str) -> bool:
    """Wildcard matching over tokens: ("*", ""), ("?", ""), or ("lit", one literal character)."""
    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(tokens):
            return j == len(value)
        kind, char = tokens[i]
        if kind == "*":
            return match(i + 1, j) or (j < len(value) and match(i, j + 1))
        return j < len(value) and (kind == "?" or char == value[j]) and match(i + 1, j + 1)
    return match(0, 0)


@given(st.lists(st.sampled_from(["a", "b", "/", "*", "?", "${aws:username}", "${*}", "${?}"]), max_size=10),
       st.text(st.sampled_from("ab*?"), max_size=3), st.text(st.sampled_from("ab/*?"), max_size=14))
def test_patterns_with_variables_match_like_the_reference(pieces: list[str], name: str, value: str) -> None:
    """Substituted values and ``${*}``/``${?}`` are literal; the stars of the whole pattern, across variables,
    behave as one glob (the regex is assembled per request from ``*``-separated segments)."""
    tokens: list[tuple[str, str]] = []
    for piece in pieces:
        if piece in ("*", "?"):
            tokens.append((piece, ""))
        else:
            literal = {"${aws:username}": name, "${*}": "*", "${?}": "?"}.get(piece, piece)
            tokens.extend(("lit", c) for c in literal)
    pattern = compile_pattern("".join(pieces), variables=True)
    assert pattern(value, {"aws:username": (name,)}) == reference_tokens(tokens, value)


def test_unresolved_variables_answer_as_asked() -> None:
    assert not compile_pattern("a/${aws:PrincipalTag/x}", variables=True)("a/b", {})
    assert compile_pattern("a/${aws:PrincipalTag/x}", variables=True, unresolved=True)("a/b", {})
    assert compile_pattern("a/${aws:PrincipalTag/x, 'b'}", variables=True, unresolved=True)("a/b", {})
    assert not compile_pattern("a/${aws:PrincipalTag/x, 'b'}", variables=True, unresolved=True)("a/c", {})
