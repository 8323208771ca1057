"""The client's address behind a load balancer, believed only from proxies the owner trusts.

The address a request comes from decides policies (``aws:SourceIp``), lands in the audit trail
(``sourceIPAddress``) and keys the sign-in throttle, and ``aws:SecureTransport`` says whether the client used
TLS.  Behind a load balancer the TCP peer is the balancer; it tells who the client is in a header
(``X-Forwarded-For``, RFC 7239 ``Forwarded``) or in the PROXY protocol's preamble.  A client can send those
too, so they are read only on connections whose peer is in ``--trusted-proxies`` (``STOREROOM_TRUSTED_PROXIES``,
CIDR blocks), and never otherwise:

- **PROXY protocol** (HAProxy's, v1 text and v2 binary,
  https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt): on a connection from a trusted peer, a PROXY
  preamble before the first request gives the connection's client (and v2's SSL TLV whether it used TLS).  From
  any other peer those bytes are not HTTP and get 400.  A trusted peer may also send none (health checks).
- **Headers** (one kind, ``--forwarded-header``: ``x-forwarded-for``, the default, with ``X-Forwarded-Proto``;
  or ``forwarded``): a proxy *appends* the address it got the request from, so the list is walked from the
  right -- the connection's peer, then each entry -- past trusted proxies; the first address that is not a
  trusted proxy is the client.  Entries left of it were written by the client and are never believed (a
  client's ``X-Forwarded-For: 10.0.0.1`` stays on the left of its real address).  Only the configured kind is
  read: a proxy that sets one header passes the other through from the client untouched.
- The scheme comes from the same hop: ``proto=`` of that ``Forwarded`` element, or the ``X-Forwarded-Proto``
  entry aligned with it (the last entry when the counts differ: written by the nearest proxy).

Nothing changes for connections from other peers, or when no proxy is trusted (the default).
"""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Iterable, Sequence
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107          # the longest v1 line, CRLF included
V2_MAX = 16 + 2048    # header and a generous allowance of TLVs
PP2_TYPE_SSL = 0x20
PP2_CLIENT_SSL = 0x01


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDR blocks (a bare address is a /32 or /128); ValueError naming a bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or CIDR block: {value!r}") from None
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """An address as headers write it: ``192.0.2.1``, ``192.0.2.1:4711``, ``2001:db8::1``, ``[2001:db8::1]:80``
    (IPv4-mapped IPv6 as IPv4); None for anything else (``unknown``, obfuscated ``_hidden`` names)."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    text = text.partition("%")[0]  # no zone ids
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class Trust:
    """Which peers are trusted proxies, and the header kind they write."""

    def __init__(self, networks: Sequence[Network], header: str = "x-forwarded-for") -> None:
        self.networks = tuple(networks)
        self.header = header
        self._known: dict[str, bool] = {}

    @classmethod
    def from_env(cls) -> Trust:
        values = [v for v in os.environ.get("STOREROOM_TRUSTED_PROXIES", "").split(",") if v.strip()]
        return cls(parse_networks(values), os.environ.get("STOREROOM_FORWARDED_HEADER") or "x-forwarded-for")

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, host: str) -> bool:
        known = self._known.get(host)
        if known is None:
            address = parse_address(host)
            known = address is not None and any(address in n for n in self.networks)
            if len(self._known) > 4096:
                self._known.clear()
            self._known[host] = known
        return known

    def resolve(self, headers: Iterable[tuple[bytes, bytes]], peer: str,
                scheme: str) -> tuple[str, str] | None:
        """(client address, scheme) from the headers of a request whose peer is trusted; None: no header."""
        if self.header == "forwarded":
            hops = _forwarded_hops(_values(headers, b"forwarded"))
            protos: Sequence[str | None] = [proto for _, proto in hops]
            entries = [address for address, _ in hops]
        else:
            entries = _list(_values(headers, b"x-forwarded-for"))
            protos = _list(_values(headers, b"x-forwarded-proto"))
        if not entries:
            return None
        client, index = peer, len(entries)
        for i in range(len(entries) - 1, -1, -1):
            address = parse_address(entries[i])
            if address is None:
                break  # the hop that wrote this is trusted, but names no client: the client is that hop
            client, index = str(address), i
            if not self.trusts(client):
                break
        if index < len(entries):
            proto = protos[index] if len(protos) == len(entries) else (protos[-1] if protos else None)
            if proto and proto.strip().strip('"').lower() in ("http", "https"):
                scheme = proto.strip().strip('"').lower()
        return client, scheme


class TrustedProxyHeaders:
    """The same for an ASGI app served without Storeroom's edge (the console's listener): a request whose peer
    is a trusted proxy gets the client address and scheme its forwarding header gives (no PROXY protocol)."""

    def __init__(self, app: Any, trust: Trust) -> None:
        self.app = app
        self.trust = trust

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        client = scope.get("client")
        if self.trust and scope["type"] == "http" and client and self.trust.trusts(client[0]):
            resolved = self.trust.resolve(scope["headers"], client[0], scope.get("scheme", "http"))
            if resolved is not None:
                scope = {**scope, "client": (resolved[0], 0), "scheme": resolved[1]}
        await self.app(scope, receive, send)


def _values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in headers if key.lower() == name]


def _list(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _forwarded_hops(values: list[str]) -> list[tuple[str, str | None]]:
    """(for=, proto=) of each element of RFC 7239 ``Forwarded`` headers, in order; quoted strings may hold
    ``,`` ``;`` and ``=``."""
    hops: list[tuple[str, str | None]] = []
    for value in values:
        for element in _split(value, ","):
            pairs = {}
            for pair in _split(element, ";"):
                name, sep, text = pair.partition("=")
                if sep:
                    pairs[name.strip().lower()] = _unquote(text.strip())
            hops.append((pairs.get("for", ""), pairs.get("proto")))
    return hops


def _split(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
        out, escaped = [], False
        for char in text:
            if char == "\\" and not escaped:
                escaped = True
                continue
            out.append(char)
            escaped = False
        return "".join(out)
    return text


# -- the PROXY protocol ----------------------------------------------------------------------------------------

class ProxyHeaderError(ValueError):
    pass


def parse_proxy_header(data: bytes | bytearray) -> tuple[int, tuple[str, int] | None, bool] | None:
    """A PROXY protocol preamble at the start of ``data``: (its length, the client's (address, port) or None
    for LOCAL/UNKNOWN connections, whether the client used TLS); None while more bytes are needed, and
    (0, None, False) when ``data`` does not begin with one.  ProxyHeaderError if it is malformed."""
    if data[:len(V1_PREFIX)] == V1_PREFIX[:len(data)] and data[:1] == b"P":
        return _parse_v1(data)
    if data[:12] == V2_SIGNATURE[:len(data[:12])] and data[:1] == b"\r":
        return _parse_v2(data)
    return 0, None, False


def _parse_v1(data: bytes | bytearray) -> tuple[int, tuple[str, int] | None, bool] | None:
    end = data.find(b"\r\n")
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyHeaderError("PROXY v1 line too long")
        return None
    fields = bytes(data[:end]).decode("ascii", "replace").split(" ")
    if len(fields) < 2 or fields[0] != "PROXY":
        raise ProxyHeaderError("malformed PROXY v1 line")
    if fields[1] == "UNKNOWN":
        return end + 2, None, False
    if fields[1] not in ("TCP4", "TCP6") or len(fields) != 6:
        raise ProxyHeaderError("malformed PROXY v1 line")
    address = parse_address(fields[2])
    if address is None or not fields[4].isdigit() or int(fields[4]) > 65535:
        raise ProxyHeaderError("malformed PROXY v1 address")
    return end + 2, (str(address), int(fields[4])), False


def _parse_v2(data: bytes | bytearray) -> tuple[int, tuple[str, int] | None, bool] | None:
    if len(data) < 16:
        return None
    if bytes(data[:12]) != V2_SIGNATURE:
        raise ProxyHeaderError("malformed PROXY v2 signature")
    version_command, family, length = data[12], data[13], struct.unpack("!H", data[14:16])[0]
    if version_command >> 4 != 2 or version_command & 0x0F not in (0, 1) or 16 + length > V2_MAX:
        raise ProxyHeaderError("unsupported PROXY v2 header")
    if len(data) < 16 + length:
        return None
    body = bytes(data[16:16 + length])
    total = 16 + length
    if version_command & 0x0F == 0:  # LOCAL: the proxy's own connection (health checks)
        return total, None, False
    transport = family >> 4
    if transport == 1 and len(body) >= 12:
        address: str = str(ipaddress.IPv4Address(body[:4]))
        port, rest = struct.unpack("!H", body[8:10])[0], body[12:]
    elif transport == 2 and len(body) >= 36:
        parsed = ipaddress.IPv6Address(body[:16])
        address = str(parsed.ipv4_mapped or parsed)
        port, rest = struct.unpack("!H", body[32:34])[0], body[36:]
    elif transport in (0, 3):  # UNSPEC or a unix socket: no client address to give
        return total, None, False
    else:
        raise ProxyHeaderError("malformed PROXY v2 addresses")
    return total, (address, port), _ssl_tlv(rest)


def _ssl_tlv(tlvs: bytes) -> bool:
    i = 0
    while i + 3 <= len(tlvs):
        kind, size = tlvs[i], struct.unpack("!H", tlvs[i + 1:i + 3])[0]
        if kind == PP2_TYPE_SSL and size >= 1:
            return bool(tlvs[i + 3] & PP2_CLIENT_SSL)
        i += 3 + size
    return False
