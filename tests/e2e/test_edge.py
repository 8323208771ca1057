"""The HTTP edge: requests that are malformed or stall before they reach an operation."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import StoreroomServer, make_client
from tests.e2e.helpers import sign_headers, signed_request


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
