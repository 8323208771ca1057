"""Condition operators, one test per rule of the IAM User Guide's condition reference."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from storeroom.policy import parse_policy

Ctx = Mapping[str, Sequence[str]]


def holds(condition: dict[str, Any], ctx: Ctx, version: str = "2012-10-17") -> bool:
    text = json.dumps({"Version": version, "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                                         "Condition": condition}})
    return parse_policy(text).statements[0].conditions_hold({k.lower(): v for k, v in ctx.items()})


def test_string_equals_is_case_sensitive_and_values_are_ored() -> None:
    cond = {"StringEquals": {"s3:prefix": ["home/", "projects/"]}}
    assert holds(cond, {"s3:prefix": ("projects/",)})
    assert not holds(cond, {"s3:prefix": ("Home/",)})
    assert not holds(cond, {})                                       # absent key: positive operator false


def test_condition_key_names_are_case_insensitive() -> None:
    assert holds({"StringEquals": {"AWS:UserName": "alice"}}, {"aws:username": ("alice",)})


def test_keys_and_operators_are_anded() -> None:
    cond = {"StringEquals": {"aws:username": "alice", "s3:prefix": "home/"}, "Bool": {"aws:SecureTransport": "true"}}
    ctx = {"aws:username": ("alice",), "s3:prefix": ("home/",), "aws:securetransport": ("true",)}
    assert holds(cond, ctx)
    assert not holds(cond, {**ctx, "s3:prefix": ("other/",)})
    assert not holds(cond, {**ctx, "aws:securetransport": ("false",)})


def test_negated_operators_match_none_of_the_values_and_hold_on_absent_keys() -> None:
    cond = {"StringNotEquals": {"aws:sourcevpce": ["vpce-1", "vpce-2"]}}
    assert holds(cond, {"aws:sourcevpce": ("vpce-3",)})
    assert not holds(cond, {"aws:sourcevpce": ("vpce-2",)})
    assert holds(cond, {})


def test_ignore_case_and_like() -> None:
    assert holds({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}, {"aws:username": ("alice",)})
    assert not holds({"StringNotEqualsIgnoreCase": {"aws:username": "ALICE"}}, {"aws:username": ("alice",)})
    like = {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}
    assert holds(like, {"s3:prefix": ("home/alice/docs",), "aws:username": ("alice",)})
    assert not holds(like, {"s3:prefix": ("home/bob/docs",), "aws:username": ("alice",)})
    assert holds(like, {"s3:prefix": ("",), "aws:username": ("alice",)})
    assert holds({"StringNotLike": {"s3:prefix": "tmp/*"}}, {"s3:prefix": ("home/",)})


def test_variables_in_condition_values_and_their_defaults() -> None:
    cond = {"StringEquals": {"s3:prefix": "${aws:PrincipalTag/team, 'shared'}/"}}
    assert holds(cond, {"s3:prefix": ("blue/",), "aws:principaltag/team": ("blue",)})
    assert holds(cond, {"s3:prefix": ("shared/",)})
    no_default = {"StringEquals": {"s3:prefix": "${aws:PrincipalTag/team}/"}}
    assert not holds(no_default, {"s3:prefix": ("/",)})
    # 2008-10-17: no variables
    assert holds({"StringEquals": {"s3:prefix": "${x}"}}, {"s3:prefix": ("${x}",)}, version="2008-10-17")


@pytest.mark.parametrize(("operator", "policy", "request_value", "expected"), [
    ("NumericEquals", "10", "10.0", True),
    ("NumericNotEquals", "10", "11", True),
    ("NumericLessThan", "10", "9", True),
    ("NumericLessThan", "10", "10", False),
    ("NumericLessThanEquals", "10", "10", True),
    ("NumericGreaterThan", "10", "10.5", True),
    ("NumericGreaterThanEquals", "10", "9", False),
    ("NumericEquals", "10", "ten", False),
])
def test_numeric(operator: str, policy: str, request_value: str, expected: bool) -> None:
    assert holds({operator: {"s3:max-keys": policy}}, {"s3:max-keys": (request_value,)}) is expected


@pytest.mark.parametrize(("operator", "policy", "request_value", "expected"), [
    ("DateGreaterThan", "2020-01-01T00:00:00Z", "2020-06-01T12:00:00Z", True),
    ("DateLessThan", "2020-01-01T00:00:00Z", "2020-06-01T12:00:00Z", False),
    ("DateEquals", "2020-01-01T00:00:00Z", "2020-01-01T01:00:00+01:00", True),
    ("DateNotEquals", "2020-01-01", "2020-01-01T00:00:00Z", False),
    ("DateLessThanEquals", "1577836800", "2020-01-01T00:00:00Z", True),     # epoch seconds on either side
    ("DateGreaterThanEquals", "2020-01-01T00:00:00Z", "1577836799", False),
    ("DateGreaterThan", "2020-01-01T00:00:00Z", "not a date", False),
])
def test_date(operator: str, policy: str, request_value: str, expected: bool) -> None:
    assert holds({operator: {"aws:CurrentTime": policy}}, {"aws:currenttime": (request_value,)}) is expected


def test_bool_and_secure_transport() -> None:
    assert holds({"Bool": {"aws:SecureTransport": "false"}}, {"aws:securetransport": ("false",)})
    assert holds({"Bool": {"aws:SecureTransport": False}}, {"aws:securetransport": ("false",)})
    assert not holds({"Bool": {"aws:SecureTransport": "false"}}, {"aws:securetransport": ("true",)})


def test_binary_equals_compares_base64_decoded_bytes() -> None:
    value = base64.b64encode(b"\x00\x01secret").decode()
    assert holds({"BinaryEquals": {"s3:x": value}}, {"s3:x": (value,)})
    assert not holds({"BinaryEquals": {"s3:x": value}}, {"s3:x": (base64.b64encode(b"other").decode(),)})


def test_ip_address_cidrs_ipv4_and_ipv6() -> None:
    cond = {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.7", "2001:DB8:1234:5678::/64"]}}
    assert holds(cond, {"aws:sourceip": ("192.0.2.55",)})
    assert holds(cond, {"aws:sourceip": ("203.0.113.7",)})                 # a plain IP is a /32
    assert not holds(cond, {"aws:sourceip": ("203.0.113.8",)})
    assert holds(cond, {"aws:sourceip": ("2001:db8:1234:5678::1",)})
    assert not holds(cond, {"aws:sourceip": ("2001:db8:1234:5679::1",)})
    assert not holds(cond, {"aws:sourceip": ("garbage",)})
    assert holds({"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, {"aws:sourceip": ("198.51.100.1",)})
    assert not holds({"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, {"aws:sourceip": ("192.0.2.1",)})


def test_arn_operators_match_each_component_separately() -> None:
    key = "aws:SourceArn"
    like = {"ArnLike": {key: "arn:aws:s3:::bucket-*"}}
    assert holds(like, {key.lower(): ("arn:aws:s3:::bucket-logs",)})
    assert not holds(like, {key.lower(): ("arn:aws:s3:::other",)})
    per_part = {"ArnEquals": {key: "arn:aws:iam::*:user/alice"}}
    assert holds(per_part, {key.lower(): ("arn:aws:iam::123456789012:user/alice",)})
    assert not holds({"ArnLike": {key: "arn:aws:iam::*"}}, {key.lower(): ("arn:aws:iam::1:user/x",)})
    assert holds({"ArnNotLike": {key: "arn:aws:s3:::bucket-*"}}, {key.lower(): ("arn:aws:s3:::x",)})
    assert not holds({"ArnNotEquals": {key: "arn:aws:s3:::x"}}, {key.lower(): ("arn:aws:s3:::x",)})
    assert not holds(like, {key.lower(): ("not-an-arn",)})


def test_null_tests_presence() -> None:
    assert holds({"Null": {"aws:TokenIssueTime": "true"}}, {})
    assert not holds({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:tokenissuetime": ("x",)})
    assert holds({"Null": {"aws:TokenIssueTime": "false"}}, {"aws:tokenissuetime": ("x",)})
    assert not holds({"Null": {"aws:TokenIssueTime": "false"}}, {})


def test_if_exists_holds_when_the_key_is_absent() -> None:
    cond = {"StringEqualsIfExists": {"ec2:InstanceType": ["t1.*", "m1.small"]}}
    assert holds(cond, {})
    assert holds(cond, {"ec2:instancetype": ("m1.small",)})
    assert not holds(cond, {"ec2:instancetype": ("m5.large",)})
    assert holds({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, {})


def test_for_all_values() -> None:
    cond = {"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}
    assert holds(cond, {"aws:tagkeys": ("environment",)})
    assert holds(cond, {"aws:tagkeys": ("environment", "cost-center")})
    assert not holds(cond, {"aws:tagkeys": ("environment", "owner")})
    assert holds(cond, {})                                   # absent: true (the reason to pair it with Null)
    assert holds(cond, {"aws:tagkeys": ()})                  # empty: true
    negated = {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}
    assert holds(negated, {"aws:tagkeys": ("a", "b")})
    assert not holds(negated, {"aws:tagkeys": ("a", "secret")})


def test_for_any_value() -> None:
    cond = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}
    assert holds(cond, {"aws:tagkeys": ("owner", "environment")})
    assert not holds(cond, {"aws:tagkeys": ("owner",)})
    assert not holds(cond, {})                               # absent: false
    negated = {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["secret"]}}
    assert holds(negated, {"aws:tagkeys": ("secret", "b")})
    assert not holds(negated, {"aws:tagkeys": ("secret",)})
    assert holds({"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": "x*"}}, {})
