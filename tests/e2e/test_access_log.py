"""S3 server access logging: PutBucketLogging takes a target in the source's region, as S3 does; with AWS's
documented target-bucket policy (or the Log Delivery group's ACL grants) the logs arrive as objects in the target
bucket, one record per request in AWS's server access log format (parsed here field by field)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, make_client, meta_url_for
from tests.e2e.helpers import empty_bucket, signed_request, unique_name

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html, fields in AWS's order
RECORD = re.compile(
    r'(?P<owner>\S+) (?P<bucket>\S+) \[(?P<time>\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000)\] (?P<ip>\S+) '
    r'(?P<requester>\S+) (?P<request_id>\S+) (?P<operation>\S+) (?P<key>\S+) "(?P<request_uri>[^"]*)" '
    r'(?P<status>\d{3}) (?P<error>\S+) (?P<bytes_sent>\S+) (?P<object_size>\S+) (?P<total_ms>\d+) '
    r'(?P<turnaround_ms>\d+) "(?P<referer>[^"]*)" "(?P<user_agent>[^"]*)" (?P<version_id>\S+) (?P<host_id>\S+) '
    r'(?P<signature>\S+) (?P<cipher>\S+) (?P<auth>\S+) (?P<host>\S+) (?P<tls>\S+) (?P<access_point>\S+) '
    r'(?P<acl_required>\S+) (?P<source_region>\S+)$')
S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"


@pytest.fixture(scope="module")
def logging_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
                   meta_backend: str) -> Iterator[StoreroomServer]:
    srv = StoreroomServer(tmp_path_factory.mktemp("access-log") / "data", workers=2,
                          env={"STOREROOM_ACCESS_LOG_INTERVAL": "1"}, meta_url=meta_url_for(request, meta_backend))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def s3l(logging_server: StoreroomServer):  # type: ignore[no-untyped-def]
    return make_client(logging_server.endpoint)


@pytest.fixture
def buckets(s3l) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    made: list[str] = []
    yield made
    for name in made:
        empty_bucket(s3l, name)


def _bucket(s3, made: list[str], **kwargs: object) -> str:  # type: ignore[no-untyped-def]
    name = unique_name("al")
    s3.create_bucket(Bucket=name, **kwargs)
    made.append(name)
    return name


def delivery_policy(target: str, source: str, account: str, prefix: str = "logs/") -> str:
    """AWS's documented policy for the target bucket (enable-server-access-logging.html)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "S3ServerAccessLogsPolicy", "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": ["s3:PutObject"],
        "Resource": f"arn:aws:s3:::{target}/{prefix}*",
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{source}"},
                      "StringEquals": {"aws:SourceAccount": account}}}]})


def _account(endpoint: str) -> str:
    return str(make_client(endpoint, service="sts").get_caller_identity()["Account"])


def _enable(s3, source: str, target: str, prefix: str = "logs/", **extra: object) -> None:  # type: ignore[no-untyped-def]
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": target, "TargetPrefix": prefix, **extra}})


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"], exc.value.response["Error"]["Code"]


