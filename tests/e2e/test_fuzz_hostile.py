"""Hostile input at every operation: nested and oversized XML/JSON bodies, XML with DTDs and entities, hostile
headers (copy sources, ranges, dates, digests, lengths, metadata), absurd query parameters, malformed
authentication, raw bytes that are not UTF-8 — thrown at every row of ``storeroom/s3/operations.py`` and at
IAM and STS.

Each answer must be AWS-shaped and below 500 (501 NotImplemented is allowed: unbuilt operations, unsupported
headers), the server's log must show no traceback, and a normal client must be served afterwards.

The cases are explicit tables (no randomness): the same requests on every run, a few thousand in all, which a
server of its own answers in well under a minute.
"""

from __future__ import annotations

import json
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from storeroom.s3.operations import BUCKET, OPERATIONS, SERVICE, Operation
from tests.conftest import ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, StoreroomServer, make_client
from tests.e2e.helpers import _Signer

CREDENTIALS = Credentials(ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY)
BUCKET_NAME = "hostile"
OBJECT_KEY = "obj"
PUBLIC_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": "*", "Action": "s3:*",
    "Resource": [f"arn:aws:s3:::{BUCKET_NAME}", f"arn:aws:s3:::{BUCKET_NAME}/*"]}]})


# -- the server, its fixtures, and the checks ---------------------------------------------------------------------


class Server:
    """A server of this module's own (its log holds only these requests), with a bucket, an object and a
    multipart upload that the hostile requests aim at, so that each reaches the parser it is meant for."""

    def __init__(self, srv: StoreroomServer) -> None:
        self.srv = srv
        self.endpoint = srv.endpoint
        self.s3 = make_client(srv.endpoint)
        self.http = _session()
        self.failures: list[str] = []
        self.upload_id = ""
        self.s3.create_bucket(Bucket=BUCKET_NAME)
        self.restore()

    def restore(self) -> None:
        """The bucket, its policy, object and upload as the cases expect them (a case may have changed them: the
        public policy lets an unsigned DELETE of the object, then of the bucket, which its upload in progress
        does not keep, as on S3)."""
        if self.s3.list_buckets(Prefix=BUCKET_NAME)["Buckets"] == []:
            self.s3.create_bucket(Bucket=BUCKET_NAME)
        self.s3.delete_public_access_block(Bucket=BUCKET_NAME)  # a new bucket blocks public policies
        self.s3.put_bucket_policy(Bucket=BUCKET_NAME, Policy=PUBLIC_POLICY)  # unsigned requests reach handlers
        self.s3.put_object(Bucket=BUCKET_NAME, Key=OBJECT_KEY, Body=b"0123456789" * 100)
        uploads = self.s3.list_multipart_uploads(Bucket=BUCKET_NAME).get("Uploads", [])
        if not any(u["UploadId"] == self.upload_id for u in uploads):
            self.upload_id = self.s3.create_multipart_upload(Bucket=BUCKET_NAME, Key=OBJECT_KEY)["UploadId"]
            self.s3.upload_part(Bucket=BUCKET_NAME, Key=OBJECT_KEY, UploadId=self.upload_id, PartNumber=1,
                                Body=b"p" * 100)

    def send(self, label: str, method: str, url: str, headers: dict[str, str] | None = None,
             body: bytes = b"", *, service: str = "s3", sign: bool = True, payload_hash: str | None = None,
             allow_501: bool = True) -> requests.Response | None:
        """Sign (botocore's signer) and send one request; note a failure instead of raising, so that one run
        lists every case that fails."""
        headers = dict(headers or {})
        if sign:
            request = AWSRequest(method=method, url=url, data=body, headers=headers)
            signer = _Signer(CREDENTIALS, service, "us-east-1", payload_hash) if service == "s3" else SigV4Auth(
                CREDENTIALS, service, "us-east-1")
            signer.add_auth(request)
            headers = dict(request.headers.items())
        # botocore hashes the canonical request as UTF-8 and the server reads header bytes as they came: a
        # non-ASCII value goes on the wire as its UTF-8 bytes (requests would send str values as latin-1).
        wire = {k: v.encode("utf-8") for k, v in headers.items()}
        try:
            response = self.http.request(method, url, headers=wire, data=body, timeout=30)
        except requests.RequestException as exc:
            self.failures.append(f"{label}: {method} {url[:120]}: {exc!r}")
            self.http = _session()
            return None
        self.check(label, method, response, allow_501=allow_501)
        return response

    def check(self, label: str, method: str, response: requests.Response, *, allow_501: bool = True) -> None:
        status = response.status_code
        if status >= 500 and not (status == 501 and allow_501):
            self.failures.append(f"{label}: {method} {response.url[:120]} -> {status} {response.text[:200]}")
        elif status >= 400 and method != "HEAD" and not _aws_error(response.content):
            self.failures.append(f"{label}: {method} {response.url[:120]} -> {status}, not an AWS error: "
                                 f"{response.content[:200]!r}")

    def assert_clean(self) -> None:
        failures, self.failures = self.failures, []
        assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:60])


def _session() -> requests.Session:
    session = requests.Session()
    # no proxy settings read from the environment for each of thousands of loopback requests (~0.2 ms each)
    session.trust_env = False
    return session


