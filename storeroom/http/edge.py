"""The connection edge: limits a client must not be able to exceed, enforced before the app sees a request.

uvicorn's httptools protocol reads a request's header section whole, however large, holds idle and slow
connections forever and answers requests its parser rejects in plain text.  :class:`EdgeProtocol` is that
protocol with S3's limits (a subclass: uvicorn keeps the HTTP/1.1 work, and the hot path stays httptools):

- **Header section ≤ 8 KiB** (``MAX_HEADER_SECTION``; the request line apart, ≤ ``MAX_REQUEST_LINE``),
  counted on the bytes as they arrive, before the parser buffers them; past it S3's
  ``400 RequestHeaderSectionTooLarge`` (with ``MaxSizeAllowed``).  S3: "The PUT request header is limited to
  8 KB in size" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html), and S3 answers
  RequestHeaderSectionTooLarge / MaxSizeAllowed 8192 for any request.
- **Header deadline** (``STOREROOM_HEADER_TIMEOUT``): from a request's first byte, its whole header section
  must arrive in time (slowloris clients send one byte a second); else ``400 RequestTimeout``.
- **Idle keep-alive** (``STOREROOM_KEEPALIVE_TIMEOUT``): a connection with no request in flight, new ones
  included, is closed after that long.
- **Closing an idle TLS connection** (that timeout, or a SIGTERM's graceful shutdown) gives the client
  ``TLS_CLOSE_GRACE`` to answer our close_notify, then drops the connection: an HTTP client does not read its
  idle socket, so the close would otherwise hold the connection (and a shutting-down worker) for uvloop's 30 s.
- **Slow readers** (``STOREROOM_SEND_TIMEOUT``): a client that stops reading a response it asked for is cut
  once the send buffer has stayed full that long.
- **Connections per worker** (``STOREROOM_MAX_CONNECTIONS``): past the cap a request is answered
  ``503 SlowDown`` (which SDKs retry with backoff) and its connection closed.
- **Requests in progress per worker** (``STOREROOM_MAX_IN_FLIGHT``): past it a new request is answered
  ``503 SlowDown`` at once instead of queueing behind the others, so that a request's wait stays bounded
  (about the cap over the worker's rate) however many clients come; the connection stays open unless the request
  announced a body (bench/pressure.py measures it).
- **Bad framing** (llhttp's errors, smuggling attempts, garbage after a body): ``400 InvalidRequest`` in S3's
  XML shape, after any response still owed on the connection, instead of uvicorn's plain text.

- **Behind a load balancer** (``STOREROOM_TRUSTED_PROXIES``): on connections from a trusted proxy, a PROXY
  protocol preamble is read before HTTP, and each request's client address and scheme are taken from the
  forwarding header (``http/proxy.py``); on every other connection, neither is believed.

The body's own progress deadline (``STOREROOM_BODY_IDLE_TIMEOUT``, S3's RequestTimeout) lives in
``http/types.py``, where the body is read.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from storeroom.errors import AwsError
from storeroom.http import accept
from storeroom.http.proxy import ProxyHeaderError, Trust, parse_proxy_header
from storeroom.http.types import new_request_id
from storeroom.s3 import xml


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


MAX_HEADER_SECTION = 8192      # S3's MaxSizeAllowed for the header section
MAX_REQUEST_LINE = 16384       # method + URL + version: long keys percent-encoded, presigned query strings
HEADER_TIMEOUT = _env_float("STOREROOM_HEADER_TIMEOUT", 10.0)
KEEPALIVE_TIMEOUT = _env_float("STOREROOM_KEEPALIVE_TIMEOUT", 20.0)
SEND_TIMEOUT = _env_float("STOREROOM_SEND_TIMEOUT", 60.0)
MAX_CONNECTIONS = int(_env_float("STOREROOM_MAX_CONNECTIONS", 2048))
MAX_IN_FLIGHT = int(_env_float("STOREROOM_MAX_IN_FLIGHT", 1024))
# After an error answer, unread bytes from the client are read and dropped for a moment (nginx's "lingering
# close"): closing a socket with unread data makes the kernel send RST, and the client would lose our answer.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1 << 20
OVER_CAP_HEADER_TIMEOUT = 2.0  # a connection that will be refused anyway holds its descriptor briefly
TLS_CLOSE_GRACE = 1.0  # seconds an idle TLS client is given to answer our close_notify before the drop

_HOST_ID = base64.b64encode(os.urandom(48)).decode()
TRUST = Trust.from_env()


def error_bytes(err: AwsError, *, close: bool = True) -> bytes:
    """A whole HTTP/1.1 response in S3's XML error shape, for answers given before (or without) the app."""
    request_id = new_request_id()
    extra = "".join(xml.tag(k, v) for k, v in err.extra.items())
    body = xml.document("Error", xml.tag("Code", err.code) + xml.tag("Message", err.message) + extra
                        + xml.tag("RequestId", request_id) + xml.tag("HostId", _HOST_ID), namespace=False)
    reason = {400: "Bad Request", 503: "Service Unavailable"}.get(err.status, "Error")
    head = (f"HTTP/1.1 {err.status} {reason}\r\ncontent-type: application/xml\r\n"
            f"content-length: {len(body)}\r\nx-amz-request-id: {request_id}\r\nx-amz-id-2: {_HOST_ID}\r\n"
            f"server: Storeroom\r\n{'connection: close' + chr(13) + chr(10) if close else ''}\r\n")
    return head.encode("latin-1") + body


