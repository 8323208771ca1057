"""An empty region in the SigV4 credential scope (``…/20261205//iam/aws4_request``), as boto3 signs with
``region_name=''``, is taken for the server's region by every service; the signature still covers the scope
exactly as sent.

boto3 signs so with botocore's own SigV4 signer (installed without awscrt; awscrt's signer refuses an empty
region on the client): the IAM and STS clients are run as users run them, in a process with
``BOTO_DISABLE_CRT=true``.  boto3 cannot build an S3 client for region '' (its endpoint rules want a DNS name), so
S3 requests are signed with botocore's S3 signer for region '' and sent raw, in both header and presigned form.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import requests
from botocore.auth import S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY
from tests.e2e.helpers import (
    assert_s3_error,
    parse_any_aws_error,
    sign_headers,
    signed_request,
    streaming_signed_put,
    unique_name,
)

# SQLite only: region handling sits before the store.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")

CREDENTIALS = Credentials(ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY)

_BOTO3 = """
import json, sys
import boto3
from botocore.config import Config

endpoint, key, secret, user = sys.argv[1:5]
scopes = []
def client(service):
    made = boto3.client(service, endpoint_url=endpoint, region_name="", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))
    made.meta.events.register("before-send", lambda request, **_: scopes.append(
        request.headers["Authorization"].decode().split("Credential=")[1].split(",")[0]))
    return made
iam, sts = client("iam"), client("sts")
iam.create_user(UserName=user)
key_id = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
names = [u["UserName"] for u in iam.list_users()["Users"]]
iam.delete_access_key(UserName=user, AccessKeyId=key_id)
iam.delete_user(UserName=user)
print(json.dumps({"region": iam.meta.region_name, "arn": sts.get_caller_identity()["Arn"], "listed": user in names,
                  "scopes": scopes}))
"""


def test_boto3_iam_and_sts_clients_with_an_empty_region(endpoint: str) -> None:
    """They got AuthorizationHeaderMalformed (in S3's shape, which boto3 reports as "Unknown")."""
    user = unique_name("er")
    env = dict(os.environ, BOTO_DISABLE_CRT="true", AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env.pop("AWS_REGION", None)
    env.pop("AWS_DEFAULT_REGION", None)
    done = subprocess.run([sys.executable, "-c", _BOTO3, endpoint, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, user],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["region"] == ""
    assert out["arn"].endswith(":root") and out["listed"]
    assert {scope.split("/", 1)[1][8:] for scope in out["scopes"]} == {"//iam/aws4_request", "//sts/aws4_request"}


def _query_answer(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    return ET.fromstring(response.content).tag.rpartition("}")[2]


@pytest.mark.parametrize("service, body, answer", [
    ("iam", b"Action=ListUsers&Version=2010-05-08", "ListUsersResponse"),
    ("sts", b"Action=GetCallerIdentity&Version=2011-06-15", "GetCallerIdentityResponse"),
])
def test_query_services_signed_for_an_empty_region(endpoint: str, service: str, body: bytes, answer: str) -> None:
    request = AWSRequest(method="POST", url=f"{endpoint}/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(CREDENTIALS, service, "").add_auth(request)
    assert f"//{service}/aws4_request" in request.headers["Authorization"]
    response = requests.post(f"{endpoint}/", headers=dict(request.headers.items()), data=body, timeout=10)
    assert _query_answer(response) == answer


def test_presigned_sts_url_for_an_empty_region(endpoint: str) -> None:
    request = AWSRequest(method="GET", url=f"{endpoint}/?Action=GetCallerIdentity&Version=2011-06-15")
    SigV4QueryAuth(CREDENTIALS, "sts", "", expires=300).add_auth(request)
    assert "%2F%2Fsts%2Faws4_request" in request.url
    assert _query_answer(requests.get(request.url, timeout=10)) == "GetCallerIdentityResponse"


def test_s3_signed_for_an_empty_region(endpoint: str, s3, track_bucket) -> None:  # type: ignore[no-untyped-def]
    bucket = track_bucket(unique_name("er"))
    assert signed_request("PUT", f"{endpoint}/{bucket}", region="").status_code == 200
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None  # the server's region, us-east-1
    assert signed_request("PUT", f"{endpoint}/{bucket}/k", body=b"hello", region="").status_code == 200
    response = signed_request("GET", f"{endpoint}/{bucket}/k", region="")
    assert (response.status_code, response.content) == (200, b"hello")
    assert b"<Key>k</Key>" in signed_request("GET", f"{endpoint}/{bucket}?list-type=2", region="").content
    data = b"chunked " * 5000
    assert streaming_signed_put(endpoint, bucket, "streamed", data, chunk_size=8192, region="").status_code == 200
    assert s3.get_object(Bucket=bucket, Key="streamed")["Body"].read() == data


def test_presigned_s3_url_for_an_empty_region(endpoint: str, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="k", Body=b"presigned")
    request = AWSRequest(method="GET", url=f"{endpoint}/{bucket}/k")
    S3SigV4QueryAuth(CREDENTIALS, "s3", "", expires=300).add_auth(request)
    assert "%2F%2Fs3%2Faws4_request" in request.url
    response = requests.get(request.url, timeout=10)
    assert (response.status_code, response.content) == (200, b"presigned")


def test_an_empty_region_is_the_servers_region_for_a_bucket_elsewhere(endpoint: str, new_bucket) -> None:  # type: ignore[no-untyped-def]
    """A bucket in eu-west-1 is refused to a request signed for '' (= us-east-1), naming its region, as for a
    request signed for us-east-1: clients then sign again for eu-west-1."""
    bucket = new_bucket("eu-west-1")
    error = assert_s3_error(signed_request("GET", f"{endpoint}/{bucket}?list-type=2", region=""), 400,
                            "AuthorizationHeaderMalformed")
    assert error["Region"] == "eu-west-1"
    assert signed_request("GET", f"{endpoint}/{bucket}?list-type=2", region="eu-west-1").status_code == 200


def test_the_signature_still_covers_the_scope_as_sent(endpoint: str) -> None:
    """A signature made for us-east-1 does not pass with the region then removed from the scope, nor the other
    way round: accepting '' weakens nothing."""
    for signed_for, sent in (("us-east-1", ""), ("", "us-east-1")):
        headers = sign_headers("GET", f"{endpoint}/", region=signed_for)
        headers["Authorization"] = re.sub(r"(Credential=[^/]+/[0-9]{8})/[^/]*/", rf"\1/{sent}/",
                                          headers["Authorization"])
        assert f"/{sent}/s3/aws4_request" in headers["Authorization"]
        response = requests.get(f"{endpoint}/", headers=headers, timeout=10)
        assert_s3_error(response, 403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("credential", [
    f"{ROOT_ACCESS_KEY_ID}/20260101/us-east-1//aws4_request",
    "/20260101/us-east-1/s3/aws4_request",
    f"{ROOT_ACCESS_KEY_ID}//us-east-1/s3/aws4_request",
    f"{ROOT_ACCESS_KEY_ID}/20260101/us-east-1/s3/",
])
def test_other_empty_parts_of_the_scope_are_still_malformed(endpoint: str, credential: str) -> None:
    headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, "
                                f"Signature={'0' * 64}",
               "x-amz-date": "20260101T000000Z", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    error = parse_any_aws_error(requests.get(f"{endpoint}/", headers=headers, timeout=10).content)
    assert error["Code"] == "AuthorizationHeaderMalformed"
    assert "the Credential is mal-formed" in error["Message"]