def _aws_error(body: bytes) -> bool:
    """S3's ``<Error>``, the Query protocol's ``<ErrorResponse>`` or JSON's ``{"__type": …}`` (CloudTrail)."""
    if body.startswith(b"{"):
        try:
            return "__type" in json.loads(body)
        except ValueError:
            return False
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    tag = root.tag.rpartition("}")[2]
    error = root if tag == "Error" else root.find("{*}Error") if tag == "ErrorResponse" else None
    return error is not None and bool(error.findtext("{*}Code") or error.findtext("Code"))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = StoreroomServer(tmp_path_factory.mktemp("hostile") / "data", workers=2)
    srv.start()
    try:
        yield Server(srv)
        _assert_log_clean(srv.log_path)
    finally:
        srv.stop()


def _assert_log_clean(log_path: Path) -> None:
    log = log_path.read_text(errors="replace")
    for marker in ("Traceback", "InternalError", "Exception in ASGI", "request failed"):
        assert marker not in log, log[log.find(marker) - 200: log.find(marker) + 3000]


def _url(server: Server, op: Operation, extra_query: str = "", bucket: str = BUCKET_NAME,
         key: str = OBJECT_KEY) -> str:
    path = "/" if op.level == SERVICE else f"/{bucket}" if op.level == BUCKET else f"/{bucket}/{quote(key)}"
    query = []
    if op.subresource:
        if op.subresource == "uploadId":
            query.append(f"uploadId={server.upload_id}")
        else:
            query.append(op.subresource + (f"={op.value}" if op.value else ""))
    if op.name in ("UploadPart", "UploadPartCopy"):
        query.append("partNumber=1")
    if extra_query:
        query.append(extra_query)
    return server.endpoint + path + ("?" + "&".join(query) if query else "")


def _op_headers(op: Operation) -> dict[str, str]:
    return {op.header: f"/{BUCKET_NAME}/{OBJECT_KEY}"} if op.header else {}


IMPLEMENTED = [op for op in OPERATIONS if op.handler is not None]
WITH_BODY = [op for op in OPERATIONS if op.method in ("PUT", "POST")]


# -- bodies -------------------------------------------------------------------------------------------------------

_ROOTS = {"DeleteObjects": "Delete", "CompleteMultipartUpload": "CompleteMultipartUpload",
          "CreateBucket": "CreateBucketConfiguration"}
_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                      for i in range(1, 10))
           + b"]>")


