"""The client address behind trusted proxies (storeroom/http/proxy.py): forwarding headers walked from the right,
the PROXY protocol's preambles, and nothing believed that a client could have written."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest

from storeroom.http.proxy import ProxyHeaderError, Trust, parse_address, parse_networks, parse_proxy_header

TRUST = Trust(parse_networks(["10.0.0.0/8", "192.168.1.1", "2001:db8::/32"]))
FORWARDED = Trust(TRUST.networks, "forwarded")


def h(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in pairs]


@pytest.mark.parametrize("text, expected", [
    ("192.0.2.1", "192.0.2.1"), ("192.0.2.1:4711", "192.0.2.1"), (" 192.0.2.1 ", "192.0.2.1"),
    ("2001:db8::1", "2001:db8::1"), ("[2001:db8::1]:80", "2001:db8::1"), ('"[2001:db8::1]"', "2001:db8::1"),
    ("::ffff:192.0.2.7", "192.0.2.7"), ("fe80::1%eth0", "fe80::1"),
    ("unknown", None), ("_hidden", None), ("", None), ("1.2.3", None), ("999.1.1.1", None),
])
def test_addresses_as_headers_write_them(text: str, expected: str | None) -> None:
    address = parse_address(text)
    assert (None if address is None else str(address)) == expected


def test_bad_networks_are_named() -> None:
    assert parse_networks(["10.0.0.1"]) == (ipaddress.ip_network("10.0.0.1/32"),)
    with pytest.raises(ValueError, match="not-an-ip"):
        parse_networks(["10.0.0.0/8", "not-an-ip"])


def test_the_client_is_the_first_untrusted_address_from_the_right() -> None:
    # the proxy appended the client's address; what the client sent is on the left and never believed
    assert TRUST.resolve(h(("x-forwarded-for", "6.6.6.6, 198.51.100.7")), "10.0.0.5", "http") == \
        ("198.51.100.7", "http")
    # through two trusted proxies
    assert TRUST.resolve(h(("x-forwarded-for", "198.51.100.7, 10.1.1.1")), "192.168.1.1", "http")[0] == \
        "198.51.100.7"
    # repeated headers are one list, in order
    assert TRUST.resolve(h(("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.7")),
                         "10.0.0.5", "http")[0] == "198.51.100.7"
    # every hop trusted: the leftmost is the client (a request from inside)
    assert TRUST.resolve(h(("x-forwarded-for", "10.9.9.9, 10.1.1.1")), "10.0.0.5", "http")[0] == "10.9.9.9"
    # a hop that names no address: the client is the trusted proxy that wrote it
    assert TRUST.resolve(h(("x-forwarded-for", "198.51.100.7, unknown")), "10.0.0.5", "http")[0] == "10.0.0.5"
    assert TRUST.resolve(h(("x-forwarded-for", "unknown, 10.1.1.1")), "10.0.0.5", "http")[0] == "10.1.1.1"
    assert TRUST.resolve(h(("x-forwarded-for", "[2001:db9::5]:1234")), "10.0.0.5", "http")[0] == "2001:db9::5"
    assert TRUST.resolve(h(("user-agent", "x")), "10.0.0.5", "http") is None


def test_only_the_configured_header_is_read() -> None:
    forged = h(("forwarded", "for=6.6.6.6;proto=https"), ("x-forwarded-for", "198.51.100.7"))
    assert TRUST.resolve(forged, "10.0.0.5", "http") == ("198.51.100.7", "http")
    forged = h(("x-forwarded-for", "6.6.6.6"), ("x-forwarded-proto", "https"),
               ("forwarded", "for=198.51.100.7;proto=http"))
    assert FORWARDED.resolve(forged, "10.0.0.5", "http") == ("198.51.100.7", "http")


def test_forwarded_elements_and_quoting() -> None:
    value = 'for=6.6.6.6, for="[2001:db9::7]:4711";proto=https;by=10.0.0.5, For=10.1.1.1;host="a,b;c"'
    assert FORWARDED.resolve(h(("forwarded", value)), "10.0.0.5", "http") == ("2001:db9::7", "https")
    assert FORWARDED.resolve(h(("forwarded", "for=_hidden")), "10.0.0.5", "http") == ("10.0.0.5", "http")


def test_the_scheme_comes_from_the_clients_hop() -> None:
    # aligned with X-Forwarded-For: the entry of the hop that received the client's request
    assert TRUST.resolve(h(("x-forwarded-for", "6.6.6.6, 198.51.100.7"), ("x-forwarded-proto", "https, http")),
                         "10.0.0.5", "http") == ("198.51.100.7", "http")
    assert TRUST.resolve(h(("x-forwarded-for", "198.51.100.7, 10.1.1.1"), ("x-forwarded-proto", "https, http")),
                         "10.0.0.5", "http") == ("198.51.100.7", "https")
    # not aligned: the nearest proxy's word (the last entry)
    assert TRUST.resolve(h(("x-forwarded-for", "198.51.100.7"), ("x-forwarded-proto", "https, http")),
                         "10.0.0.5", "http") == ("198.51.100.7", "http")
    assert TRUST.resolve(h(("x-forwarded-for", "198.51.100.7"), ("x-forwarded-proto", "HTTPS")),
                         "10.0.0.5", "http") == ("198.51.100.7", "https")
    assert TRUST.resolve(h(("x-forwarded-for", "198.51.100.7"), ("x-forwarded-proto", "gopher")),
                         "10.0.0.5", "https") == ("198.51.100.7", "https")


# -- the PROXY protocol --------------------------------------------------------------------------------------

V2 = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(command: int, family: int, body: bytes) -> bytes:
    return V2 + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def test_proxy_v1() -> None:
    line = b"PROXY TCP4 198.51.100.7 10.0.0.1 56324 443\r\n"
    assert parse_proxy_header(line + b"GET / HTTP/1.1\r\n") == (len(line), ("198.51.100.7", 56324), False)
    line6 = b"PROXY TCP6 2001:db9::7 2001:db8::1 4711 443\r\n"
    assert parse_proxy_header(line6) == (len(line6), ("2001:db9::7", 4711), False)
    assert parse_proxy_header(b"PROXY UNKNOWN\r\n") == (15, None, False)
    assert parse_proxy_header(b"PROXY TCP4 198.51") is None  # more to come
    assert parse_proxy_header(b"PR") is None
    for bad in (b"PROXY TCP4 nothere 10.0.0.1 1 2\r\n", b"PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n",
                b"PROXY TCP4 1.2.3.4 1.2.3.4 99999 2\r\n", b"PROXY " + b"1" * 120):
        with pytest.raises(ProxyHeaderError):
            parse_proxy_header(bad)


def test_proxy_v2() -> None:
    body = socket.inet_aton("198.51.100.7") + socket.inet_aton("10.0.0.1") + struct.pack("!HH", 56324, 443)
    header = v2(1, 0x11, body)
    assert parse_proxy_header(header + b"GET") == (len(header), ("198.51.100.7", 56324), False)
    # with an SSL TLV whose client flag says the connection used TLS (and another TLV before it)
    tlvs = bytes([0x04]) + struct.pack("!H", 2) + b"ab" + bytes([0x20]) + struct.pack("!H", 5) + b"\x01\0\0\0\0"
    assert parse_proxy_header(v2(1, 0x11, body + tlvs))[1:] == (("198.51.100.7", 56324), True)
    body6 = socket.inet_pton(socket.AF_INET6, "2001:db9::7") + socket.inet_pton(socket.AF_INET6, "::1") + \
        struct.pack("!HH", 4711, 443)
    assert parse_proxy_header(v2(1, 0x21, body6))[1] == ("2001:db9::7", 4711)
    assert parse_proxy_header(v2(0, 0x00, b"")) == (16, None, False)  # LOCAL: the proxy's own health check
    assert parse_proxy_header(header[:20]) is None
    assert parse_proxy_header(V2[:5]) is None
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(V2 + bytes([0x31, 0x11]) + struct.pack("!H", 0))  # version 3
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(v2(1, 0x11, b"\0" * 4))  # too short for two IPv4 addresses


@pytest.mark.parametrize("start", [b"PUT /b/k HTTP/1.1\r\n", b"GET / HTTP/1.1\r\n", b"\r\nGET / HTTP/1.1\r\n",
                                   b"P", b""])
def test_http_is_not_a_proxy_header(start: bytes) -> None:
    parsed = parse_proxy_header(start)
    assert parsed in ((0, None, False), None)
    if len(start) > 6:
        assert parsed == (0, None, False)
