"""CloudTrail LookupEvents on the shared endpoint, with boto3's cloudtrail client and its paginator: every request
leaves an event in CloudTrail's record shape (denied and refused ones included, secrets never), found by each
lookup attribute, newest first; bad input gets CloudTrail's errors; the caller needs cloudtrail:LookupEvents."""

from __future__ import annotations

import base64
import datetime
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import ROOT_SECRET_ACCESS_KEY, make_client
from tests.e2e.helpers import sign_headers, unique_name

S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."


@pytest.fixture(scope="module")
def trail(endpoint: str):  # type: ignore[no-untyped-def]
    return make_client(endpoint, service="cloudtrail")


def lookup(trail, key: str, value: str, until: Callable[[list[dict[str, Any]]], bool] = bool,  # type: ignore[no-untyped-def]
           timeout: float = 10, **kwargs: Any) -> list[dict[str, Any]]:
    """Events of one lookup attribute (all pages), polled until ``until(events)``: another worker may still hold
    an event in its queue for up to a second."""
    deadline = time.monotonic() + timeout
    while True:
        found: list[dict[str, Any]] = []
        for page in trail.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}], **kwargs):
            found += page["Events"]
        if until(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def record(event: dict[str, Any]) -> dict[str, Any]:
    return json.loads(event["CloudTrailEvent"])


def test_a_users_upload_is_found_under_the_users_name(trail, iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(managed=[S3_FULL])
    user.s3.put_object(Bucket=bucket, Key="report.csv", Body=b"a,b\n")
    events = lookup(trail, "Username", user.name, lambda es: any(e["EventName"] == "PutObject" for e in es))
    [put] = [e for e in events if e["EventName"] == "PutObject"]
    assert put["Username"] == user.name and put["AccessKeyId"] == user.key_id
    assert put["EventSource"] == "s3.amazonaws.com" and put["ReadOnly"] == "false"
    assert {"ResourceType": "AWS::S3::Bucket", "ResourceName": bucket} in put["Resources"]
    assert {"ResourceType": "AWS::S3::Object", "ResourceName": f"arn:aws:s3:::{bucket}/report.csv"} in put["Resources"]
    body = record(put)
    assert body["eventID"] == put["EventId"] and body["eventName"] == "PutObject"
    assert body["userIdentity"] == {"type": "IAMUser", "principalId": user.user_id, "arn": user.arn,
                                    "accountId": user.arn.split(":")[4], "accessKeyId": user.key_id,
                                    "userName": user.name}
    assert body["requestParameters"]["bucketName"] == bucket and body["requestParameters"]["key"] == "report.csv"
    assert body["additionalEventData"]["bytesTransferredIn"] == 4
    assert body["additionalEventData"]["SignatureVersion"] == "SigV4"
    assert body["eventCategory"] == "Data" and body["managementEvent"] is False
    assert body["eventType"] == "AwsApiCall" and body["recipientAccountId"] == user.arn.split(":")[4]

    # the same event by its other attributes
    assert put["EventId"] in [e["EventId"] for e in lookup(trail, "AccessKeyId", user.key_id)]
    assert [e["EventId"] for e in lookup(trail, "EventId", put["EventId"])] == [put["EventId"]]
    by_object = lookup(trail, "ResourceName", f"arn:aws:s3:::{bucket}/report.csv")
    assert [e["EventId"] for e in by_object] == [put["EventId"]]
    assert put["EventId"] in [e["EventId"] for e in lookup(trail, "ResourceName", bucket)]
    by_name = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PutObject"}],
                                  StartTime=put["EventTime"], MaxResults=50)["Events"]
    assert put["EventId"] in [e["EventId"] for e in by_name]


def test_pages_are_newest_first_without_gaps(trail, iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(managed=[S3_FULL])
    for i in range(7):
        user.s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
    events = lookup(trail, "Username", user.name, lambda es: len(es) >= 7, PaginationConfig={"PageSize": 2})
    assert [record(e)["requestParameters"]["key"] for e in events] == [f"k{i}" for i in reversed(range(7))]
    assert len({e["EventId"] for e in events}) == 7
    first = trail.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": user.name}],
                                MaxResults=3)
    assert len(first["Events"]) == 3 and first["NextToken"]


def test_denied_requests_leave_events(trail, iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    user = iam_user()
    with pytest.raises(ClientError):
        user.s3.put_object(Bucket=bucket, Key="nope", Body=b"x")
    with pytest.raises(ClientError):
        user.iam.list_users()
    events = lookup(trail, "Username", user.name, lambda es: len(es) >= 2)
    by_name = {e["EventName"]: record(e) for e in events}
    assert by_name["PutObject"]["errorCode"] == "AccessDenied"
    assert "is not authorized to perform: s3:PutObject" in by_name["PutObject"]["errorMessage"]
    assert by_name["ListUsers"]["errorCode"] == "AccessDenied"
    assert by_name["ListUsers"]["eventSource"] == "iam.amazonaws.com"


def test_refused_signatures_leave_events_under_the_key(endpoint, trail, iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(managed=[S3_FULL])
    # a secret one character off (never the same one: a secret ending in "x" made this test pass its request)
    wrong_secret = user.secret[:-1] + ("y" if user.secret.endswith("x") else "x")
    wrong = make_client(endpoint, access_key=user.key_id, secret_key=wrong_secret)
    with pytest.raises(ClientError):
        wrong.put_object(Bucket=bucket, Key="forged", Body=b"x")
    unknown_key = "AKIA" + unique_name("").upper().replace("-", "")[:16]
    with pytest.raises(ClientError):
        make_client(endpoint, service="iam", access_key=unknown_key).list_users()
    [forged] = lookup(trail, "Username", user.name)
    assert forged["EventName"] == "PutObject" and record(forged)["errorCode"] == "SignatureDoesNotMatch"
    assert record(forged)["requestParameters"]["bucketName"] == bucket
    [stranger] = lookup(trail, "AccessKeyId", unknown_key)
    body = record(stranger)
    assert stranger["EventName"] == "ListUsers" and body["errorCode"] == "InvalidClientTokenId"
    assert body["userIdentity"] == {"type": "Unknown", "accessKeyId": unknown_key}


def test_a_refused_signature_is_under_the_keys_owner_while_iam_changes(endpoint, trail, iam, iam_user,  # type: ignore[no-untyped-def]
                                                                      bucket) -> None:
    """The owner of the key a refused request was signed with is the one authentication found, not a second look
    in the credential cache, which any IAM change empties meanwhile: under a full test run (other tests changing
    IAM all along) a forged PutObject's event was 'Unknown', not under its user's name."""
    import threading

    user = iam_user(managed=[S3_FULL])
    wrong = make_client(endpoint, access_key=user.key_id, secret_key=user.secret[:-1] + (
        "y" if user.secret.endswith("x") else "x"))
    busy = threading.Event()

    def change_iam() -> None:
        while not busy.is_set():
            iam.tag_user(UserName=user.name, Tags=[{"Key": "n", "Value": str(time.monotonic())}])
    changer = threading.Thread(target=change_iam)
    changer.start()
    try:
        for i in range(40):
            with pytest.raises(ClientError):
                wrong.put_object(Bucket=bucket, Key=f"forged-{i}", Body=b"x")
    finally:
        busy.set()
        changer.join()
    forged = lookup(trail, "Username", user.name, lambda es: len(es) >= 40)
    assert len([e for e in forged if e["EventName"] == "PutObject"]) == 40


def test_a_deactivated_keys_refusals_are_under_its_owners_name(endpoint, trail, iam, iam_user, bucket) -> None:  # type: ignore[no-untyped-def]
    """Someone still using a revoked key is the question after a leak: its refusals were 'Unknown'."""
    user = iam_user(managed=[S3_FULL])
    user.s3.put_object(Bucket=bucket, Key="before", Body=b"x")
    iam.update_access_key(UserName=user.name, AccessKeyId=user.key_id, Status="Inactive")
    with pytest.raises(ClientError) as refused:
        user.s3.put_object(Bucket=bucket, Key="after", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    # waited for the refusal itself: "two events" could be two others, the refusal still in another worker's queue
    events = lookup(trail, "Username", user.name,
                    until=lambda found: any(record(e).get("errorCode") == "InvalidAccessKeyId" for e in found))
    after = next(e for e in events if record(e).get("errorCode") == "InvalidAccessKeyId")
    assert after["EventName"] == "PutObject"
    assert record(after)["userIdentity"]["userName"] == user.name


def test_iam_events_carry_parameters_and_responses_never_secrets(endpoint, trail, iam, new_user,  # type: ignore[no-untyped-def]
                                                                  bucket) -> None:
    name = new_user()
    key = iam.create_access_key(UserName=name)["AccessKey"]
    secret = key["SecretAccessKey"]
    iam.create_login_profile(UserName=name, Password="Correct-Horse-Battery-9")
    with pytest.raises(ClientError):
        iam.get_user(UserName=unique_name("ghost"))
    user_s3 = make_client(endpoint, access_key=key["AccessKeyId"], secret_key=secret)
    with pytest.raises(ClientError):  # no policy: denied, but signed with the secret
        user_s3.get_object(Bucket=bucket, Key="x")
    presigned = make_client(endpoint).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"})
    requests.get(presigned, timeout=10)
    query = dict(parse_qsl(urlsplit(presigned).query))
    signature = query.get("X-Amz-Signature") or query["Signature"]

    events = lookup(trail, "ResourceName", name, lambda es: len(es) >= 3)
    by_name = {e["EventName"]: record(e) for e in events}
    created = by_name["CreateAccessKey"]
    assert created["requestParameters"] == {"userName": name}
    assert created["responseElements"]["accessKey"]["accessKeyId"] == key["AccessKeyId"]
    assert created["responseElements"]["accessKey"]["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert by_name["CreateUser"]["responseElements"]["user"]["userName"] == name
    assert ", " in by_name["CreateUser"]["responseElements"]["user"]["createDate"]  # "Oct 4, 2023, 9:44:23 PM"
    ghosts = lookup(trail, "EventName", "GetUser", lambda es: any("errorCode" in record(e) for e in es))
    assert any(record(e).get("errorCode") == "NoSuchEntityException" for e in ghosts)

    # no secret anywhere in the trail: the new key's, root's, a password, a presigned URL's signature
    everything = ""
    for page in trail.get_paginator("lookup_events").paginate():
        everything += "".join(e["CloudTrailEvent"] for e in page["Events"])
    assert key["AccessKeyId"] in everything
    for needle in (secret, ROOT_SECRET_ACCESS_KEY, "Correct-Horse-Battery-9", signature):
        assert needle not in everything


def test_management_category_leaves_out_data_events(trail, iam_user) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(managed=[S3_FULL])
    name = unique_name("mgmt")
    user.s3.create_bucket(Bucket=name)
    user.s3.put_object(Bucket=name, Key="k", Body=b"x")
    user.s3.delete_object(Bucket=name, Key="k")
    user.s3.delete_bucket(Bucket=name)
    everything = lookup(trail, "Username", user.name, lambda es: len(es) >= 4)
    management = lookup(trail, "Username", user.name, EventCategory="Management")
    assert {e["EventName"] for e in everything} >= {"CreateBucket", "PutObject", "DeleteObject", "DeleteBucket"}
    assert {e["EventName"] for e in management} == {"CreateBucket", "DeleteBucket"}
    assert lookup(trail, "Username", user.name, EventCategory="insight", timeout=0) == []


def test_sts_and_lookup_itself_are_events(trail, iam_user) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(inline={"trail": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}]})})
    user.client("sts").get_caller_identity()
    user.client("cloudtrail").lookup_events(MaxResults=1)
    events = lookup(trail, "Username", user.name, lambda es: len(es) >= 2)
    by_name = {e["EventName"]: record(e) for e in events}
    assert by_name["GetCallerIdentity"]["eventSource"] == "sts.amazonaws.com"
    assert by_name["GetCallerIdentity"]["readOnly"] is True
    assert by_name["LookupEvents"]["eventSource"] == "cloudtrail.amazonaws.com"
    assert by_name["LookupEvents"]["requestParameters"] == {"maxResults": 1}


def test_a_lookup_of_far_times_is_an_event_too(trail, iam_user) -> None:  # type: ignore[no-untyped-def]
    """Its event could not be written (a time beyond the year 9999 in requestParameters) and was dropped: a read
    of the audit trail that left no trace in it (fuzzing, 2026-12-07)."""
    user = iam_user(inline={"trail": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}]})})
    user.client("cloudtrail").lookup_events(EndTime=datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC))
    body = json.dumps({"StartTime": 1e20}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + "LookupEvents"}
    signed = sign_headers("POST", user.endpoint + "/", headers, body, service="cloudtrail",
                          access_key=user.key_id, secret_key=user.secret)
    assert requests.post(user.endpoint + "/", headers=signed, data=body, timeout=10).status_code == 200
    events = lookup(trail, "Username", user.name, lambda es: len(es) >= 2)
    assert [e["EventName"] for e in events] == ["LookupEvents", "LookupEvents"]
    assert "9999" in str(record(events[0])["requestParameters"]["startTime"])


