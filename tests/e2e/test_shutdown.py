"""A graceful stop (SIGTERM): the requests in flight finish, and new clients are refused at once — a copy of
the listening socket (storeroom/http/accept.py), or the supervisor's slot sockets, kept it listening through the
drain, so new clients connected, waited for the whole drain (up to a minute behind a slow client) and were then
reset."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import StoreroomServer, make_client


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /_storeroom/health HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(2)
            return bool(sock.recv(100))
    except (ConnectionRefusedError, ConnectionResetError):
        return False
    except TimeoutError:
        return True  # connected, never answered: the fault


@pytest.mark.parametrize("workers", [1, 2])
def test_new_clients_are_refused_while_requests_in_flight_finish(tmp_path: Path, workers: int) -> None:
    server = StoreroomServer(tmp_path / "data", workers=workers)
    server.start()
    try:
        s3 = make_client(server.endpoint)
        s3.create_bucket(Bucket="draining")
        url = urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": "draining", "Key": "slow"}))
        body = b"x" * 100_000
        upload = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        upload.sendall(f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:1000])
        time.sleep(0.5)  # the upload is being read
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        started = time.monotonic()
        assert not _connects(server.port)
        assert time.monotonic() - started < 1.5
        upload.sendall(body[1000:])
        assert upload.recv(100).startswith(b"HTTP/1.1 200")
        upload.close()
        server.proc.wait(timeout=30)
        server.proc = None
        server.start()
        assert make_client(server.endpoint).get_object(Bucket="draining", Key="slow")["Body"].read() == body
    finally:
        server.stop()


def test_sighup_never_stops_one_worker(tmp_path: Path) -> None:
    """An operator's reload (systemd's ExecReload=kill -HUP) killed a one-worker server without TLS, cutting the
    requests in flight (SIGHUP's default action: nothing handled it)."""
    server = StoreroomServer(tmp_path / "data", workers=1)
    server.start()
    try:
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert server.proc.poll() is None
        assert make_client(server.endpoint).list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        server.stop()
