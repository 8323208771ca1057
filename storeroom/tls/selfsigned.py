"""``--tls-self-signed``: a local certificate authority, and a server certificate it signs, in ``DATA_DIR/tls/``.

Why a CA and not one self-signed server certificate: clients are told to trust ``ca.pem`` once
(``AWS_CA_BUNDLE``); the server certificate can then be renewed, or re-issued for a new ``--domain``, without
anyone trusting anything again.  The CA may sign nothing else (``pathlen 0``, its key stays in the data dir).

- ``ca.pem`` / ``ca.key``: the CA, ten years, created once.
- ``cert.pem`` / ``key.pem``: the server certificate for localhost, 127.0.0.1, ::1, the listen address, each
  ``--domain`` and its wildcard ``*.DOMAIN`` (virtual-hosted style: ``bucket.DOMAIN``), 397 days (the most
  browsers accept), re-issued (at a start, a SIGHUP, or the daily look of ``watch.py``) when fewer than 30 days
  are left, when a name is missing, or when the CA changed.  Keys are ECDSA P-256 (the cheapest handshake),
  written 0600.

OpenSSL-based clients (Python, the AWS CLI, curl) do not match a wildcard directly under a single-label name:
``*.localhost`` is in the certificate but ``bucket.localhost`` will not verify with them; a ``--domain`` of two
labels or more (``s3.localhost`` → ``bucket.s3.localhost``) does.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from storeroom.tls import TlsFiles

CA_LIFETIME = dt.timedelta(days=3650)
SERVER_LIFETIME = dt.timedelta(days=397)
RENEW_BEFORE = dt.timedelta(days=30)
BACKDATE = dt.timedelta(hours=1)   # clients whose clock is a little behind still accept a fresh certificate

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class LocalCa:
    ca_cert: Path
    files: TlsFiles
    issued: str | None   # why a certificate was (re)issued at this start, None when the existing one was kept


def server_names(domains: Iterable[str], listen_host: str) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the server certificate is for."""
    dns = ["localhost", "*.localhost"]
    for domain in domains:
        domain = domain.strip(".").lower()
        if domain and domain != "localhost":
            dns += [domain, f"*.{domain}"]
    ips = ["127.0.0.1", "::1"]
    try:
        address = ipaddress.ip_address(listen_host)
    except ValueError:
        if listen_host and listen_host.lower() not in dns:
            dns.append(listen_host.lower())
    else:
        if not address.is_unspecified and str(address) not in ips:
            ips.append(str(address))
    return list(dict.fromkeys(dns)), ips


def ensure(directory: Path, domains: Iterable[str], listen_host: str, *, now: dt.datetime | None = None) -> LocalCa:
    """The CA and a server certificate covering the names, reusing what ``directory`` holds when still good."""
    now = now or dt.datetime.now(dt.UTC)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    dns, ips = server_names(domains, listen_host)
    ca_pem, ca_key_pem = directory / "ca.pem", directory / "ca.key"
    cert_pem, key_pem = directory / "cert.pem", directory / "key.pem"
    files = TlsFiles(cert_pem, key_pem)

    ca = _load(ca_pem, ca_key_pem)
    new_ca = ca is None or ca[0].not_valid_after_utc - now < RENEW_BEFORE
    if new_ca:
        ca = _make_ca(now)
        _write_key(ca_key_pem, ca[1])
        _write(ca_pem, ca[0].public_bytes(serialization.Encoding.PEM), 0o644)
    assert ca is not None
    reason = "a new local certificate authority" if new_ca else _needs_reissue(_load(cert_pem, key_pem), ca[0],
                                                                              dns, ips, now)
    if reason is None:
        return LocalCa(ca_pem, files, None)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _make_server_cert(ca[0], ca[1], key, dns, ips, now)
    # The key first: a crash between the two leaves a certificate whose key does not match, which the next
    # start detects (_needs_reissue) and replaces, never one served with the wrong key.
    _write_key(key_pem, key)
    _write(cert_pem, cert.public_bytes(serialization.Encoding.PEM) + ca[0].public_bytes(serialization.Encoding.PEM),
           0o644)
    return LocalCa(ca_pem, files, reason)


def _needs_reissue(current: tuple[x509.Certificate, Key] | None, ca: x509.Certificate, dns: list[str],
                   ips: list[str], now: dt.datetime) -> str | None:
    if current is None:
        return "a first server certificate"
    cert, key = current
    if cert.issuer != ca.subject or cert.public_key() != key.public_key():
        return "a server certificate signed by the current local CA"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "a server certificate signed by the current local CA"
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return f"a renewed server certificate (the previous one ends {cert.not_valid_after_utc:%Y-%m-%d})"
    san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert isinstance(san, x509.SubjectAlternativeName)
    have = {*san.get_values_for_type(x509.DNSName), *(str(i) for i in san.get_values_for_type(x509.IPAddress))}
    if missing := [n for n in (*dns, *ips) if n not in have]:
        return f"a server certificate that also covers {', '.join(missing)}"
    return None


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, Key] | None:
    try:
        cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return (cert, key) if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _make_ca(now: dt.datetime) -> tuple[x509.Certificate, Key]:
    key = ec.generate_private_key(ec.SECP256R1())
    # A name of its own per data dir and creation time: two local CAs in one trust store stay distinct.
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Storeroom"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"Storeroom local CA {socket.gethostname()[:30]} {now:%Y%m%d%H%M%S}"),
    ])
    public = key.public_key()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _make_server_cert(ca: x509.Certificate, ca_key: Key, key: Key, dns: list[str], ips: list[str],
                      now: dt.datetime) -> x509.Certificate:
    public = key.public_key()
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    san = x509.SubjectAlternativeName([*(x509.DNSName(n) for n in dns),
                                       *(x509.IPAddress(ipaddress.ip_address(i)) for i in ips)])
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns[0])]))
            .issuer_name(ca.subject).public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + SERVER_LIFETIME)
            .add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))


def _write_key(path: Path, key: Key) -> None:
    _write(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()), 0o600)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Atomically (temporary file, fsync, rename): a crash leaves the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(fd, mode)  # whatever the umask
        f.write(data)
        f.flush()
        os.fsync(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
