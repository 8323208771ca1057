"""Lifecycle configurations and runs against a real server: Put/Get/DeleteBucketLifecycleConfiguration with S3's
errors, ``x-amz-expiration`` and the abort headers, and runs (``POST /_storeroom/lifecycle?now=…``, the test
hook) that expire objects, noncurrent versions and delete markers and abort incomplete uploads, with their bytes
removed from disk, their audit events and server access log lines; ``kill -9`` during a run loses nothing and
expires nothing a rule does not select."""

from __future__ import annotations

import calendar
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, empty_bucket, make_client, meta_url_for
from tests.e2e.helpers import client_error, sign_headers, stored_blobs, unique_name, wait_for

DAY = 86400


@pytest.fixture(scope="module")
def lc_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
              meta_backend: str) -> Iterator[StoreroomServer]:
    """A server of this module's own: no scheduled runs (only the hook's), access logs delivered every second."""
    srv = StoreroomServer(tmp_path_factory.mktemp("lifecycle") / "data", workers=2,
                          extra_args=["--lifecycle-interval", "0"], env={"STOREROOM_ACCESS_LOG_INTERVAL": "1"},
                          meta_url=meta_url_for(request, meta_backend))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def s3(lc_server: StoreroomServer) -> Any:
    return make_client(lc_server.endpoint)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = unique_name("lc")
    s3.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3, name)


def run_lifecycle(endpoint: str, now: float | None = None, **signing: Any) -> requests.Response:
    url = f"{endpoint}/_storeroom/lifecycle" + (f"?now={now}" if now is not None else "")
    return requests.post(url, headers=sign_headers("POST", url, **signing), timeout=120)


def run(endpoint: str, now: float) -> dict[str, Any]:
    answer = run_lifecycle(endpoint, now)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def fails(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        call()
    status, code = client_error(exc)
    return status, code, exc.value.response["Error"].get("Message", "")


def rules(*items: dict[str, Any]) -> dict[str, Any]:
    return {"Rules": [{"Status": "Enabled", **item} for item in items]}


def keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]


def blob_count(server: StoreroomServer) -> int:
    return len(stored_blobs(server))


# -- the configuration -----------------------------------------------------------------------------------------

