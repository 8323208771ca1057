"""Randomised signed requests at the edge: whatever the mix of method, sub-resource, headers and body, the
answer is an AWS-shaped status, never a 500 (501 NotImplemented is allowed) and never a hang."""

from __future__ import annotations

import random

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, make_client

# SQLite only: the fuzz targets parsers above the store.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")

CREDENTIALS = Credentials(ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY)

METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD"]
KEYS = ["obj4k", "k", "a/b/c", "%F0%9F%98%80", "x%2Fy", "..", "sp%20ace", "mp"]
SUBRESOURCES = [
    "",
    "uploads",
    "uploadId=zzz",
    "uploadId=zzz&partNumber=1",
    "partNumber=1",
    "partNumber=x",
    "list-type=2",
    "list-type=2&delimiter=%2F&prefix=a",
    "list-type=2&max-keys=0",
    "list-type=2&max-keys=abc",
    "list-type=2&continuation-token=AAAA",
    "list-type=2&encoding-type=url",
    "encoding-type=xx",
    "marker=z&max-keys=2",
    "delete",
    "location",
    "versioning",
    "acl",
    "tagging",
    "versionId=null",
    "versionId=abc",
    "response-content-type=x%2Fy",
    "uploads&prefix=a&delimiter=%2F",
    "uploads&max-uploads=1",
    "x-id=GetObject",
    "max-parts=2&uploadId=zzz",
    "part-number-marker=x&uploadId=zzz",
]
HEADERS = [
    ("Range", "bytes=0-0"),
    ("Range", "bytes=9999-"),
    ("Range", "bytes=-5"),
    ("Range", "bytes=3-1"),
    ("If-Match", '"nope"'),
    ("If-None-Match", "*"),
    ("If-None-Match", '"x"'),
    ("If-Modified-Since", "Sat, 28 Nov 2099 00:00:00 GMT"),
    ("If-Unmodified-Since", "Sat, 28 Nov 1999 00:00:00 GMT"),
    ("x-amz-copy-source", "bench/obj4k"),
    ("x-amz-copy-source", "/bench/nokey"),
    ("x-amz-copy-source", "nobucket/k"),
    ("x-amz-copy-source-range", "bytes=0-10"),
    ("x-amz-copy-source-range", "bytes=x"),
    ("x-amz-metadata-directive", "REPLACE"),
    ("x-amz-metadata-directive", "BAD"),
    ("x-amz-checksum-algorithm", "CRC32"),
    ("x-amz-checksum-algorithm", "MD5"),
    ("x-amz-checksum-crc32", "AAAAAA=="),
    ("x-amz-checksum-sha256", "zz"),
    ("x-amz-checksum-type", "FULL_OBJECT"),
    ("x-amz-checksum-type", "bogus"),
    ("x-amz-storage-class", "GLACIER"),
    ("x-amz-storage-class", "NOPE"),
    ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
    ("Content-Type", "text/plain"),
    ("x-amz-meta-Foo", "bar"),
    ("x-amz-checksum-mode", "ENABLED"),
    ("x-amz-trailer", "x-amz-checksum-crc32"),
    ("x-amz-sdk-checksum-algorithm", "SHA1"),
]
BODIES = [
    b"",
    b"hello",
    b"<Delete><Quiet>true</Quiet><Object><Key>k</Key></Object></Delete>",
    b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>",
    b"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>",
    b"<bad",
    b"x" * 70000,
]


@pytest.mark.parametrize("seed", [1, 2])
def test_random_signed_requests_never_fail_the_server(endpoint: str, seed: int) -> None:
    rng = random.Random(seed)
    s3 = make_client(endpoint)
    bucket = f"fuzz-{seed}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="obj4k", Body=b"x" * 4096)
    failures = []
    for _ in range(250):
        method = rng.choice(METHODS)
        path = "/" + rng.choice([bucket, bucket, "nobucket"]) + ("/" + rng.choice(KEYS) if rng.random() < 0.7 else "")
        query = rng.choice(SUBRESOURCES)
        url = endpoint + path + ("?" + query if query else "")
        headers = dict(rng.sample(HEADERS, rng.randint(0, 4)))
        body = rng.choice(BODIES) if method in ("PUT", "POST") else b""
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        S3SigV4Auth(CREDENTIALS, "s3", "us-east-1").add_auth(request)
        prepared = request.prepare()
        response = requests.request(method, prepared.url, headers=dict(prepared.headers), data=body, timeout=30)
        if response.status_code >= 500 and response.status_code != 501:
            failures.append((response.status_code, method, url, headers, response.text[:300]))
        elif response.status_code >= 400 and method != "HEAD":
            assert b"<Code>" in response.content, (method, url, headers, response.content[:300])
    assert not failures, failures
