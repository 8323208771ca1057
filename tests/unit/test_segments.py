"""The encrypted blob format (storeroom/store/segments.py): any range of any blob decrypts to the same bytes as
the plaintext's slice, through streams cut anywhere; reordered, truncated, extended or altered segments are
refused."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from storeroom.store import segments
from storeroom.store.segments import SEGMENT, RangeOpener, SegmentSealer, TamperedBlob

SIZES = st.one_of(st.integers(0, 3 * SEGMENT + 17), st.sampled_from([0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1,
                                                                      2 * SEGMENT, 3 * SEGMENT]))


def _plain(size: int) -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(size))


def _sealed_stream(aead: AESGCM, plaintext: bytes, cuts: list[int]) -> bytes:
    sealer = SegmentSealer(aead)
    out, at = [], 0
    for cut in sorted(c % (len(plaintext) + 1) for c in cuts):
        out.append(sealer.feed(plaintext[at:cut]))
        at = cut
    out.append(sealer.feed(plaintext[at:]))
    out.append(sealer.finish())
    return b"".join(out)


@settings(max_examples=150, deadline=None)
@given(size=SIZES, a=st.integers(0, 4 * SEGMENT), b=st.integers(0, 4 * SEGMENT),
       cuts=st.lists(st.integers(0, 4 * SEGMENT), max_size=5), chunk=st.integers(1, 3 * SEGMENT))
def test_any_range_decrypts_to_the_plaintext_slice(size: int, a: int, b: int, cuts: list[int], chunk: int) -> None:
    aead = AESGCM(segments.new_key())
    plaintext = _plain(size)
    sealed = _sealed_stream(aead, plaintext, cuts)
    assert sealed == segments.seal_all(aead, plaintext)
    assert len(sealed) == segments.sealed_size(size)
    start, end = sorted((a % (size + 1), b % (size + 1)))
    opener = RangeOpener(aead, size, start, end)
    lo, hi = opener.stored
    stored = sealed[lo:hi]
    # only the covering segments are read: at most one segment's worth more than asked on each side
    assert hi - lo <= (end - start) + 2 * segments.SEALED
    out = b"".join(opener.feed(stored[i:i + chunk]) for i in range(0, len(stored), chunk))
    opener.finish()
    assert out == plaintext[start:end]


def _blob(size: int) -> tuple[AESGCM, bytes, bytes]:
    aead = AESGCM(segments.new_key())
    plaintext = os.urandom(size)
    return aead, plaintext, segments.seal_all(aead, plaintext)


def test_an_altered_byte_is_detected() -> None:
    aead, _, sealed = _blob(2 * SEGMENT + 5)
    for position in (0, SEGMENT, SEGMENT + 20, len(sealed) - 1):
        bad = bytearray(sealed)
        bad[position] ^= 1
        with pytest.raises(TamperedBlob):
            segments.open_range(aead, 2 * SEGMENT + 5, 0, 2 * SEGMENT + 5, bytes(bad))


def test_reordered_segments_are_detected() -> None:
    aead, _, sealed = _blob(3 * SEGMENT)
    s = segments.SEALED
    swapped = sealed[s:2 * s] + sealed[:s] + sealed[2 * s:]
    with pytest.raises(TamperedBlob):
        segments.open_range(aead, 3 * SEGMENT, 0, 3 * SEGMENT, swapped)


def test_a_blob_cut_after_a_whole_segment_is_detected() -> None:
    """The segment that becomes last lacks the final flag: reading it as the last one fails."""
    aead, _, sealed = _blob(2 * SEGMENT)
    with pytest.raises(TamperedBlob):
        segments.open_range(aead, SEGMENT, 0, SEGMENT, sealed[:segments.SEALED])


def test_a_short_or_long_stream_is_detected() -> None:
    aead, _, sealed = _blob(SEGMENT + 100)
    opener = RangeOpener(aead, SEGMENT + 100, 0, SEGMENT + 100)
    opener.feed(sealed[:-1])
    with pytest.raises(TamperedBlob):
        opener.finish()
    opener = RangeOpener(aead, SEGMENT + 100, 0, SEGMENT + 100)
    opener.feed(sealed + b"x")
    with pytest.raises(TamperedBlob):
        opener.finish()


def test_another_key_is_refused() -> None:
    _, _, sealed = _blob(10)
    with pytest.raises(TamperedBlob):
        segments.open_range(AESGCM(segments.new_key()), 10, 0, 10, sealed)