def test_configuration_round_trip(s3: Any, bucket: str) -> None:
    assert fails(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket))[:2] == (
        404, "NoSuchLifecycleConfiguration")
    config = rules(
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}},
        {"ID": "tmp", "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "t", "Value": "1"}],
                                         "ObjectSizeGreaterThan": 10}},
         "Expiration": {"Date": "2030-01-01T00:00:00Z"}},
        {"ID": "versions", "Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 7,
                                                                         "NewerNoncurrentVersions": 3},
         "Expiration": {"ExpiredObjectDeleteMarker": True},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=config)
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["logs", "tmp", "versions"]
    assert got[0]["Filter"] == {"Prefix": "logs/"} and got[0]["Expiration"] == {"Days": 30}
    assert got[1]["Filter"]["And"]["Tags"] == [{"Key": "t", "Value": "1"}]
    assert got[1]["Expiration"]["Date"].timestamp() == calendar.timegm((2030, 1, 1, 0, 0, 0))
    assert got[2]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7, "NewerNoncurrentVersions": 3}
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules(
        {"Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}))  # replaces the whole configuration
    again = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert len(again) == 1 and len(again[0]["ID"]) == 48  # an ID made up, as S3 does
    s3.delete_bucket_lifecycle(Bucket=bucket)
    assert fails(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket))[:2] == (
        404, "NoSuchLifecycleConfiguration")
    s3.delete_bucket_lifecycle(Bucket=bucket)  # none: still 204


@pytest.mark.parametrize(("config", "status", "code"), [
    (rules({"Filter": {}, "Expiration": {"Days": 0}}), 400, "InvalidArgument"),
    (rules({"Filter": {}, "Expiration": {"Date": "2030-01-01T05:00:00Z"}}), 400, "InvalidArgument"),
    (rules({"Filter": {}, "Expiration": {"Days": 1, "ExpiredObjectDeleteMarker": True}}), 400, "MalformedXML"),
    (rules({"ID": "x" * 256, "Filter": {}, "Expiration": {"Days": 1}}), 400, "InvalidArgument"),
    (rules({"ID": "a", "Filter": {}, "Expiration": {"Days": 1}}, {"ID": "a", "Filter": {}, "Expiration": {"Days": 2}}),
     400, "InvalidArgument"),
    (rules({"Filter": {}}), 400, "InvalidRequest"),
    (rules({"Filter": {"Tag": {"Key": "a", "Value": "b"}},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}), 400, "InvalidRequest"),
    (rules({"Filter": {}, "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}]}), 400,
     "InvalidStorageClass"),
    (rules({"Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 0}}), 400, "InvalidArgument"),
])
def test_invalid_configurations(s3: Any, bucket: str, config: dict[str, Any], status: int, code: str) -> None:
    assert fails(lambda: s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=config))[:2] \
        == (status, code)
    assert fails(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket))[1] == "NoSuchLifecycleConfiguration"


def test_a_date_not_at_midnight_is_named_in_the_error(s3: Any, bucket: str) -> None:
    # LocalStack's AWS recording: test_s3.py TestS3BucketLifecycle::test_put_bucket_lifecycle_conf_exc
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules(
            {"Filter": {}, "Expiration": {"Date": "2030-01-01T05:00:00Z"}}))
    error = exc.value.response["Error"]
    assert (error["Code"], error["Message"], error["ArgumentName"]) == (
        "InvalidArgument", "'Date' must be at midnight GMT", "Date")
    assert error["ArgumentValue"].startswith("2030-01-01T05:00:00")


def test_expiration_and_abort_headers(s3: Any, bucket: str) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules(
        {"ID": "logs rule", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 1}},
        {"ID": "tagged", "Filter": {"Tag": {"Key": "temp", "Value": "yes"}}, "Expiration": {"Days": 3}},
        {"ID": "uploads", "Filter": {"Prefix": ""}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}))
    before = time.time()
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"x")
    header = put["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"]
    date = header.split('"')[1]
    # "The value of the rule-id is URL-encoded." (it was sent raw: a quote or comma in an ID broke the value)
    assert header == f'expiry-date="{date}", rule-id="logs%20rule"'
    expires = parsedate_to_datetime(date).timestamp()
    assert expires % DAY == 0 and before + DAY <= expires <= before + 2 * DAY
    assert s3.head_object(Bucket=bucket, Key="logs/a")["Expiration"] == header
    assert s3.get_object(Bucket=bucket, Key="logs/a")["Expiration"] == header
    s3.put_object(Bucket=bucket, Key="data/a", Body=b"x")
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="data/a")
    s3.put_object_tagging(Bucket=bucket, Key="data/a", Tagging={"TagSet": [{"Key": "temp", "Value": "yes"}]})
    assert 'rule-id="tagged"' in s3.head_object(Bucket=bucket, Key="data/a")["Expiration"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")
    assert upload["AbortRuleId"] == "uploads" and upload["AbortDate"].timestamp() % DAY == 0
    parts = s3.list_parts(Bucket=bucket, Key="big", UploadId=upload["UploadId"])
    assert parts["AbortRuleId"] == "uploads"
    s3.abort_multipart_upload(Bucket=bucket, Key="big", UploadId=upload["UploadId"])


# -- runs ------------------------------------------------------------------------------------------------------

def test_the_hook_needs_a_principal_allowed_to_run(lc_server: StoreroomServer, iam_factory: Any) -> None:
    url = f"{lc_server.endpoint}/_storeroom/lifecycle"
    assert requests.post(url, timeout=10).status_code == 403
    assert requests.get(url, headers=sign_headers("GET", url), timeout=10).status_code == 405
    key_id, secret = iam_factory()
    assert run_lifecycle(lc_server.endpoint, access_key=key_id, secret_key=secret).status_code == 403
    assert run_lifecycle(lc_server.endpoint, now="soon").status_code == 400  # type: ignore[arg-type]


@pytest.fixture
def iam_factory(lc_server: StoreroomServer) -> Iterator[Callable[[], tuple[str, str]]]:
    iam = make_client(lc_server.endpoint, service="iam")
    made: list[tuple[str, str]] = []

    def make() -> tuple[str, str]:
        name = unique_name("lcu")
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        made.append((name, key["AccessKeyId"]))
        return key["AccessKeyId"], key["SecretAccessKey"]
    yield make
    for name, key_id in made:
        iam.delete_access_key(UserName=name, AccessKeyId=key_id)
        iam.delete_user(UserName=name)


def test_a_run_expires_what_the_rules_select(lc_server: StoreroomServer, s3: Any, bucket: str) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules(
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 1}},
        {"ID": "tagged", "Filter": {"And": {"Prefix": "data/", "Tags": [{"Key": "temp", "Value": "yes"}]}},
         "Expiration": {"Days": 1}},
        {"ID": "small", "Filter": {"ObjectSizeLessThan": 5}, "Expiration": {"Days": 10}}))
    blobs_before = blob_count(lc_server)
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"logs/{i}", Body=b"log line " * 100)
    s3.put_object(Bucket=bucket, Key="data/temp", Body=b"temporary", Tagging="temp=yes")
    s3.put_object(Bucket=bucket, Key="data/keep", Body=b"kept data", Tagging="temp=no")
    s3.put_object(Bucket=bucket, Key="tiny", Body=b"xy")
    assert blob_count(lc_server) == blobs_before + 8
    now = time.time()
    assert run(lc_server.endpoint, now)["actions"] == {}  # nothing is due yet
    assert len(keys(s3, bucket)) == 8
    summary = run(lc_server.endpoint, now + 2 * DAY + 60)
    assert summary["actions"] == {"S3.EXPIRE.OBJECT": 6}
    assert keys(s3, bucket) == ["data/keep", "tiny"]
    assert s3.get_object(Bucket=bucket, Key="data/keep")["Body"].read() == b"kept data"
    assert wait_for(lambda: blob_count(lc_server) == blobs_before + 2)  # their bytes are gone from disk
    assert run(lc_server.endpoint, now + 11 * DAY)["actions"] == {"S3.EXPIRE.OBJECT": 1}
    assert keys(s3, bucket) == ["data/keep"]


