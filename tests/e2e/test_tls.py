"""HTTPS end to end: ``storeroom serve --tls-self-signed`` (two workers and the console), used the way clients do
once they trust its CA: boto3 with ``verify=`` (the SDK's HTTPS defaults: aws-chunked uploads with a trailing
checksum, ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``, single PUT and multipart), the AWS CLI with ``--ca-bundle``,
presigned URLs with requests, the virtual-hosted-style wildcard name, the console's Secure cookies, and the
edge's header limits on decrypted bytes.  ``aws:SecureTransport`` is checked on one data dir served in both
modes; certificate reloads are in test_tls_reload.py, start-up errors in test_tls_start.py."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, SSLError

from tests.conftest import REGION, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, StoreroomServer
from tests.e2e.cli import cli_env
from tests.e2e.helpers import parse_error

# SQLite only: TLS sits at the edge.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")

MiB = 1024 * 1024
ROOT_PASSWORD = "Tls-Console-Pa55!"
DOMAIN = "s3.storeroom.test"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreroomServer]:
    data = tmp_path_factory.mktemp("tls") / "data"
    server = StoreroomServer(data, workers=2, console=True, tls_ca=data / "tls" / "ca.pem",
                             extra_args=["--tls-self-signed", "--domain", DOMAIN],
                             env={"STOREROOM_ROOT_PASSWORD": ROOT_PASSWORD, "STOREROOM_HEADER_TIMEOUT": "1"})
    server.start()
    yield server
    server.stop()
    log = server.log_path.read_text()
    assert "Traceback" not in log and "Exception in ASGI" not in log, log


def client(srv: StoreroomServer, service: str = "s3", verify: Any = None, **config: Any) -> Any:
    return boto3.client(service, endpoint_url=srv.endpoint, region_name=REGION,
                        aws_access_key_id=ROOT_ACCESS_KEY_ID, aws_secret_access_key=ROOT_SECRET_ACCESS_KEY,
                        verify=str(srv.tls_ca) if verify is None else verify,
                        config=Config(retries={"max_attempts": 1}, **config))


@pytest.fixture
def bucket(srv: StoreroomServer) -> Iterator[str]:
    s3 = client(srv)
    name = f"tls-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def test_the_start_message_says_how_to_trust_the_local_ca(srv: StoreroomServer) -> None:
    log = srv.log_path.read_text()
    ca = srv.data_dir / "tls" / "ca.pem"
    assert f"endpoint https://127.0.0.1:{srv.port} (2 worker(s)), console https://127.0.0.1:{srv.console_port}" in log
    for hint in (f"export AWS_CA_BUNDLE={ca}", f"aws --ca-bundle {ca}", f"export REQUESTS_CA_BUNDLE={ca}"):
        assert hint in log
    assert f"*.{DOMAIN}" in log  # the certificate's names, virtual-hosted style included
    assert (srv.data_dir / "tls" / "key.pem").stat().st_mode & 0o777 == 0o600
    assert (srv.data_dir / "tls" / "ca.key").stat().st_mode & 0o777 == 0o600


def test_boto3_uploads_with_trailing_checksums_over_https(srv: StoreroomServer, bucket: str) -> None:
    """botocore's HTTPS defaults, unpatched: PutObject and UploadPart bodies are aws-chunked, unsigned, with the
    CRC32 in a trailer; the server verifies and stores it."""
    s3 = client(srv)
    sent: list[tuple[str, dict[str, str]]] = []
    s3.meta.events.register("before-send.s3", lambda request, **_: sent.append(
        (request.url, {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()})))
    small = b"over https " * 100
    s3.put_object(Bucket=bucket, Key="small", Body=small)
    big = hashlib.sha256(b"seed").digest() * (11 * MiB // 32)
    transfer = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=2)
    s3.upload_fileobj(io.BytesIO(big), bucket, "big", Config=transfer)

    uploads = [h for url, h in sent if url.endswith("/small") or "partNumber=" in url]
    assert len(uploads) == 4  # the PutObject and three parts
    for headers in uploads:
        assert headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        assert "aws-chunked" in headers["content-encoding"] and headers["x-amz-trailer"] == "x-amz-checksum-crc32"
    got = s3.get_object(Bucket=bucket, Key="small", ChecksumMode="ENABLED")
    assert got["Body"].read() == small and got["ChecksumCRC32"]
    head = s3.head_object(Bucket=bucket, Key="big")
    assert head["ContentLength"] == len(big) and head["ETag"].strip('"').endswith("-3")
    out = io.BytesIO()
    s3.download_fileobj(bucket, "big", out, Config=transfer)
    assert out.getvalue() == big


def test_a_client_that_does_not_trust_the_ca_is_refused(srv: StoreroomServer) -> None:
    with pytest.raises(SSLError):
        client(srv, verify=True).list_buckets()
    old = ssl.create_default_context(cafile=str(srv.tls_ca))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: that is the point
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1  # below AWS's minimum, TLS 1.2
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw, pytest.raises(ssl.SSLError):
        old.wrap_socket(raw, server_hostname="127.0.0.1")


def test_the_aws_cli_with_ca_bundle(srv: StoreroomServer, bucket: str, tmp_path: Path) -> None:
    local = tmp_path / "file.txt"
    local.write_bytes(b"aws cli over https\n" * 1000)
    env = cli_env(srv.endpoint)

    def aws(*args: str) -> str:
        run = subprocess.run([sys.executable, "-m", "awscli", "--ca-bundle", str(srv.tls_ca), *args], env=env,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        return run.stdout

    aws("s3", "cp", str(local), f"s3://{bucket}/cli.txt")
    assert json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "cli.txt"))["ContentLength"] == 19000
    aws("s3", "cp", f"s3://{bucket}/cli.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_bytes() == local.read_bytes()
    refused = subprocess.run([sys.executable, "-m", "awscli", "s3", "ls"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr


def test_presigned_urls_over_https(srv: StoreroomServer, bucket: str) -> None:
    s3 = client(srv)
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=300)
    get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=300)
    assert put.startswith("https://") and get.startswith("https://")
    assert requests.put(put, data=b"presigned body", verify=srv.tls_ca, timeout=30).status_code == 200
    answer = requests.get(get, verify=srv.tls_ca, timeout=30)
    assert answer.status_code == 200 and answer.content == b"presigned body"
    # the URL signs the host and the query, not the scheme: tampering with the query still fails
    assert requests.get(get.replace("presigned", "presigneD"), verify=srv.tls_ca, timeout=30).status_code == 403


def test_the_wildcard_name_serves_virtual_hosted_style(srv: StoreroomServer, bucket: str) -> None:
    """``bucket.DOMAIN`` verifies against the certificate's ``*.DOMAIN`` (hostname checking on) and is routed to
    the bucket (no DNS for the name here: the connection goes to 127.0.0.1 with that name in SNI and Host)."""
    client(srv).put_object(Bucket=bucket, Key="vhost", Body=b"virtual host")
    ctx = ssl.create_default_context(cafile=str(srv.tls_ca))
    host = f"{bucket}.{DOMAIN}"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(f"GET /vhost HTTP/1.1\r\nHost: {host}:{srv.port}\r\nConnection: close\r\n\r\n".encode())
        answer = read_all(tls)
    assert answer.startswith(b"HTTP/1.1 403 ")  # unsigned: anonymous, refused -- by the bucket's own rules
    assert parse_error(answer.split(b"\r\n\r\n", 1)[1])["Code"] == "AccessDenied"


def read_all(sock: ssl.SSLSocket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    return data


def tls_connect(srv: StoreroomServer) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(srv.tls_ca))
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=10), server_hostname="localhost")


def test_header_section_limit_holds_over_tls(srv: StoreroomServer) -> None:
    """The edge counts the decrypted bytes: 9 KiB of headers are refused with S3's error, before the end of the
    header section (the client is still sending)."""
    with tls_connect(srv) as tls:
        tls.sendall(b"GET /_storeroom/health HTTP/1.1\r\nHost: localhost\r\n" + b"X-Pad: " + b"a" * 9000 + b"\r\n")
        answer = read_all(tls)
    assert answer.startswith(b"HTTP/1.1 400 ")
    error = parse_error(answer.split(b"\r\n\r\n", 1)[1])
    assert error["Code"] == "RequestHeaderSectionTooLarge" and error["MaxSizeAllowed"] == "8192"


def test_slowloris_deadline_holds_over_tls(srv: StoreroomServer) -> None:
    """STOREROOM_HEADER_TIMEOUT=1: a header section sent a byte every 0.2 s is cut with 400 RequestTimeout."""
    with tls_connect(srv) as tls:
        tls.sendall(b"GET /_storeroom/health HTTP/1.1\r\n")
        started = time.monotonic()
        tls.settimeout(0.2)
        answer = b""
        while time.monotonic() - started < 8:
            try:
                tls.sendall(b"X")
                answer += tls.recv(65536)
                if answer.endswith(b"</Error>"):
                    break
            except TimeoutError:
                continue
            except (ssl.SSLError, OSError):
                break
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert parse_error(answer.split(b"\r\n\r\n", 1)[1])["Code"] == "RequestTimeout"
    assert time.monotonic() - started < 4


def test_the_console_over_https_sets_secure_cookies(srv: StoreroomServer) -> None:
    session = requests.Session()
    ca = str(srv.tls_ca)  # per request: REQUESTS_CA_BUNDLE in the environment would win over session.verify
    form = session.get(f"{srv.console_url}/signin", verify=ca, timeout=30)
    assert form.status_code == 200 and form.headers["strict-transport-security"] == "max-age=31536000"
    assert all("; secure" in c.lower() for c in raw_cookies(form)), raw_cookies(form)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text)
    assert token is not None
    signed = session.post(f"{srv.console_url}/signin", allow_redirects=False, verify=ca, timeout=30, data={
        "csrf_token": token.group(1), "next": "/", "kind": "root", "email": "root@localhost",
        "password": ROOT_PASSWORD})
    assert signed.status_code == 303, signed.text
    cookies = raw_cookies(signed)
    assert any(c.startswith("storeroom-session=") for c in cookies)
    assert all("; secure" in c.lower() and "; httponly" in c.lower() for c in cookies), cookies
    home = session.get(f"{srv.console_url}/", verify=ca, timeout=30)
    assert home.status_code == 200 and "Sign out" in home.text


def test_the_console_shares_https_links_under_tls(srv: StoreroomServer, bucket: str) -> None:
    """A share link names the API's scheme: https when the API listens with TLS (it named http:// before)."""
    client(srv).put_object(Bucket=bucket, Key="shared.txt", Body=b"over tls")
    session = requests.Session()
    ca = str(srv.tls_ca)
    form = session.get(f"{srv.console_url}/signin", verify=ca, timeout=30)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text)
    assert token is not None
    session.post(f"{srv.console_url}/signin", verify=ca, timeout=30, data={
        "csrf_token": token.group(1), "next": "/", "kind": "root", "email": "root@localhost",
        "password": ROOT_PASSWORD})
    page = session.get(f"{srv.console_url}/s3/buckets/{bucket}/object?key=shared.txt", verify=ca, timeout=30)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token is not None
    shared = session.post(f"{srv.console_url}/s3/buckets/{bucket}/share", verify=ca, timeout=30, data={
        "csrf_token": token.group(1), "key": "shared.txt", "amount": "5", "unit": "minutes"})
    assert shared.status_code == 200, shared.text
    found = re.search(r'value="(https?://[^"]+)"', shared.text)
    assert found is not None, shared.text
    url = found.group(1).replace("&amp;", "&")
    assert url.startswith(f"https://127.0.0.1:{srv.port}/{bucket}/shared.txt?")
    assert requests.get(url, verify=ca, timeout=30).content == b"over tls"


