"""storeroom.checksums against known vectors and botocore's own checksum classes (which use awscrt)."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest
from botocore import httpchecksum
from hypothesis import given
from hypothesis import strategies as st

from storeroom.checksums import ALGORITHMS, Checksum, algorithm_of_header, combine_crc, header_name

BOTOCORE = {
    "CRC32": httpchecksum.Crc32Checksum,
    "CRC32C": httpchecksum.CrtCrc32cChecksum,
    "CRC64NVME": httpchecksum.CrtCrc64NvmeChecksum,
    "SHA1": httpchecksum.Sha1Checksum,
    "SHA256": httpchecksum.Sha256Checksum,
}

# Check values of the catalogued CRCs over "123456789" (reveng.sourceforge.io CRC catalogue:
# CRC-32/ISO-HDLC 0xCBF43926, CRC-32/ISCSI 0xE3069283, CRC-64/NVME 0xAE8B14860A799888).
CHECK_VALUES = {
    "CRC32": 0xCBF43926.to_bytes(4, "big"),
    "CRC32C": 0xE3069283.to_bytes(4, "big"),
    "CRC64NVME": 0xAE8B14860A799888.to_bytes(8, "big"),
    "SHA1": hashlib.sha1(b"123456789").digest(),
    "SHA256": hashlib.sha256(b"123456789").digest(),
}

# What S3 returns for an empty object (documented examples and botocore agree).
EMPTY = {
    "CRC32": "AAAAAA==",
    "CRC32C": "AAAAAA==",
    "CRC64NVME": "AAAAAAAAAAA=",
    "SHA1": "2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
    "SHA256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
}


def digest_of(algorithm: str, data: bytes) -> str:
    checksum = Checksum(algorithm)
    checksum.update(data)
    return checksum.b64digest()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_check_value(algorithm: str) -> None:
    checksum = Checksum(algorithm)
    checksum.update(b"123456789")
    assert checksum.digest() == CHECK_VALUES[algorithm]
    assert checksum.b64digest() == base64.b64encode(CHECK_VALUES[algorithm]).decode()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_empty(algorithm: str) -> None:
    assert Checksum(algorithm).b64digest() == EMPTY[algorithm]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(pieces=st.lists(st.binary(max_size=300), max_size=8))
def test_matches_botocore_incrementally(algorithm: str, pieces: list[bytes]) -> None:
    ours = Checksum(algorithm)
    theirs = BOTOCORE[algorithm]()
    for piece in pieces:
        ours.update(memoryview(piece))
        theirs.update(piece)
    assert ours.b64digest() == theirs.b64digest()
    assert ours.b64digest() == digest_of(algorithm, b"".join(pieces))


def test_crc32_is_zlib() -> None:
    data = bytes(range(256)) * 50
    assert digest_of("CRC32", data) == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_unknown_algorithm() -> None:
    with pytest.raises(ValueError):
        Checksum("MD5")
    with pytest.raises(ValueError):
        Checksum("crc32")  # names are upper-case


def test_header_names() -> None:
    assert header_name("CRC32") == "x-amz-checksum-crc32"
    assert header_name("CRC64NVME") == "x-amz-checksum-crc64nvme"
    assert [algorithm_of_header(header_name(a)) for a in ALGORITHMS] == list(ALGORITHMS)
    assert algorithm_of_header("x-amz-checksum-type") is None
    assert algorithm_of_header("x-amz-checksum-algorithm") is None
    assert algorithm_of_header("content-md5") is None


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
@given(first=st.binary(max_size=200), second=st.binary(max_size=200))
def test_combine_crc(algorithm: str, first: bytes, second: bytes) -> None:
    a, b = Checksum(algorithm), Checksum(algorithm)
    a.update(first)
    b.update(second)
    combined = combine_crc(algorithm, a.digest(), b.digest(), len(second))
    assert base64.b64encode(combined).decode() == digest_of(algorithm, first + second)


def test_combine_needs_crc() -> None:
    with pytest.raises(ValueError):
        combine_crc("SHA256", b"", b"", 0)
