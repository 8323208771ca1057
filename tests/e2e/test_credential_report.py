"""IAM GenerateCredentialReport / GetCredentialReport against a real server of the test's own (the report is
account-wide state), read with boto3 and parsed with Python's csv module against AWS's column list."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from storeroom.store.backend import open_meta
from tests.conftest import ROOT_ACCESS_KEY_ID, StoreroomServer, make_client, meta_url_for

# AWS's columns, in order, as "Getting credential reports for your AWS account" lists them
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_getting-report.html).
AWS_COLUMNS = [
    "user", "arn", "user_creation_time", "password_enabled", "password_last_used", "password_last_changed",
    "password_next_rotation", "mfa_active", "access_key_1_active", "access_key_1_last_rotated",
    "access_key_1_last_used_date", "access_key_1_last_used_region", "access_key_1_last_used_service",
    "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
    "access_key_2_last_used_region", "access_key_2_last_used_service", "cert_1_active", "cert_1_last_rotated",
    "cert_2_active", "cert_2_last_rotated",
]
REPORT_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
NO_KEY = {"active": "false", "last_rotated": "N/A", "last_used_date": "N/A", "last_used_region": "N/A",
          "last_used_service": "N/A"}


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    resp = exc.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"].get("Message", "")


def key_columns(row: dict[str, str], n: int) -> dict[str, str]:
    prefix = f"access_key_{n}_"
    return {k[len(prefix):]: v for k, v in row.items() if k.startswith(prefix)}


def generate_until_complete(iam: Any) -> list[str]:
    states = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states.append(iam.generate_credential_report()["State"])
        if states[-1] == "COMPLETE":
            return states
        time.sleep(0.05)
    raise AssertionError(f"the report never completed: {states}")


def read_report(iam: Any) -> tuple[list[str], list[dict[str, str]], Any]:
    answer = iam.get_credential_report()
    assert answer["ReportFormat"] == "text/csv"
    reader = csv.reader(io.StringIO(answer["Content"].decode("utf-8")))  # boto3 decoded the base64 already
    header, *rows = list(reader)
    return header, [dict(zip(header, r, strict=True)) for r in rows], answer["GeneratedTime"]


@pytest.fixture
def own_server(tmp_path: Any, request: pytest.FixtureRequest, meta_backend: str) -> Any:
    srv = StoreroomServer(tmp_path / "data", workers=1, meta_url=meta_url_for(request, meta_backend))
    srv.start()
    yield srv
    srv.stop()


def test_credential_report_end_to_end(own_server: StoreroomServer) -> None:
    server = own_server
    iam = make_client(server.endpoint, service="iam")
    account = make_client(server.endpoint, service="sts").get_caller_identity()["Account"]
    with pytest.raises(ClientError) as exc:  # before any generation
        iam.get_credential_report()
    assert error(exc)[:2] == (410, "ReportNotPresent")
    assert exc.value.response["Error"].get("Message", "Unknown") == "Unknown"  # AWS sends no message
    assert type(exc.value).__name__ == "CredentialReportNotPresentException"

    iam.create_user(UserName="alice", Path="/team/")
    iam.attach_user_policy(UserName="alice", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    used = iam.create_access_key(UserName="alice")["AccessKey"]
    idle = iam.create_access_key(UserName="alice")["AccessKey"]
    iam.update_access_key(UserName="alice", AccessKeyId=idle["AccessKeyId"], Status="Inactive")
    iam.create_user(UserName="bob")
    alice_s3 = make_client(server.endpoint, access_key=used["AccessKeyId"], secret_key=used["SecretAccessKey"])
    alice_s3.list_buckets()  # a real request: fills the key's last-used columns

    first = iam.generate_credential_report()
    assert first["State"] == "STARTED"
    assert first["Description"] == "No report exists. Starting a new report generation task"
    assert generate_until_complete(iam)[-1] == "COMPLETE"
    assert "Description" not in iam.generate_credential_report()  # {"State": "COMPLETE"}, as AWS answers

    header, rows, generated = read_report(iam)
    assert header == AWS_COLUMNS
    assert abs((datetime.now(UTC) - generated).total_seconds()) < 60
    assert [r["user"] for r in rows] == ["<root_account>", "alice", "bob"]
    for r in rows:
        for column in ("user_creation_time", "access_key_1_last_rotated", "access_key_2_last_rotated"):
            assert r[column] == "N/A" or REPORT_TIME.fullmatch(r[column]), (r["user"], column, r[column])

    root, alice, bob = rows
    assert root["arn"] == f"arn:aws:iam::{account}:root"
    assert {k: root[k] for k in AWS_COLUMNS[3:8]} == {
        "password_enabled": "not_supported", "password_last_used": "no_information",  # set, never used
        "password_last_changed": "not_supported", "password_next_rotation": "not_supported", "mfa_active": "false"}
    root_key = key_columns(root, 1)
    assert root_key["active"] == "true" and REPORT_TIME.fullmatch(root_key["last_used_date"])
    # the root's first request here was STS's: within a short span only the first use is recorded (AWS: 15 min)
    assert (root_key["last_used_region"], root_key["last_used_service"]) == ("us-east-1", "sts")
    assert key_columns(root, 2) == NO_KEY

    assert alice["arn"] == f"arn:aws:iam::{account}:user/team/alice"
    assert {k: alice[k] for k in AWS_COLUMNS[3:8]} == {
        "password_enabled": "false", "password_last_used": "N/A", "password_last_changed": "N/A",
        "password_next_rotation": "N/A", "mfa_active": "false"}
    used_cols, idle_cols = key_columns(alice, 1), key_columns(alice, 2)
    assert used_cols["active"] == "true" and REPORT_TIME.fullmatch(used_cols["last_rotated"])
    assert REPORT_TIME.fullmatch(used_cols["last_used_date"])
    assert (used_cols["last_used_region"], used_cols["last_used_service"]) == ("us-east-1", "s3")
    # an inactive key is still there: its date stays, it was never used
    assert idle_cols["active"] == "false" and REPORT_TIME.fullmatch(idle_cols["last_rotated"])
    assert (idle_cols["last_used_date"], idle_cols["last_used_region"], idle_cols["last_used_service"]) == \
        ("N/A", "N/A", "N/A")
    assert {k: alice[k] for k in AWS_COLUMNS[18:]} == \
        {"cert_1_active": "false", "cert_1_last_rotated": "N/A", "cert_2_active": "false",
         "cert_2_last_rotated": "N/A"}

    assert key_columns(bob, 1) == NO_KEY and key_columns(bob, 2) == NO_KEY
    created = iam.get_user(UserName="bob")["User"]["CreateDate"]
    assert bob["user_creation_time"] == created.strftime("%Y-%m-%dT%H:%M:%S+00:00")

    # the same data through GetAccessKeyLastUsed
    last = iam.get_access_key_last_used(AccessKeyId=used["AccessKeyId"])["AccessKeyLastUsed"]
    assert (last["ServiceName"], last["Region"]) == ("s3", "us-east-1")
    assert last["LastUsedDate"].strftime("%Y-%m-%dT%H:%M:%S+00:00") == used_cols["last_used_date"]
    keys = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == \
        [(used["AccessKeyId"], "Active"), (idle["AccessKeyId"], "Inactive")]


def _set_state(server: StoreroomServer, **state: Any) -> None:
    """Test-only edit of the server's metadata (its SQLite file or PostgreSQL database): the report's state row
    (kv ``credential_report``) is set as a generation in progress or a report made hours ago would leave it."""
    async def edit() -> None:
        meta = await open_meta(server.data_dir, server.meta_url, migrate=False)
        try:
            row = await meta.db.read.one("SELECT value FROM kv WHERE name = 'credential_report'")
            doc = json.loads(row[0]) if row else {"started": time.time(), "generated": None, "content": None}
            doc.update(state)
            await meta.set_kv("credential_report", json.dumps(doc))
        finally:
            await meta.close()
    asyncio.run(edit())


def test_report_in_progress_and_expired(own_server: StoreroomServer) -> None:
    server = own_server
    iam = make_client(server.endpoint, service="iam")
    _set_state(server, started=time.time(), generated=None, content=None)  # a generation running elsewhere
    with pytest.raises(ClientError) as exc:
        iam.get_credential_report()
    assert error(exc)[:2] == (404, "ReportInProgress")
    assert type(exc.value).__name__ == "CredentialReportNotReadyException"
    assert iam.generate_credential_report()["State"] == "INPROGRESS"

    _set_state(server, started=time.time() - 600)  # that generation died with its process: start anew
    assert iam.generate_credential_report()["State"] == "STARTED"
    generate_until_complete(iam)
    assert read_report(iam)[1][0]["user"] == "<root_account>"

    four_hours_ago = time.time() - 4 * 3600 - 5
    _set_state(server, started=four_hours_ago, generated=four_hours_ago)
    with pytest.raises(ClientError) as exc:
        iam.get_credential_report()
    assert error(exc)[:2] == (410, "ReportExpired")
    assert type(exc.value).__name__ == "CredentialReportExpiredException"
    assert iam.generate_credential_report()["State"] == "STARTED"  # an expired report is made anew
    generate_until_complete(iam)
    assert read_report(iam)[0] == AWS_COLUMNS


def test_report_is_authorized(own_server: StoreroomServer) -> None:
    server = own_server
    iam = make_client(server.endpoint, service="iam")
    iam.create_user(UserName="auditor")
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    auditor = make_client(server.endpoint, service="iam", access_key=key["AccessKeyId"],
                          secret_key=key["SecretAccessKey"])
    for call in (auditor.generate_credential_report, auditor.get_credential_report):
        with pytest.raises(ClientError) as exc:
            call()
        status, code, message = error(exc)
        assert (status, code) == (403, "AccessDenied")
        assert message.startswith(f"User: arn:aws:iam::{auditor_account(server)}:user/auditor is not authorized "
                                  f"to perform: iam:")
    # AWS's example policy for auditors (IAM: Generate and retrieve IAM credential reports)
    iam.put_user_policy(UserName="auditor", PolicyName="report", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": [
            "iam:GenerateCredentialReport", "iam:GetCredentialReport"], "Resource": "*"}}))
    generate_until_complete(auditor)
    users = [r["user"] for r in read_report(auditor)[1]]
    assert users == ["<root_account>", "auditor"]
    assert ROOT_ACCESS_KEY_ID not in auditor.get_credential_report()["Content"].decode()  # ids of keys: never


def auditor_account(server: StoreroomServer) -> str:
    return str(make_client(server.endpoint, service="sts").get_caller_identity()["Account"])


def test_passwords_and_mfa_are_reported(own_server: StoreroomServer) -> None:
    """A user with a console password and an enabled virtual MFA device; root's password (generated or given
    at first start) is there too, but its columns stay AWS's not_supported."""
    from tests.e2e.test_iam_mfa import enable, new_device

    iam = make_client(own_server.endpoint, service="iam")
    iam.create_user(UserName="with-password")
    iam.create_login_profile(UserName="with-password", Password="Corr3ct-Horse-Battery!")
    serial, app = new_device(iam, "with-password-device")
    enable(iam, "with-password", serial, app)
    iam.create_user(UserName="without")
    generate_until_complete(iam)
    _, rows, _ = read_report(iam)
    by_name = {r["user"]: r for r in rows}
    has = by_name["with-password"]
    assert has["password_enabled"] == "true" and has["mfa_active"] == "true"
    assert REPORT_TIME.fullmatch(has["password_last_changed"])
    assert has["password_last_used"] == "no_information"
    plain = by_name["without"]
    assert (plain["password_enabled"], plain["password_last_used"], plain["mfa_active"]) == ("false", "N/A", "false")
    root = by_name["<root_account>"]
    assert root["password_enabled"] == root["password_last_changed"] == "not_supported"