def test_lookup_needs_cloudtrail_permission(iam_user) -> None:  # type: ignore[no-untyped-def]
    user = iam_user(managed=[S3_FULL])
    with pytest.raises(ClientError) as exc:
        user.client("cloudtrail").lookup_events()
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "cloudtrail:LookupEvents" in exc.value.response["Error"]["Message"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_describe_and_list_trails_say_there_are_none(trail) -> None:  # type: ignore[no-untyped-def]
    assert trail.describe_trails()["trailList"] == []
    assert trail.list_trails()["Trails"] == []


def test_the_short_target_of_the_javascript_sdk_is_understood(endpoint: str) -> None:
    """The AWS SDK for JavaScript v3 sends X-Amz-Target: CloudTrail_20131101.LookupEvents (botocore the long form):
    every call was UnknownOperationException."""
    for operation, body, field in (("LookupEvents", b'{"MaxResults": 1}', "Events"), ("ListTrails", b"{}", "Trails"),
                                   ("DescribeTrails", b"{}", "trailList")):
        answer = _raw(endpoint, operation, body, target="CloudTrail_20131101.")
        assert answer.status_code == 200, answer.text
        assert field in answer.json()


def _raw(endpoint: str, operation: str, body: bytes, target: str = TARGET) -> requests.Response:
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target + operation}
    signed = sign_headers("POST", endpoint + "/", headers, body, service="cloudtrail")
    return requests.post(endpoint + "/", headers=signed, data=body, timeout=10)


