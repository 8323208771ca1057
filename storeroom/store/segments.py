"""The encrypted blob format: a blob's plaintext cut into fixed-size segments, each sealed with AES-256-GCM.

Sans-IO: bytes in, bytes out; :mod:`storeroom.store.encrypted_blobs` does the I/O.

A blob of ``n`` plaintext bytes is ``segments(n) = max(1, ceil(n / SEGMENT))`` segments; segment ``i`` is its
plaintext (``SEGMENT`` bytes, the last one shorter, possibly empty) followed by GCM's 16-byte tag, so the blob
is ``n + 16 * segments(n)`` bytes and segment ``i`` starts at ``i * (SEGMENT + 16)``: a plaintext range maps to
the segments that cover it by arithmetic, and a range GET decrypts only those.

Each blob has its own random 256-bit data key (wrapped by the master key in the metadata, never stored beside
the data), so a (key, nonce) pair can never seal two different plaintexts even with a deterministic nonce: the
nonce is the segment index (11 bytes, big-endian) and the final-segment flag (1 byte).  Blobs share a key only
as CopyObject's copies of the stored bytes (``EncryptedBlobs.copy_blob``): the same plaintext under the same key
and nonces, i.e. the same ciphertext.  The same index and flag are the
associated data too, so a segment moved to another place, or a blob cut short after a whole segment (the new
last segment lacks the final flag), or a blob extended, fails authentication.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storeroom.randomness import random_bytes

SEGMENT = 64 * 1024
TAG = 16
SEALED = SEGMENT + TAG
KEY_BYTES = 32


class TamperedBlob(OSError):
    """A segment failed authentication: the stored bytes are not what was written."""


def segments(size: int) -> int:
    return max(1, -(-size // SEGMENT))


def sealed_size(size: int) -> int:
    """The stored size of a blob of ``size`` plaintext bytes."""
    return size + TAG * segments(size)


def new_key() -> bytes:
    return random_bytes(KEY_BYTES)


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def seal_segment(aead: AESGCM, index: int, final: bool, plaintext: bytes | bytearray | memoryview) -> bytes:
    nonce = _nonce(index, final)
    return aead.encrypt(nonce, plaintext, nonce)  # any buffer: no copy of the segment first


def open_segment(aead: AESGCM, index: int, final: bool, sealed: bytes | bytearray | memoryview) -> bytes:
    nonce = _nonce(index, final)
    try:
        return aead.decrypt(nonce, sealed, nonce)
    except InvalidTag:
        raise TamperedBlob(f"encrypted segment {index} failed authentication") from None


def seal_all(aead: AESGCM, plaintext: bytes) -> bytes:
    """A whole blob at once (small blobs, tests)."""
    count = segments(len(plaintext))
    return b"".join(seal_segment(aead, i, i == count - 1, plaintext[i * SEGMENT:(i + 1) * SEGMENT])
                    for i in range(count))


def covering(size: int, start: int, end: int) -> tuple[int, int]:
    """The segments [first, last) that hold plaintext bytes [start, end) of a blob of ``size`` bytes."""
    if start >= end:
        return 0, 0
    return start // SEGMENT, min(-(-end // SEGMENT), segments(size))


def stored_span(size: int, first: int, last: int) -> tuple[int, int]:
    """Where segments [first, last) lie in the stored blob."""
    return first * SEALED, min(last * SEALED, sealed_size(size))


class RangeOpener:
    """Decrypts, in order, the stored bytes of segments [first, last) of one blob as they arrive in chunks of
    any size, and gives back only the plaintext in [start, end)."""

    def __init__(self, aead: AESGCM, size: int, start: int, end: int) -> None:
        self._aead = aead
        self._count = segments(size)
        self._first, self._last = covering(size, start, end)
        self._index = self._first
        self._skip = start - self._first * SEGMENT   # plaintext to drop at the front
        self._left = end - start                      # plaintext still to give
        self._buffer = bytearray()
        self.size = size

    @property
    def stored(self) -> tuple[int, int]:
        return stored_span(self.size, self._first, self._last)

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """The plaintext of the segments ``data`` completes.  Whole segments are opened where they lie in
        ``data``; only a segment cut by a chunk's end is kept back (copied) until the next chunk completes it."""
        out: list[bytes] = []
        view = memoryview(data)
        if self._buffer and self._index < self._last:
            take = self._want() - len(self._buffer)
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) < self._want():
                return b""
            self._open(memoryview(self._buffer), out)
            self._buffer = bytearray()
        while self._index < self._last and view.nbytes >= (want := self._want()):
            self._open(view[:want], out)
            view = view[want:]
        if view.nbytes:
            self._buffer += view  # a segment's beginning, or bytes past the range (finish() refuses those)
        return out[0] if len(out) == 1 else b"".join(out)

    def _want(self) -> int:
        """The stored size of the next segment."""
        return sealed_size(self.size) - self._index * SEALED if self._index == self._count - 1 else SEALED

    def _open(self, sealed: memoryview, out: list[bytes]) -> None:
        plain = open_segment(self._aead, self._index, self._index == self._count - 1, sealed)
        self._index += 1
        if self._skip:
            plain, self._skip = plain[self._skip:], 0
        if len(plain) > self._left:
            plain = plain[:self._left]
        self._left -= len(plain)
        out.append(plain)

    def finish(self) -> None:
        if self._index < self._last or self._buffer:
            raise TamperedBlob("encrypted blob is shorter or longer than recorded")


def open_range(aead: AESGCM, size: int, start: int, end: int, stored: bytes) -> bytes:
    """Plaintext [start, end) from ``stored``, the stored bytes of the covering segments (:func:`covering`).
    An empty range covers no segment, whatever ``stored`` holds (an empty blob's is its one empty segment's tag:
    CopyObject of a 0-byte object failed with TamperedBlob)."""
    if start >= end:
        return b""
    opener = RangeOpener(aead, size, start, end)
    out = opener.feed(stored)
    opener.finish()
    return out


class SegmentSealer:
    """Seals a stream: ``feed`` plaintext of any chunk size, get back whole sealed segments; ``finish`` seals
    the last one (flagged final).  A segment is sealed only once a byte after it is known to exist."""

    def __init__(self, aead: AESGCM) -> None:
        self._aead = aead
        self._index = 0
        self._buffer = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> bytes | bytearray:
        """Whole segments are sealed straight from ``data`` (no copy); only a tail shorter than a segment, or the
        last segment, waits in the buffer."""
        view = memoryview(data)
        first = b""
        if self._buffer:
            take = min(SEGMENT - len(self._buffer), view.nbytes)
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) < SEGMENT or not view.nbytes:
                return b""
            first = seal_segment(self._aead, self._index, False, self._buffer)
            self._index += 1
            self._buffer = bytearray()
        whole = max(view.nbytes - 1, 0) // SEGMENT   # a segment is sealed once a byte after it exists
        # every segment sealed straight into one buffer: no bytes object per segment, no join
        out = bytearray(len(first) + whole * SEALED)
        out[:len(first)] = first
        target = memoryview(out)
        at = len(first)
        aead = self._aead
        for i in range(whole):
            nonce = _nonce(self._index, False)
            aead.encrypt_into(nonce, view[i * SEGMENT:(i + 1) * SEGMENT], nonce, target[at:at + SEALED])
            self._index += 1
            at += SEALED
        self._buffer += view[whole * SEGMENT:]
        return out

    def finish(self) -> bytes:
        last = seal_segment(self._aead, self._index, True, self._buffer)
        self._buffer = bytearray()
        return last
