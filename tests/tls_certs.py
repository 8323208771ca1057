"""Certificates for the TLS tests, made with ``cryptography`` independently of storeroom/tls/selfsigned.py: a test
CA, and server certificates it signs (ECDSA or RSA keys, any validity window)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_key(kind: str) -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)


def key_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class CertAuthority:
    key: PrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls) -> CertAuthority:
        key = new_key("ec")
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Storeroom test CA")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now() - dt.timedelta(days=1)).not_valid_after(now() + dt.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    def issue(self, common_name: str, key: PrivateKey, *, not_before: dt.datetime | None = None,
              not_after: dt.datetime | None = None) -> x509.Certificate:
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_before or now() - dt.timedelta(days=1))
                .not_valid_after(not_after or now() + dt.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
                .sign(self.key, hashes.SHA256()))

    def write_server(self, directory: Path, common_name: str, kind: str = "ec", **validity: dt.datetime
                     ) -> tuple[Path, Path, x509.Certificate]:
        """cert.pem and key.pem in ``directory`` (replaced atomically, as a renewal tool does)."""
        key = new_key(kind)
        cert = self.issue(common_name, key, **validity)
        cert_path, key_path = directory / "cert.pem", directory / "key.pem"
        replace(key_path, key_pem(key))
        replace(cert_path, cert_pem(cert))
        return cert_path, key_path, cert

    def write_ca(self, path: Path) -> Path:
        path.write_bytes(cert_pem(self.cert))
        return path


def replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    tmp.replace(path)


def common_name(der: bytes | None) -> str:
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
