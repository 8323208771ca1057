"""IAM, STS and CloudTrail share the endpoint; until they are built they answer AWS-shaped errors, after
verifying the caller's signature as AWS does."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client


@pytest.mark.parametrize("service,call", [("iam", "list_users"), ("sts", "get_caller_identity")])
def test_query_protocol_service_answers_invalid_action(endpoint: str, service: str, call: str) -> None:
    client = make_client(endpoint, service=service)
    with pytest.raises(ClientError) as exc:
        getattr(client, call)()
    assert exc.value.response["Error"]["Code"] == "InvalidAction"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


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
        trail.lookup_events()
    assert exc.value.response["Error"]["Code"] == "UnknownOperationException"


def test_cloudtrail_bad_key_is_json_error(endpoint: str) -> None:
    trail = make_client(endpoint, service="cloudtrail", access_key="AKIANOSUCHKEY0000000")
    with pytest.raises(ClientError) as exc:
        trail.lookup_events()
    assert exc.value.response["Error"]["Code"] == "InvalidClientTokenId"

