"""storeroom/s3/cors.py's sans-IO parts: the configuration document and rule matching."""

from __future__ import annotations

import pytest

from storeroom.errors import AwsError
from storeroom.s3.cors import Rule, allow_headers, configuration_xml, match, parse_configuration, requested_headers


def _doc(*rules: str) -> bytes:
    return ('<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            + "".join(f"<CORSRule>{r}</CORSRule>" for r in rules) + "</CORSConfiguration>").encode()


def test_a_document_round_trips_in_s3_s_element_order() -> None:
    rules = parse_configuration(_doc(
        "<AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedMethod>PUT</AllowedMethod>"
        "<MaxAgeSeconds>30</MaxAgeSeconds><ExposeHeader>ETag</ExposeHeader><ID>r1</ID>"
        "<AllowedHeader>x-amz-*</AllowedHeader>"))
    assert rules == [Rule(("https://*.example.com",), ("PUT",), ("x-amz-*",), ("ETag",), 30, "r1")]
    assert parse_configuration(configuration_xml(rules)) == rules
    assert b"<CORSRule><ID>r1</ID><AllowedHeader>x-amz-*</AllowedHeader><AllowedMethod>PUT" in configuration_xml(rules)


@pytest.mark.parametrize(("rule", "code"), [
    ("<AllowedMethod>GET</AllowedMethod>", "MalformedXML"),
    ("<AllowedOrigin>*</AllowedOrigin>", "MalformedXML"),
    ("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod>", "InvalidRequest"),
    ("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><Unknown/>", "MalformedXML"),
    ("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>x</MaxAgeSeconds>",
     "MalformedXML"),
    ("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>a\r\nb</ExposeHeader>",
     "InvalidRequest"),
])
def test_invalid_rules(rule: str, code: str) -> None:
    with pytest.raises(AwsError) as err:
        parse_configuration(_doc(rule))
    assert err.value.code == code


def test_origins_take_one_wildcard_and_compare_with_case() -> None:
    rules = [Rule(("http://*.example.com",), ("GET",))]
    assert match(rules, "http://a.b.example.com", "GET") is not None
    assert match(rules, "http://a.example.org", "GET") is None
    assert match(rules, "HTTP://a.example.com", "GET") is None
    assert match(rules, "http://a.example.com", "PUT") is None
    assert match([Rule(("*",), ("GET",))], "null", "GET") is not None


def test_headers_match_without_case_each_against_some_allowed_header() -> None:
    rules = [Rule(("*",), ("PUT",), ("x-amz-*", "Content-Type")), Rule(("*",), ("PUT",), ("*",), id="all")]
    asked = requested_headers("X-Amz-Date, content-type,,x-amz-meta-a ")
    assert asked == ["x-amz-date", "content-type", "x-amz-meta-a"]
    assert match(rules, "o", "PUT", asked) is rules[0]  # the first rule that matches applies
    assert match(rules, "o", "PUT", ["authorization"]) is rules[1]
    assert match(rules[:1], "o", "PUT", ["authorization"]) is None
    assert match([Rule(("*",), ("PUT",))], "o", "PUT", ["x-a"]) is None  # no AllowedHeader: none may be asked


def test_allow_headers() -> None:
    everyone = Rule(("*",), ("GET", "HEAD"))
    assert dict(allow_headers(everyone, "https://o", [])) == {
        "access-control-allow-origin": "*", "vary": "Origin, Access-Control-Request-Headers, "
        "Access-Control-Request-Method", "access-control-allow-methods": "GET, HEAD"}
    one = Rule(("https://o",), ("PUT",), ("*",), ("ETag", "x-amz-version-id"), 0)
    headers = dict(allow_headers(one, "https://o", ["content-type"]))
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["access-control-allow-headers"] == "content-type"
    assert headers["access-control-expose-headers"] == "ETag, x-amz-version-id"
    assert headers["access-control-max-age"] == "0"