def _xml_bodies(root: str) -> list[tuple[str, bytes]]:
    r = root.encode()
    part = b"<Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>"
    obj = b"<Object><Key>k</Key></Object>"
    return [
        ("nested XML, 100k deep", b"<%s>" % r + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</%s>" % r),
        ("nested XML, 10k deep", b"<%s>" % r + b"<Object>" * 10_000 + b"</Object>" * 10_000 + b"</%s>" % r),
        ("unclosed nesting", b"<%s>" % r + b"<a>" * 20_000),
        ("billion laughs", _LAUGHS + b"<%s><Object><Key>&lol9;</Key></Object></%s>" % (r, r)),
        ("quadratic blowup", b'<!DOCTYPE r [<!ENTITY a "' + b"x" * 30_000 + b'">]><%s><Object><Key>' % r
         + b"&a;" * 2_000 + b"</Key></Object></%s>" % r),
        ("external entity", b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
         b"<%s><Object><Key>&e;</Key></Object><LocationConstraint>&e;</LocationConstraint></%s>" % (r, r)),
        ("external DTD", b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd"><%s/>' % r),
        ("parameter entity", b'<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><' + r + b"/>"),
        ("internal entity", b'<!DOCTYPE r [<!ENTITY k "k">]><%s><Object><Key>&k;</Key></Object></%s>' % (r, r)),
        ("undefined entity", b"<%s><Object><Key>&nope;</Key></Object></%s>" % (r, r)),
        ("invalid UTF-8", b"<%s><Object><Key>\xff\xfe\xc0\xaf</Key></Object></%s>" % (r, r)),
        ("UTF-16 declared", b'<?xml version="1.0" encoding="UTF-16"?><%s/>' % r),
        ("unknown encoding", b'<?xml version="1.0" encoding="x-bogus"?><%s/>' % r),
        ("NUL character reference", b"<%s><Object><Key>&#0;</Key></Object></%s>" % (r, r)),
        ("surrogate reference", b"<%s><Object><Key>&#xD800;</Key></Object></%s>" % (r, r)),
        ("oversized, 6 MiB", b"<%s>" % r + obj * 220_000 + b"</%s>" % r),
        ("many elements", b"<%s>" % r + obj * 1001 + part * 2 + b"</%s>" % r),
        ("huge part numbers", b"<%s><Part><PartNumber>%s</PartNumber></Part></%s>" % (r, b"9" * 5000, r)),
        ("odd part numbers", b"<%s><Part><PartNumber>1_0</PartNumber></Part><Part><PartNumber> -3 </PartNumber>"
         b"</Part></%s>" % (r, r)),
        ("huge text", b"<%s><Object><Key>%s</Key></Object><LocationConstraint>%s</LocationConstraint></%s>"
         % (r, b"k" * 100_000, b"x" * 100_000, r)),
        ("attributes", b"<%s " % r + b" ".join(b'a%d="x"' % i for i in range(20_000)) + b"/>"),
        ("namespaces", b"<%s " % r + b" ".join(b'xmlns:n%d="u%d"' % (i, i) for i in range(5_000)) + b"/>"),
        ("processing instructions", b"<?pi x?>" * 1000 + b"<%s/>" % r),
        ("comment bomb", b"<!--" + b"-" * 100_000 + b"-->"),
        ("CDATA", b"<%s><Object><Key><![CDATA[%s]]></Key></Object></%s>" % (r, b"]" * 10_000, r)),
    ]


_POLICY_STATEMENT = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                     "Resource": f"arn:aws:s3:::{BUCKET_NAME}/*", "Condition": "HOLE"}


def _policy_with(hole: str) -> bytes:
    text = json.dumps({"Version": "2012-10-17", "Statement": [_POLICY_STATEMENT]})
    return text.replace('"HOLE"', hole).encode()


JSON_BODIES: list[tuple[str, bytes]] = [
    ("nested arrays, 1k", b"[" * 1000 + b"]" * 1000),
    ("nested arrays, 100k", b"[" * 100_000 + b"]" * 100_000),
    ("nested objects, 1k", b'{"a":' * 1000 + b"1" + b"}" * 1000),
    ("nested Condition, 1k", _policy_with('{"a":' * 1000 + "1" + "}" * 1000)),
    ("nested Condition, 900", _policy_with('{"StringEquals":{"aws:username":' + "[" * 900 + '"x"' + "]" * 900
                                           + "}}")),
    ("nested Condition, 500", _policy_with('{"a":' * 500 + "1" + "}" * 500)),
    ("nested Principal", _policy_with("{}").replace(b'"Principal": "*"', b'"Principal": ' + b"[" * 990
                                                    + b"]" * 990)),
    ("lone surrogate", b'{"Id": "\\ud800", "Version": "2012-10-17", "Statement": []}'),
    ("lone surrogate in Resource", _policy_with("{}").replace(b"/*", b"/\\udfff")),
    ("NaN", _policy_with('{"NumericEquals": {"s3:max-keys": NaN}}')),
    ("huge number", _policy_with('{"NumericEquals": {"s3:max-keys": ' + "9" * 5000 + "}}")),
    ("huge float", _policy_with('{"NumericEquals": {"s3:max-keys": 1e999999}}')),
    ("invalid UTF-8", b'{"Version": "\xff\xfe"}'),
    ("UTF-8 BOM", b"\xef\xbb\xbf" + _policy_with("{}")),
    ("NUL", b'{"Version": "2012-10-17\x00"}'),
    ("not an object", b'"x"'),
    ("duplicate keys", b'{"Statement": [], "Statement": 5}'),
    ("many statements", json.dumps({"Version": "2012-10-17", "Statement": [
        {**_POLICY_STATEMENT, "Condition": {}} for _ in range(5000)]}).encode()),
    ("oversized, 300 KiB", b'{"Id": "' + b"x" * 300_000 + b'"}'),
]

OTHER_BODIES: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("whitespace", b" \r\n\t " * 100),
    ("binary", bytes(range(256)) * 400),
]


def test_hostile_bodies_at_every_operation(hostile: Server) -> None:
    for op in WITH_BODY:
        bodies = _xml_bodies(_ROOTS.get(op.name, op.name)) + JSON_BODIES + OTHER_BODIES
        for label, body in bodies:
            hostile.send(f"{op.name} / {label}", op.method, _url(hostile, op), _op_headers(op), body)
            if op.name == "PutBucketPolicy":  # whatever was accepted is then evaluated, for a stranger
                hostile.send(f"GetObject after {label}", "GET", f"{hostile.endpoint}/{BUCKET_NAME}/{OBJECT_KEY}",
                             sign=False)
        hostile.restore()
    hostile.assert_clean()


# -- headers ------------------------------------------------------------------------------------------------------

_DATES = ["Mon, 1 Jan 99999999999999999999 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 -2359",
          "Mon, 01 Jan 0001 00:00:00 +2359", "Sat, 01 Jan 0000 00:00:00 GMT", "garbage", "", "0",
          "Mon, 1 Jan 1970 99:99:99 GMT", "Tue, 31 Feb 2026 00:00:00 GMT", "2026-12-05T00:00:00Z",
          "9" * 5000, "Thu, 01 Jan 1970 00:00:00 +9999"]
_NUMBERS = ["-1", "9" * 5000, "99999999999999999999", "1_0", " 1", "+1", "1e3", "0x10", "١", "\u00b2", ""]