def raw_cookies(response: requests.Response) -> list[str]:
    return [v for k, v in response.raw.headers.items() if k.lower() == "set-cookie"]


# -- aws:SecureTransport: one data dir, served over https, then over http ---------------------------------------

def test_secure_transport_policy_refuses_http_and_allows_https(tmp_path: Path) -> None:
    """AWS's example policy, "Deny s3:* when aws:SecureTransport is false", on an IAM user's requests
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html): the same bucket, user and
    key work over https and are refused over http after the server is restarted without TLS."""
    data = tmp_path / "data"
    srv = StoreroomServer(data, workers=1, tls_ca=data / "tls" / "ca.pem", extra_args=["--tls-self-signed"])
    srv.start()
    try:
        iam = client(srv, "iam")
        iam.create_user(UserName="tls-user")
        iam.attach_user_policy(UserName="tls-user", PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
        key = iam.create_access_key(UserName="tls-user")["AccessKey"]
        name = "secure-only"
        client(srv).create_bucket(Bucket=name)
        client(srv).put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "DenyInsecure", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))

        def user(server: StoreroomServer) -> Any:
            return boto3.client("s3", endpoint_url=server.endpoint, region_name=REGION,
                                aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                                verify=str(server.tls_ca) if server.tls_ca else None,
                                config=Config(retries={"max_attempts": 1}))

        user(srv).put_object(Bucket=name, Key="k", Body=b"secret")
        assert user(srv).get_object(Bucket=name, Key="k")["Body"].read() == b"secret"

        srv.stop()
        srv.tls_ca, srv.extra_args = None, []
        srv.start()
        assert srv.endpoint.startswith("http://")
        for call in (lambda s3: s3.get_object(Bucket=name, Key="k"),
                     lambda s3: s3.put_object(Bucket=name, Key="k2", Body=b"x")):
            with pytest.raises(ClientError) as err:
                call(user(srv))
            assert err.value.response["Error"]["Code"] == "AccessDenied"
            assert "explicit deny in a resource-based policy" in err.value.response["Error"]["Message"]
    finally:
        srv.stop()


