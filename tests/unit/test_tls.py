"""storeroom/tls: the checks of certificate files (each problem named), the --tls-self-signed CA (reuse, renewal,
names, file modes), and the reloadable context under a real uvloop TLS server."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import socket
import ssl
import stat
from pathlib import Path
from typing import Any

import pytest
import uvloop
from cryptography import x509

from storeroom.tls import TlsFiles, selfsigned
from storeroom.tls.context import ReloadableContext
from storeroom.tls.files import TlsError, check
from storeroom.tls.watch import ExpiryWatch
from tests.tls_certs import CertAuthority, cert_pem, common_name, key_pem, new_key, now


@pytest.fixture(scope="module")
def ca() -> CertAuthority:
    return CertAuthority.create()


def write(tmp_path: Path, cert: bytes, key: bytes) -> TlsFiles:
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    return TlsFiles(tmp_path / "c.pem", tmp_path / "k.pem")


def test_a_good_pair_is_described(tmp_path: Path, ca: CertAuthority) -> None:
    key = new_key("ec")
    info = check(write(tmp_path, cert_pem(ca.issue("good", key)), key_pem(key)))
    assert info.subject == "good" and info.names == ("localhost", "127.0.0.1") and info.warnings == []
    assert "good [localhost, 127.0.0.1], valid until" in info.describe()


def test_key_and_certificate_in_one_file(tmp_path: Path, ca: CertAuthority) -> None:
    key = new_key("rsa")
    (tmp_path / "both.pem").write_bytes(key_pem(key) + cert_pem(ca.issue("both", key)))
    assert check(TlsFiles(tmp_path / "both.pem", tmp_path / "both.pem")).subject == "both"


@pytest.mark.parametrize("problem, message", [
    ("missing-cert", "--tls-cert {d}/nope.pem: no such file"),
    ("missing-key", "--tls-key {d}/nope.pem: no such file"),
    ("cert-is-a-key", "--tls-cert {d}/c.pem: not a PEM certificate"),
    ("garbage-key", "--tls-key {d}/k.pem: not a PEM private key"),
    ("other-key", "--tls-key {d}/k.pem is not the key of the certificate in --tls-cert {d}/c.pem (mine)"),
    ("encrypted-key", "--tls-key {d}/k.pem: the key is protected by a passphrase"),
    ("directory", "--tls-cert {d}: is a directory"),
])
def test_each_problem_is_named(tmp_path: Path, ca: CertAuthority, problem: str, message: str) -> None:
    key = new_key("ec")
    files = write(tmp_path, cert_pem(ca.issue("mine", key)), key_pem(key))
    if problem == "missing-cert":
        files = TlsFiles(tmp_path / "nope.pem", files.key)
    elif problem == "missing-key":
        files = TlsFiles(files.cert, tmp_path / "nope.pem")
    elif problem == "cert-is-a-key":
        files.cert.write_bytes(key_pem(key))
    elif problem == "garbage-key":
        files.key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    elif problem == "other-key":
        files.key.write_bytes(key_pem(new_key("ec")))
    elif problem == "encrypted-key":
        files.key.write_bytes(key_pem(key, password=b"secret"))
    elif problem == "directory":
        files = TlsFiles(tmp_path, files.key)
    with pytest.raises(TlsError) as err:
        check(files)
    assert message.format(d=tmp_path) in str(err.value)


@pytest.mark.parametrize("window, warning", [
    ((-30, -1), "expired on"),
    ((-30, 3), "expires on"),
    ((2, 30), "is not valid before"),
])
def test_dates_give_warnings_not_errors(tmp_path: Path, ca: CertAuthority, window: tuple[int, int],
                                        warning: str) -> None:
    key = new_key("ec")
    cert = ca.issue("dated", key, not_before=now() + dt.timedelta(days=window[0]),
                    not_after=now() + dt.timedelta(days=window[1]))
    info = check(write(tmp_path, cert_pem(cert), key_pem(key)))
    assert len(info.warnings) == 1 and warning in info.warnings[0]


# -- --tls-self-signed -------------------------------------------------------------------------------------------

def names_of(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificates(path.read_bytes())[0]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*san.get_values_for_type(x509.DNSName), *(str(i) for i in san.get_values_for_type(x509.IPAddress))}


def test_self_signed_is_made_once_and_reused(tmp_path: Path) -> None:
    first = selfsigned.ensure(tmp_path, ["s3.example.test"], "127.0.0.1")
    assert first.issued == "a new local certificate authority"
    assert names_of(first.files.cert) == {"localhost", "*.localhost", "s3.example.test", "*.s3.example.test",
                                          "127.0.0.1", "::1"}
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"ca.pem": 0o644, "ca.key": 0o600, "cert.pem": 0o644, "key.pem": 0o600}
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    again = selfsigned.ensure(tmp_path, ["s3.example.test"], "127.0.0.1")
    assert again.issued is None and {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    info = check(again.files)  # the pair is sound, and verifies against the CA with OpenSSL
    ctx = ssl.create_default_context(cafile=str(again.ca_cert))
    assert info.warnings == [] and ctx.cert_store_stats()["x509_ca"] == 1


def test_self_signed_is_reissued_for_a_new_name_and_near_its_end(tmp_path: Path) -> None:
    selfsigned.ensure(tmp_path, [], "127.0.0.1")
    ca_before = (tmp_path / "ca.pem").read_bytes()
    listen = selfsigned.ensure(tmp_path, ["other.test"], "10.1.2.3")
    assert listen.issued == "a server certificate that also covers other.test, *.other.test, 10.1.2.3"
    later = dt.datetime.now(dt.UTC) + selfsigned.SERVER_LIFETIME - dt.timedelta(days=10)
    renewed = selfsigned.ensure(tmp_path, ["other.test"], "10.1.2.3", now=later)
    assert renewed.issued is not None and renewed.issued.startswith("a renewed server certificate")
    assert (tmp_path / "ca.pem").read_bytes() == ca_before  # clients keep trusting the same CA
    assert selfsigned.ensure(tmp_path, [], "0.0.0.0", now=later).issued is None  # fewer names: still covered


def test_self_signed_replaces_a_key_left_unmatched_by_a_crash(tmp_path: Path) -> None:
    selfsigned.ensure(tmp_path, [], "localhost")
    (tmp_path / "key.pem").write_bytes(key_pem(new_key("ec")))  # the key was written, the certificate not
    assert selfsigned.ensure(tmp_path, [], "localhost").issued == \
        "a server certificate signed by the current local CA"
    check(TlsFiles(tmp_path / "cert.pem", tmp_path / "key.pem"))


def test_a_new_ca_when_the_old_one_ends(tmp_path: Path) -> None:
    selfsigned.ensure(tmp_path, [], "localhost")
    later = dt.datetime.now(dt.UTC) + selfsigned.CA_LIFETIME - dt.timedelta(days=1)
    assert selfsigned.ensure(tmp_path, [], "localhost", now=later).issued == "a new local certificate authority"


# -- the reloadable context, served by uvloop ------------------------------------------------------------------

def peer(port: int, sni: str | None) -> str:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=sni) as tls:
        return common_name(tls.getpeercert(binary_form=True))


def test_reload_reaches_new_handshakes_whatever_the_key_type(tmp_path: Path, ca: CertAuthority) -> None:
    """ECDSA → RSA → a broken file: new handshakes (with and without SNI) get the new certificate, an
    established connection keeps working, a broken file keeps the previous one."""
    cert, key, _ = ca.write_server(tmp_path, "first-ec", "ec")
    files = TlsFiles(cert, key)

    async def main() -> None:
        reloadable = ReloadableContext(files)

        class Echo(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport: Any = transport  # uvloop's TLS transport is no asyncio.Transport subclass

            def data_received(self, data: bytes) -> None:
                self.transport.write(data)

        server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0, ssl=reloadable.served)
        port = server.sockets[0].getsockname()[1]
        run = asyncio.get_running_loop().run_in_executor
        ctx = ssl.create_default_context(cafile=None)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        kept = await run(None, ctx.wrap_socket, raw)
        assert await run(None, peer, port, None) == "first-ec"

        ca.write_server(tmp_path, "second-rsa", "rsa")
        assert reloadable.reload().subject == "second-rsa"
        assert await run(None, peer, port, None) == "second-rsa"
        assert await run(None, peer, port, "localhost") == "second-rsa"

        cert.write_bytes(b"not a certificate")
        with pytest.raises(TlsError):
            reloadable.reload()
        assert await run(None, peer, port, None) == "second-rsa"

        await run(None, kept.sendall, b"still here")
        assert await run(None, kept.recv, 100) == b"still here"
        assert common_name(kept.getpeercert(binary_form=True)) == "first-ec"
        kept.close()
        server.close()
        await server.wait_closed()

    uvloop.run(main())


# -- the daily look from the serve process -----------------------------------------------------------------------

def test_daily_watch_renews_by_sighup_or_warns(tmp_path: Path, ca: CertAuthority,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cert, key, _ = ca.write_server(tmp_path, "soon", not_after=now() + dt.timedelta(days=3))
    received: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda sig, _frame: received.append(sig))
    try:
        ExpiryWatch(TlsFiles(cert, key), renew=lambda: True).check_once()  # a self-signed one re-issued
        assert received == [signal.SIGHUP]
        ExpiryWatch(TlsFiles(cert, key), renew=lambda: False).check_once()  # the operator's, nearly over
        cert.write_bytes(b"gone")
        ExpiryWatch(TlsFiles(cert, key), renew=lambda: False).check_once()
        assert received == [signal.SIGHUP]
    finally:
        signal.signal(signal.SIGHUP, previous)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"storeroom: warning: the certificate in {cert} expires on")
    assert err[1].startswith("storeroom: warning: the TLS certificate files can no longer be read: --tls-cert")