HOSTILE_HEADERS: list[tuple[str, str]] = [
    *(("x-amz-copy-source", v) for v in [
        "%", "%ZZ", "%FF%FE/%C0%AF", "/", "//", f"{BUCKET_NAME}/", "/obj", f"{BUCKET_NAME}/obj?versionId=",
        f"{BUCKET_NAME}/obj?versionId=abc", f"{BUCKET_NAME}/obj?versionId=" + "x" * 5000,
        f"{BUCKET_NAME}/obj?versionId=%FF", f"{BUCKET_NAME}/" + "k" * 5000, "x" * 6000 + "/k",
        f"{BUCKET_NAME}/obj?", "?versionId=null", f"{BUCKET_NAME}/%00", f"{BUCKET_NAME}/%E2%80", "nobucket/k",
        "arn:aws:s3:::b/k", f"{BUCKET_NAME}/obj?versionId=null&x=1"]),
    *(("x-amz-copy-source-range", v) for v in [
        "bytes=99999999999999999999999-1", "bytes=0-" + "9" * 5000, "bytes=1_0-20", "bytes=-5", "bytes=5-",
        "bytes=0-1,2-3", "bytes=", "bytes=a-b", "items=0-1"]),
    *(("range", v) for v in [
        "bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=" + "0-0," * 1000 + "0-0",
        "bytes=-" + "9" * 40, "bytes=--1", "bytes=1_0-20", "bytes=0-1-2", "items=0-1", "bytes=-0",
        "bytes= 1 - 2 ", "bytes=٣-٤", "bytes=99999999999999999999-", "bytes"]),
    *((name, d) for name in ("if-modified-since", "if-unmodified-since", "x-amz-copy-source-if-modified-since",
                             "x-amz-copy-source-if-unmodified-since") for d in _DATES),
    *(("date", d) for d in _DATES[:6]),
    *(("expires", d) for d in _DATES[:3]),
    *((name, v) for name in ("if-match", "if-none-match", "x-amz-copy-source-if-match") for v in [
        "," * 5000, "W/", '"' * 5000, "*, *"]),
    *(("content-md5", v) for v in ["!!!", "A" * 5000, "", "1B2M2Y8AsgTpgAmY7PhCfg", "=" * 24]),
    *((f"x-amz-checksum-{a}", v) for a in ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
      for v in ["!!!", "A" * 5000, "", "é"]),
    *(("x-amz-checksum-algorithm", v) for v in ["é", "crc32 ", "x" * 5000, ""]),
    *(("x-amz-sdk-checksum-algorithm", v) for v in ["é", "NONE"]),
    *(("x-amz-checksum-type", v) for v in ["é", "composite", "x" * 5000]),
    *(("x-amz-trailer", v) for v in ["x-amz-checksum-bogus", "é", "x-amz-checksum-crc32,x-amz-checksum-sha1"]),
    *(("x-amz-decoded-content-length", v) for v in _NUMBERS if v.strip() == v),
    ("content-encoding", "aws-chunked"), ("content-encoding", "aws-chunked, gzip, " * 100),
    ("x-amz-meta-x", "é" * 100), ("x-amz-meta-x", "x" * 3000),
    ("x-amz-meta-", "v"), ("x-amz-meta-x", "\u2603"),
    *(("x-amz-storage-class", v) for v in ["é", "", "x" * 5000]),
    *(("x-amz-metadata-directive", v) for v in ["é", "", "replace"]),
    ("x-amz-acl", "é"), ("x-amz-website-redirect-location", "x" * 5000),
    ("x-amz-server-side-encryption", "é"), ("x-amz-expected-bucket-owner", "x" * 5000),
    ("x-amz-checksum-mode", "é"), ("x-amz-request-payer", "é"), ("x-amz-bypass-governance-retention", "é"),
    ("content-type", "é" * 1000), ("content-disposition", "\u2603"), ("cache-control", "x" * 7000),
    ("x-amz-object-lock-retain-until-date", "garbage"), ("x-amz-object-lock-mode", "é"),
    ("x-amz-tagging", "a=%FF&b&&=c&" + "k=v&" * 500), ("x-amz-grant-read", "é"),
    ("x-amz-security-token", "é" * 100), ("x-amz-security-token", "x" * 7000),
    ("x-amz-date", "garbage"), ("x-amz-write-offset-bytes", "9" * 5000),
    ("x-amz-mp-object-size", "-1"), ("x-amz-checksum-crc32", "AAAAAA==" * 1000),
]


# The two largest tables run in parts (every operation in exactly one), so that parallel pytest workers share them
PARTS = 4


@pytest.mark.parametrize("part", range(PARTS))
def test_hostile_headers_at_every_operation(hostile: Server, part: int) -> None:
    for op in IMPLEMENTED[part::PARTS]:
        for name, value in HOSTILE_HEADERS:
            headers = _op_headers(op)
            headers[name] = value
            body = b"x" * 10 if op.method in ("PUT", "POST") else b""
            hostile.send(f"{op.name} / {name}: {value[:40]!r}", op.method, _url(hostile, op),
                         headers, body)
        hostile.restore()
    hostile.assert_clean()


def test_hostile_headers_at_unbuilt_operations(hostile: Server) -> None:
    """Rows without a handler answer 501 whatever they carry (a sample of the headers, for time)."""
    for op in OPERATIONS:
        if op.handler is not None:
            continue
        for name, value in HOSTILE_HEADERS[::29]:
            hostile.send(f"{op.name} / {name}: {value[:40]!r}", op.method, _url(hostile, op),
                         {name: value})
    hostile.assert_clean()


