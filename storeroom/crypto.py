"""Secrets at rest: access-key secrets are stored encrypted with AES-256-GCM under a master key.

SigV4 needs the plain secret to verify a signature, so secrets cannot be hashed like passwords; they are
encrypted instead.  The master key is ``$STOREROOM_MASTER_KEY`` (base64 of 32 bytes) or, failing that, a
random key kept in ``DATA_DIR/master.key`` (mode 0600), created on first start.
"""

from __future__ import annotations

import base64
import hmac
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


def load_master_key(path: Path) -> bytes:
    if env := os.environ.get("STOREROOM_MASTER_KEY"):
        key = base64.b64decode(env)
        if len(key) != 32:
            raise ValueError("STOREROOM_MASTER_KEY must be the base64 of 32 bytes")
        return key
    try:
        return base64.b64decode(path.read_bytes())
    except FileNotFoundError:
        pass
    key = AESGCM.generate_key(bit_length=256)
    # O_EXCL: if two processes race on first start, one wins and the other reads its key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return base64.b64decode(path.read_bytes())
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64encode(key))
        f.flush()
        os.fsync(f.fileno())
    return key


class SecretBox:
    """Encrypts and decrypts short secrets; the associated data binds a ciphertext to its access key id."""

    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(master_key)
        self._fingerprint = hmac.new(master_key, b"storeroom master key fingerprint", "sha256").hexdigest()[:32]

    def fingerprint(self) -> str:
        """A keyed digest that tells two master keys apart without revealing either."""
        return self._fingerprint

    def seal(self, plaintext: str, associated: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), associated.encode())

    def open(self, sealed: bytes, associated: str) -> str:
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        return self._aead.decrypt(nonce, ciphertext, associated.encode()).decode()
