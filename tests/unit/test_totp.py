"""TOTP as authenticator apps and AWS compute it: RFC 6238's SHA-1 vectors, pyotp's codes, the windows."""

from __future__ import annotations

import base64

import pyotp

from storeroom.iam import totp

RFC_SEED = base64.b32encode(b"12345678901234567890").decode()  # RFC 6238 appendix B's SHA-1 key


def test_rfc6238_vectors() -> None:
    # RFC 6238 appendix B (SHA-1, 8 digits): the 6-digit code is the last six digits
    for when, eight in ((59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
                        (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")):
        assert totp.code(RFC_SEED, totp.step_at(when)) == eight[-6:]


def test_agrees_with_pyotp() -> None:
    seed = totp.new_seed()
    assert len(seed) == 64 and base64.b32decode(seed)
    for when in (0, 1_700_000_000, 1_700_000_029, 1_700_000_030):
        assert totp.code(seed, totp.step_at(when)) == pyotp.TOTP(seed).at(when)


def test_sign_in_window_is_one_step_either_side_and_never_twice() -> None:
    seed, now = totp.new_seed(), 1_700_000_015.0
    step = totp.step_at(now)
    for offset in (-1, 0, 1):
        assert totp.match(seed, totp.code(seed, step + offset), now) == step + offset
    assert totp.match(seed, totp.code(seed, step - 2), now) is None
    assert totp.match(seed, totp.code(seed, step + 2), now) is None
    # a step already used (or an earlier one) is refused: no replay
    assert totp.match(seed, totp.code(seed, step), now, after=step) is None
    assert totp.match(seed, totp.code(seed, step - 1), now, after=step) is None
    # the learned drift moves the window
    assert totp.match(seed, totp.code(seed, step + 7), now, drift=7) == step + 7
    for bad in ("", "12345", "1234567", "abcdef", "１２３４５６"):
        assert totp.match(seed, bad, now) is None


def test_consecutive_codes_for_enable_and_resync() -> None:
    seed, now = totp.new_seed(), 1_700_000_015.0
    step = totp.step_at(now)
    c = lambda s: totp.code(seed, s)  # noqa: E731
    assert totp.match_consecutive(seed, c(step - 1), c(step), now) == step
    assert totp.match_consecutive(seed, c(step), c(step - 1), now) is None  # not in order
    assert totp.match_consecutive(seed, c(step - 2), c(step), now) is None  # not consecutive
    assert totp.match_consecutive(seed, c(step), c(step), now) is None
    # a device ten steps fast: too far to enable, found by a resync
    assert totp.match_consecutive(seed, c(step + 9), c(step + 10), now) is None
    assert totp.match_consecutive(seed, c(step + 9), c(step + 10), now, resync=True) == step + 10
    assert totp.match_consecutive(seed, c(step + 30), c(step + 31), now, resync=True) is None
    assert totp.match_consecutive(seed, c(step - 1), c(step), now, after=step - 1) is None


def test_otpauth_uri_and_qr_png() -> None:
    uri = totp.otpauth_uri("alice phone", "123456789012", "ABCDEF")
    assert uri == "otpauth://totp/alice%20phone@123456789012?secret=ABCDEF"
    png = totp.qr_png(uri)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