def test_target_must_exist_and_share_the_region(logging_server, s3l, buckets) -> None:  # type: ignore[no-untyped-def]
    account = _account(logging_server.endpoint)
    source, target = _bucket(s3l, buckets), _bucket(s3l, buckets)
    with pytest.raises(ClientError) as exc:
        _enable(s3l, source, unique_name("missing"))
    assert _error(exc) == (400, "InvalidTargetBucketForLogging")
    with pytest.raises(ClientError) as exc:  # the target's ACLs are disabled (the default): no target grants
        _enable(s3l, source, target, TargetGrants=[{"Grantee": {
            "Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}])
    assert _error(exc) == (400, "AccessControlListNotSupported")
    far = _bucket(s3l, buckets, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3l.put_bucket_policy(Bucket=far, Policy=delivery_policy(far, source, account))
    with pytest.raises(ClientError) as exc:
        _enable(s3l, source, far)
    assert _error(exc) == (403, "CrossLocationLoggingProhibitted")

    assert "LoggingEnabled" not in s3l.get_bucket_logging(Bucket=source)
    _enable(s3l, source, target)
    assert s3l.get_bucket_logging(Bucket=source)["LoggingEnabled"] == {"TargetBucket": target,
                                                                       "TargetPrefix": "logs/"}
    s3l.put_bucket_logging(Bucket=source, BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3l.get_bucket_logging(Bucket=source)


def test_logs_reach_only_a_target_that_lets_the_logging_service_in(logging_server, s3l, buckets) -> None:  # type: ignore[no-untyped-def]
    """S3 takes a target that does not (yet) let the logging service write (LocalStack's AWS recording:
    test_put_bucket_logging); its logs are dropped until the target's policy allows them, for this source and
    under this prefix."""
    account = _account(logging_server.endpoint)
    source, target = _bucket(s3l, buckets), _bucket(s3l, buckets)
    _enable(s3l, source, target)  # no bucket policy at all
    s3l.put_object(Bucket=source, Key="dropped-1", Body=b"x")
    time.sleep(3)  # deliveries run every second here
    s3l.put_bucket_policy(Bucket=target, Policy=delivery_policy(target, "some-other-bucket", account))
    s3l.put_object(Bucket=source, Key="dropped-2", Body=b"x")
    time.sleep(3)
    s3l.put_bucket_policy(Bucket=target, Policy=delivery_policy(target, source, account, prefix="elsewhere/"))
    s3l.put_object(Bucket=source, Key="dropped-3", Body=b"x")
    time.sleep(3)
    assert s3l.list_objects_v2(Bucket=target).get("KeyCount") == 0
    s3l.put_bucket_policy(Bucket=target, Policy=delivery_policy(target, source, account))
    s3l.put_object(Bucket=source, Key="delivered", Body=b"x")
    records = [RECORD.match(line) for line in _delivered(s3l, target, "logs/", 1)]
    assert [r["key"] for r in records if r is not None and r["operation"] == "REST.PUT.OBJECT"] == ["delivered"]
    assert f"access logs of bucket {source} dropped" in logging_server.log_path.read_text()


def _delivered(s3, target: str, prefix: str, count: int, timeout: float = 20) -> list[str]:  # type: ignore[no-untyped-def]
    """The records delivered under ``prefix``, once there are ``count`` and no more arrive (deliveries run every
    second here)."""
    deadline = time.monotonic() + timeout
    previous: list[str] | None = None
    while True:
        lines: list[str] = []
        for obj in s3.list_objects_v2(Bucket=target, Prefix=prefix).get("Contents", []):
            lines += s3.get_object(Bucket=target, Key=obj["Key"])["Body"].read().decode().splitlines()
        if (len(lines) >= count and previous is not None and len(previous) == len(lines)) \
                or time.monotonic() > deadline:
            return lines
        previous = lines
        time.sleep(1.5)


def test_requests_are_delivered_as_log_objects(logging_server, s3l, buckets, iam_user_factory) -> None:  # type: ignore[no-untyped-def]
    endpoint = logging_server.endpoint
    account = _account(endpoint)
    source, target = _bucket(s3l, buckets), _bucket(s3l, buckets)
    s3l.put_bucket_policy(Bucket=target, Policy=delivery_policy(target, source, account))
    _enable(s3l, source, target)
    user = iam_user_factory()
    user.put_object(Bucket=source, Key="photos/2019/puppy.jpg", Body=b"woof" * 100)
    s3l.get_object(Bucket=source, Key="photos/2019/puppy.jpg", Range="bytes=0-9")
    with pytest.raises(ClientError):
        s3l.get_object(Bucket=source, Key="missing")
    anonymous = requests.get(f"{endpoint}/{source}/photos/2019/puppy.jpg?x-foo=bar", timeout=10,
                             headers={"User-Agent": "curl/7.15.1", "Referer": "http://example.com/page"})
    assert anonymous.status_code == 403

    # operations named after their sub-resource, as S3 names them (they were logged as REST.PUT.BUCKET,
    # REST.DELETE.BUCKET: a bucket created and deleted that never were)
    s3l.put_bucket_encryption(Bucket=source, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3l.delete_bucket_encryption(Bucket=source)
    s3l.get_object_attributes(Bucket=source, Key="photos/2019/puppy.jpg", ObjectAttributes=["ETag"])

    lines = _delivered(s3l, target, "logs/", 7)
    keys = [o["Key"] for o in s3l.list_objects_v2(Bucket=target, Prefix="logs/")["Contents"]]
    assert all(re.fullmatch(r"logs/\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-F]{16}", k) for k in keys), keys
    records = [RECORD.match(line) for line in lines]
    assert all(records), lines
    by_op: dict[tuple[str, str], re.Match[str]] = {}
    for rec in records:
        assert rec is not None
        by_op[(rec["operation"], rec["status"])] = rec
    owner_id = s3l.get_bucket_acl(Bucket=source)["Owner"]["ID"]

    put = by_op[("REST.PUT.OBJECT", "200")]
    assert put["owner"] == owner_id and put["bucket"] == source and put["requester"] == user.arn
    assert put["key"] == "photos/2019/puppy.jpg" and put["object_size"] == "400" and put["error"] == "-"
    assert put["request_uri"].startswith(f"PUT /{source}/photos/2019/puppy.jpg") and \
        put["request_uri"].endswith(" HTTP/1.1")
    assert put["signature"] == "SigV4" and put["auth"] == "AuthHeader" and put["host"].startswith("127.0.0.1:")
    assert put["user_agent"].startswith("Boto3/")

    assert {("REST.PUT.ENCRYPTION", "200"), ("REST.DELETE.ENCRYPTION", "204"),
            ("REST.GET.OBJECT_ATTRIBUTES", "200")} <= set(by_op), sorted(by_op)
    assert put["source_region"] == "-"
    ranged = by_op[("REST.GET.OBJECT", "206")]
    assert ranged["requester"] == owner_id and ranged["bytes_sent"] == "10" and ranged["object_size"] == "400"
    missing = by_op[("REST.GET.OBJECT", "404")]
    assert missing["error"] == "NoSuchKey" and missing["key"] == "missing"
    denied = by_op[("REST.GET.OBJECT", "403")]
    assert denied["requester"] == "-" and denied["signature"] == "-" and denied["auth"] == "-"
    assert denied["error"] == "AccessDenied" and denied["user_agent"] == "curl/7.15.1"
    assert denied["referer"] == "http://example.com/page"
    assert denied["request_uri"] == f"GET /{source}/photos/2019/puppy.jpg?x-foo=bar HTTP/1.1"
    time.strptime(denied["time"], "%d/%b/%Y:%H:%M:%S +0000")

    # the target's policy no longer lets the logging service write: nothing is delivered
    s3l.delete_bucket_policy(Bucket=target)
    s3l.head_object(Bucket=source, Key="photos/2019/puppy.jpg")
    time.sleep(3)
    assert len(_delivered(s3l, target, "logs/", 0)) == len(lines)
    # switched off: nothing more is logged
    s3l.put_bucket_policy(Bucket=target, Policy=delivery_policy(target, source, account))
    s3l.put_bucket_logging(Bucket=source, BucketLoggingStatus={})
    s3l.head_object(Bucket=source, Key="photos/2019/puppy.jpg")
    time.sleep(3)
    assert len(_delivered(s3l, target, "logs/", 0)) == len(lines)


def test_partitioned_keys(logging_server, s3l, buckets) -> None:  # type: ignore[no-untyped-def]
    account = _account(logging_server.endpoint)
    source, target = _bucket(s3l, buckets), _bucket(s3l, buckets)
    s3l.put_bucket_policy(Bucket=target, Policy=delivery_policy(target, source, account, prefix=""))
    _enable(s3l, source, target, prefix="", TargetObjectKeyFormat={"PartitionedPrefix": {
        "PartitionDateSource": "EventTime"}})
    assert s3l.get_bucket_logging(Bucket=source)["LoggingEnabled"]["TargetObjectKeyFormat"] == {
        "PartitionedPrefix": {"PartitionDateSource": "EventTime"}}
    s3l.put_object(Bucket=source, Key="a", Body=b"x")
    assert _delivered(s3l, target, f"{account}/", 1)
    # the GetBucketLogging and the PutObject records may be delivered in one log object or in two
    keys = [o["Key"] for o in s3l.list_objects_v2(Bucket=target)["Contents"]]
    assert keys
    for key in keys:
        # EventTime: "the hour, minutes and seconds are set to 00 in the key" (it kept the first record's)
        assert re.fullmatch(rf"{account}/us-east-1/{source}/\d{{4}}/\d{{2}}/\d{{2}}/"
                            r"\d{4}-\d{2}-\d{2}-00-00-00-[0-9A-F]{16}", key), key


def test_the_log_delivery_groups_acl_grant_is_the_other_way_to_let_logs_in(logging_server, s3l, buckets) -> None:  # type: ignore[no-untyped-def]
    """S3's message names two ways: a bucket policy for the logging service, or the Log Delivery group's WRITE
    and READ_ACP on a target whose ACLs are enabled (the ``log-delivery-write`` canned ACL, as Terraform's
    aws_s3_bucket_acl and AWS's own samples set it)."""
    account = _account(logging_server.endpoint)
    source, target = _bucket(s3l, buckets), _bucket(s3l, buckets)
    s3l.put_bucket_ownership_controls(Bucket=target, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    log_delivery = {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"}
    owner = s3l.get_bucket_acl(Bucket=target)["Owner"]
    s3l.put_bucket_acl(Bucket=target, AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": log_delivery, "Permission": "WRITE"}]})
    _enable(s3l, source, target)  # taken, as S3 takes it; WRITE without READ_ACP lets no log in
    s3l.put_object(Bucket=source, Key="dropped", Body=b"x")
    time.sleep(3)  # deliveries run every second here
    assert s3l.list_objects_v2(Bucket=target).get("KeyCount") == 0

    s3l.put_bucket_acl(Bucket=target, ACL="log-delivery-write")
    s3l.put_object(Bucket=source, Key="a", Body=b"x")
    records = [RECORD.match(line) for line in _delivered(s3l, target, "logs/", 1)]
    assert [r["key"] for r in records if r is not None and r["operation"] == "REST.PUT.OBJECT"] == ["a"]

    # a bucket policy that denies the logging service outweighs the grant
    s3l.put_bucket_policy(Bucket=target, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{target}/*"}]}))
    s3l.put_object(Bucket=source, Key="denied", Body=b"x")
    time.sleep(3)
    s3l.delete_bucket_policy(Bucket=target)
    # ACLs disabled again (bucket owner enforced): the grant no longer counts
    s3l.put_bucket_acl(Bucket=target, ACL="private")
    s3l.put_bucket_ownership_controls(Bucket=target, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3l.put_object(Bucket=source, Key="no-acls", Body=b"x")
    time.sleep(3)
    lines = [RECORD.match(line) for line in _delivered(s3l, target, "logs/", 1)]
    assert [r["key"] for r in lines if r is not None and r["operation"] == "REST.PUT.OBJECT"] == ["a"]
    del account


def test_an_explicit_simple_prefix_reads_back_as_given(logging_server, s3l, buckets) -> None:  # type: ignore[no-untyped-def]
    """S3 echoes ``TargetObjectKeyFormat`` / ``SimplePrefix`` when it was sent, and no key format when none was
    (Terraform's aws_s3_bucket_logging ``simple_prefix {}`` block reads back so)."""
    account = _account(logging_server.endpoint)
    source, target = _bucket(s3l, buckets), _bucket(s3l, buckets)
    s3l.put_bucket_policy(Bucket=target, Policy=delivery_policy(target, source, account))
    _enable(s3l, source, target, TargetObjectKeyFormat={"SimplePrefix": {}})
    assert s3l.get_bucket_logging(Bucket=source)["LoggingEnabled"] == {
        "TargetBucket": target, "TargetPrefix": "logs/", "TargetObjectKeyFormat": {"SimplePrefix": {}}}
    s3l.put_object(Bucket=source, Key="a", Body=b"x")
    keys = [line for line in _delivered(s3l, target, "logs/", 1)]
    assert keys
    assert all(re.fullmatch(r"logs/\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-F]{16}", o["Key"])
               for o in s3l.list_objects_v2(Bucket=target, Prefix="logs/")["Contents"])
    _enable(s3l, source, target)
    assert "TargetObjectKeyFormat" not in s3l.get_bucket_logging(Bucket=source)["LoggingEnabled"]


def test_target_grants_are_kept_and_given_to_each_log_object(logging_server, s3l, buckets) -> None:  # type: ignore[no-untyped-def]
    """On a target with ACLs enabled, ``TargetGrants`` are read back as sent and become the ACL of every log object
    (with the bucket owner's FULL_CONTROL: "The bucket owner is automatically granted FULL_CONTROL to all logs")."""
    source, target = _bucket(s3l, buckets), _bucket(s3l, buckets)
    s3l.put_bucket_ownership_controls(Bucket=target, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    s3l.put_bucket_acl(Bucket=target, ACL="log-delivery-write")
    owner_id = s3l.get_bucket_acl(Bucket=target)["Owner"]["ID"]
    grants = [{"Grantee": {"Type": "CanonicalUser", "ID": owner_id}, "Permission": "READ"},
              {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"},
               "Permission": "READ"}]
    _enable(s3l, source, target, TargetGrants=grants)
    got = s3l.get_bucket_logging(Bucket=source)["LoggingEnabled"]
    assert [(g["Grantee"]["Type"], g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Permission"])
            for g in got["TargetGrants"]] == [("CanonicalUser", owner_id, "READ"), (
                "Group", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "READ")]
    s3l.put_object(Bucket=source, Key="a", Body=b"x")
    assert _delivered(s3l, target, "logs/", 1)
    for obj in s3l.list_objects_v2(Bucket=target, Prefix="logs/")["Contents"]:
        acl = s3l.get_object_acl(Bucket=target, Key=obj["Key"])["Grants"]
        assert [(g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Permission"]) for g in acl] == [
            (owner_id, "FULL_CONTROL"), (owner_id, "READ"),
            ("http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "READ")]
    # bad grants are refused as S3 refuses them, and a new configuration without grants drops them
    for bad, status, code in (
            ([{"Grantee": {"Type": "CanonicalUser", "ID": "0" * 64}, "Permission": "READ"}], 400, "InvalidArgument"),
            ([{"Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": "a@example.com"}, "Permission": "READ"}],
             405, "MethodNotAllowed"),  # e-mail grantees, ended by S3 on 2025-10-01
            ([{"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"},
               "Permission": "BOGUS"}], 400, "MalformedXML")):
        with pytest.raises(ClientError) as exc:
            _enable(s3l, source, target, TargetGrants=bad)
        assert _error(exc) == (status, code)
    # S3 takes an ACL's other permissions too (LocalStack's AWS recording: ..._accept_wrong_grants)
    log_delivery = {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"}
    _enable(s3l, source, target, TargetGrants=[{"Grantee": log_delivery, "Permission": "WRITE"},
                                               {"Grantee": log_delivery, "Permission": "READ_ACP"}])
    assert [g["Permission"] for g in s3l.get_bucket_logging(Bucket=source)["LoggingEnabled"]["TargetGrants"]] == [
        "WRITE", "READ_ACP"]
    _enable(s3l, source, target)
    assert "TargetGrants" not in s3l.get_bucket_logging(Bucket=source)["LoggingEnabled"]


def test_a_target_with_default_object_lock_retention_is_refused(logging_server, s3l, buckets) -> None:  # type: ignore[no-untyped-def]
    account = _account(logging_server.endpoint)
    source = _bucket(s3l, buckets)
    target = _bucket(s3l, buckets, ObjectLockEnabledForBucket=True)
    s3l.put_bucket_policy(Bucket=target, Policy=delivery_policy(target, source, account))
    _enable(s3l, source, target)  # Object Lock alone is fine
    s3l.put_object_lock_configuration(Bucket=target, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    with pytest.raises(ClientError) as exc:
        _enable(s3l, source, target)
    assert _error(exc) == (400, "InvalidTargetBucketForLogging")
    assert "Object Lock" in exc.value.response["Error"]["Message"]


@pytest.fixture
def iam_user_factory(logging_server: StoreroomServer):  # type: ignore[no-untyped-def]
    """An IAM user with AmazonS3FullAccess on the logging server; its s3 client is returned (with .arn)."""
    iam = make_client(logging_server.endpoint, service="iam")
    made: list[str] = []

    def make():  # type: ignore[no-untyped-def]
        name = unique_name("logger")
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        made.append(name)
        iam.attach_user_policy(UserName=name, PolicyArn=S3_FULL)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        client = make_client(logging_server.endpoint, access_key=key["AccessKeyId"],
                             secret_key=key["SecretAccessKey"])
        client.arn = arn
        return client

    yield make
    from tests.e2e.iam_cleanup import delete_user_fully
    for name in made:
        delete_user_fully(iam, name)


def test_a_role_session_is_logged_by_its_assumed_role_arn(logging_server, s3l, buckets) -> None:  # type: ignore[no-untyped-def]
    """The Requester of a role session's request is its ARN (arn:aws:sts::…:assumed-role/role/session), as for
    an IAM user its user ARN."""
    import boto3

    from tests.conftest import REGION
    from tests.e2e.iam_cleanup import delete_role_fully, delete_user_fully
    endpoint = logging_server.endpoint
    account = _account(endpoint)
    source, target = _bucket(s3l, buckets), _bucket(s3l, buckets)
    s3l.put_bucket_policy(Bucket=target, Policy=delivery_policy(target, source, account))
    _enable(s3l, source, target)
    iam = make_client(endpoint, service="iam")
    user_name, role_name = unique_name("caller"), unique_name("logged-role")
    user_arn = iam.create_user(UserName=user_name)["User"]["Arn"]
    try:
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
        iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}]}))
        iam.attach_role_policy(RoleName=role_name, PolicyArn=S3_FULL)
        sts = make_client(endpoint, service="sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
        answer = sts.assume_role(RoleArn=iam.get_role(RoleName=role_name)["Role"]["Arn"], RoleSessionName="nightly")
        creds = answer["Credentials"]
        session = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                               aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                               aws_session_token=creds["SessionToken"])
        session.put_object(Bucket=source, Key="by-role", Body=b"r")
        # the PutBucketLogging line may be delivered a batch ahead of the PUT's: wait for the PUT's
        deadline, records, lines = time.monotonic() + 30, [], []
        while not records and time.monotonic() < deadline:
            lines = _delivered(s3l, target, "logs/", 1)
            records = [r for r in map(RECORD.match, lines) if r is not None and r["operation"] == "REST.PUT.OBJECT"]
        assert len(records) == 1, lines
        record = records[0]
        assert record["requester"] == answer["AssumedRoleUser"]["Arn"]
        assert record["requester"].startswith(f"arn:aws:sts::{account}:assumed-role/{role_name}/nightly")
    finally:
        delete_role_fully(iam, role_name)
        delete_user_fully(iam, user_name)


def test_no_logging_configuration_is_an_empty_status(s3l, buckets) -> None:  # type: ignore[no-untyped-def]
    source = _bucket(s3l, buckets)
    assert "LoggingEnabled" not in s3l.get_bucket_logging(Bucket=source)
    with pytest.raises(ClientError) as exc:
        s3l.get_bucket_logging(Bucket=unique_name("missing"))
    assert _error(exc) == (404, "NoSuchBucket")


def test_a_request_only_an_acl_allows_is_acl_required(logging_server, s3l, buckets) -> None:  # type: ignore[no-untyped-def]
    """aclRequired: "Yes" when the request needed an ACL to be authorized -- what AWS tells owners to look for
    before they disable ACLs. It was always "-" (and CloudTrail's additionalEventData had none)."""
    account = _account(logging_server.endpoint)
    source, target = _bucket(s3l, buckets), _bucket(s3l, buckets)
    s3l.put_bucket_policy(Bucket=target, Policy=delivery_policy(target, source, account))
    s3l.put_bucket_ownership_controls(Bucket=source, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3l.delete_public_access_block(Bucket=source)
    s3l.put_object(Bucket=source, Key="public", Body=b"p", ACL="public-read")
    _enable(s3l, source, target)
    assert requests.get(f"{logging_server.endpoint}/{source}/public", timeout=10).status_code == 200  # the ACL
    s3l.get_object(Bucket=source, Key="public")  # root: its own policies, no ACL needed
    records = [RECORD.match(line) for line in _delivered(s3l, target, "logs/", 2)]
    reads = [(r["requester"], r["acl_required"]) for r in records if r and r["operation"] == "REST.GET.OBJECT"]
    assert sorted(reads) == sorted([("-", "Yes"), (s3l.get_bucket_acl(Bucket=source)["Owner"]["ID"], "-")]), reads
    trail = make_client(logging_server.endpoint, service="cloudtrail")
    events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName",
                                                    "AttributeValue": f"arn:aws:s3:::{source}/public"}])["Events"]
    extras = [json.loads(e["CloudTrailEvent"])["additionalEventData"] for e in events if e["EventName"] == "GetObject"]
    assert sorted(x.get("aclRequired", "-") for x in extras) == ["-", "Yes"]


def test_what_a_caller_sends_cannot_forge_a_record(logging_server, s3l, buckets) -> None:  # type: ignore[no-untyped-def]
    """A versionId with a line break wrote a whole record of the caller's making into the log (anyone could: refused
    requests are logged too); a decoded-content-length or a Host with spaces added fields (fuzzing, 2026-12-07)."""
    account = _account(logging_server.endpoint)
    source, target = _bucket(s3l, buckets), _bucket(s3l, buckets)
    s3l.put_bucket_policy(Bucket=target, Policy=delivery_policy(target, source, account))
    _enable(s3l, source, target)
    forged = ("x\n" + account + f" {source} [07/Dec/2026:00:00:00 +0000] 6.6.6.6 evil REQ REST.DELETE.OBJECT k"
              ' "DELETE /k HTTP/1.1" 204 - - - 1 1 "-" "-" - - - - - - - - - -')
    anonymous = requests.get(f"{logging_server.endpoint}/{source}/k", params={"versionId": forged}, timeout=10,
                             headers={"User-Agent": "ua with spaces \\"})
    assert anonymous.status_code in (400, 403)
    r = signed_request("PUT", f"{logging_server.endpoint}/{source}/sized", {"x-amz-decoded-content-length": "1 2 3"},
                       b"data")
    assert r.status_code == 200, r.content
    lines = _delivered(s3l, target, "logs/", 3)
    records = [RECORD.match(line) for line in lines]
    assert all(records) and not any(r["requester"] == "evil" for r in records if r is not None), lines
    operations = [r["operation"] for r in records if r is not None]
    assert operations.count("REST.GET.OBJECT") == 1 and operations.count("REST.PUT.OBJECT") == 1, lines


def test_a_target_prefix_that_makes_keys_too_long_is_refused(s3l, buckets) -> None:  # type: ignore[no-untyped-def]
    """Log objects with keys beyond 1,024 bytes could be neither read nor deleted one by one."""
    source, target = _bucket(s3l, buckets), _bucket(s3l, buckets)
    with pytest.raises(ClientError) as exc:
        _enable(s3l, source, target, prefix="p" * 1000)
    assert _error(exc) == (400, "InvalidArgument")
    _enable(s3l, source, target, prefix="p" * 900)