# -- streaming bodies ---------------------------------------------------------------------------------------------

CHUNKED_BODIES: list[tuple[str, bytes]] = [
    ("garbage", b"zz\r\n" * 100),
    ("huge chunk size", b"ffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
    ("size overflow", b"1" * 5000 + b"\r\n"),
    ("negative size", b"-1\r\n\r\n"),
    ("no CRLF", b"5\r\nabcdefghij"),
    ("bad trailer", b"0\r\nx-amz-checksum-crc32:" + b"A" * 20_000 + b"\r\n\r\n"),
    ("trailer without colon", b"0\r\n" + b"x" * 100 + b"\r\n\r\n"),
    ("many trailers", b"0\r\n" + b"a:b\r\n" * 5000 + b"\r\n"),
    ("non-ASCII extension", b"3;\xff\xfe=\xc0\r\nabc\r\n0\r\n\r\n"),
    ("long line", b"3;" + b"x" * 100_000 + b"\r\nabc\r\n0\r\n\r\n"),
    ("empty", b""),
]
STREAMING_MODES = ["STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                   "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
                   "STREAMING-BOGUS", "0" * 64]


def test_hostile_streaming_bodies(hostile: Server) -> None:
    for op in WITH_BODY:
        if op.handler is None:
            continue
        for mode in STREAMING_MODES:
            for label, body in CHUNKED_BODIES:
                headers = _op_headers(op) | {"content-encoding": "aws-chunked",
                                             "x-amz-decoded-content-length": "3",
                                             "x-amz-trailer": "x-amz-checksum-crc32"}
                hostile.send(f"{op.name} / {mode} / {label}", op.method, _url(hostile, op), headers, body,
                             payload_hash=mode)
        hostile.restore()
    hostile.assert_clean()


# -- query parameters ---------------------------------------------------------------------------------------------

HOSTILE_QUERIES = [
    *(f"max-keys={quote(n)}" for n in _NUMBERS),
    *(f"max-parts={quote(n)}" for n in _NUMBERS[:4]),
    *(f"max-uploads={quote(n)}" for n in _NUMBERS[:4]),
    *(f"part-number-marker={quote(n)}" for n in _NUMBERS),
    *(f"partNumber={quote(n)}" for n in _NUMBERS),
    "continuation-token=%FF%FE", "continuation-token=====", "continuation-token=" + "A" * 5000,
    "continuation-token=7_-_", "continuation-token=%00", "continuation-token=gICA",
    "continuation-token=Ye2ggA%3D%3D", "continuation-token=7b-_",
    "versionId=%FF", "versionId=" + "x" * 5000, "versionId=",
    "encoding-type=%FF", "encoding-type=URL",
    "prefix=%FF%FE", "prefix=" + "p" * 5000, "delimiter=%FF", "delimiter=" + "d" * 5000, "delimiter=",
    "start-after=%00", "start-after=%F4%8F%BF%BF", "marker=%ED%A0%80", "key-marker=%F4%8F%BF%BF",
    "upload-id-marker=%FF", "fetch-owner=%FF", "list-type=%FF", "list-type=3",
    "response-content-type=a%0D%0AX-Injected%3A%20yes", "response-content-disposition=%E2%98%83",
    "response-expires=%00%01", "response-cache-control=" + "x" * 7000,
    "x-id=%FF", "uploadId=%FF", "uploadId=" + "u" * 5000,
    "x-amz-checksum-mode=ENABLED&partNumber=1",
    "&".join(f"p{i}=v" for i in range(3000)),
    "a=1&a=2&" * 100,
    "%FF=1", "=", "&&&&", "%", "%%%", "+++",
]


@pytest.mark.parametrize("part", range(PARTS))
def test_hostile_query_parameters_at_every_operation(hostile: Server, part: int) -> None:
    for op in IMPLEMENTED[part::PARTS]:
        for query in HOSTILE_QUERIES:
            body = b"x" * 10 if op.method in ("PUT", "POST") else b""
            hostile.send(f"{op.name} / ?{query[:60]}", op.method, _url(hostile, op, query), _op_headers(op), body)
        hostile.restore()
    hostile.assert_clean()


# -- authentication -----------------------------------------------------------------------------------------------

_AMZ_DATE = "20260101T000000Z"
AUTHORIZATIONS = [
    "AWS4-HMAC-SHA256 Credential=" + "/" * 10_000,
    "AWS4-HMAC-SHA256 Credential=AKIA/20260101/\u00e9/s3/aws4_request, SignedHeaders=host, Signature=x",
    f"AWS4-HMAC-SHA256 Credential={ROOT_ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, SignedHeaders="
    + ";" * 5000 + ", Signature=" + "0" * 64,
    f"AWS4-HMAC-SHA256 Credential={ROOT_ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=\u00e9\u00e9",
    f"AWS4-HMAC-SHA256 Credential={ROOT_ACCESS_KEY_ID}/20260101/us-east-1/iam/aws4_request, "
    "SignedHeaders=host, Signature=\u00e9\u00e9",
    f"AWS4-HMAC-SHA256 Credential={ROOT_ACCESS_KEY_ID}/20260101//s3/aws4_request, SignedHeaders=host, "
    "Signature=" + "0" * 64,
    f"AWS4-HMAC-SHA256 Credential={ROOT_ACCESS_KEY_ID}/20260101/us-east-1/\u00e9/aws4_request, "
    "SignedHeaders=host, Signature=" + "0" * 64,
    f"AWS4-HMAC-SHA256 Credential={ROOT_ACCESS_KEY_ID}/20260101/us-east-1/cloudtrail/aws4_request, "
    "SignedHeaders=host, Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 " + ", " * 5000,
    "AWS4-HMAC-SHA256 Credential=a=b=c, SignedHeaders==, Signature==",
    "AWS4-HMAC-SHA256",
    "AWS " + "x" * 5000,
    "AWS :",
    "AWS a:b:c",
    f"AWS {ROOT_ACCESS_KEY_ID}:\u00e9\u00e9",
    f"AWS {ROOT_ACCESS_KEY_ID}:" + "A" * 5000,
    "Bearer x",
    "",
]
PRESIGN_QUERIES = [
    f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={cred}&X-Amz-Date={date}&X-Amz-Expires={exp}"
    f"&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}"
    for cred, date, exp, sig in [
        (quote(f"{ROOT_ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request", safe=""), _AMZ_DATE, "9" * 5000, "0"),
        (quote(f"{ROOT_ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request", safe=""), "garbage", "60", "0"),
        (quote(f"{ROOT_ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request", safe=""), _AMZ_DATE, "-5", "0"),
        (quote(f"{ROOT_ACCESS_KEY_ID}/20260101/us-east-1/s3/aws4_request", safe=""), _AMZ_DATE, "1_0", "%FF"),
        (quote(f"{ROOT_ACCESS_KEY_ID}/20260101//s3/aws4_request", safe=""), _AMZ_DATE, "60", "%C3%A9"),
        ("%FF%FE/20260101/us-east-1/s3/aws4_request", _AMZ_DATE, "60", "0"),
        ("x" * 5000, _AMZ_DATE, "60", "0"),
        (quote(f"{ROOT_ACCESS_KEY_ID}/99999999/us-east-1/s3/aws4_request", safe=""), "99999999T999999Z", "60",
         "0"),
        (quote(f"{ROOT_ACCESS_KEY_ID}/00000101/us-east-1/s3/aws4_request", safe=""), "00000101T000000Z", "60",
         "0"),
    ]
] + [
    "X-Amz-Algorithm=%FF", "X-Amz-Credential=", "X-Amz-Signature=",
    f"AWSAccessKeyId={ROOT_ACCESS_KEY_ID}&Signature=x&Expires=" + "9" * 5000,
    f"AWSAccessKeyId={ROOT_ACCESS_KEY_ID}&Signature=x&Expires=-99999999999999999",
    f"AWSAccessKeyId={ROOT_ACCESS_KEY_ID}&Signature=%C3%A9&Expires=99999999999",
    f"AWSAccessKeyId={ROOT_ACCESS_KEY_ID}&Signature=x&Expires=99999999999999999999",
    f"AWSAccessKeyId={ROOT_ACCESS_KEY_ID}&Signature=x&Expires=1_0",
    "AWSAccessKeyId=%FF&Signature=x&Expires=1",
]


def test_hostile_authentication(hostile: Server) -> None:
    """Malformed Authorization headers and presigned parameters are refused with a 4xx, never a 500."""
    url = f"{hostile.endpoint}/{BUCKET_NAME}/{OBJECT_KEY}"
    for authorization in AUTHORIZATIONS:
        for date in ({"x-amz-date": _AMZ_DATE}, {"date": _DATES[0]}, {"x-amz-date": "garbage"},
                     {"date": _DATES[1]}):
            headers = {"authorization": authorization, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", **date}
            hostile.send(f"authorization {authorization[:50]!r} {date}", "GET", url, headers, sign=False,
                         allow_501=False)
            hostile.send(f"IAM authorization {authorization[:50]!r} {date}", "POST", f"{hostile.endpoint}/",
                         headers | {"content-type": "application/x-www-form-urlencoded"},
                         b"Action=ListUsers&Version=2010-05-08", sign=False, allow_501=False)
    for query in PRESIGN_QUERIES:
        hostile.send(f"presigned {query[:80]!r}", "GET", f"{url}?{query}", sign=False, allow_501=False)
        hostile.send(f"presigned STS {query[:80]!r}", "GET",
                     f"{hostile.endpoint}/?Action=GetCallerIdentity&Version=2011-06-15&{query}", sign=False,
                     allow_501=False)
    hostile.assert_clean()


# -- bytes that are not UTF-8, sent as they are -----------------------------------------------------------------


def _raw(server: Server, request: bytes) -> bytes:
    host, port = server.endpoint.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


# Only bytes the HTTP parser hands on: raw non-ASCII bytes in the request target or in a header name are refused
# by it (uvicorn/httptools, "Invalid HTTP request received.") before Storeroom sees the request.
RAW_TARGETS = [
    b"/hostile/%FF%FE", b"/hostile/obj%ED%A0%80", b"/hostile/%C3%A9%E2%98", b"/hostile/%C0%AF",
    b"/hostile?prefix=%FF", b"/hostile?list-type=2&start-after=%C0%AF", b"/hostile/obj?uploadId=%FF",
    b"/hostile%FF", b"/%FF%FE/obj", b"/hostile/obj?response-content-type=%FF%FE", b"/hostile/%00",
]
RAW_HEADERS = [
    b"x-amz-meta-x: \xff\xfe\xc0", b"x-amz-copy-source: /hostile/\xff\xfe", b"range: bytes=\xff-",
    b"if-modified-since: \xff\xfe", b"content-md5: \xff", b"x-amz-checksum-crc32: \xff",
    b"x-amz-copy-source: /hostile/obj?versionId=\xff", b"content-type: \xff\xfe", b"x-amz-tagging: \xff=\xfe",
    b"authorization: AWS4-HMAC-SHA256 Credential=\xff/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, "
    b"Signature=\xff",
    b"authorization: AWS \xff:\xfe", b"x-amz-content-sha256: \xff",
]


def _send_raw(server: Server, label: str, method: bytes, request: bytes) -> None:
    response = _raw(server, request)
    parts = response.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[1].isdigit():
        server.failures.append(f"{label}: no HTTP answer: {response[:200]!r}")
        return
    status = int(parts[1])
    body = response.partition(b"\r\n\r\n")[2]
    if status >= 500 and status != 501:
        server.failures.append(f"{label}: {status} {body[:200]!r}")
    elif status >= 400 and method != b"HEAD" and not _aws_error(body):
        server.failures.append(f"{label}: {status}, not an AWS error: {body[:200]!r}")


def test_bytes_that_are_not_utf8(hostile: Server) -> None:
    """Unsigned requests on a public bucket reach the handlers with whatever bytes they carry."""
    for method in (b"GET", b"PUT", b"HEAD", b"DELETE", b"POST"):
        for target in RAW_TARGETS:
            for header in [b"x-amz-meta-y: z", *RAW_HEADERS]:
                request = (method + b" " + target + b" HTTP/1.1\r\nHost: localhost\r\n" + header
                           + b"\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
                _send_raw(hostile, f"raw {method!r} {target!r} {header!r}", method, request)
        hostile.restore()
    hostile.assert_clean()


HOSTS = [b"", b"[", b"[::1", b"]", b".localhost", b"..localhost", b"\xff\xfe.localhost", b"hostile.localhost",
         b"HOSTILE.localhost", b"hostile.localhost:99999999999999999999", b"a" * 5000 + b".localhost",
         b"hostile.localhost.", b"%2F.localhost", b"localhost:-1", b"hostile..localhost"]
METHODS = [b"GET", b"PUT", b"POST", b"DELETE", b"HEAD", b"PATCH", b"OPTIONS", b"PROPFIND", b"TRACE"]


def test_odd_hosts_and_methods(hostile: Server) -> None:
    """Virtual-hosted-style addressing reads the bucket from Host, whatever it holds; any method gets an answer."""
    for method in METHODS:
        for host in HOSTS:
            for target in (b"/", b"/obj", b"/hostile/obj?uploads"):
                request = (method + b" " + target + b" HTTP/1.1\r\nHost: " + host
                           + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                _send_raw(hostile, f"raw {method!r} {target!r} Host: {host[:40]!r}", method, request)
    hostile.restore()
    hostile.assert_clean()


# -- IAM and STS --------------------------------------------------------------------------------------------------

_NESTED_POLICIES = [
    "[" * 1000 + "]" * 1000,
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 1000 + "1" + "}" * 1000,
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                                         "Condition": "HOLE"}]}).replace(
        '"HOLE"', '{"StringEquals":{"aws:username":' + "[" * 990 + '"x"' + "]" * 990 + "}}"),
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "\\ud800"}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:\\udfff", "Resource": "*"}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", '
    '"Condition": {"NumericEquals": {"s3:max-keys": 1e999999}}}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", '
    '"Condition": {"DateGreaterThan": {"aws:CurrentTime": "99999-99-99T99:99:99Z"}}}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", '
    '"Condition": {"DateGreaterThan": {"aws:CurrentTime": "' + "9" * 5000 + '"}}}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", '
    '"Condition": {"IpAddress": {"aws:SourceIp": "999.1.1.1/99"}}}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", '
    '"Condition": {"IpAddress": {"aws:SourceIp": "::ffff:1.2.3.4/200"}}}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", '
    '"Condition": {"NumericLessThan": {"s3:max-keys": "' + "9" * 5000 + '"}}}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", '
    '"Condition": {"BinaryEquals": {"s3:x": "!!!"}}}]}',
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": '
    '"arn:aws:s3:::${' + "{" * 5000 + '}"}]}',
]
_POLICY_ACTIONS = [
    ("iam", "CreatePolicy", "PolicyName=hp&PolicyDocument={}"),
    ("iam", "PutUserPolicy", "UserName=hostile-u&PolicyName=p&PolicyDocument={}"),
    ("iam", "SimulateCustomPolicy", "ActionNames.member.1=s3:GetObject&PolicyInputList.member.1={}"),
    ("iam", "SimulateCustomPolicy", "ActionNames.member.1=s3:GetObject&PolicyInputList.member.1=%7B%7D"
     "&ResourcePolicy={}&CallerArn=arn:aws:iam::123456789012:user/x"),
    ("iam", "SimulatePrincipalPolicy", "PolicySourceArn=arn:aws:iam::123456789012:user/hostile-u"
     "&ActionNames.member.1=s3:GetObject&PolicyInputList.member.1={}"),
]
_FORMS = [
    ("iam", "Action=ListUsers&Version=2010-05-08&" + "a." * 100_000 + "b=1"),
    ("iam", "Action=ListUsers&Version=2010-05-08&" + "&".join(f"p{i}=v" for i in range(50_000))),
    ("iam", "Action=ListUsers&Version=2010-05-08&Marker=%FF%FE&MaxItems=" + "9" * 5000),
    ("iam", "Action=ListUsers&Version=2010-05-08&PathPrefix=" + "/" * 100_000),
    ("iam", "Action=%FF&Version=%FE"),
    ("iam", "Action=TagUser&Version=2010-05-08&UserName=hostile-u&Tags.member.1.Key=%FF&Tags.member.1.Value="
     + "v" * 100_000),
    ("iam", "Action=CreateUser&Version=2010-05-08&UserName=%ED%A0%80"),
    ("iam", "Action=GetUser&Version=2010-05-08&UserName=" + "%00" * 64),
    ("iam", "Action=ListUsers&Version=2010-05-08&Action=DeleteUser"),
    ("iam", "Action=CreateAccessKey&Version=2010-05-08&UserName=" + "u" * 5000),
    ("iam", "Action=ListUsers&Version=2010-05-08&MaxItems=1_0"),
    ("iam", "Action=ListUsers&Version=2010-05-08&Marker=" + "A" * 5000),
    ("iam", "Action=ListUsers&Version=2010-05-08&Marker=%C0%AF"),
    ("iam", "Action=ListPolicies&Version=2010-05-08&Marker=%C2%B2.abc"),
    ("iam", "Action=ListAccessKeys&Version=2010-05-08&Marker=" + "9" * 300 + ".x"),
    ("sts", "Action=GetCallerIdentity&Version=2011-06-15&" + "a." * 100_000 + "b=1"),
    ("sts", "Action=AssumeRole&Version=2011-06-15&RoleArn=%FF&RoleSessionName=x&DurationSeconds=" + "9" * 5000),
    ("sts", "Action=GetCallerIdentity&Version=%FF"),
    ("sts", "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=1_0"),
]


