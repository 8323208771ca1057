"""Connection limits at the HTTP edge (storeroom/http/edge.py), checked with raw sockets against a real server:
header section size, header deadline (slowloris), idle keep-alive, slow readers, the per-worker connection cap,
and S3-shaped answers to requests the HTTP parser rejects."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, make_client
from tests.e2e.helpers import parse_error, read_response

LIMITS = {
    "STOREROOM_HEADER_TIMEOUT": "1",
    "STOREROOM_KEEPALIVE_TIMEOUT": "1.5",
    "STOREROOM_SEND_TIMEOUT": "2",
    "STOREROOM_MAX_CONNECTIONS": "20",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreroomServer]:
    server = StoreroomServer(tmp_path_factory.mktemp("edge-limits") / "data", workers=1, env=LIMITS)
    server.start()
    yield server
    server.stop()
    log = server.log_path.read_text()
    assert "Traceback" not in log and "Exception in ASGI" not in log, log


def connect(srv: StoreroomServer, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (or resets it after answering)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def responses(data: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each response in ``data`` (bodies framed by content-length)."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        out.append((status, rest[:length]))
        data = rest[length:]
    return out


def health(srv: StoreroomServer, extra: bytes = b"") -> bytes:
    return b"GET /_storeroom/health HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


def request_with_header_section(size: int) -> bytes:
    """A request whose header section (the bytes after the request line, up to the blank line) is ``size``."""
    fixed = b"Host: x\r\nConnection: close\r\nX-Pad: \r\n"
    return b"GET /_storeroom/health HTTP/1.1\r\n" + fixed[:-2] + b"a" * (size - len(fixed)) + b"\r\n\r\n"


def worker_rss_kib(srv: StoreroomServer) -> int:
    """Resident memory of the server's (single) worker process."""
    assert srv.proc is not None
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(srv.proc.pid) and "VmRSS" in fields:
            total += int(fields["VmRSS"].split()[0])
    return total


def test_header_section_of_8_KiB_is_served_and_one_byte_more_is_refused(srv: StoreroomServer) -> None:
    with connect(srv) as sock:
        sock.sendall(request_with_header_section(8192))
        [(status, _)] = responses(read_all(sock))
    assert status == 200
    with connect(srv) as sock:
        sock.sendall(request_with_header_section(8193))
        [(status, body)] = responses(read_all(sock))
    assert status == 400
    error = parse_error(body)
    assert error["Code"] == "RequestHeaderSectionTooLarge"
    assert error["MaxSizeAllowed"] == "8192"
    assert error["Message"] == "Your request header section exceeds the maximum allowed size."


def test_a_128_MiB_header_is_cut_at_once_without_memory_growth(srv: StoreroomServer) -> None:
    before = worker_rss_kib(srv)
    answer: list[bytes] = []
    started = time.monotonic()
    with connect(srv) as sock:
        def flood() -> None:
            try:
                sock.sendall(b"GET /_storeroom/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
                block = b"a" * (1 << 20)
                for _ in range(128):
                    sock.sendall(block)
            except OSError:
                pass  # the server answered and closed: the flood is cut

        sender = threading.Thread(target=flood)
        sender.start()
        answer.append(read_all(sock))
        sender.join(timeout=30)
    elapsed = time.monotonic() - started
    assert b"<Code>RequestHeaderSectionTooLarge</Code>" in answer[0]
    assert elapsed < 5, elapsed
    # Meanwhile and after, others are served, and the worker did not buffer the flood.
    with connect(srv) as sock:
        sock.sendall(health(srv, b"Connection: close\r\n"))
        assert responses(read_all(sock))[0][0] == 200
    assert worker_rss_kib(srv) - before < 16 * 1024


def test_a_signed_request_with_a_64_KiB_header_is_refused(srv: StoreroomServer) -> None:
    s3 = make_client(srv.endpoint)
    s3.create_bucket(Bucket="big-headers")
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket="big-headers", Key="k", Body=b"x", Metadata={"big": "v" * 65536})
    assert caught.value.response["Error"]["Code"] == "RequestHeaderSectionTooLarge"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Contents" not in s3.list_objects_v2(Bucket="big-headers")
    s3.delete_bucket(Bucket="big-headers")


def test_slowloris_header_is_cut_at_the_header_deadline(srv: StoreroomServer) -> None:
    """One header byte every 0.2 s: the whole header section must arrive within STOREROOM_HEADER_TIMEOUT."""
    with connect(srv) as sock:
        started = time.monotonic()
        request = health(srv)
        answer = b""
        for i in range(len(request) - 1):  # never completes
            try:
                sock.sendall(request[i:i + 1])
            except OSError:
                break
            sock.settimeout(0.2)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            answer += chunk
            sock.settimeout(10)
            answer += read_all(sock)
            break
        elapsed = time.monotonic() - started
    [(status, body)] = responses(answer)
    assert status == 400 and parse_error(body)["Code"] == "RequestTimeout"
    assert 0.9 < elapsed < 4, elapsed


