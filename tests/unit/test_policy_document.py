"""parse_policy: IAM's MalformedPolicyDocument messages, the kinds, statement positions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from storeroom.errors import AwsError
from storeroom.policy import context_keys, parse_policy

V = "2012-10-17"
LIST = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::example_bucket"}


def _doc(statement: Any, **top: Any) -> str:
    return json.dumps({"Version": V, **top, "Statement": statement})


def _error(text: str, kind: str = "identity") -> str:
    with pytest.raises(AwsError) as caught:
        parse_policy(text, kind)
    assert caught.value.code == "MalformedPolicyDocument"
    assert caught.value.status == 400
    return str(caught.value.message)


SYNTAX = "Syntax errors in policy."
LEGACY = "The policy failed legacy parsing"
VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."

# (document, IAM's message): cases recorded against IAM (as in moto's tests/test_iam/test_iam_policies.py)
INVALID: list[tuple[str, str]] = [
    ("This is not a json document", SYNTAX),
    ("[]", SYNTAX),
    (json.dumps({"Version": "2013-10-17", "Statement": LIST}), SYNTAX),
    (json.dumps({"Version": V}), SYNTAX),
    (_doc([]), SYNTAX),
    (_doc(["afd"]), SYNTAX),
    (_doc(LIST, Extra="value"), SYNTAX),
    (_doc({**LIST, "Extra field": "value"}), SYNTAX),
    (_doc(LIST, Id=["x"]), SYNTAX),
    (_doc({**LIST, "Effect": "invalid"}), SYNTAX),
    (_doc({"Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"}), SYNTAX),
    (_doc({**LIST, "Resource": {"a": "arn:aws:s3:::b"}}), SYNTAX),
    (_doc({**LIST, "Resource": ["adfdf", {}]}), SYNTAX),
    (_doc({**LIST, "NotResource": "*"}), SYNTAX),
    (_doc({**LIST, "NotAction": "iam:dsf"}), SYNTAX),
    (_doc({**LIST, "Action": [[]]}), SYNTAX),
    (_doc({**LIST, "Condition": []}), SYNTAX),
    (_doc({**LIST, "Condition": {"a": "b"}}), SYNTAX),
    (_doc({**LIST, "Condition": {"DateGreaterThan": {"a": {}}}}), SYNTAX),
    (_doc({**LIST, "Condition": {"x": {"a": "1"}}}), SYNTAX),          # unknown operator
    (_doc({**LIST, "Condition": {"ForAnyValue::StringEqualsIfExists": {"a": "asf"}}}), SYNTAX),
    (_doc({**LIST, "Sid": {}}), SYNTAX),
    (_doc({**LIST, "Effect": "denY"}), LEGACY),
    (_doc({**LIST, "Condition": {"DateGreaterThan": {"a": "sdfdsf"}}}), LEGACY),
    (_doc({**LIST, "Condition": {"DateLessThanEquals": {"a": "234-13"}}}), LEGACY),
    (_doc({**LIST, "Condition": {"DateLessThan": {"a": "9223372036854775808"}}}), LEGACY),  # past a Java long
    # a zone offset's hours take two digits (LocalStack's AWS recording: test_iam_policies.py invalid-73)
    (_doc({**LIST, "Condition": {"DateLessThanEquals": {"a": "2016-12-13t2:00:00.593194+1"}}}), LEGACY),
    (_doc({**LIST, "Resource": "arn:aws:s3::example_bucket"}), LEGACY),
    (_doc({**LIST, "Resource": "arn:aws::::example_bucket"}), LEGACY),
    (_doc([{**LIST, "Sid": "sdf"}, {"Sid": "sdf", "Effect": "Allow"}]),
     "Statement IDs (SID) in a single policy must be unique."),
    (_doc({"Effect": "Allow", "Resource": "arn:aws:s3:::b"}), "Policy statement must contain actions."),
    (_doc({**LIST, "Action": []}), "Policy statement must contain actions."),
    (_doc({"Effect": "Allow", "Action": "s3:ListBucket"}), "Policy statement must contain resources."),
    (_doc({**LIST, "Resource": []}), "Policy statement must contain resources."),
    (_doc({**LIST, "Action": "invalid"}), VENDOR),
    (_doc({**LIST, "Action": None, "NotAction": ""}).replace('"Action": null, ', ""), VENDOR),
    (_doc({**LIST, "Action": "a a:ListBucket"}), "Vendor a a is not valid"),
    (_doc({**LIST, "Action": "s3:List:Bucket"}), "Actions/Condition can contain only one colon."),
    (_doc({**LIST, "Resource": "invalid resource"}), 'Resource invalid resource must be in ARN format or "*".'),
    (_doc({**LIST, "Resource": ""}), 'Resource  must be in ARN format or "*".'),
    (_doc({**LIST, "Resource": "a:bsdfdsafsad"}),
     'Partition "bsdfdsafsad" is not valid for resource "arn:bsdfdsafsad:*:*:*:*".'),
    (_doc({**LIST, "Resource": "a:b:c:d:e:f:g:h"}), 'Partition "b" is not valid for resource "arn:b:c:d:e:f:g:h".'),
    (_doc({**LIST, "Resource": "aws:s3:::example_bucket"}),
     'Partition "s3" is not valid for resource "arn:s3:::example_bucket:*".'),
    (_doc({**LIST, "Resource": "arn:aws"}), "Resource vendor must be fully qualified and cannot contain regexes."),
    (_doc({**LIST, "Resource": "arn:aws:s3:us-east-1::b"}),
     "Resource arn:aws:s3:us-east-1::b can not contain region information."),
    (_doc({**LIST, "Resource": "arn:aws:iam:us-east-1::user/x"}),
     "IAM resource arn:aws:iam:us-east-1::user/x cannot contain region information."),
    (_doc({**LIST, "Resource": "arn:aws:iam:::example"}),
     'IAM resource path must either be "*", root, or start with user/, federated-user/, role/, group/, '
     "instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, "
     "access-report/."),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_documents_get_iams_message(text: str, message: str) -> None:
    assert _error(text) == message


VALID: list[dict[str, Any]] = [
    {"Version": V, "Statement": LIST},
    {"Version": V, "Statement": [LIST, {**LIST, "Sid": "sdf"}]},
    {"Version": V, "Statement": {**LIST, "Action": "iam: asdf safdsf af "}},
    {"Version": V, "Statement": {**LIST, "Resource": ["arn:aws:s3:::b", "*"]}},
    # an access point's ARN names its region and account (LocalStack's AWS-recorded policy documents)
    {"Version": V, "Statement": {**LIST, "Resource": "arn:aws:s3:us-west-2:123456789012:accesspoint/ap/object/*"}},
    {"Version": V, "Statement": {**LIST, "Action": "*"}},
    # an IAM resource may be "*" or the account's root, besides user/, role/, ... (IAM's own message says so)
    {"Version": V, "Statement": {**LIST, "Resource": ["arn:aws:iam::123456789012:root", "arn:aws:iam::*:*"]}},
    {"Version": V, "Statement": {**LIST, "Resource": "arn:aws:fdsasf"}},
    {"Version": V, "Statement": {**LIST, "Resource": "arn:aws:ec2:us-east-1::x"}},
    {"Version": V, "Statement": {**LIST, "Condition": {}}},
    {"Version": V, "Statement": {**LIST, "Condition": {"x": {}, "y": {}}}},
    {"Version": V, "Statement": {**LIST, "Condition": {"DateGreaterThan": {"a": []}}}},
    {"Version": V, "Statement": {**LIST, "Condition": {"DateGreaterThan": {"a": "01T"}}}},
    {"Version": V, "Statement": {**LIST, "Condition": {"DateLessThan": {"a": "-292275054"}}}},
    {"Version": V, "Statement": {**LIST, "Condition": {"DateLessThan": {"a": "9223372036854775807"}}}},
    {"Version": V, "Statement": {**LIST, "Condition": {"DateLessThan": {"a": "2016-12-13T21:20:37.59+00:00"}}}},
    {"Version": V, "Statement": {**LIST, "Condition": {"DateLessThanEquals": {"a": "2016-12-13t2:00:00.593194+23"}}}},
    {"Version": V, "Statement": {**LIST, "Condition": {"ForAnyValue:StringEqualsIfExists": {"a": "asf"}}}},
    {"Version": V, "Statement": {**LIST, "Condition": {"Bool": {"aws:SecureTransport": False}}}},
    {"Version": V, "Statement": {**LIST, "Condition": {"NumericLessThan": {"s3:max-keys": 10}}}},
    {"Version": V, "Id": "x", "Statement": {"Effect": "Allow", "NotAction": "s3:ListBucket", "NotResource": "*"}},
    {"Statement": LIST},                                    # inline policies may omit Version (2008-10-17)
    {"Version": "2008-10-17", "Statement": LIST},
]


@pytest.mark.parametrize("doc", VALID)
def test_valid_documents_parse(doc: dict[str, Any]) -> None:
    policy = parse_policy(json.dumps(doc))
    assert policy.statements


def test_version_defaults_to_2008_and_managed_policies_need_2012() -> None:
    assert parse_policy(json.dumps({"Statement": LIST})).version == "2008-10-17"
    for doc in ({"Statement": LIST}, {"Version": "2008-10-17", "Statement": LIST}):
        assert _error(json.dumps(doc), "managed") == "Policy document must be version 2012-10-17 or greater."
    assert parse_policy(_doc(LIST), "managed").version == V


def test_identity_policies_must_not_name_a_principal() -> None:
    for key in ("Principal", "NotPrincipal"):
        text = _doc({**LIST, key: {"AWS": "arn:aws:iam::123456789012:user/alice"}})
        assert _error(text) == "Policy document should not specify a principal."
        assert _error(text, "managed") == "Policy document should not specify a principal."


def test_resource_policies_need_a_principal() -> None:
    assert _error(_doc(LIST), "resource") == "Missing required field Principal"
    assert _error(_doc({**LIST, "Principal": {"Bogus": "x"}}), "resource") == SYNTAX
    policy = parse_policy(_doc({**LIST, "Principal": {"AWS": ["123456789012", "*"]}}), "resource")
    principal = policy.statements[0].principal
    assert principal is not None and principal.any
    assert principal.aws == {"arn:aws:iam::123456789012:root"}


def test_statement_and_lists_may_be_single_values() -> None:
    one = parse_policy(_doc(LIST))
    many = parse_policy(_doc([{**LIST, "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::example_bucket"]}]))
    assert one.statements[0].matches_action("s3:listbucket")
    assert many.statements[0].matches_action("s3:listbucket")


def test_statement_positions() -> None:
    text = (
        '{\n'
        '  "Version": "2012-10-17",\n'
        '  "Statement": [\n'
        '    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},\n'
        '    {\n'
        '      "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"\n'
        '    }\n'
        '  ]\n'
        '}\n'
    )
    first, second = parse_policy(text).statements
    assert (first.start, first.end) == ((4, 5), (4, 59))
    assert (second.start, second.end) == ((5, 5), (7, 6))
    single = parse_policy('{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}')
    assert single.statements[0].start == (1, 15)


def test_context_keys_lists_condition_keys_as_written() -> None:
    policy = parse_policy(_doc([
        {**LIST, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "Bool": {"aws:SecureTransport": "true"}}},
        {**LIST, "Condition": {"NotIpAddress": {"aws:sourceip": "10.0.0.0/8"}}},
    ]))
    assert sorted(context_keys(policy)) == ["aws:SecureTransport", "aws:SourceIp"]


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_policy(_doc(LIST), "bucket")
