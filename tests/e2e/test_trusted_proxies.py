"""Behind a load balancer: the client address (aws:SourceIp, the audit trail) and aws:SecureTransport come from
X-Forwarded-For / X-Forwarded-Proto or the PROXY protocol -- only on connections from ``--trusted-proxies``.

The server trusts 127.0.0.2 only.  Requests from 127.0.0.2 play the proxy; requests from 127.0.0.1 are a client
trying to forge its address with the same headers and preambles.  A bucket policy lets anyone read ``ip-only``
from 10.1.2.3 only, and ``tls-only`` over TLS only: what the server believed is what the policy decides.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import time
import urllib.parse
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import StoreroomServer, make_client

PROXY = "127.0.0.2"
CLIENT = "10.1.2.3"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StoreroomServer, str]]:
    server = StoreroomServer(tmp_path_factory.mktemp("proxied") / "data",
                             extra_args=["--trusted-proxies", f"{PROXY}/32", "--audit-sync"])
    server.start()
    s3 = make_client(server.endpoint)
    bucket = f"proxied-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for key in ("ip-only", "tls-only"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    s3.delete_public_access_block(Bucket=bucket)  # the tls-only grant is public: new buckets would refuse it
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/ip-only",
         "Condition": {"IpAddress": {"aws:SourceIp": f"{CLIENT}/32"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/tls-only",
         "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
    ]}))
    yield server, bucket
    server.stop()


def status(server: StoreroomServer, source: str, path: str, headers: dict[str, str] | None = None,
           preamble: bytes = b"") -> int:
    """Send an unsigned GET from ``source`` (after ``preamble``: a PROXY protocol header) and return the status."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10, source_address=(source, 0)) as sock:
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        sock.sendall(preamble + ("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def v1(source: str, port: int = 4711) -> bytes:
    return f"PROXY TCP4 {source} 127.0.0.1 {port} 9000\r\n".encode()


def v2(source: str, tls: bool = False) -> bytes:
    body = socket.inet_aton(source) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", 4711, 9000)
    if tls:
        body += bytes([0x20]) + struct.pack("!H", 5) + b"\x01\0\0\0\0"
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def test_a_client_cannot_forge_its_address(proxied: tuple[StoreroomServer, str]) -> None:
    server, bucket = proxied
    path = f"/{bucket}/ip-only"
    assert status(server, "127.0.0.1", path) == 403
    assert status(server, "127.0.0.1", path, {"X-Forwarded-For": CLIENT}) == 403
    assert status(server, "127.0.0.1", path, {"Forwarded": f"for={CLIENT}"}) == 403
    assert status(server, "127.0.0.1", path, {"X-Real-IP": CLIENT}) == 403
    # a PROXY preamble from a peer that is no trusted proxy is not HTTP
    assert status(server, "127.0.0.1", path, preamble=v1(CLIENT)) == 400
    assert status(server, "127.0.0.1", path, preamble=v2(CLIENT)) == 400


def test_a_trusted_proxy_names_the_client(proxied: tuple[StoreroomServer, str]) -> None:
    server, bucket = proxied
    path = f"/{bucket}/ip-only"
    assert status(server, PROXY, path) == 403  # the proxy itself is not 10.1.2.3
    assert status(server, PROXY, path, {"X-Forwarded-For": CLIENT}) == 200
    assert status(server, PROXY, path, {"X-Forwarded-For": f"{CLIENT}, {PROXY}"}) == 200  # via two proxies
    # what the client sent stays on the left of the address the proxy appended: never believed
    assert status(server, PROXY, path, {"X-Forwarded-For": f"{CLIENT}, 192.0.2.9"}) == 403
    # the server reads X-Forwarded-For (--forwarded-header): a Forwarded header is the client's own
    assert status(server, PROXY, path, {"Forwarded": f"for={CLIENT}"}) == 403
    assert status(server, PROXY, path, preamble=v1(CLIENT)) == 200
    assert status(server, PROXY, path, preamble=v2(CLIENT)) == 200
    # behind a PROXY preamble naming an untrusted client, that client's own X-Forwarded-For is not believed
    assert status(server, PROXY, path, {"X-Forwarded-For": CLIENT}, preamble=v1("192.0.2.9")) == 403


def test_secure_transport_only_from_a_trusted_proxy(proxied: tuple[StoreroomServer, str]) -> None:
    server, bucket = proxied
    path = f"/{bucket}/tls-only"
    assert status(server, "127.0.0.1", path, {"X-Forwarded-Proto": "https"}) == 403
    assert status(server, "127.0.0.1", path, {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"}) == 403
    assert status(server, PROXY, path, {"X-Forwarded-For": CLIENT}) == 403
    assert status(server, PROXY, path, {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"}) == 200
    assert status(server, PROXY, path, preamble=v2(CLIENT, tls=True)) == 200
    assert status(server, PROXY, path, preamble=v2(CLIENT)) == 403


def test_the_audit_trail_records_the_forwarded_address(proxied: tuple[StoreroomServer, str]) -> None:
    server, bucket = proxied
    proxied_key, forged_key = f"proxied-{uuid.uuid4().hex[:8]}", f"forged-{uuid.uuid4().hex[:8]}"
    status(server, PROXY, f"/{bucket}/{proxied_key}", {"X-Forwarded-For": f"{CLIENT}, {PROXY}"})
    status(server, "127.0.0.1", f"/{bucket}/{forged_key}", {"X-Forwarded-For": CLIENT})
    trail = make_client(server.endpoint, service="cloudtrail")
    sources: dict[str, list[str]] = {}
    deadline = time.monotonic() + 10
    while len(sources) < 2 and time.monotonic() < deadline:
        for key in (proxied_key, forged_key):
            events = trail.lookup_events(LookupAttributes=[
                {"AttributeKey": "ResourceName", "AttributeValue": f"arn:aws:s3:::{bucket}/{key}"}])["Events"]
            if events:
                sources[key] = [json.loads(e["CloudTrailEvent"])["sourceIPAddress"] for e in events]
        time.sleep(0.2)
    assert sources == {proxied_key: [CLIENT], forged_key: ["127.0.0.1"]}


def test_the_console_sees_the_forwarded_address(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The console's own listener (no edge there) takes the client address from trusted proxies too: its sign-in
    throttle and ConsoleLogin events must not lump every browser behind the load balancer together."""
    server = StoreroomServer(tmp_path_factory.mktemp("console-proxied") / "data", console=True,
                             extra_args=["--trusted-proxies", f"{PROXY}/32", "--audit-sync"])
    server.start()
    try:
        assert server.console_port is not None
        for source in (PROXY, "127.0.0.1"):
            conn = http.client.HTTPConnection("127.0.0.1", server.console_port, timeout=10,
                                              source_address=(source, 0))
            conn.request("GET", "/signin", headers={"X-Forwarded-For": CLIENT})
            page = conn.getresponse()
            html = page.read().decode()
            cookie = "; ".join(c.split(";", 1)[0] for c in page.headers.get_all("set-cookie") or [])
            token = re.search(r'name="csrf_token" value="([^"]+)"', html)
            assert token is not None, html[:500]
            form = urllib.parse.urlencode({"csrf_token": token.group(1), "kind": "root", "email": "root@localhost",
                                           "password": "not-the-password", "next": "/"})
            conn.request("POST", "/signin", body=form, headers={
                "X-Forwarded-For": CLIENT, "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
                "Origin": f"http://127.0.0.1:{server.console_port}"})
            conn.getresponse().read()
            conn.close()
        trail = make_client(server.endpoint, service="cloudtrail")
        deadline = time.monotonic() + 10
        while True:
            events = trail.lookup_events(LookupAttributes=[
                {"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}])["Events"]
            sources = sorted(json.loads(e["CloudTrailEvent"])["sourceIPAddress"] for e in events)
            if len(sources) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert sources == sorted([CLIENT, "127.0.0.1"])
    finally:
        server.stop()
