"""Checks a certificate and its key before they are served, with a message that names the problem.

OpenSSL's own errors (``[SSL] PEM lib (_ssl.c:3900)``, ``KEY_VALUES_MISMATCH``) say little to someone who
pointed ``--tls-cert`` at the wrong file, so each file is read with ``cryptography`` first: missing or
unreadable, not PEM, a passphrase-protected key, a key that is not the certificate's.  What still serves but
will be refused by clients (expired, not yet valid, expiring within two weeks) is a warning, not an error: a
server whose certificate lapsed should still start and say so.
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, NameOID

from storeroom.tls import TlsFiles

EXPIRY_WARNING = dt.timedelta(days=14)


class TlsError(Exception):
    """A certificate or key that cannot be served; the message is for the operator, as is."""


@dataclass(frozen=True, slots=True)
class CertInfo:
    subject: str
    names: tuple[str, ...]          # subjectAltName entries (DNS names and IP addresses)
    not_before: dt.datetime
    not_after: dt.datetime
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        shown = ", ".join(self.names[:6]) + (", …" if len(self.names) > 6 else "")
        return f"{self.subject or '(no subject)'} [{shown}], valid until {self.not_after:%Y-%m-%d %H:%M} UTC"


def check(files: TlsFiles, *, now: dt.datetime | None = None) -> CertInfo:
    """Reads and verifies ``files``; raises :class:`TlsError` with the reason when they cannot be served."""
    cert_pem = _read(files.cert, "--tls-cert")
    key_pem = cert_pem if files.key == files.cert else _read(files.key, "--tls-key")
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise TlsError(f"--tls-cert {files.cert}: not a PEM certificate (expected '-----BEGIN CERTIFICATE-----')"
                       ) from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise TlsError(f"--tls-key {files.key}: the key is protected by a passphrase; give Storeroom an "
                       "unencrypted key (e.g. openssl pkey -in KEY -out KEY.plain) in a file only it can read"
                       ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        where = "--tls-cert (no key given with --tls-key)" if files.key == files.cert else "--tls-key"
        raise TlsError(f"{where} {files.key}: not a PEM private key ({_first_line(exc)})") from None
    leaf = chain[0]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, public)
            != leaf.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise TlsError(f"--tls-key {files.key} is not the key of the certificate in --tls-cert {files.cert} "
                       f"({_subject(leaf)})")
    # Last, OpenSSL itself (what will serve): an algorithm it refuses would otherwise fail every worker.
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(files.cert, files.key)
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(f"--tls-cert {files.cert}: OpenSSL refuses it: {exc}") from None
    return _info(leaf, files, now or dt.datetime.now(dt.UTC))


def _read(path: object, flag: str) -> bytes:
    try:
        with open(str(path), "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise TlsError(f"{flag} {path}: no such file") from None
    except IsADirectoryError:
        raise TlsError(f"{flag} {path}: is a directory, not a PEM file") from None
    except OSError as exc:
        raise TlsError(f"{flag} {path}: cannot be read ({exc.strerror})") from None


def _info(leaf: x509.Certificate, files: TlsFiles, now: dt.datetime) -> CertInfo:
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    warnings = []
    if not_after <= now:
        warnings.append(f"the certificate in {files.cert} expired on {not_after:%Y-%m-%d %H:%M} UTC: clients will "
                        "refuse the connection until it is replaced (then send SIGHUP)")
    elif not_after - now <= EXPIRY_WARNING:
        warnings.append(f"the certificate in {files.cert} expires on {not_after:%Y-%m-%d %H:%M} UTC: replace it "
                        "and send SIGHUP")
    if not_before > now:
        warnings.append(f"the certificate in {files.cert} is not valid before {not_before:%Y-%m-%d %H:%M} UTC: "
                        "clients will refuse it until then (is the clock right?)")
    return CertInfo(_subject(leaf), _names(leaf), not_before, not_after, warnings)


def _subject(cert: x509.Certificate) -> str:
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common[0].value) if common else cert.subject.rfc4514_string()


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return ()
    assert isinstance(san, x509.SubjectAlternativeName)
    return (*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress)))


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
