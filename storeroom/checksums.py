"""The ``x-amz-checksum-*`` algorithms S3 supports for object integrity.

"Amazon S3 ... supports the following checksum algorithms: CRC-64/NVME (CRC64NVME), CRC-32 (CRC32),
CRC-32C (CRC32C), SHA-1 (SHA1), SHA-256 (SHA256)" and returns each digest "base64-encoded" in the
``x-amz-checksum-<algorithm>`` header.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html

CRC32 uses :func:`zlib.crc32`; CRC32C and CRC64NVME use ``awscrt.checksums`` (the same code botocore
uses for them); the SHA family uses :mod:`hashlib`.  CRC digests are the big-endian bytes of the CRC
value, as botocore's ``httpchecksum`` classes produce them.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable

from awscrt import checksums as _crt  # type: ignore[import-untyped]

ALGORITHMS: tuple[str, ...] = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")

_CrcFn = Callable[[bytes | bytearray | memoryview, int], int]


def _crc32c(data: bytes | bytearray | memoryview, crc: int) -> int:
    return int(_crt.crc32c(data, crc))


def _crc64nvme(data: bytes | bytearray | memoryview, crc: int) -> int:
    return int(_crt.crc64nvme(data, crc))


# algorithm -> (update function, digest size in bytes, combine function)
_CRCS: dict[str, tuple[_CrcFn, int, Callable[[int, int, int], int]]] = {
    "CRC32": (zlib.crc32, 4, _crt.combine_crc32),
    "CRC32C": (_crc32c, 4, _crt.combine_crc32c),
    "CRC64NVME": (_crc64nvme, 8, _crt.combine_crc64nvme),
}
_SHAS: dict[str, str] = {"SHA1": "sha1", "SHA256": "sha256"}
# S3 added these to its model in 2025; Storeroom does not compute them, so a request naming one is refused rather
# than stored unchecked.
UNSUPPORTED_ALGORITHMS: tuple[str, ...] = ("SHA512", "MD5", "XXHASH64", "XXHASH3", "XXHASH128")


def digest_size(algorithm: str) -> int:
    """The raw digest's length in bytes: what a well-formed ``x-amz-checksum-*`` value decodes to."""
    if algorithm in _CRCS:
        return _CRCS[algorithm][1]
    return hashlib.new(_SHAS[algorithm]).digest_size


class Checksum:
    """A running checksum: ``update()`` with the object's bytes, then ``b64digest()``."""

    __slots__ = ("algorithm", "_crc", "_crc_fn", "_size", "_hash")

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._crc = 0
        self._hash: hashlib._Hash | None = None
        if algorithm in _CRCS:
            self._crc_fn, self._size, _ = _CRCS[algorithm]
        elif algorithm in _SHAS:
            self._hash = hashlib.new(_SHAS[algorithm])
        else:
            raise ValueError(f"unknown checksum algorithm {algorithm!r}; expected one of {ALGORITHMS}")

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._hash is not None:
            self._hash.update(data)
        else:
            self._crc = self._crc_fn(data, self._crc)

    def digest(self) -> bytes:
        """The raw digest: big-endian CRC bytes, or the SHA digest."""
        if self._hash is not None:
            return self._hash.digest()
        return self._crc.to_bytes(self._size, "big")

    def b64digest(self) -> str:
        """Base64 of the digest, as S3 sends and expects it in ``x-amz-checksum-*``."""
        return base64.b64encode(self.digest()).decode("ascii")


def header_name(algorithm: str) -> str:
    """``"CRC32"`` -> ``"x-amz-checksum-crc32"``."""
    return "x-amz-checksum-" + algorithm.lower()


def algorithm_of_header(name: str) -> str | None:
    """``"x-amz-checksum-crc32c"`` -> ``"CRC32C"``; None for any other header (e.g. x-amz-checksum-type)."""
    if not name.startswith("x-amz-checksum-"):
        return None
    algorithm = name[len("x-amz-checksum-"):].upper()
    return algorithm if algorithm in ALGORITHMS else None


def combine_crc(algorithm: str, first: bytes, second: bytes, second_length: int) -> bytes:
    """The CRC of ``A || B`` from ``crc(A)``, ``crc(B)`` and ``len(B)``, without reading the data again.

    For S3's ``FULL_OBJECT`` checksums of multipart uploads, which "are calculated on the entire object"
    and only exist for the CRC algorithms.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html#ChecksumTypes
    """
    if algorithm not in _CRCS:
        raise ValueError(f"{algorithm!r} is not a CRC algorithm")
    _, size, combine = _CRCS[algorithm]
    value = combine(int.from_bytes(first, "big"), int.from_bytes(second, "big"), second_length)
    return int(value).to_bytes(size, "big")
