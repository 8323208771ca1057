"""IAM, STS and CloudTrail share the endpoint; unknown actions answer AWS-shaped errors, after verifying the
caller's signature as AWS does."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import REGION, ROOT_ACCESS_KEY_ID, make_client
from tests.e2e.helpers import parse_any_aws_error, signed_request


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_query_protocol_service_answers_invalid_action(endpoint: str, service: str) -> None:
    body = b"Action=NoSuchAction&Version=2010-05-08"
    resp = signed_request("POST", endpoint + "/", {"Content-Type": "application/x-www-form-urlencoded"}, body,
                          service=service, region=REGION)
    assert resp.status_code == 400
    assert parse_any_aws_error(resp.content)["Code"] == "InvalidAction"
    namespace = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/",
                 "sts": "https://sts.amazonaws.com/doc/2011-06-15/"}[service]
    assert namespace in resp.text


def test_sts_get_caller_identity_as_root(endpoint: str) -> None:
    identity = make_client(endpoint, service="sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{identity['Account']}:root"
    assert identity["UserId"] == identity["Account"]
    assert len(identity["Account"]) == 12 and identity["Account"].isdigit()


def test_query_protocol_signature_is_verified_first(endpoint: str) -> None:
    iam = make_client(endpoint, service="iam", secret_key="not-the-secret")
    with pytest.raises(ClientError) as exc:
        iam.list_users()
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_access_key_on_iam(endpoint: str) -> None:
    iam = make_client(endpoint, service="iam", access_key="AKIANOSUCHKEY0000000")
    with pytest.raises(ClientError) as exc:
        iam.list_users()
    assert exc.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_cloudtrail_json_protocol_error(endpoint: str) -> None:
    trail = make_client(endpoint, service="cloudtrail")
    with pytest.raises(ClientError) as exc:
        trail.get_trail_status(Name="no-such-trail")
    assert exc.value.response["Error"]["Code"] == "UnknownOperationException"


def test_cloudtrail_bad_key_is_json_error(endpoint: str) -> None:
    trail = make_client(endpoint, service="cloudtrail", access_key="AKIANOSUCHKEY0000000")
    with pytest.raises(ClientError) as exc:
        trail.lookup_events()
    assert exc.value.response["Error"]["Code"] == "UnrecognizedClientException"  # the JSON services' word



@pytest.mark.parametrize("service", ["iam", "sts"])
@pytest.mark.parametrize("fault", ["bad x-amz-date", "credential date", "presigned expires"])
def test_a_malformed_authentication_is_answered_in_the_services_protocol(endpoint: str, service: str,
                                                                         fault: str) -> None:
    """An IAM or STS request whose authentication cannot even be parsed gets the Query protocol's
    ``<ErrorResponse>`` (it got S3's ``<Error>``, which boto3's IAM and STS clients report as "Unknown")."""
    credential = f"{ROOT_ACCESS_KEY_ID}/20260101/{REGION}/{service}/aws4_request"
    body = BODIES[service]
    if fault == "presigned expires":
        query = f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={quote(credential, safe='')}" \
                "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=1_0&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
        response = requests.get(f"{endpoint}/?{body.decode()}&{query}", timeout=10)
    else:
        date = "garbage" if fault == "bad x-amz-date" else "20260102T000000Z"
        response = requests.post(f"{endpoint}/", data=body, timeout=10, headers={
            "Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=00",
            "x-amz-date": date, "Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= response.status_code < 500
    root = ET.fromstring(response.content)
    assert root.tag == f"{{https://{service}.amazonaws.com/doc/{NAMESPACES[service]}/}}ErrorResponse", response.text
    assert parse_any_aws_error(response.content)["Code"]


NAMESPACES = {"iam": "2010-05-08", "sts": "2011-06-15"}
BODIES = {"sts": b"Action=GetCallerIdentity&Version=2011-06-15", "iam": b"Action=ListUsers&Version=2010-05-08"}
