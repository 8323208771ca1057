"""Shared helpers for the end-to-end tests: raw SigV4-signed requests, S3 error parsing, data generators.

Raw requests are signed with botocore's own SigV4 signer (the reference implementation every AWS SDK agrees
with), so a failure here means the server disagrees with AWS, not with a home-grown signer.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import socket
import sqlite3
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock
from urllib.parse import quote, urlsplit

import psycopg
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import (  # noqa: F401 - empty_bucket re-exported
    REGION,
    ROOT_ACCESS_KEY_ID,
    ROOT_SECRET_ACCESS_KEY,
    StoreroomServer,
    empty_bucket,
)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MiB = 1024 * 1024
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def key_path(bucket: str, key: str | None = None) -> str:
    """The URL path of a bucket or object, percent-encoded the way the SDKs do it."""
    if key is None:
        return f"/{bucket}"
    return f"/{bucket}/{quote(key, safe='/~')}"


@contextmanager
def fake_clock(when: dt.datetime) -> Iterator[None]:
    """Make botocore sign as if the time were ``when`` (naive UTC): both its Python signers and, when awscrt
    is installed (then boto3 clients sign with the CRT), the CRT ones."""

    def fake(remove_tzinfo: bool = True) -> dt.datetime:
        return when if remove_tzinfo else when.replace(tzinfo=dt.UTC)

    with mock.patch("botocore.auth.get_current_datetime", fake):
        try:
            import botocore.crt.auth  # noqa: F401
        except ImportError:
            yield
            return
        with mock.patch("botocore.crt.auth.get_current_datetime", fake):
            yield


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@contextmanager
def later(clock_file: Path, seconds: int) -> Iterator[None]:
    """The clocked server's (tests/e2e/conftest.py ``clocked_server``) and botocore's clocks both ``seconds``
    ahead, back to the real time afterwards."""
    clock_file.write_text(str(seconds))
    try:
        with fake_clock(utcnow() + dt.timedelta(seconds=seconds)):
            yield
    finally:
        clock_file.write_text("0")


class _Signer(S3SigV4Auth):
    """botocore's S3 SigV4 signer, with an optional fixed payload hash (UNSIGNED-PAYLOAD, STREAMING-...)."""

    def __init__(self, credentials: Credentials, service: str, region: str, payload_hash: str | None):
        super().__init__(credentials, service, region)
        self._payload_hash = payload_hash

    def payload(self, request):  # type: ignore[no-untyped-def]
        if self._payload_hash is not None:
            return self._payload_hash
        return super().payload(request)


def sign_headers(method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b"", *,
                 access_key: str = ROOT_ACCESS_KEY_ID, secret_key: str = ROOT_SECRET_ACCESS_KEY,
                 region: str = REGION, service: str = "s3", when: dt.datetime | None = None,
                 payload_hash: str | None = None) -> dict[str, str]:
    """Headers (incl. Authorization, X-Amz-Date, X-Amz-Content-SHA256) for a SigV4 header-signed request.

    ``url`` must already be percent-encoded; its host (with port) is what gets signed as ``host``.
    ``when`` fakes the signing clock (naive UTC datetime).
    """
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = _Signer(Credentials(access_key, secret_key), service, region, payload_hash)
    if when is not None:
        with fake_clock(when):
            signer.add_auth(req)
    else:
        signer.add_auth(req)
    return {k: v for k, v in req.headers.items()}


