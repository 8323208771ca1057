"""The HTTP edge: requests that are malformed or stall before they reach an operation."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import StoreroomServer, make_client
from tests.e2e.helpers import sign_headers, signed_request

# SQLite only: the HTTP edge sits before the store.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")


def test_key_that_is_not_utf8_is_invalid_uri(endpoint: str, bucket: str) -> None:
    r = signed_request("GET", f"{endpoint}/{bucket}/bad%FF%FEkey")
    assert r.status_code == 400, r.content
    assert b"<Code>InvalidURI</Code>" in r.content


def test_stalled_body_gets_request_timeout(tmp_path: Path) -> None:
    """A client that announces a body and stops sending is answered RequestTimeout, not held forever."""
    srv = StoreroomServer(tmp_path / "data", env={"STOREROOM_BODY_IDLE_TIMEOUT": "1"})
    srv.start()
    try:
        s3 = make_client(srv.endpoint)
        s3.create_bucket(Bucket="stall")
        url = f"{srv.endpoint}/stall/stalled"
        headers = sign_headers("PUT", url, {"Content-Length": "100"}, b"", payload_hash="UNSIGNED-PAYLOAD")
        parts = urlsplit(srv.endpoint)
        with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
            headers.setdefault("Host", parts.netloc)
            head = "PUT /stall/stalled HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            sock.sendall(head.encode() + b"\r\n" + b"x" * 10)
            started = time.monotonic()
            answer = b""
            while chunk := sock.recv(65536):  # the server closes the connection after answering
                answer += chunk
            assert b"<Code>RequestTimeout</Code>" in answer, answer[:500]
            assert time.monotonic() - started < 10
        assert "Contents" not in s3.list_objects_v2(Bucket="stall")
    finally:
        srv.stop()


def test_anonymous_request_to_missing_bucket_is_no_such_bucket(endpoint: str) -> None:
    import requests

    r = requests.get(f"{endpoint}/no-such-bucket-anywhere/key", timeout=10)
    assert r.status_code == 404 and b"<Code>NoSuchBucket</Code>" in r.content


def test_bucket_changes_are_seen_by_every_worker_at_once(endpoint: str) -> None:
    """Each request on a new connection (so both worker processes answer some): a bucket created or deleted
    through one worker is seen at the very next request by the other (their bucket caches are invalidated
    through shared memory)."""
    for i in range(12):
        name = f"flip-{i}-{int(time.time() * 1000) % 100000}"
        assert signed_request("PUT", f"{endpoint}/{name}").status_code == 200
        for _ in range(3):
            assert signed_request("HEAD", f"{endpoint}/{name}").status_code == 200
        assert signed_request("DELETE", f"{endpoint}/{name}").status_code == 204
        for _ in range(3):
            assert signed_request("HEAD", f"{endpoint}/{name}").status_code == 404


def test_an_answer_is_never_dated_before_the_object_it_shows(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """RFC 9110 8.8.2.1: Last-Modified must not be later than Date.  The Date header was uvicorn's, renewed once a
    second on a tick of its own phase: a HEAD right after a PUT was often dated a second before the object."""
    import random
    import time
    from email.utils import parsedate_to_datetime

    late = []
    for i in range(40):
        time.sleep(random.random() / 4)
        s3.put_object(Bucket=bucket, Key=f"dated-{i}", Body=b"x")
        headers = s3.head_object(Bucket=bucket, Key=f"dated-{i}")["ResponseMetadata"]["HTTPHeaders"]
        if parsedate_to_datetime(headers["last-modified"]) > parsedate_to_datetime(headers["date"]):
            late.append((headers["date"], headers["last-modified"]))
    assert not late


def test_a_refused_upload_is_answered_while_the_client_still_sends(endpoint: str) -> None:
    """A PUT refused before its body is read (here: no such bucket) closes its connection lingering: the client,
    still writing its body, reads the answer.  A plain close with unread bytes made the kernel reset the
    connection; the JavaScript SDK with a streamed body reported ECONNRESET/EPIPE instead of NoSuchBucket."""
    import socket
    from urllib.parse import urlsplit

    from tests.e2e.helpers import sign_headers

    host, port = urlsplit(endpoint).hostname, urlsplit(endpoint).port
    assert host is not None and port is not None
    length = 8 << 20
    for attempt in range(20):
        url = f"{endpoint}/no-such-bucket-here/object-{attempt}"
        headers = sign_headers("PUT", url, {"Content-Length": str(length)}, payload_hash="UNSIGNED-PAYLOAD")
        head = f"Host: {host}:{port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(f"PUT /no-such-bucket-here/object-{attempt} HTTP/1.1\r\n{head}\r\n".encode())
            for _ in range(8):  # 512 KiB more of the body after the answer was sent: all taken, none reset
                sock.sendall(b"\0" * (64 << 10))
            answer = b""
            while b"</Error>" not in answer:
                chunk = sock.recv(65536)
                assert chunk, answer
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 404 "), answer[:200]
        assert b"<Code>NoSuchBucket</Code>" in answer