@pytest.mark.parametrize("body,code", [
    ({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "a"},
                           {"AttributeKey": "EventName", "AttributeValue": "b"}]}, "InvalidLookupAttributesException"),
    ({"LookupAttributes": [{"AttributeKey": "Colour", "AttributeValue": "blue"}]}, "InvalidLookupAttributesException"),
    ({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": ""}]}, "InvalidLookupAttributesException"),
    ({"LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "maybe"}]},
     "InvalidLookupAttributesException"),
    ({"StartTime": 2000000000, "EndTime": 1000000000}, "InvalidTimeRangeException"),
    ({"MaxResults": 51}, "InvalidMaxResultsException"),
    ({"MaxResults": 0}, "InvalidMaxResultsException"),
    ({"MaxResults": "ten"}, "SerializationException"),
    ({"StartTime": "yesterday"}, "SerializationException"),
    ({"LookupAttributes": "Username"}, "SerializationException"),
    ({"NextToken": "not-a-token"}, "InvalidNextTokenException"),
    ({"StartTime": 10**400}, "SerializationException"),  # no float holds it: OverflowError, a 500 (fuzzing)
    ({"MaxResults": 10**400}, "InvalidMaxResultsException"),
    # crafted tokens that were 500s (fuzzing, 2026-12-07): JSON nested thousands deep, a row id of 1e999
    ({"NextToken": base64.urlsafe_b64encode(b"[" * 5000).decode()}, "InvalidNextTokenException"),
    ({"NextToken": base64.urlsafe_b64encode(b'{"t":1,"i":1e999,"q":"x"}').decode()}, "InvalidNextTokenException"),
    ({"EventCategory": "Data"}, "InvalidEventCategoryException"),
])
def test_bad_input_gets_cloudtrails_errors(endpoint: str, body: dict[str, Any], code: str) -> None:
    resp = _raw(endpoint, "LookupEvents", json.dumps(body).encode())
    assert resp.status_code == 400, resp.text
    assert resp.json()["__type"] == code


@pytest.mark.parametrize("body", [b"{not json", b"[" * 100_000 + b"]" * 100_000, b'{"MaxResults": NaN}',
                                  b'{"StartTime": Infinity}', b"\xff\xfe", b'"just a string"'])
def test_hostile_bodies_are_serialization_errors(endpoint: str, body: bytes) -> None:
    resp = _raw(endpoint, "LookupEvents", body)
    assert resp.status_code == 400 and resp.json()["__type"] == "SerializationException"


def test_malformed_json_and_foreign_token(endpoint: str, trail) -> None:  # type: ignore[no-untyped-def]
    # (a server this test meets first holds a single event until its own lookups are written: wait for two)
    deadline = time.monotonic() + 10
    while "NextToken" not in (first := trail.lookup_events(MaxResults=1)) and time.monotonic() < deadline:
        time.sleep(0.2)
    token = first["NextToken"]
    with pytest.raises(ClientError) as exc:  # a token is valid only with the parameters it was issued for
        trail.lookup_events(MaxResults=1, NextToken=token,
                            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "PutObject"}])
    assert exc.value.response["Error"]["Code"] == "InvalidNextTokenException"
    assert trail.lookup_events(MaxResults=1, NextToken=token)["Events"]


