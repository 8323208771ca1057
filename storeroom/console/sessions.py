"""Console sessions: sealed cookies any worker can verify, a durable list of the ones signed out, CSRF tokens.

A session is a small JSON document sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the data
dir's master key, in an HttpOnly, SameSite=Lax cookie (``Secure`` under TLS).  Any console worker, on any
machine holding the master key, can open and check it without shared memory or a database read per request:

- lifetime: 12 hours from sign-in (``MAX_AGE``), as AWS's console sessions; idle expiry after ``IDLE``
  without a request (the cookie carries the time of the last request, refreshed at most once a minute);
- sign-out is the one thing a sealed cookie cannot do alone (a copy of the cookie would stay valid): the
  session's id goes into ``console_spent`` (a table of the metadata store, read by primary key) until the
  session would have expired anyway.  The same table makes one-time things one-time: the page that shows a
  new secret access key reads a sealed note that is spent as it is shown;
- the principal is read anew from the store at every request (a deleted user's session ends at once; a
  renamed one follows its user id).

CSRF: every form carries ``csrf_token``, an HMAC of the session id (or, before sign-in, of a random
pre-session cookie); a POST without the right one is refused (403) before any handler runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storeroom.store.meta import MetaStore
from storeroom.store.sql import Conn

COOKIE = "storeroom-session"
PRE_COOKIE = "storeroom-signin"       # before sign-in: anchors the sign-in form's CSRF token
MAX_AGE = 12 * 3600                  # AWS console sessions last 12 hours at most
IDLE = 60 * 60                       # signed out after an hour without a request
REFRESH = 60                         # the cookie's last-seen time is rewritten at most once a minute
PENDING_MAX_AGE = 300                # the password step's result waits 5 minutes for the MFA code

@dataclass(frozen=True, slots=True)
class Session:
    sid: str                # random id: CSRF tokens and sign-out refer to it
    kind: str               # "root" or "user"
    principal_id: str       # the user id (AIDA…) or the account id for root
    auth_time: float        # sign-in (aws:MultiFactorAuthAge counts from it)
    mfa: bool               # signed in with an MFA code
    seen: float             # last request
    must_change: bool = False   # PasswordResetRequired or an expired password: only the change page until done
    profile_created: float | None = None  # the login profile signed in with: the session ends if it is not there

    @property
    def expires(self) -> float:
        return min(self.auth_time + MAX_AGE, self.seen + IDLE)


class Sealer:
    """AES-GCM under a purpose-bound key derived from the master key; ``purpose`` is the associated data, so a
    value sealed for one use (a pending sign-in) cannot be replayed as another (a session)."""

    def __init__(self, master_key: bytes) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=None,
                       info=b"storeroom console v1").derive(master_key)
        self._aead = AESGCM(derived[:32])
        self._mac_key = derived[32:]

    def seal(self, value: dict[str, Any], purpose: str) -> str:
        nonce = os.urandom(12)
        body = self._aead.encrypt(nonce, json.dumps(value, separators=(",", ":")).encode(), purpose.encode())
        return base64.urlsafe_b64encode(nonce + body).decode().rstrip("=")

    def open(self, token: str | None, purpose: str) -> dict[str, Any] | None:
        if not token or len(token) > 8192:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            plain = self._aead.decrypt(raw[:12], raw[12:], purpose.encode())
            value = json.loads(plain)
        except (ValueError, InvalidTag):
            return None
        return value if isinstance(value, dict) else None

    def mac(self, text: str) -> str:
        return hmac.new(self._mac_key, text.encode(), hashlib.sha256).hexdigest()


def new_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(18)).decode()


class Sessions:
    def __init__(self, meta: MetaStore, sealer: Sealer) -> None:
        self.meta, self.sealer = meta, sealer

    async def prepare(self) -> None:
        """The table of spent tokens (made by the metadata's migrations), emptied of the expired ones (at each
        console start)."""
        now = time.time()
        await self.meta.db.write(lambda conn: conn.run("DELETE FROM console_spent WHERE expires < ?", (now,)),
                                 serializable=False)

    # -- sessions --------------------------------------------------------------------------------------------

    def new(self, kind: str, principal_id: str, auth_time: float, mfa: bool, must_change: bool,
            profile_created: float | None = None) -> Session:
        return Session(new_id(), kind, principal_id, auth_time, mfa, time.time(), must_change, profile_created)

    def cookie_value(self, session: Session) -> str:
        return self.sealer.seal(asdict(session), "session")

    async def load(self, token: str | None, now: float | None = None) -> Session | None:
        """The session of a cookie, if it is intact, not expired, not idle too long and not signed out."""
        value = self.sealer.open(token, "session")
        if value is None:
            return None
        try:
            session = Session(**value)
        except TypeError:
            return None
        now = time.time() if now is None else now
        if now >= session.expires or await self.spent(session.sid):
            return None
        return session

    def touched(self, session: Session, now: float | None = None) -> Session | None:
        """The session with a fresh last-seen time, when the cookie is due to be rewritten."""
        now = time.time() if now is None else now
        return replace(session, seen=now) if now - session.seen >= REFRESH else None

    async def sign_out(self, session: Session) -> None:
        await self.spend(session.sid, session.auth_time + MAX_AGE)

    # -- one-time tokens -------------------------------------------------------------------------------------

    async def spent(self, token_id: str) -> bool:
        return await self.meta.db.read.one("SELECT 1 FROM console_spent WHERE token_id = ?", (token_id,)) is not None

    async def spend(self, token_id: str, until: float) -> bool:
        """Marks ``token_id`` used; False if it already was (here or on another worker)."""
        async def job(conn: Conn) -> bool:
            return await conn.run("INSERT INTO console_spent (token_id, expires) VALUES (?, ?) "
                                  "ON CONFLICT (token_id) DO NOTHING", (token_id, until)) == 1
        result: bool = await self.meta.db.write(job, serializable=False)
        return result

    # -- CSRF --------------------------------------------------------------------------------------------------

    def csrf_token(self, anchor: str) -> str:
        """The token forms carry: bound to the session id (or the pre-session cookie)."""
        return self.sealer.mac("csrf:" + anchor)

    def csrf_ok(self, anchor: str | None, given: str | None) -> bool:
        # compared as bytes: compare_digest refuses a str with a non-ASCII character (TypeError: a 500 to anyone)
        return bool(anchor) and bool(given) and hmac.compare_digest(
            self.csrf_token(anchor or "").encode(), (given or "").encode("utf-8", "surrogatepass"))
