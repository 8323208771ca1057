"""The HTTP edge: requests that are malformed before they reach an operation."""

from __future__ import annotations

from tests.e2e.helpers import signed_request


def test_key_that_is_not_utf8_is_invalid_uri(endpoint: str, bucket: str) -> None:
    r = signed_request("GET", f"{endpoint}/{bucket}/bad%FF%FEkey")
    assert r.status_code == 400, r.content
    assert b"<Code>InvalidURI</Code>" in r.content