def test_a_connection_that_sends_nothing_is_closed(srv: StoreroomServer) -> None:
    with connect(srv) as sock:
        started = time.monotonic()
        assert read_all(sock) == b""
        assert 1.2 < time.monotonic() - started < 5


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(srv: StoreroomServer) -> None:
    with connect(srv) as sock:
        sock.sendall(health(srv))
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert read_all(sock) == b""
        assert 1.2 < time.monotonic() - started < 5
    # a connection that keeps making requests is not cut by the keep-alive timeout
    with connect(srv) as sock:
        for _ in range(4):
            sock.sendall(health(srv))
            assert read_response(sock).startswith(b"HTTP/1.1 200")
            time.sleep(0.8)


def test_over_the_connection_cap_requests_get_slow_down(srv: StoreroomServer) -> None:
    held = [connect(srv) for _ in range(20)]
    try:
        for sock in held:  # make sure the worker has accepted each before the next one comes
            sock.sendall(health(srv))
            assert read_response(sock).startswith(b"HTTP/1.1 200")
        with connect(srv) as sock:
            sock.sendall(health(srv))
            [(status, body)] = responses(read_all(sock))
        assert status == 503
        assert parse_error(body)["Code"] == "SlowDown"
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    with connect(srv) as sock:
        sock.sendall(health(srv, b"Connection: close\r\n"))
        assert responses(read_all(sock))[0][0] == 200


@contextmanager
def large_object_get(srv: StoreroomServer, bucket: str, size: int, rcvbuf: int) -> Iterator[socket.socket]:
    """A socket with a small receive buffer that has just asked for a ``size``-byte object (made in ``bucket`` for
    the test and removed after it, with the client whose pooled connections would count against the cap)."""
    s3 = make_client(srv.endpoint)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="big", Body=b"z" * size)
    path = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "big"}).split(str(srv.port), 1)[1]
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    try:
        with sock:
            sock.connect(("127.0.0.1", srv.port))
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode())
            yield sock
    finally:
        s3.delete_object(Bucket=bucket, Key="big")
        s3.delete_bucket(Bucket=bucket)
        s3.close()


def test_a_client_that_stops_reading_is_cut(srv: StoreroomServer) -> None:
    size = 32 << 20
    with large_object_get(srv, "slow-reader", size, 4096) as sock:
        time.sleep(4)  # STOREROOM_SEND_TIMEOUT is 2 s
        received = len(read_all(sock))
    assert received < size


def test_a_response_longer_than_the_keep_alive_timeout_is_not_cut(srv: StoreroomServer) -> None:
    """The idle timer fires while a response is still being sent (read slowly for ~3 s, the timeout is 1.5 s;
    the kernel's buffers hold at most 4 MiB of it): the connection is busy, not idle, so the timer waits; once
    the response is done the connection is idle and closed one timeout later."""
    size = 12 << 20
    with large_object_get(srv, "long-answer", size, 65536) as sock:
        started = time.monotonic()  # the request was just sent
        data = b""
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < size:
            chunk = sock.recv(65536)
            assert chunk, f"cut after {len(data)} bytes and {time.monotonic() - started:.1f} s"
            data += chunk
            time.sleep(0.015)
        done = time.monotonic()
        assert done - started > 2.5, "the response was not slow enough to outlast the keep-alive timeout"
        assert data.startswith(b"HTTP/1.1 200")
        assert read_all(sock) == b""
        assert time.monotonic() - done < 5


@pytest.mark.parametrize("raw", [
    b"GET /_storeroom/health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"PUT /b/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n",
    b"GET /_storeroom/health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"GET /_storeroom/health HTTP/1.1\r\nBad Header\r\n\r\n",
    b"G\x00T / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=["te-and-cl", "bad-chunk-size", "negative-length", "header-without-colon", "nul-in-method",
        "http-9", "20-KB-request-line"])
def test_requests_the_parser_rejects_get_s3_xml(srv: StoreroomServer, raw: bytes) -> None:
    with connect(srv) as sock:
        sock.sendall(raw)
        [(status, body)] = responses(read_all(sock))
    assert status == 400
    assert parse_error(body)["Code"] in ("InvalidRequest", "InvalidURI")


def test_garbage_after_a_body_is_answered_after_the_request_it_follows(srv: StoreroomServer) -> None:
    """Bytes after a Content-Length body, in the same packet: the request is answered first, then the garbage
    gets S3's XML 400 and the connection closes (uvicorn wrote a plain-text 400, possibly before the answer)."""
    with connect(srv) as sock:
        sock.sendall(b"POST /_storeroom/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGARBAGE\r\n\r\n")
        got = responses(read_all(sock))
    assert [status for status, _ in got] == [200, 400]
    assert parse_error(got[1][1])["Code"] == "InvalidRequest"


def test_pipelined_requests_are_all_answered_in_order(srv: StoreroomServer) -> None:
    with connect(srv) as sock:
        sock.sendall(health(srv) * 3 + health(srv, b"Connection: close\r\n"))
        got = responses(read_all(sock))
    assert [status for status, _ in got] == [200, 200, 200, 200]