def test_hostile_iam_and_sts_requests(hostile: Server) -> None:
    iam = make_client(hostile.endpoint, service="iam")
    iam.create_user(UserName="hostile-u")
    form = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    for service, action, params in _POLICY_ACTIONS:
        version = "2010-05-08"
        for document in _NESTED_POLICIES:
            body = f"Action={action}&Version={version}&" + params.replace("{}", quote(document, safe=""))
            hostile.send(f"{action} / {document[:60]!r}", "POST", f"{hostile.endpoint}/", form, body.encode(),
                         service=service)
    for service, body in _FORMS:
        hostile.send(f"{service} form {body[:80]!r}", "POST", f"{hostile.endpoint}/", form, body.encode(),
                     service=service)
    for service, body in [("iam", b"Action=ListUsers&Version=2010-05-08&x=\xff\xfe"),
                          ("sts", b"Action=GetCallerIdentity&Version=2011-06-15&\xc0\xaf=1"),
                          ("iam", b"\xff" * 1000), ("iam", b"x" * (1 << 20) + b"x"),
                          ("cloudtrail", b"[" * 100_000 + b"]" * 100_000),
                          ("cloudtrail", b'{"a":' * 1000 + b"1" + b"}" * 1000)]:
        hostile.send(f"{service} body {body[:40]!r}", "POST", f"{hostile.endpoint}/", form, body, service=service)
    for policy in iam.list_policies(Scope="Local")["Policies"]:
        iam.delete_policy(PolicyArn=policy["Arn"])
    for name in iam.list_user_policies(UserName="hostile-u")["PolicyNames"]:
        iam.delete_user_policy(UserName="hostile-u", PolicyName=name)
    iam.delete_user(UserName="hostile-u")
    hostile.assert_clean()


# -- afterwards -----------------------------------------------------------------------------------------------------


def test_the_server_still_serves_a_normal_client(hostile: Server) -> None:
    """Last in this module: a normal client is served (the module fixture then checks the log)."""
    s3 = make_client(hostile.endpoint)
    s3.put_object(Bucket=BUCKET_NAME, Key="after", Body=b"still here")
    assert s3.get_object(Bucket=BUCKET_NAME, Key="after")["Body"].read() == b"still here"
    assert any(o["Key"] == "after" for o in s3.list_objects_v2(Bucket=BUCKET_NAME)["Contents"])
    s3.delete_object(Bucket=BUCKET_NAME, Key="after")
    sts = make_client(hostile.endpoint, service="sts")
    assert sts.get_caller_identity()["Arn"].endswith(":root")
    make_client(hostile.endpoint, service="iam").list_users()
    _assert_log_clean(hostile.srv.log_path)