def header_too_large() -> AwsError:
    return AwsError("RequestHeaderSectionTooLarge", "Your request header section exceeds the maximum allowed size.",
                    400, MaxSizeAllowed=str(MAX_HEADER_SECTION))


async def _slow_down(scope: Any, receive: Any, send: Any) -> None:
    """The app that answers requests over the connection cap (S3's 503 SlowDown; the connection closes)."""
    await _answer_slow_down(send, close=True)


async def _busy(scope: Any, receive: Any, send: Any) -> None:
    """The app that answers requests over the in-flight cap: 503 SlowDown, on a connection kept open unless the
    request announced a body, which is left unread (a client waiting for ``100 Continue`` never sends it)."""
    body = any(name in (b"content-length", b"transfer-encoding") and value not in (b"0",)
               for name, value in scope["headers"])
    await _answer_slow_down(send, close=body)


async def _answer_slow_down(send: Any, *, close: bool) -> None:
    err = AwsError("SlowDown")
    body = error_bytes(err).split(b"\r\n\r\n", 1)[1]
    headers = [(b"content-type", b"application/xml"), (b"content-length", str(len(body)).encode()),
               (b"server", b"Storeroom")]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


COALESCE_MAX = 65536  # a response head is sent with up to this many first body bytes in one write


class _OneWrite:
    """The transport as a response's cycle sees it (not for HEAD, which writes no body): the response head is held
    until the first body bytes and sent with them in one write — one send() and one TCP segment for a small
    response instead of two, and one wake-up of the client."""

    __slots__ = ("_transport", "_head", "_started", "_close")

    def __init__(self, transport: asyncio.Transport, close: Callable[[], None]) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._started = False
        self._close = close  # how the connection ends after a response that closes it (EdgeProtocol's)

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if len(data) <= COALESCE_MAX:
                self._transport.write(head + data)
                return
            self._transport.write(head)
        elif not self._started and not data.startswith(b"HTTP/1.1 100 "):  # not an interim 100 Continue
            self._started = True
            self._head = data
            return
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            self._transport.write(self._head)
            self._head = None
        self._close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


