"""storeroom/s3/post_policy.py: AWS's own SigV4 POST example, the policy's grammar and conditions, the redirect."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from storeroom.errors import AwsError
from storeroom.s3.post_policy import Form, check_policy, read_policy, redirect_to, signature_of, upload_headers, verify

# https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-post-example.html: the policy, its base64 and signature
AWS_POLICY = ('{ "expiration": "2015-12-30T12:00:00.000Z",\r\n  "conditions": [\r\n    '
              '{"bucket": "sigv4examplebucket"},\r\n    ["starts-with", "$key", "user/user1/"],\r\n    '
              '{"acl": "public-read"},\r\n    '
              '{"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},'
              '\r\n    ["starts-with", "$Content-Type", "image/"],\r\n    {"x-amz-meta-uuid": "14365123651274"},'
              '\r\n    {"x-amz-server-side-encryption": "AES256"},\r\n    ["starts-with", "$x-amz-meta-tag", ""],'
              '\r\n\r\n    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},\r\n    '
              '{"x-amz-algorithm": "AWS4-HMAC-SHA256"},\r\n    {"x-amz-date": "20151229T000000Z" }\r\n  ]\r\n}')
AWS_SIGNATURE = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def aws_form(drop: str = "", **changes: str) -> Form:
    fields = {"key": "user/user1/${filename}", "acl": "public-read",
              "success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
              "Content-Type": "image/jpeg", "x-amz-meta-uuid": "14365123651274",
              "x-amz-server-side-encryption": "AES256",
              "X-Amz-Credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
              "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Date": "20151229T000000Z", "x-amz-meta-tag": "",
              "Policy": base64.b64encode(AWS_POLICY.encode()).decode(), "X-Amz-Signature": AWS_SIGNATURE}
    fields.pop(drop, None)
    fields.update(changes)
    return Form(list(fields.items()), "C:\\Users\\me\\photo.jpg")


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def test_aws_example_verifies_and_passes_its_policy_until_it_expires() -> None:
    form = aws_form()
    assert form.get("key") == "user/user1/photo.jpg"
    signed = signature_of(form, "us-east-1")
    assert signed is not None and signed.access_key_id == "AKIAIOSFODNN7EXAMPLE"
    verify(signed, SECRET)
    policy = read_policy(signed.policy)
    check_policy(policy, form, "sigv4examplebucket", at("2015-12-30T12:00:00"), signed)
    with pytest.raises(AwsError) as err:
        check_policy(policy, form, "sigv4examplebucket", at("2015-12-30T12:00:01"), signed)
    assert err.value.message == "Invalid according to Policy: Policy expired."
    with pytest.raises(AwsError) as err:
        check_policy(policy, form, "otherbucket", at("2015-12-29T12:00:00"), signed)
    assert err.value.message == ('Invalid according to Policy: Policy Condition failed: '
                                 '["eq", "$bucket", "sigv4examplebucket"]')
    with pytest.raises(AwsError) as err:
        verify(signed, SECRET[:-1] + "X")
    assert err.value.code == "SignatureDoesNotMatch" and err.value.extra["StringToSignBytes"].startswith("65 79")
    assert upload_headers(form) == {"x-amz-acl": "public-read", "content-type": "image/jpeg",
                                    "x-amz-meta-uuid": "14365123651274", "x-amz-server-side-encryption": "AES256",
                                    "x-amz-meta-tag": ""}


@pytest.mark.parametrize(("changes", "message"), [
    ({"Content-Type": "text/plain"}, '["starts-with", "$Content-Type", "image/"]'),
    ({"acl": "private"}, '["eq", "$acl", "public-read"]'),
    ({"key": "user/user2/x"}, '["starts-with", "$key", "user/user1/"]'),
])
def test_a_failed_condition_is_named_as_written(changes: dict[str, str], message: str) -> None:
    form = aws_form(**changes)
    signed = signature_of(form, "us-east-1")
    assert signed is not None
    with pytest.raises(AwsError) as err:
        check_policy(read_policy(signed.policy), form, "sigv4examplebucket", at("2015-12-29T00:00:00"), signed)
    assert (err.value.code, err.value.message) == (
        "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {message}")


def test_field_names_compare_without_case_and_extra_fields_are_refused() -> None:
    form = aws_form("x-amz-meta-uuid", **{"X-AMZ-META-UUID": "14365123651274"})
    signed = signature_of(form, "us-east-1")
    assert signed is not None
    check_policy(read_policy(signed.policy), form, "sigv4examplebucket", at("2015-12-29T00:00:00"), signed)
    form = aws_form(**{"Another-Field": "1"})
    signed = signature_of(form, "us-east-1")
    assert signed is not None
    with pytest.raises(AwsError) as err:
        check_policy(read_policy(signed.policy), form, "sigv4examplebucket", at("2015-12-29T00:00:00"), signed)
    assert err.value.message == "Invalid according to Policy: Extra input fields: Another-Field"


def test_missing_and_wrong_signature_fields() -> None:
    with pytest.raises(AwsError) as err:
        signature_of(Form([("key", "k"), ("x-amz-signature", "s")], None), "us-east-1")
    assert (err.value.code, err.value.extra["ArgumentName"]) == ("InvalidArgument", "X-Amz-Algorithm")
    with pytest.raises(AwsError) as err:
        signature_of(aws_form(**{"X-Amz-Credential": "AKID/20151229/eu-west-1/s3/aws4_request"}), "us-east-1")
    assert err.value.message == "the region 'eu-west-1' is wrong; expecting 'us-east-1'"
    with pytest.raises(AwsError) as err:
        signature_of(aws_form(**{"X-Amz-Date": "2015-12-29T00:00:00Z"}), "us-east-1")
    assert err.value.message == "X-Amz-Date must be formated via ISO8601 Long format"
    assert signature_of(Form([("key", "k"), ("policy", "p")], None), "us-east-1") is None  # anonymous


def _policy(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(("document", "message"), [
    ("", "Expecting '{' but found End-of-Input"),
    ("[]", "Invalid JSON."),
    ('{"expiration": "2030-01-01T00:00:00Z"}', "Policy missing conditions."),
    ('{"expiration": "2030-01-01T00:00:00+02:00", "conditions": []}',
     "Invalid 'expiration' value: '2030-01-01T00:00:00+02:00'"),
    ('{"Version": "2012-10-17"}', "Unexpected: 'version'"),
    ('{"expiration": "2030-01-01T00:00:00Z", "conditions": {}}', "Invalid 'conditions' value: must be a List."),
    ('{"expiration": "2030-01-01T00:00:00Z", "conditions": ["key"]}',
     "Invalid condition test: must be a List or Object."),
    ('{"expiration": "2030-01-01T00:00:00Z", "conditions": [[]]}', "Invalid Condition: missing operation identifier."),
    ('{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"key": 5}]}',
     "Invalid Simple-Condition: value must be a string."),
    ('{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 5]]}', "Invalid JSON."),
])
def test_policies_s3_refuses(document: str, message: str) -> None:
    with pytest.raises(AwsError) as err:
        read_policy(_policy(document))
    assert (err.value.code, err.value.message) == ("InvalidPolicyDocument", f"Invalid Policy: {message}")
    with pytest.raises(AwsError) as err:
        read_policy("not base64!")
    assert err.value.message == "Invalid Policy: invalid Base64 encoding."


def test_redirects_s3_can_interpret() -> None:
    assert redirect_to("https://a.test/done?x=1#top", "b", "k 1/é", "abc") == (
        "https://a.test/done?x=1&bucket=b&key=k+1%2F%C3%A9&etag=%22abc%22#top")
    for url in ("/relative", "ftp://a.test/", "https:///nohost", "https://a.test/\r\nx", "https://ä.test/"):
        assert redirect_to(url, "b", "k", "e") is None