def signed_request(method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b"", *,
                   send_body: bytes | None = None, host: str | None = None, timeout: float = 30,
                   **sign_kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
    """Sign with botocore and send with ``requests`` so the test sees the raw bytes of the answer.

    ``send_body`` sends other bytes than the signed ones (tampering). ``host`` signs for that Host header
    (e.g. a virtual-hosted ``bucket.localhost:PORT``) while connecting to the host in ``url``.
    """
    sign_url = url
    if host is not None:
        parts = urlsplit(url)
        sign_url = parts._replace(netloc=host).geturl()
    hdrs = sign_headers(method, sign_url, headers, body, **sign_kwargs)
    if host is not None:
        hdrs["Host"] = host
    data = body if send_body is None else send_body
    return requests.request(method, url, headers=hdrs, data=data, timeout=timeout, allow_redirects=False)


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    k = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, region.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    return hmac.new(k, b"aws4_request", hashlib.sha256).digest()


def signature_of(authorization: str) -> str:
    return authorization.rsplit("Signature=", 1)[1].strip()


def aws_chunked_signed_body(data: bytes, chunk_size: int, seed_signature: str, timestamp: str, scope: str,
                            key: bytes, trailer: tuple[str, str] | None = None) -> bytes:
    """The body of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) request: each chunk signed over the
    previous signature; with a trailer, the trailer lines and their x-amz-trailer-signature follow the final
    zero-length chunk."""
    out = bytearray()
    prev = seed_signature
    chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for chunk in chunks:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", timestamp, scope, prev, EMPTY_SHA256,
                         hashlib.sha256(chunk).hexdigest()])
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out += f"{len(chunk):x};chunk-signature={sig}\r\n".encode()
        if chunk or trailer is None:
            out += chunk + b"\r\n"
        prev = sig
    if trailer is not None:
        name, value = trailer
        canonical = f"{name}:{value}\n"
        sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", timestamp, scope, prev,
                         hashlib.sha256(canonical.encode()).hexdigest()])
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out += f"{name}:{value}\r\nx-amz-trailer-signature:{sig}\r\n\r\n".encode()
    return bytes(out)


def streaming_signed_put(endpoint: str, bucket: str, key: str, data: bytes, *, chunk_size: int = 64 * 1024,
                         trailer: tuple[str, str] | None = None, tamper: str | None = None,
                         region: str = REGION) -> requests.Response:
    """A hand-built PutObject with ``x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` (or
    ``...-PAYLOAD-TRAILER`` with ``trailer=(name, value)``). ``tamper``: "chunk" flips a data byte after
    signing, "trailer-signature" corrupts the trailer signature."""
    url = endpoint + key_path(bucket, key)
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    scope_date = "20000101"
    length = len(aws_chunked_signed_body(data, chunk_size, "0" * 64, "20000101T000000Z",
                                         f"{scope_date}/{region}/s3/aws4_request", b"k", trailer))
    headers = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
        "Content-Length": str(length),
    }
    if trailer:
        headers["X-Amz-Trailer"] = trailer[0]
    hdrs = sign_headers("PUT", url, headers, payload_hash=mode, region=region)
    timestamp = hdrs["X-Amz-Date"]
    date = timestamp[:8]
    scope = f"{date}/{region}/s3/aws4_request"
    key_bytes = signing_key(ROOT_SECRET_ACCESS_KEY, date, region, "s3")
    body = aws_chunked_signed_body(data, chunk_size, signature_of(hdrs["Authorization"]), timestamp, scope,
                                   key_bytes, trailer)
    if tamper == "chunk":
        # flip one byte of the first chunk's data (its header line ends at the first CRLF)
        pos = body.index(b"\r\n") + 2 + 10
        body = body[:pos] + bytes([body[pos] ^ 0xFF]) + body[pos + 1:]
    elif tamper == "trailer-signature":
        pos = body.index(b"x-amz-trailer-signature:") + len(b"x-amz-trailer-signature:")
        body = body[:pos] + (b"0" if body[pos:pos + 1] != b"0" else b"1") + body[pos + 1:]
    assert len(body) == length
    return requests.put(url, headers=hdrs, data=body, timeout=30)


def aws_chunked_unsigned_body(data: bytes, chunk_size: int, trailer_name: str, trailer_value: str) -> bytes:
    """The body of a STREAMING-UNSIGNED-PAYLOAD-TRAILER request (what the SDKs send over TLS)."""
    out = bytearray()
    for i in range(0, len(data), chunk_size):
        chunk = data[i:i + chunk_size]
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    out += f"0\r\n{trailer_name}:{trailer_value}\r\n\r\n".encode()
    return bytes(out)


# --- error bodies ---------------------------------------------------------------------------------

def parse_error(body: bytes | str) -> dict[str, str]:
    """The child elements of an S3 ``<Error>`` document as a dict (tag -> text)."""
    root = ET.fromstring(body)
    assert root.tag in ("Error", f"{S3_NS}Error"), f"not an S3 <Error> document: {body!r}"
    return {child.tag.replace(S3_NS, ""): (child.text or "") for child in root}