# ssl.SSLObject.version() -> the protocol's number, as ASGI's TLS extension names it
_TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above (see the module docstring)."""

    _date_second: ClassVar[int] = 0  # the second the Date header was last renewed for (_fresh_date)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_head = True      # between requests, or reading a request's header section
        self._head = bytearray()        # the current header section so far (bounded by the limits)
        self._head_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._pending_error: bytes | None = None  # to send once the response in flight is complete
        self._lingering = 0             # > 0: answered with an error, dropping what the client still sends
        self._over_cap = False
        self._trusted_peer = False      # the TCP peer is a trusted proxy (STOREROOM_TRUSTED_PROXIES)
        self._preamble: bytearray | None = None  # a trusted peer's first bytes, until a PROXY header is ruled out
        self._drained = False           # accepted by accept.drain (not by libuv): takes no others
        # Idle keep-alive, timed lazily: a response only notes when the connection went idle (uvicorn arms and
        # cancels a timer per request, ~2 µs of a ~140 µs GET); one timer per connection looks at the note when
        # it fires and closes the connection, or waits out the rest.
        self._idle_since: float | None = None  # None: a request is in flight
        self._idle_timeout = KEEPALIVE_TIMEOUT
        self._idle_timer: asyncio.TimerHandle | None = None
        self._tls: dict[object, object] | None = None  # ASGI's TLS extension ({"tls_version": 0x0304}): s3:TlsVersion

    # -- connection ----------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._over_cap = len(self.connections) > MAX_CONNECTIONS
        # A new connection is idle until its first byte: the keep-alive timeout applies (uvicorn only arms it
        # after a response).
        self._idle_timeout = OVER_CAP_HEADER_TIMEOUT if self._over_cap else KEEPALIVE_TIMEOUT
        self._idle_since = self.loop.time()
        self._idle_timer = self.loop.call_later(self._idle_timeout, self._idle_check)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:  # (the protocol is told of a connection once its handshake is done)
            self._tls = {"tls_version": _TLS_VERSIONS.get(ssl_object.version() or "")}
        if TRUST and self.client is not None and TRUST.trusts(self.client[0]):
            self._trusted_peer = True
            self._preamble = bytearray()
        if not self._drained:
            self._drain_accept_queue()

    def _drain_accept_queue(self) -> None:
        """Accept the connections waiting behind this one (storeroom/http/accept.py: libuv takes one per loop
        iteration, which a busy worker makes seconds for a queue of hundreds)."""
        sock = self.transport.get_extra_info("socket")
        listener = None if sock is None else accept.listener_for(self.transport.get_extra_info("sockname"),
                                                                 sock.family)
        # Past the cap too (up to twice it, which bounds the descriptors): a connection left in the kernel's queue
        # waits there for seconds, one accepted is answered SlowDown at once.
        room = 2 * MAX_CONNECTIONS - len(self.connections)
        if listener is None or room <= 0:
            return

        def factory() -> EdgeProtocol:
            protocol = type(self)(config=self.config, server_state=self.server_state, app_state=self.app_state,
                                  _loop=self.loop)
            protocol._drained = True
            return protocol
        accept.drain(self.loop, listener, room, factory, self.config.ssl)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._cancel_send_timer()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        super().connection_lost(exc)

    # -- closing idle connections ---------------------------------------------------------------------------

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown (SIGTERM): an idle connection is closed now, a busy one after its response
        (the client then closes it, having been told ``Connection: close``)."""
        idle = self.cycle is None or self.cycle.response_complete
        super().shutdown()
        if idle:
            self._bound_tls_close()

    def timeout_keep_alive_handler(self) -> None:
        super().timeout_keep_alive_handler()
        self._bound_tls_close()

    def _bound_tls_close(self) -> None:
        """Closing TLS sends close_notify, then waits for the client's before the connection is gone (uvloop: up to
        30 s).  An HTTP client keeps an idle connection without reading it, so it answers only when it next uses
        the connection: the connection would count against the cap that long, and uvicorn's shutdown, which waits
        for every connection to go, with it.  The client gets ``TLS_CLOSE_GRACE``, then the TCP connection is
        dropped (RFC 8446, section 6.1: the initiator of a close need not wait for the responding close_notify;
        clients find the idle connection closed and open another, as after a plain TCP close)."""
        if self.scheme == "https":
            self.loop.call_later(TLS_CLOSE_GRACE, self._drop_if_still_open)

    def _drop_if_still_open(self) -> None:
        if self in self.connections:
            self.transport.abort()

    # -- idle keep-alive ------------------------------------------------------------------------------------

    def _unset_keepalive_if_required(self) -> None:
        """(uvicorn's hook, called when bytes arrive or a response completes): the connection is busy."""
        self._idle_since = None

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self.transport.is_closing():
            return
        left = self._idle_timeout
        if self._idle_since is not None:
            left = self._idle_since + self._idle_timeout - self.loop.time()
            if left <= 0:
                self.timeout_keep_alive_handler()
                return
        self._idle_timer = self.loop.call_later(left, self._idle_check)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._lingering -= min(len(data), self._lingering)
            if not self._lingering:
                self.transport.abort()
            return
        if self._pending_error is not None:
            return  # the connection is already condemned; only the response in flight is still owed
        if self._preamble is not None:
            taken = self._take_preamble(data)
            if taken is None:
                return
            data = taken
        if self._awaiting_head and not self._take_head(data):
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no WebSocket or h2c upgrades on an S3 endpoint: the request is served as plain HTTP/1.1
        except httptools.HttpParserError as exc:
            self._refuse(AwsError("InvalidRequest", f"The HTTP request could not be parsed: {exc}."))

    def _take_head(self, data: bytes) -> bool:
        """Count the header section as it arrives; refuse it past the limits. True: feed ``data`` on."""
        if not self._head and b"\r\n\r\n" in data and len(data) <= MAX_HEADER_SECTION:
            self._head_complete()  # the usual case: a small request in one read, nothing to buffer or time
            return True
        if self._head_timer is None:
            timeout = OVER_CAP_HEADER_TIMEOUT if self._over_cap else HEADER_TIMEOUT
            self._head_timer = self.loop.call_later(timeout, self._head_timeout)
        self._head += data
        head = self._head
        line_end = head.find(b"\r\n", 2 if head.startswith(b"\r\n") else 0)
        if line_end < 0:
            if len(head) > MAX_REQUEST_LINE:
                self._refuse(AwsError("InvalidURI", "The request line (method and URI) is too long.", 400))
                return False
            return True
        if line_end > MAX_REQUEST_LINE:
            self._refuse(AwsError("InvalidURI", "The request line (method and URI) is too long.", 400))
            return False
        end = head.find(b"\r\n\r\n", line_end)
        section = (end + 2 if end >= 0 else len(head)) - (line_end + 2)
        if section > MAX_HEADER_SECTION:
            self._refuse(header_too_large())
            return False
        if end >= 0:
            self._head_complete()
        return True

    def _take_preamble(self, data: bytes) -> bytes | None:
        """A trusted proxy's connection may begin with a PROXY protocol header: read it (the client's address
        for the whole connection), and hand on what follows; None while more bytes are needed."""
        assert self._preamble is not None
        self._preamble += data
        try:
            parsed = parse_proxy_header(self._preamble)
        except ProxyHeaderError as exc:
            self._preamble = None
            self._refuse(AwsError("InvalidRequest", f"Bad PROXY protocol header: {exc}."))
            return None
        if parsed is None:
            return None
        length, client, tls = parsed
        rest, self._preamble = bytes(self._preamble[length:]), None
        if client is not None:
            self.client = client
            self._trusted_peer = TRUST.trusts(client[0])  # a proxy behind a proxy: its headers count too
            if tls:
                self.scheme = "https"
        return rest if rest else None

    def _head_complete(self) -> None:
        # From here the parser takes the request; pipelined bytes that follow it in this same read are not
        # counted, which bounds them by one read (uvloop reads at most 256 KiB).
        self._awaiting_head = False
        self._head = bytearray()
        self._cancel_head_timer()

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._awaiting_head and not self.transport.is_closing():
            self._refuse(AwsError("RequestTimeout", "Your socket connection to the server was not read from or "
                                  "written to within the timeout period. Idle connections will be closed."))

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    # -- requests -------------------------------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        if self._awaiting_head:  # the parser saw an end of headers our count did not (a bare LF framing)
            self._head_complete()
        if self._trusted_peer and self.client is not None:
            resolved = TRUST.resolve(self.scope["headers"], self.client[0], self.scheme or "http")
            if resolved is not None:
                self.scope["client"] = (resolved[0], 0)
                self.scope["scheme"] = resolved[1]
        elif self._tls is not None:  # (behind a proxy, the client's TLS was the proxy's: unknown here)
            extensions: dict[str, dict[object, object]] = {**self.scope.get("extensions", {}), "tls": self._tls}
            self.scope["extensions"] = extensions
        self._fresh_date()
        busy = len(self.tasks) >= MAX_IN_FLIGHT
        cycle, app = self.cycle, self.app
        if self._over_cap or busy:  # answered SlowDown by an app of the edge's own (the request is not served)
            self.app = _slow_down if self._over_cap else _busy
        try:
            super().on_headers_complete()
        finally:
            self.app = app
        if self.cycle is not cycle and self.scope["method"] != "HEAD":
            self.cycle.transport = _OneWrite(self.transport, self._close_after_response)  # type: ignore[assignment]

    def _fresh_date(self) -> None:
        """The ``Date`` header of the response to come is this second's: uvicorn renews it once a second on a
        tick of its own phase, so a response could be dated up to a second before an object it just wrote
        (RFC 9110: Last-Modified must never be later than Date).  One clock read per request; the header is
        formatted once per second."""
        now = int(time.time())
        if now != EdgeProtocol._date_second and self.config.date_header:
            EdgeProtocol._date_second = now  # (one worker's connections share it)
            self.server_state.default_headers = [(b"date", formatdate(now, usegmt=True).encode()),
                                                 *self.config.encoded_headers]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_head = True  # the next bytes on this connection begin a new request

    def _close_after_response(self) -> None:
        """The end of a connection whose response closes it.  When the request's body was not all read (refused
        before it: a missing bucket, a denial), the close lingers as :meth:`_answer_and_linger`'s does: FIN sent,
        what the client still sends read and dropped for a while.  A plain close with unread bytes makes the
        kernel answer the client's next segment with a reset, and a client still writing its body then reports
        ECONNRESET/EPIPE instead of the answer it was sent (the JavaScript SDK with a streamed body)."""
        cycle = self.cycle
        if cycle is None or not cycle.more_body or self.transport.is_closing():
            self.transport.close()
        else:
            self._linger()

    def on_response_complete(self) -> None:
        if self._lingering:  # the response closed the connection lingering: nothing more is sent on it
            self.server_state.total_requests += 1
            return
        if self._pending_error is not None and not self.pipeline:
            self.server_state.total_requests += 1
            error, self._pending_error = self._pending_error, None
            self._answer_and_linger(error)
            return
        # uvicorn's (0.55), with the keep-alive timer replaced by the idle note (see __init__)
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._idle_since = self.loop.time()
            self._idle_timeout = KEEPALIVE_TIMEOUT

    # -- refusing -------------------------------------------------------------------------------------------

    def _refuse(self, err: AwsError) -> None:
        """Answer ``err`` in S3's shape and close — after the response still owed on this connection, if any."""
        self._cancel_head_timer()
        self._awaiting_head = False
        payload = error_bytes(err)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.response_started and cycle.more_body:
            # The request's own body is broken: its handler can only fail. It is told the client is gone
            # (uvicorn's own reaction to a parser error) and the error is the answer.
            cycle.disconnected = True
            cycle.message_event.set()
        elif cycle is not None and not cycle.response_complete or self.pipeline:
            # A response is still owed for an earlier, complete request: the error follows it.
            self._pending_error = payload
            self.flow.pause_reading()
            return
        self._answer_and_linger(payload)

    def _answer_and_linger(self, payload: bytes) -> None:
        if self.transport.is_closing() or self._lingering:
            return
        self._unset_keepalive_if_required()
        self.transport.write(payload)
        self._linger()

    def _linger(self) -> None:
        """Half-close (FIN after what was written), then read and drop what the client still sends, up to
        LINGER_BYTES or LINGER_SECONDS, before the connection goes: a client still writing its request reads the
        answer instead of a reset.  (TLS cannot half-close: closed at once.)"""
        self.flow.resume_reading()
        try:
            self.transport.write_eof()
        except (NotImplementedError, OSError, RuntimeError):
            self.transport.close()
            return
        self._lingering = LINGER_BYTES
        self.loop.call_later(LINGER_SECONDS, self.transport.abort)

    # -- slow readers ---------------------------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(SEND_TIMEOUT, self._send_timeout)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_send_timer()

    def _send_timeout(self) -> None:
        self._send_timer = None
        self.transport.abort()  # the client stopped reading; nothing useful can be said to it any more

    def _cancel_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
