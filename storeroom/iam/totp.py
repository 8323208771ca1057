"""Virtual MFA devices: TOTP codes as AWS's authenticator apps compute them (sans-IO).

RFC 6238 with the parameters every virtual MFA app assumes and AWS uses: HMAC-SHA1, 30-second steps, 6 digits
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_enable_virtual.html).  The seed is 40
random bytes, shown as the 64-character base32 string AWS hands out (``Base32StringSeed``).

Which codes are accepted:

- sign-in: the code of the current step, or of the step before or after (a clock up to ±30 s off), counted
  from the device's learned drift (ResyncMFADevice), and only a step later than the last one accepted, so a
  code is never accepted twice;
- EnableMFADevice / ResyncMFADevice: two *consecutive* codes, as AWS asks.  Enabling looks a few steps back
  (the user typed two codes, 30 s apart, then submitted); resynchronising looks up to ten minutes either way
  and records the offset found as the device's drift.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
import struct
from urllib.parse import quote

STEP_SECONDS = 30
DIGITS = 6
SIGN_IN_WINDOW = 1          # steps either side of now (+ drift)
ENABLE_WINDOW = (-4, 1)     # where the second code's step may lie, relative to now
RESYNC_WINDOW = 20          # steps either side of now: ten minutes


def new_seed() -> str:
    """A fresh secret: 40 random bytes as 64 base32 characters."""
    return base64.b32encode(secrets.token_bytes(40)).decode()


def step_at(now: float) -> int:
    return int(now // STEP_SECONDS)


def code(seed: str, step: int) -> str:
    """The HOTP value (RFC 4226) of ``step``: HMAC-SHA1, dynamic truncation, 6 digits."""
    key = base64.b32decode(seed.upper() + "=" * (-len(seed) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** DIGITS).zfill(DIGITS)


def _is_code(candidate: str) -> bool:
    return len(candidate) == DIGITS and candidate.isascii() and candidate.isdigit()


def match(seed: str, candidate: str, now: float, *, drift: int = 0, after: int = 0) -> int | None:
    """The step whose code is ``candidate`` within the sign-in window, if later than ``after``."""
    if not _is_code(candidate):
        return None
    centre = step_at(now) + drift
    for step in range(centre - SIGN_IN_WINDOW, centre + SIGN_IN_WINDOW + 1):
        if step > after and hmac.compare_digest(code(seed, step), candidate):
            return step
    return None


def match_consecutive(seed: str, code1: str, code2: str, now: float, *, resync: bool = False,
                      after: int = 0) -> int | None:
    """The step of ``code2`` when ``code1`` and ``code2`` are the codes of two consecutive steps in the
    enable (or resync) window, both later than ``after``."""
    if not (_is_code(code1) and _is_code(code2)):
        return None
    low, high = (-RESYNC_WINDOW, RESYNC_WINDOW) if resync else ENABLE_WINDOW
    now_step = step_at(now)
    for second in range(now_step + low, now_step + high + 1):
        first = second - 1
        if first > after and hmac.compare_digest(code(seed, first), code1) \
                and hmac.compare_digest(code(seed, second), code2):
            return second
    return None


def otpauth_uri(device_name: str, account_name: str, seed: str) -> str:
    """``otpauth://totp/$virtualMFADeviceName@$AccountName?secret=$Base32String``, what AWS's QR code encodes
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_VirtualMFADevice.html)."""
    return f"otpauth://totp/{quote(device_name, safe='')}@{quote(account_name, safe='')}?secret={seed}"


def qr_png(text: str) -> bytes:
    """A QR code of ``text`` as PNG bytes (segno: pure Python, no image library needed)."""
    import segno

    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=4, border=4)
    return out.getvalue()
