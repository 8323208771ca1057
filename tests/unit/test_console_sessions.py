"""The console's sealed cookies and CSRF tokens (storeroom/console/sessions.py), without a server."""

from __future__ import annotations

import os
from dataclasses import asdict

from storeroom.console.sessions import IDLE, MAX_AGE, Sealer, Session

KEY = os.urandom(32)


def test_sealed_values_open_only_for_their_purpose_and_key() -> None:
    sealer = Sealer(KEY)
    token = sealer.seal({"sid": "abc", "kind": "root"}, "session")
    assert sealer.open(token, "session") == {"sid": "abc", "kind": "root"}
    assert sealer.open(token, "pending") is None                 # a session cookie is not a pending sign-in
    assert Sealer(os.urandom(32)).open(token, "session") is None  # another master key
    assert b"root" not in token.encode()                          # encrypted, not merely signed


def test_tampered_or_garbage_tokens_are_refused() -> None:
    sealer = Sealer(KEY)
    token = sealer.seal({"sid": "abc"}, "session")
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    for bad in (flipped, token[:-2], "", "not base64 at all!", "A" * 9000, None):
        assert sealer.open(bad, "session") is None


def test_session_expires_at_twelve_hours_or_an_idle_hour() -> None:
    session = Session("sid", "root", "123456789012", auth_time=1000.0, mfa=False, seen=1000.0)
    assert session.expires == 1000.0 + IDLE
    busy = Session(**{**asdict(session), "seen": 1000.0 + MAX_AGE - 60})
    assert busy.expires == 1000.0 + MAX_AGE


def test_csrf_token_is_bound_to_its_session() -> None:
    sealer = Sealer(KEY)
    token = sealer.mac("csrf:session-1")
    assert token == Sealer(KEY).mac("csrf:session-1")
    assert token != sealer.mac("csrf:session-2")


def test_the_login_profile_signed_in_with_survives_the_cookie_exactly() -> None:
    """The session ends when the user's login profile is not the one it signed in with: compared for equality
    (a creation time written by another node's clock is never compared with this one's), so the time must come
    back from the cookie to the last bit; a cookie of an earlier version (without it) still opens."""
    sealer = Sealer(KEY)
    created = 1_796_000_000.123456789
    session = Session("sid", "user", "AIDAEXAMPLE", 1000.0, False, 1000.0, False, created)
    opened = sealer.open(sealer.seal(asdict(session), "session"), "session")
    assert opened is not None and Session(**opened).profile_created == created
    older = {k: v for k, v in asdict(session).items() if k != "profile_created"}
    assert Session(**older).profile_created is None
