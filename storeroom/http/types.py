"""The protocol boundary: ASGI scope/receive/send in, :class:`Request` / :class:`Response` out.

Everything below this module deals in these two types, never in ASGI messages.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from storeroom.errors import AwsError

if TYPE_CHECKING:
    from storeroom.identity import Principal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_REQUEST_IDS = itertools.count(1)
BODY_IDLE_TIMEOUT = float(os.environ.get("STOREROOM_BODY_IDLE_TIMEOUT", "30"))
_ID_PREFIX = f"{os.getpid() & 0xFFFFFF:06X}"


def new_request_id() -> str:
    """16 upper-case hex characters, like S3's; unique per process by pid prefix + counter."""
    return f"{_ID_PREFIX}{next(_REQUEST_IDS) & 0xFFFFFFFFFF:010X}"


def parse_query(raw: str) -> list[tuple[str, str]]:
    """Decoded (name, value) pairs in order; like ``parse_qsl(keep_blank_values=True)`` ('+' is a space),
    but decoding only the parts that need it (most S3 query parameters are plain ASCII)."""
    pairs = []
    for part in raw.split("&"):
        if not part:
            continue
        if "%" in part or "+" in part:
            pairs.append(_decoded_pair(part))
        else:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


@functools.lru_cache(maxsize=4096)
def _decoded_pair(part: str) -> tuple[str, str]:
    """An encoded ``name=value``, decoded; cached, as the same encoded parameters come again and again
    (X-Amz-Credential, session tokens, prefixes)."""
    name, _, value = part.partition("=")
    return unquote_plus(name), unquote_plus(value)


class Request:
    """One HTTP request: line and headers parsed, body not yet read (see :meth:`stream`)."""

    __slots__ = (
        "scope", "receive", "method", "raw_path", "path", "raw_query", "query", "args", "headers",
        "request_id", "client_ip", "secure", "started", "body_done", "body", "received", "claimant",
    )

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        self.raw_path = raw_path.decode("latin-1")
        self.path: str = scope["path"]
        self.raw_query: str = scope["query_string"].decode("latin-1")
        self.query: list[tuple[str, str]] = parse_query(self.raw_query) if self.raw_query else []
        self.args: dict[str, str] = {}
        for k, v in self.query:
            self.args.setdefault(k, v)
        # ASGI header names are lower-case bytes; repeated headers are joined with "," (RFC 9110 5.3).
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            k = name.decode("latin-1")
            v = value.decode("latin-1")
            headers[k] = f"{headers[k]},{v}" if k in headers else v
        self.headers = headers
        self.request_id = new_request_id()
        client = scope.get("client")
        self.client_ip: str = client[0] if client else "127.0.0.1"
        self.secure: bool = scope.get("scheme") == "https"
        self.started = time.time()
        self.body_done = False
        self.body: bytes | None = None  # set once a small body was read whole (read_body)
        self.received = 0  # body bytes received, as sent (aws-chunked framing included): metrics, audit
        # the owner of the key a request refused after its key was found was signed with (its audit event's
        # user): kept from authentication, since the credential cache may be emptied by an IAM change meanwhile
        self.claimant: Principal | None = None

    async def stream(self) -> AsyncIterator[bytes]:
        """The raw body, as it arrives. A client that stops sending for BODY_IDLE_TIMEOUT seconds gets S3's
        RequestTimeout (and the connection is closed) instead of holding the request open forever."""
        while True:
            try:
                async with asyncio.timeout(BODY_IDLE_TIMEOUT):
                    message = await self.receive()
            except TimeoutError:
                raise AwsError("RequestTimeout") from None
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunk = message.get("body", b"")
            if chunk:
                self.received += len(chunk)
                yield chunk
            if not message.get("more_body", False):
                self.body_done = True
                return

    @property
    def body_unread(self) -> bool:
        """A body was announced but not (wholly) read: the connection cannot be reused for another request.

        A client that sent ``Expect: 100-continue`` and got an error instead does not send the body at all,
        so the server cannot skip it either; S3 closes such connections, and so do we.
        """
        if self.body_done:
            return False
        length = self.headers.get("content-length")
        return (length is not None and length != "0") or "transfer-encoding" in self.headers

    async def read_body(self, limit: int) -> bytes:
        """The whole body, for small XML/form bodies; ValueError past ``limit`` bytes. Kept for re-reading."""
        if self.body is not None:
            return self.body
        parts: list[bytes] = []
        size = 0
        async for chunk in self.stream():
            size += len(chunk)
            if size > limit:
                raise ValueError("body too large")
            parts.append(chunk)
        self.body = b"".join(parts)
        return self.body


class ClientDisconnected(Exception):
    """The client went away before sending the whole body."""


@dataclass(slots=True)
class Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] = b""
    # Set by handlers for the audit record (CloudTrail's errorCode, and what the request touched).
    error_code: str | None = None
    error_message: str | None = None
    sent: int = 0                     # body bytes sent, counted by send_response (bytesTransferredOut)

    def header(self, name: str, value: str) -> Response:
        self.headers.append((name, value))
        return self


# What no HTTP field value may hold (RFC 9110 5.5): the server refuses to send such a header, and the client gets
# no answer at all
UNSENDABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def _sendable(value: str) -> str:
    """A header value as it can be sent: a control character (from data stored before it was refused at the door)
    is percent-encoded rather than dropping the connection."""
    return UNSENDABLE.sub(lambda m: f"%{ord(m.group()):02X}", value)


async def send_response(send: Send, response: Response, common: list[tuple[bytes, bytes]],
                        head_only: bool = False) -> None:
    # nearly every value is printable: one pass in C decides it, the rest go through _sendable
    headers = [(k.encode("latin-1"), (v if v.isprintable() else _sendable(v)).encode("latin-1", "replace"))
               for k, v in response.headers]
    headers.extend(common)
    body = response.body
    if isinstance(body, bytes):
        # none on a 204 (RFC 9110 8.6: "MUST NOT send"; S3 sends none) nor a 304 (no body, but the object's length)
        if response.status not in (204, 304) and not any(k == b"content-length" for k, _ in headers):
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head_only else body})
        response.sent = 0 if head_only else len(body)
        return
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    try:
        async for chunk in body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            response.sent += len(chunk)
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()
    await send({"type": "http.response.body", "body": b""})
