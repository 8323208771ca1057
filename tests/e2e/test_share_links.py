"""Share links (storeroom/share.py): presigned GetObject URLs with temporary credentials the server mints for a
console principal.  Minted here with the server's own master key, as the console does; fetched with requests."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import boto3
import pytest
import requests

from storeroom.share import Grant, Shares
from tests.conftest import make_client


@pytest.fixture
def shares(server) -> Shares:  # type: ignore[no-untyped-def]
    return Shares(base64.b64decode((server.data_dir / "master.key").read_bytes()))


def _account(server) -> str:  # type: ignore[no-untyped-def]
    return str(make_client(server.endpoint, "sts").get_caller_identity()["Account"])


def test_root_share_fetches_the_object_and_only_it(server, s3, bucket, shares) -> None:
    s3.put_object(Bucket=bucket, Key="reports/q1 final.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=bucket, Key="other.txt", Body=b"secret")
    grant = Grant("root", _account(server), time.time(), False, 0)
    url = shares.presign_get(server.endpoint, bucket, "reports/q1 final.csv", "us-east-1", 300, grant)
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["X-Amz-Credential"].startswith("ASIA") and query["X-Amz-Expires"] == "300"
    assert "X-Amz-Security-Token" in query
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200 and answer.content == b"a,b\n1,2\n"

    # the signature covers the method, the path and the query: nothing else can be done with it
    other = url.replace("/reports/q1%20final.csv?", "/other.txt?")
    assert requests.get(other, timeout=10).status_code == 403
    assert requests.head(url, timeout=10).status_code == 403
    assert requests.delete(url, timeout=10).status_code == 403
    assert s3.get_object(Bucket=bucket, Key="reports/q1 final.csv")["ContentLength"] == 8


def test_expired_tampered_and_foreign_tokens_are_refused(server, s3, bucket, shares) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    account = _account(server)
    old = time.time() - 7200
    url = shares.presign_get(server.endpoint, bucket, "k", "us-east-1", 3600, Grant("root", account, old, False, 0),
                             now=old)
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 403 and "<Message>Request has expired</Message>" in answer.text

    fresh = shares.presign_get(server.endpoint, bucket, "k", "us-east-1", 60, Grant("root", account, 0, False, 0))
    parts = urlsplit(fresh)
    query = dict(parse_qsl(parts.query))
    query["X-Amz-Security-Token"] = query["X-Amz-Security-Token"][:-6] + "AAAAAA"
    answer = requests.get(f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}", timeout=10)
    assert answer.status_code == 400 and "<Code>InvalidToken</Code>" in answer.text

    stranger = Shares(b"\x01" * 32)   # another data dir's master key: its tokens mean nothing here
    url = stranger.presign_get(server.endpoint, bucket, "k", "us-east-1", 60, Grant("root", account, 0, False, 0))
    assert "<Code>InvalidToken</Code>" in requests.get(url, timeout=10).text

    # the sealed expiry is the URL's: past it, the token is expired too
    key_id = query["X-Amz-Credential"].split("/")[0]
    _, grant = shares.open(key_id, dict(parse_qsl(parts.query))["X-Amz-Security-Token"])
    grant.check(time.time() + 30)
    with pytest.raises(Exception, match="ExpiredToken"):
        grant.check(time.time() + 120)


def test_a_user_share_grants_what_the_user_may_do_now(server, s3, bucket, shares) -> None:
    iam = make_client(server.endpoint, "iam")
    user_id = iam.create_user(UserName="sharer")["User"]["UserId"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    iam.put_user_policy(UserName="sharer", PolicyName="read", PolicyDocument=json.dumps(policy))
    s3.put_object(Bucket=bucket, Key="k", Body=b"shared")
    try:
        url = shares.presign_get(server.endpoint, bucket, "k", "us-east-1", 600,
                                 Grant("user", user_id, time.time(), False, 0))
        assert requests.get(url, timeout=10).content == b"shared"
        iam.delete_user_policy(UserName="sharer", PolicyName="read")
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 403 and "<Code>AccessDenied</Code>" in answer.text
        # the audit trail names the user and the share's temporary key
        trail, events = make_client(server.endpoint, "cloudtrail"), []
        for _ in range(100):   # the other worker's events reach the log within a moment
            events = [e for e in trail.lookup_events(LookupAttributes=[
                {"AttributeKey": "Username", "AttributeValue": "sharer"}])["Events"] if e["EventName"] == "GetObject"]
            if len(events) == 2:
                break
            time.sleep(0.1)
        record = json.loads(events[0]["CloudTrailEvent"])
        assert record["errorCode"] == "AccessDenied" and record["userIdentity"]["accessKeyId"].startswith("ASIA")
    finally:
        iam.delete_user(UserName="sharer")
    assert "<Code>InvalidToken</Code>" in requests.get(url, timeout=10).text   # the user is gone


def test_share_credentials_only_speak_s3(server, shares) -> None:
    grant = Grant("root", _account(server), time.time(), False, 0)
    url = shares.presign_get(server.endpoint, "b", "k", "us-east-1", 60, grant)
    query = dict(parse_qsl(urlsplit(url).query))
    key_id = query["X-Amz-Credential"].split("/")[0]
    secret, _ = shares.open(key_id, query["X-Amz-Security-Token"])
    iam = boto3.client("iam", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key_id,
                       aws_secret_access_key=secret, aws_session_token=query["X-Amz-Security-Token"])
    with pytest.raises(Exception, match="InvalidClientTokenId"):
        iam.list_users()