def test_a_run_in_a_versioned_bucket(lc_server: StoreroomServer, s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules(
        {"ID": "current", "Filter": {"Prefix": "a/"}, "Expiration": {"Days": 5}},
        {"ID": "noncurrent", "Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1,
                                                                           "NewerNoncurrentVersions": 1}},
        {"ID": "markers", "Filter": {"Prefix": "m/"}, "Expiration": {"ExpiredObjectDeleteMarker": True}}))
    blobs_before = blob_count(lc_server)
    ids = [s3.put_object(Bucket=bucket, Key="b/k", Body=f"v{i}".encode())["VersionId"] for i in range(4)]
    current = s3.put_object(Bucket=bucket, Key="a/k", Body=b"current")["VersionId"]
    version = s3.put_object(Bucket=bucket, Key="m/k", Body=b"gone")["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="m/k")["VersionId"]
    s3.delete_object(Bucket=bucket, Key="m/k", VersionId=version)  # the marker is now alone
    now = time.time()
    summary = run(lc_server.endpoint, now + 3 * DAY)
    # b/k: the newest noncurrent version is kept (NewerNoncurrentVersions 1), the two older ones go; the lone
    # delete marker goes; a/k is not 5 days old yet
    assert summary["actions"] == {"S3.EXPIRE.OBJECT": 3}
    listed = s3.list_object_versions(Bucket=bucket)
    assert sorted((v["Key"], v["VersionId"]) for v in listed["Versions"]) == sorted(
        [("a/k", current), ("b/k", ids[3]), ("b/k", ids[2])])
    assert "DeleteMarkers" not in listed
    assert wait_for(lambda: blob_count(lc_server) == blobs_before + 3)
    # later: a/k's current version expires into a delete marker (its bytes stay, as a noncurrent version)
    summary = run(lc_server.endpoint, now + 7 * DAY)
    assert summary["actions"] == {"S3.CREATE.DELETEMARKER": 1}
    assert fails(lambda: s3.get_object(Bucket=bucket, Key="a/k"))[:2] == (404, "NoSuchKey")
    markers = s3.list_object_versions(Bucket=bucket)["DeleteMarkers"]
    assert [m["Key"] for m in markers] == ["a/k"] and marker not in [m["VersionId"] for m in markers]
    assert s3.get_object(Bucket=bucket, Key="a/k", VersionId=current)["Body"].read() == b"current"


def test_a_date_rule_removes_the_delete_markers_it_leaves(lc_server: StoreroomServer, s3: Any, bucket: str) -> None:
    """"If the current object version is the only object version and it is also a delete marker ..., Amazon S3
    removes the expired object delete marker" -- under an Expiration Date as under Days. A Date rule left one marker
    per key for ever, so "expire everything on date X" never emptied a versioned bucket."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    midnight = (int(time.time()) // DAY) * DAY
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(midnight))
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules(
        {"ID": "wipe", "Filter": {}, "Expiration": {"Date": date},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}))
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    now = time.time()
    for days in (2, 4, 6):
        run(lc_server.endpoint, now + days * DAY)
    listed = s3.list_object_versions(Bucket=bucket)
    assert "Versions" not in listed and "DeleteMarkers" not in listed


def test_newer_noncurrent_versions_is_at_most_100(s3: Any, bucket: str) -> None:
    """"You can specify up to 100 noncurrent versions to retain." 5,000 was stored and applied."""
    config = rules({"Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 1,
                                                                  "NewerNoncurrentVersions": 101}})
    assert fails(lambda: s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=config))[:2] \
        == (400, "InvalidArgument")
    config["Rules"][0]["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] = 100
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=config)


def test_a_run_aborts_abandoned_uploads(lc_server: StoreroomServer, s3: Any, bucket: str) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules(
        {"ID": "abort", "Filter": {"Prefix": "up/"}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}))
    blobs_before = blob_count(lc_server)
    abandoned = s3.create_multipart_upload(Bucket=bucket, Key="up/big")["UploadId"]
    kept = s3.create_multipart_upload(Bucket=bucket, Key="other/big")["UploadId"]
    for upload, key in ((abandoned, "up/big"), (kept, "other/big")):
        for n in (1, 2):
            s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=b"p" * 1000)
    assert blob_count(lc_server) == blobs_before + 4
    assert run(lc_server.endpoint, time.time() + 3 * DAY)["actions"] == {"S3.DELETE.UPLOAD": 1}
    left = [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    assert left == [kept]
    assert fails(lambda: s3.list_parts(Bucket=bucket, Key="up/big", UploadId=abandoned))[:2] == (404, "NoSuchUpload")
    assert wait_for(lambda: blob_count(lc_server) == blobs_before + 2)
    s3.abort_multipart_upload(Bucket=bucket, Key="other/big", UploadId=kept)


def test_lifecycle_actions_are_audited_as_s3_logs_them(lc_server: StoreroomServer, s3: Any, bucket: str) -> None:
    target = unique_name("lclog")
    s3.create_bucket(Bucket=target)
    try:
        account = make_client(lc_server.endpoint, service="sts").get_caller_identity()["Account"]
        s3.put_bucket_policy(Bucket=target, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{target}/*", "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]}))
        s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={"LoggingEnabled": {
            "TargetBucket": target, "TargetPrefix": "logs/"}})
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules(
            {"ID": "expire-all", "Filter": {}, "Expiration": {"Days": 1}}))
        s3.put_object(Bucket=bucket, Key="dir/old file", Body=b"12345")
        assert run(lc_server.endpoint, time.time() + 2 * DAY + 60)["actions"] == {"S3.EXPIRE.OBJECT": 1}
        trail = make_client(lc_server.endpoint, service="cloudtrail")

        def expired() -> list[dict[str, Any]]:
            events = trail.lookup_events(LookupAttributes=[
                {"AttributeKey": "ResourceName", "AttributeValue": f"arn:aws:s3:::{bucket}/dir/old file"}])["Events"]
            return [json.loads(e["CloudTrailEvent"]) for e in events if e["EventName"] == "S3.EXPIRE.OBJECT"]
        assert wait_for(lambda: bool(expired()))
        event = expired()[0]
        assert event["userIdentity"] == {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}
        assert event["eventType"] == "AwsServiceEvent" and event["sourceIPAddress"] == "s3.amazonaws.com"
        assert event["requestParameters"] == {"bucketName": bucket, "key": "dir/old file"}
        assert event["additionalEventData"]["lifecycleRuleId"] == "expire-all"

        def log_lines() -> list[str]:
            lines: list[str] = []
            for o in s3.list_objects_v2(Bucket=target).get("Contents", []):
                lines += s3.get_object(Bucket=target, Key=o["Key"])["Body"].read().decode().splitlines()
            return [line for line in lines if " S3.EXPIRE.OBJECT " in line]
        assert wait_for(log_lines, timeout=20)
        fields = log_lines()[0].split(" ")  # the time field holds a space: [05/Dec/2026:07:18:34 +0000]
        assert (fields[1], fields[4], fields[5], fields[7]) == (bucket, "-", "AmazonS3", "S3.EXPIRE.OBJECT")
        assert (fields[8], fields[10], fields[13]) == ("dir/old%20file", "-", "5")
    finally:
        s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={})
        empty_bucket(s3, target)


def test_kill9_during_a_run_loses_nothing_and_expires_only_what_rules_select(
        tmp_path: Path, request: pytest.FixtureRequest, meta_backend: str) -> None:
    """A run in small batches is killed (-9) midway: objects no rule selects are all there with their bytes; the
    next run resumes the interrupted one (its position and evaluation time) and finishes it; the sweep at start
    removes the bytes of what the killed run had expired."""
    srv = StoreroomServer(tmp_path / "data", workers=1, extra_args=["--lifecycle-interval", "0"],
                          env={"STOREROOM_LIFECYCLE_BATCH": "5", "STOREROOM_LIFECYCLE_PAUSE": "0.05"},
                          meta_url=meta_url_for(request, meta_backend))
    srv.start()
    try:
        s3 = make_client(srv.endpoint)
        s3.create_bucket(Bucket="lc-kill")
        s3.put_bucket_lifecycle_configuration(Bucket="lc-kill", LifecycleConfiguration=rules(
            {"ID": "tagged-old", "Filter": {"And": {"Prefix": "old/", "Tags": [{"Key": "expire", "Value": "yes"}]}},
             "Expiration": {"Days": 1}}))
        bodies: dict[str, bytes] = {}
        for i in range(200):
            key = f"old/{i:04d}"
            bodies[key] = hashlib.sha256(key.encode()).digest() * 8
            s3.put_object(Bucket="lc-kill", Key=key, Body=bodies[key], Tagging="expire=yes" if i % 2 else "expire=no")
        for i in range(20):
            bodies[f"new/{i}"] = f"new {i}".encode()
            s3.put_object(Bucket="lc-kill", Key=f"new/{i}", Body=bodies[f"new/{i}"], Tagging="expire=yes")
        selected = {f"old/{i:04d}" for i in range(1, 200, 2)}
        when = time.time() + 2 * DAY + 60
        answers: list[requests.Response | Exception] = []

        def hook() -> None:
            try:
                answers.append(run_lifecycle(srv.endpoint, when))
            except Exception as exc:  # noqa: BLE001 - the connection dies with the server
                answers.append(exc)
        thread = threading.Thread(target=hook)
        thread.start()
        assert wait_for(lambda: len(keys(s3, "lc-kill")) < 210, timeout=30)  # the run is under way
        srv.kill9()
        thread.join(30)
        srv.start()
        s3 = make_client(srv.endpoint)
        left = set(keys(s3, "lc-kill"))
        assert 0 < len(selected - left) < len(selected)  # killed midway
        for key in set(bodies) - selected:  # nothing a rule does not select was touched
            assert s3.get_object(Bucket="lc-kill", Key=key)["Body"].read() == bodies[key]
        resumed = run_lifecycle(srv.endpoint).json()["resumed"]
        assert resumed is not None and resumed["now"] == pytest.approx(when)
        assert 0 < resumed["actions"]["S3.EXPIRE.OBJECT"] <= len(selected & left)
        assert set(keys(s3, "lc-kill")) == set(bodies) - selected
        srv.restart()  # the start-up sweep removes what the killed run had freed but not yet deleted
        assert len(stored_blobs(srv)) == len(bodies) - len(selected)
        trail = make_client(srv.endpoint, service="cloudtrail")
        names = set()
        for page in trail.get_paginator("lookup_events").paginate(LookupAttributes=[
                {"AttributeKey": "EventName", "AttributeValue": "S3.EXPIRE.OBJECT"}]):
            names |= {json.loads(e["CloudTrailEvent"])["requestParameters"]["key"] for e in page["Events"]}
        assert names == selected  # every expiration is in the trail (at least once), nothing else
    finally:
        srv.stop()


def test_an_and_filter_names_its_empty_prefix_and_the_minimum_size_is_kept(s3, bucket):  # type: ignore[no-untyped-def]
    """Terraform's provider sends <Prefix></Prefix> in a tags-only And and waits until the configuration reads
    back exactly as sent (3 minutes, then fails); S3 echoes it.  It also compares
    x-amz-transition-default-minimum-object-size, which was always answered all_storage_classes_128K."""
    rules = [{"ID": "and-tags", "Status": "Enabled", "Expiration": {"Days": 10},
              "Filter": {"And": {"Prefix": "", "Tags": [{"Key": "x", "Value": "1"}, {"Key": "y", "Value": "2"}]}}},
             {"ID": "and-no-prefix", "Status": "Enabled", "Expiration": {"Days": 10},
              "Filter": {"And": {"ObjectSizeGreaterThan": 10, "Tags": [{"Key": "x", "Value": "1"}]}}}]
    answer = s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules},
                                                   TransitionDefaultMinimumObjectSize="varies_by_storage_class")
    assert answer["TransitionDefaultMinimumObjectSize"] == "varies_by_storage_class"
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert got["TransitionDefaultMinimumObjectSize"] == "varies_by_storage_class"
    assert got["Rules"][0]["Filter"]["And"]["Prefix"] == ""
    assert "Prefix" not in got["Rules"][1]["Filter"]["And"]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules[1:]})
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["TransitionDefaultMinimumObjectSize"] == (
        "all_storage_classes_128K")
