"""IAM, STS and CloudTrail share the endpoint; unknown actions answer AWS-shaped errors, after verifying the
caller's signature as AWS does."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import REGION, make_client
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
    assert exc.value.response["Error"]["Code"] == "InvalidClientTokenId"