def test_tls_version_is_a_condition_key(srv: StoreroomServer, bucket: str) -> None:
    """s3:TlsVersion, the S3 guide's "enforce a minimum TLS version" policy: set from the connection (it was
    never set, so an Allow on it never applied and a Deny on a higher minimum never did either)."""
    s3 = client(srv)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"NumericGreaterThanEquals": {"s3:TlsVersion": "1.2"}}}]}))
    try:
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
        with pytest.raises(ClientError) as err:
            s3.put_object(Bucket=bucket, Key="k", Body=b"y")
        assert err.value.response["Error"]["Code"] == "AccessDenied"
    finally:
        s3.delete_bucket_policy(Bucket=bucket)


def test_complete_multipart_upload_names_an_https_location(srv: StoreroomServer, bucket: str) -> None:
    s3 = client(srv)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="one part")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="one part", UploadId=upload, PartNumber=1, Body=b"only part")["ETag"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="one part", UploadId=upload,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert done["Location"].startswith(f"https://127.0.0.1:{srv.port}/{bucket}/"), done["Location"]


def _idle_tls_connection(server: StoreroomServer) -> ssl.SSLSocket:
    """A TLS connection that has been answered once and is kept open, unread, as an HTTP client keeps one."""
    assert server.tls_ca is not None
    context = ssl.create_default_context(cafile=str(server.tls_ca))
    conn = context.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10),
                               server_hostname="127.0.0.1")
    conn.sendall(b"GET /_storeroom/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = b""
    while not answer.endswith(b'{"status":"ok"}'):
        chunk = conn.recv(4096)
        assert chunk, answer
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    return conn


def test_sigterm_stops_a_server_holding_an_idle_tls_connection_at_once(tmp_path: Path) -> None:
    """A graceful shutdown closes idle connections.  Closing TLS waits for the client's close_notify, which an idle
    HTTP client never sends: the worker waited for it (uvloop: 30 s) before it could exit."""
    data = tmp_path / "data"
    server = StoreroomServer(data, workers=1, tls_ca=data / "tls" / "ca.pem", extra_args=["--tls-self-signed"])
    server.start()
    conn = _idle_tls_connection(server)
    try:
        assert server.proc is not None
        started = time.monotonic()
        os.killpg(server.proc.pid, signal.SIGTERM)
        server.proc.wait(timeout=30)
        assert time.monotonic() - started < 5
    finally:
        conn.close()
        server.stop()


def test_an_idle_tls_connection_is_dropped_soon_after_its_keep_alive_timeout(tmp_path: Path) -> None:
    """The keep-alive timeout closes the connection: close_notify, then the TCP connection itself within
    TLS_CLOSE_GRACE (it stayed open 30 s, counted against the worker's connection cap)."""
    data = tmp_path / "data"
    server = StoreroomServer(data, workers=1, tls_ca=data / "tls" / "ca.pem", extra_args=["--tls-self-signed"],
                             env={"STOREROOM_KEEPALIVE_TIMEOUT": "1"})
    server.start()
    conn = _idle_tls_connection(server)
    try:
        assert conn.recv(4096) == b""  # the server's close_notify, after the keep-alive timeout
        raw = socket.socket(fileno=os.dup(conn.fileno()))  # beneath TLS: the TCP connection
        raw.settimeout(5)
        try:
            assert raw.recv(4096) == b""  # the server's FIN
        except ConnectionResetError:
            pass  # or its RST: dropped either way
        finally:
            raw.close()
    finally:
        conn.close()
        server.stop()