def test_a_lone_surrogate_in_a_request_does_not_lose_the_events_stored_with_it(endpoint: str, trail) -> None:  # type: ignore[no-untyped-def]
    """JSON's "\\ud800" decodes to a lone surrogate, which UTF-8 cannot carry: the event used to fail the whole
    batch's INSERT, losing every event queued with it. It is stored with U+FFFD instead."""
    marker = unique_name("surrogate")
    body = ('{"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "' + marker
            + '\\ud800"}]}').encode()
    assert _raw(endpoint, "LookupEvents", body).status_code == 200
    found = lookup(trail, "EventName", "LookupEvents",
                   until=lambda events: any(marker in e["CloudTrailEvent"] for e in events))
    [event] = [e for e in found if marker in e["CloudTrailEvent"]]
    assert marker + "\ufffd" in json.dumps(record(event), ensure_ascii=False)


def test_refused_credentials_in_the_json_services_words(endpoint) -> None:  # type: ignore[no-untyped-def]
    """JSON-protocol services answer an unknown key UnrecognizedClientException and a bad signature
    InvalidSignatureException (prowler-cloud/prowler#1808 quotes "UnrecognizedClientException when calling the
    DescribeTrails operation"); InvalidClientTokenId / SignatureDoesNotMatch are the Query services' codes."""
    stranger = make_client(endpoint, service="cloudtrail", access_key="AKIAAAAAAAAAAAAAAAAA", secret_key="x" * 40)
    with pytest.raises(ClientError) as exc:
        stranger.lookup_events()
    assert exc.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert exc.value.response["Error"]["Message"] == "The security token included in the request is invalid."
    wrong = make_client(endpoint, service="cloudtrail", secret_key=ROOT_SECRET_ACCESS_KEY[:-1] + "x")
    with pytest.raises(ClientError) as exc:
        wrong.lookup_events()
    assert exc.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_records_keep_what_cloudtrail_keeps(endpoint, trail, iam_user, new_role, bucket) -> None:  # type: ignore[no-untyped-def]
    """AWS's records as real ones show them: a role assumption read-only with the role among its resources; a
    presigned request's non-secret X-Amz-* parameters (how long the URL lives); Block Public Access under
    PutBucketPublicAccessBlock; an EndTime that includes an event shown at that very second."""
    from tests.e2e.conftest import trust_policy

    account = make_client(endpoint, service="sts").get_caller_identity()["Account"]
    role = new_role(trust_policy({"Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}))
    session = unique_name("audit")
    caller = iam_user(inline={"assume": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})})
    caller.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName=session)
    assumed = [record(e) for e in lookup(trail, "EventName", "AssumeRole",
                                         lambda es: any(session in e["CloudTrailEvent"] for e in es))]
    assumption = next(r for r in assumed if r["requestParameters"]["roleSessionName"] == session)
    assert assumption["readOnly"] is True
    assert assumption["resources"] == [{"accountId": account, "type": "AWS::IAM::Role",
                                        "ARN": f"arn:aws:iam::{account}:role/{role}"}]

    s3 = make_client(endpoint)
    s3.put_object(Bucket=bucket, Key="shared", Body=b"x")
    url = make_client(endpoint, signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared"}, ExpiresIn=321)
    assert requests.get(url, timeout=10).status_code == 200
    got = lookup(trail, "ResourceName", f"arn:aws:s3:::{bucket}/shared",
                 lambda es: any(e["EventName"] == "GetObject" for e in es))
    params = record(next(e for e in got if e["EventName"] == "GetObject"))["requestParameters"]
    assert params["X-Amz-Expires"] == "321" and params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert "X-Amz-Signature" not in params and "X-Amz-Credential" not in params

    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    blocked = lookup(trail, "EventName", "PutBucketPublicAccessBlock",
                     lambda es: any(bucket in e["CloudTrailEvent"] for e in es))
    shown = next(e for e in blocked if bucket in e["CloudTrailEvent"])
    at = shown["EventTime"]
    assert [e["EventId"] for e in trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": shown["EventId"]}],
        StartTime=at, EndTime=at)["Events"]] == [shown["EventId"]]


