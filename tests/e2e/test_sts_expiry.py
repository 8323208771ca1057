"""Sessions expire, without waiting a quarter of an hour: the server runs with the test-only clock offset
(``STOREROOM_TEST_CLOCK_FILE``, storeroom/clock.py: tests/e2e/conftest.py ``clocked_server``) and botocore
signs with the same shifted time (tests/e2e/helpers.py ``later``), so a 15-minute session is seen from 16
minutes later at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import REGION, StoreroomServer, make_client
from tests.e2e.helpers import later
from tests.e2e.test_cloudtrail import lookup


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def client(endpoint: str, credentials: dict[str, Any], service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"], config=Config(retries={"max_attempts": 1}))


def test_a_fifteen_minute_session_expires(clocked_server: StoreroomServer, clock_file: Path) -> None:
    own = clocked_server
    iam = make_client(own.endpoint, "iam")
    account = make_client(own.endpoint, "sts").get_caller_identity()["Account"]
    iam.create_user(UserName="short")
    key = iam.create_access_key(UserName="short")["AccessKey"]
    iam.create_role(RoleName="short-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{account}:user/short"}}]}))
    iam.attach_role_policy(RoleName="short-role", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    user_sts = make_client(own.endpoint, "sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    role = user_sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/short-role", RoleSessionName="brief",
                                DurationSeconds=900)["Credentials"]
    user_session = user_sts.get_session_token(DurationSeconds=900)["Credentials"]
    with later(clock_file, 840):   # 14 minutes on: still good
        client(own.endpoint, role, "s3").list_buckets()
        client(own.endpoint, user_session, "sts").get_caller_identity()
    with later(clock_file, 960):   # 16 minutes on: expired, in each service's words
        with pytest.raises(ClientError) as exc:
            client(own.endpoint, role, "s3").list_buckets()
        assert error(exc) == (400, "ExpiredToken", "The provided token has expired.")
        for credentials in (role, user_session):
            with pytest.raises(ClientError) as exc:
                client(own.endpoint, credentials, "sts").get_caller_identity()
            assert error(exc) == (403, "ExpiredToken", "The security token included in the request is expired")
        with pytest.raises(ClientError) as exc:
            client(own.endpoint, role, "iam").list_roles()
        assert error(exc)[:2] == (403, "ExpiredToken")
        # the audit trail records what the client was told, not S3's words for the same failure
        trail = make_client(own.endpoint, "cloudtrail")
        refused = lookup(trail, "AccessKeyId", role["AccessKeyId"], until=lambda found: any(
            json.loads(e["CloudTrailEvent"]).get("errorCode") == "ExpiredToken"
            and e["EventName"] == "GetCallerIdentity" for e in found))
        messages = {json.loads(e["CloudTrailEvent"]).get("errorMessage") for e in refused
                    if e["EventName"] == "GetCallerIdentity"}
        assert messages == {"The security token included in the request is expired"}
        # long-term keys are not affected, and a new session is good again
        fresh = user_sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/short-role",
                                     RoleSessionName="again", DurationSeconds=900)["Credentials"]
        client(own.endpoint, fresh, "s3").list_buckets()
