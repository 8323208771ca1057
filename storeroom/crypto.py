"""Secrets at rest: access-key secrets are stored encrypted with AES-256-GCM under a master key.

SigV4 needs the plain secret to verify a signature, so secrets cannot be hashed like passwords; they are
encrypted instead.  The master key is ``$STOREROOM_MASTER_KEY`` (base64 of 32 bytes) or, failing that, a
random key kept in ``DATA_DIR/master.key`` (mode 0600), created on first start.

The same master key wraps the data keys of encrypted object data (:class:`Keyring`, storeroom/store/
encrypted_blobs.py).  While ``storeroom master-key rotate`` runs (or after it was interrupted), the next key
is there as well -- ``DATA_DIR/master.key.next``, or ``$STOREROOM_MASTER_KEY_NEXT`` -- and everything sealed
under either key opens: a wrapped data key names its key by fingerprint, a sealed secret is tried under both.
"""

from __future__ import annotations

import base64
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storeroom.randomness import random_bytes

_NONCE_BYTES = 12
NEXT_SUFFIX = ".next"


def _decode_key(value: bytes | str, where: str) -> bytes:
    key = base64.b64decode(value)
    if len(key) != 32:
        raise ValueError(f"{where} must be the base64 of 32 bytes")
    return key


def fingerprint(master_key: bytes) -> str:
    """A keyed digest that tells two master keys apart without revealing either."""
    return hmac.new(master_key, b"storeroom master key fingerprint", "sha256").hexdigest()[:32]


def next_key_path(path: Path) -> Path:
    return path.with_name(path.name + NEXT_SUFFIX)


def load_next_key(path: Path) -> bytes | None:
    """The key a rotation is moving to (``$STOREROOM_MASTER_KEY_NEXT`` or ``master.key.next``), if one is."""
    if os.environ.get("STOREROOM_MASTER_KEY"):
        env = os.environ.get("STOREROOM_MASTER_KEY_NEXT")
        return _decode_key(env, "STOREROOM_MASTER_KEY_NEXT") if env else None
    try:
        return _decode_key(next_key_path(path).read_bytes(), str(next_key_path(path)))
    except FileNotFoundError:
        return None


def load_master_key(path: Path) -> bytes:
    if env := os.environ.get("STOREROOM_MASTER_KEY"):
        return _decode_key(env, "STOREROOM_MASTER_KEY")
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


def load_secret_box(path: Path) -> SecretBox:
    """The box of the master key, opening also what the key of a rotation in progress sealed."""
    following = load_next_key(path)
    return SecretBox(load_master_key(path), () if following is None else (following,))


class SecretBox:
    """Encrypts and decrypts short secrets; the associated data binds a ciphertext to its access key id.

    ``others``: keys that may also have sealed what is opened (a rotation in progress); seal uses
    ``master_key``."""

    def __init__(self, master_key: bytes, others: tuple[bytes, ...] = ()) -> None:
        self._aead = AESGCM(master_key)
        self._others = tuple(AESGCM(k) for k in others if k != master_key)
        self._fingerprint = fingerprint(master_key)
        self._fingerprints = frozenset([self._fingerprint, *(fingerprint(k) for k in others)])
        self._pseudonym_key = hmac.new(master_key, b"storeroom pseudonyms", "sha256").digest()

    def fingerprint(self) -> str:
        """A keyed digest that tells two master keys apart without revealing either."""
        return self._fingerprint

    def fingerprints(self) -> frozenset[str]:
        return self._fingerprints

    def pseudonym(self, text: str) -> str:
        """A keyed digest of ``text``: equal texts give equal pseudonyms under one master key, and a pseudonym
        cannot be read back, nor the text guessed from it without the key (what is typed into a sign-in form's
        name field may be a password typed in the wrong field)."""
        return hmac.new(self._pseudonym_key, text.encode("utf-8", "surrogatepass"), "sha256").hexdigest()[:32]

    def seal(self, plaintext: str, associated: str) -> bytes:
        nonce = random_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), associated.encode())

    def open(self, sealed: bytes, associated: str) -> str:
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, associated.encode()).decode()
        except InvalidTag:
            for other in self._others:
                try:
                    return other.decrypt(nonce, ciphertext, associated.encode()).decode()
                except InvalidTag:
                    pass
            raise


class Keyring:
    """Wraps and unwraps blob data keys under the master key; a wrapped key records its master key's
    fingerprint (the key id), so that keys wrapped before and after a rotation both open."""

    def __init__(self, current: bytes, others: tuple[bytes, ...] = ()) -> None:
        self.current_id = fingerprint(current)
        self._keys = {fingerprint(k): AESGCM(k) for k in (*others, current)}

    @classmethod
    def load(cls, path: Path) -> Keyring:
        current = load_master_key(path)
        following = load_next_key(path)
        return cls(current, () if following is None else (following,))

    def has(self, key_id: str) -> bool:
        return key_id in self._keys

    def wrap(self, data_key: bytes, blob_id: str, key_id: str | None = None) -> tuple[str, bytes]:
        key_id = key_id or self.current_id
        nonce = random_bytes(_NONCE_BYTES)
        return key_id, nonce + self._keys[key_id].encrypt(nonce, data_key, b"storeroom blob key " + blob_id.encode())

    def unwrap(self, key_id: str, wrapped: bytes, blob_id: str) -> bytes:
        aead = self._keys.get(key_id)
        if aead is None:
            raise KeyError(f"blob {blob_id} was encrypted under master key {key_id}, which is not loaded "
                           f"(STOREROOM_MASTER_KEY / master.key)")
        return aead.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], b"storeroom blob key " + blob_id.encode())