def parse_any_aws_error(body: bytes | str) -> dict[str, str]:
    """S3's ``<Error>`` or the Query protocol's ``<ErrorResponse><Error>`` (IAM, STS...), as a dict."""
    root = ET.fromstring(body)
    tag = root.tag.split("}")[-1]
    if tag == "ErrorResponse":
        err = next(c for c in root if c.tag.split("}")[-1] == "Error")
        out = {c.tag.split("}")[-1]: (c.text or "") for c in err}
        out.update({c.tag.split("}")[-1]: (c.text or "") for c in root if c is not err})
        return out
    assert tag == "Error", f"not an AWS error document: {body!r}"
    return {c.tag.split("}")[-1]: (c.text or "") for c in root}


def assert_s3_error(resp: requests.Response, status: int, code: str) -> dict[str, str]:
    assert resp.status_code == status, (resp.status_code, resp.content[:2000])
    err = parse_error(resp.content)
    assert err.get("Code") == code, err
    return err


def client_error(exc_info) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """(HTTP status, error code) of a botocore ClientError captured by ``pytest.raises``."""
    resp = exc_info.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"]


# --- data -----------------------------------------------------------------------------------------

def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


class PatternFile:
    """A seekable read-only file of ``size`` deterministic bytes that never holds them all in memory."""

    def __init__(self, size: int, seed: int = 0, block: int = MiB) -> None:
        self.size = size
        self.pos = 0
        self._block = block
        base = hashlib.sha256(str(seed).encode()).digest() * (block // 32 + 1)
        self._base = base[:block]
        self._cached: tuple[int, bytes] = (-1, b"")

    def _byte_block(self, index: int) -> bytes:
        # each block differs (its index stamped at the front) so misplaced blocks are detected
        if self._cached[0] != index:
            self._cached = (index, index.to_bytes(8, "big") + self._base[8:])
        return self._cached[1]

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        out = bytearray()
        while n > 0:
            idx, off = divmod(self.pos, self._block)
            piece = self._byte_block(idx)[off:off + n]
            out += piece
            self.pos += len(piece)
            n -= len(piece)
        return bytes(out)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            self.pos = offset
        elif whence == 1:
            self.pos += offset
        else:
            self.pos = self.size + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return self.size

    def md5(self) -> str:
        h = hashlib.md5()
        for idx in range((self.size + self._block - 1) // self._block):
            blk = self._byte_block(idx)
            h.update(blk[: min(self._block, self.size - idx * self._block)])
        return h.hexdigest()


def chunks_md5(chunks: Iterable[bytes]) -> tuple[str, int]:
    h = hashlib.md5()
    n = 0
    for c in chunks:
        h.update(c)
        n += len(c)
    return h.hexdigest(), n


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and content-length body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    [length] = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def meta_rows(srv: StoreroomServer, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Rows of the server's metadata database (its SQLite file, or its PostgreSQL database); ``?`` placeholders."""
    if srv.meta_url is None:
        with sqlite3.connect(srv.data_dir / "meta.sqlite3") as conn:
            return conn.execute(sql, params).fetchall()
    with psycopg.connect(srv.meta_url) as conn:
        return conn.execute(sql.replace("?", "%s"), params).fetchall()  # type: ignore[arg-type]


def meta_write(srv: StoreroomServer, sql: str, params: tuple[object, ...] = ()) -> None:
    """One statement on the server's metadata database (as :func:`meta_rows` reads it), committed: how a test
    sets up what an earlier version or a crash left behind."""
    if srv.meta_url is None:
        with sqlite3.connect(srv.data_dir / "meta.sqlite3") as conn:
            conn.execute(sql, params)
        return
    with psycopg.connect(srv.meta_url) as conn:
        conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]


def stored_blobs(srv: StoreroomServer) -> list[str]:
    """Every blob the server stores: files in its blob folder, and small blobs kept in the metadata database
    (storeroom/store/inline_blobs.py)."""
    root = srv.data_dir / "blobs"
    files = [str(p) for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")] if root.exists() else []
    return files + [str(r[0]) for r in meta_rows(srv, "SELECT blob_id FROM inline_blobs")]


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    """Polls ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