def test_an_upload_abandoned_mid_body_leaves_an_event(endpoint, trail, bucket) -> None:  # type: ignore[no-untyped-def]
    """Every request leaves an event: one whose client went away during its body was not recorded at all."""
    import socket

    url = f"{endpoint}/{bucket}/abandoned"
    headers = sign_headers("PUT", url, {"Content-Length": "100000"}, payload_hash="UNSIGNED-PAYLOAD")
    host, port = urlsplit(endpoint).hostname, urlsplit(endpoint).port
    with socket.create_connection((host, port)) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        sock.sendall(f"PUT /{bucket}/abandoned HTTP/1.1\r\n{head}\r\n".encode() + b"0123456789")
    events = lookup(trail, "ResourceName", f"arn:aws:s3:::{bucket}/abandoned", bool)
    assert [(e["EventName"], record(e).get("errorCode")) for e in events] == [("PutObject", "IncompleteBody")]


def test_an_s3_writes_record_names_the_version_it_made(trail, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """responseElements "is present in events for actions that make changes": a PutObject's names the version it
    wrote (a real record: x-amz-version-id, x-amz-server-side-encryption). It was always null for S3."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put = s3.put_object(Bucket=bucket, Key="versioned", Body=b"x")
    events = lookup(trail, "ResourceName", f"arn:aws:s3:::{bucket}/versioned",
                    lambda es: any(e["EventName"] == "PutObject" for e in es))
    made = record(next(e for e in events if e["EventName"] == "PutObject"))["responseElements"]
    assert made["x-amz-version-id"] == put["VersionId"]
    assert made.get("x-amz-server-side-encryption") == put.get("ServerSideEncryption")


def test_a_buckets_configuration_is_recorded_as_cloudtrail_records_it(trail, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """"Bucket made public", "Block Public Access turned off": the detections an audit trail exists for read the
    document a request sent (requestParameters.PublicAccessBlockConfiguration.RestrictPublicBuckets,
    requestParameters.bucketPolicy.Statement) and headers such as x-amz-acl. None of it was recorded."""
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                      "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    s3.put_object(Bucket=bucket, Key="cold", Body=b"x", StorageClass="STANDARD_IA")

    def recorded(name: str) -> dict[str, Any]:
        events = lookup(trail, "EventName", name, lambda es: any(bucket in e["CloudTrailEvent"] for e in es))
        return record(next(e for e in events if bucket in e["CloudTrailEvent"]))["requestParameters"]

    block = recorded("PutBucketPublicAccessBlock")["PublicAccessBlockConfiguration"]
    assert block["RestrictPublicBuckets"] is False and block["BlockPublicAcls"] is True
    assert block["xmlns"] == "http://s3.amazonaws.com/doc/2006-03-01/"
    assert recorded("PutBucketPolicy")["bucketPolicy"] == policy
    put = lookup(trail, "ResourceName", f"arn:aws:s3:::{bucket}/cold", bool)
    assert record(put[0])["requestParameters"]["x-amz-storage-class"] == "STANDARD_IA"
    s3.delete_bucket_policy(Bucket=bucket)


def test_no_request_body_loses_its_event(trail, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """A document recorded in requestParameters is read leniently: a tag value of "³" (a digit to str.isdigit,
    not to int()) made the event builder fail and the event was lost; "0042" stays text."""
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "odd", "Value": "³"},
                                                             {"Key": "padded", "Value": "0042"}]})
    events = lookup(trail, "EventName", "PutBucketTagging", lambda es: any(bucket in e["CloudTrailEvent"] for e in es))
    params = record(next(e for e in events if bucket in e["CloudTrailEvent"]))["requestParameters"]
    values = {t["Key"]: t["Value"] for t in params["Tagging"]["TagSet"]["Tag"]}
    assert values == {"odd": "³", "padded": "0042"}


def test_a_sigv2_session_token_is_not_recorded(endpoint, trail, iam_user, new_role, bucket) -> None:  # type: ignore[no-untyped-def]
    """SigV2 presigners write the session token in lower case (x-amz-security-token): it was recorded in
    requestParameters, where CloudTrail keeps no credential."""
    from tests.e2e.conftest import trust_policy

    account = make_client(endpoint, service="sts").get_caller_identity()["Account"]
    role = new_role(trust_policy({"Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}),
                    managed=["arn:aws:iam::aws:policy/AmazonS3FullAccess"])
    caller = iam_user(inline={"assume": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})})
    creds = caller.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}",
                                             RoleSessionName="v2")["Credentials"]
    make_client(endpoint).put_object(Bucket=bucket, Key="v2-token", Body=b"x")
    import boto3
    from botocore.config import Config

    session = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"], config=Config(signature_version="s3"))
    url = session.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2-token"})
    assert "x-amz-security-token=" in url
    assert requests.get(url, timeout=10).status_code == 200
    events = lookup(trail, "ResourceName", f"arn:aws:s3:::{bucket}/v2-token",
                    lambda es: any(e["EventName"] == "GetObject" for e in es))
    params = record(next(e for e in events if e["EventName"] == "GetObject"))["requestParameters"]
    assert not [name for name in params if name.lower() in ("x-amz-security-token", "signature", "awsaccesskeyid")]
