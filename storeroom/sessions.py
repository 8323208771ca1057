"""Temporary credentials: an ``ASIA…`` access key id, a secret and a session token that says what the session is.

Every kind of session Storeroom issues is one of these — STS role sessions (AssumeRole, AssumeRoleWithWebIdentity,
the container-credentials endpoint), GetSessionToken sessions of users and root, and the console's share links
(storeroom/share.py) — so that one mechanism, checked once at the edge (storeroom/http/app.py), serves them all.

**Self-contained, not stored.**  The token is the session: its fields (:class:`Session`) serialised, compressed and
sealed with AES-256-GCM under a key derived (HKDF) from the master key, with the access key id as associated
data; the secret is an HMAC of the access key id under another derived key.  Any worker of any node that holds
the master key checks a session with no table and no shared memory, and nobody without the master key can forge,
read or alter one (an altered token fails authentication: ``InvalidToken``).  Why not a durable row per session:
a session is checked on every request, and a row would cost a database read per request (or a cache that every
node must invalidate), and a write per AssumeRole — on PostgreSQL a network round trip — while STS sessions are
exactly the kind of state AWS itself makes self-contained.  What a row would give, revoking one session, AWS
does differently and Storeroom does as AWS: "Revoke active sessions" is a policy on the role that denies
requests whose ``aws:TokenIssueTime`` is older than the revocation (storeroom/iam/roles.py), evaluated like any
policy, so it reaches every node through the IAM generation counters.  Sessions also die with what they name: a
deleted role's or user's sessions are refused at the edge.

Opened tokens are cached per process (a token cannot change, so the cache needs no invalidation), which keeps
the per-request cost of a session within a few microseconds of a long-term key (bench/RESULTS.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storeroom.errors import AwsError

KEY_PREFIX = "ASIA"               # AWS's prefix of temporary access key ids
_PURPOSE = b"storeroom session v1"
_VERSION = b"\x01"
_TOKEN_LIMIT = 8192               # bytes of token text: more is not ours
_CACHE_LIMIT = 10_000
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

ROLE = "role"                     # a role session (AssumeRole, web identity, container credentials)
USER = "user"                     # an IAM user's session (GetSessionToken, a console share link)
ROOT = "root"                     # the account root's session


@dataclass(frozen=True, slots=True)
class Session:
    """What a session token says."""

    kind: str                                  # ROLE, USER or ROOT
    principal_id: str                          # the role's id (AROA…), the user's (AIDA…), or the account id
    issued: float                              # aws:TokenIssueTime
    expires: float
    name: str = ""                             # a role session's name (assumed-role/<role>/<name>)
    mfa: float | None = None                   # when MFA was authenticated for it (None: no MFA)
    policy: str | None = None                  # inline session policy (its text)
    policy_arns: tuple[str, ...] = ()          # managed session policies
    tags: tuple[tuple[str, str], ...] = ()     # session tags (aws:PrincipalTag/…)
    transitive: tuple[str, ...] = ()           # session tag keys that pass on to chained role sessions
    source_identity: str | None = None         # aws:SourceIdentity
    chained: bool = False                      # a role session made with role-session credentials
    provider: str | None = None                # web identity: the provider's ARN (aws:FederatedProvider)
    claims: tuple[tuple[str, str], ...] = ()   # web identity: "<provider>:sub" … condition keys
    services: tuple[str, ...] = ()             # only these services accept it (a share link: s3); () any
    via: str = ""                              # how it was made: "sts", "share", "container"

    @property
    def has_policies(self) -> bool:
        return self.policy is not None or bool(self.policy_arns)

    def check(self, now: float) -> None:
        """ExpiredToken once the session has expired (S3's and the Query services' code)."""
        if now > self.expires:
            raise AwsError("ExpiredToken", "The provided token has expired.", 400)

    def condition_keys(self, now: float) -> dict[str, tuple[str, ...]]:
        """The session's condition keys (names lower-cased), as AWS puts them in a session's requests
        (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html):
        aws:MultiFactorAuthPresent (true/false: temporary credentials always carry it), aws:MultiFactorAuthAge
        (only with MFA), aws:TokenIssueTime, aws:SourceIdentity, aws:FederatedProvider and the identity
        provider's keys of a web identity session."""
        keys: dict[str, tuple[str, ...]] = {
            "aws:multifactorauthpresent": ("true" if self.mfa is not None else "false",),
            "aws:tokenissuetime": (iso(self.issued),),
        }
        if self.mfa is not None:
            keys["aws:multifactorauthage"] = (str(max(0, int(now - self.mfa))),)
        if self.source_identity is not None:
            keys["aws:sourceidentity"] = (self.source_identity,)
        if self.provider is not None:
            keys["aws:federatedprovider"] = (self.provider,)
        for key, value in self.claims:
            keys.setdefault(key.lower(), ())
            keys[key.lower()] = (*keys[key.lower()], value)
        return keys


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: float

    def shape(self) -> dict[str, object]:
        """STS's ``Credentials`` member."""
        return {"AccessKeyId": self.access_key_id, "SecretAccessKey": self.secret_access_key,
                "SessionToken": self.session_token, "Expiration": self.expiration}


def _encode(session: Session) -> bytes:
    body: dict[str, object] = {"k": session.kind, "p": session.principal_id, "i": session.issued,
                               "e": session.expires}
    optional: Mapping[str, object] = {
        "n": session.name, "m": session.mfa, "pol": session.policy, "pa": list(session.policy_arns),
        "t": [list(t) for t in session.tags], "tt": list(session.transitive), "si": session.source_identity,
        "c": session.chained, "f": session.provider, "cl": [list(c) for c in session.claims],
        "s": list(session.services), "v": session.via}
    body.update({k: v for k, v in optional.items() if v not in (None, "", [], False)})
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    return tuple((str(a), str(b)) for a, b in value) if isinstance(value, list) else ()


def _decode(raw: bytes) -> Session:
    d = json.loads(raw)
    mfa = d.get("m")
    return Session(str(d["k"]), str(d["p"]), float(d["i"]), float(d["e"]), str(d.get("n", "")),
                   None if mfa is None else float(mfa), d.get("pol"), tuple(map(str, d.get("pa", ()))),
                   _pairs(d.get("t", [])), tuple(map(str, d.get("tt", ()))), d.get("si"), bool(d.get("c", False)),
                   d.get("f"), _pairs(d.get("cl", [])), tuple(map(str, d.get("s", ()))), str(d.get("v", "")))


def invalid_token() -> AwsError:
    """S3's code for a session token that is not one of ours (the Query services say InvalidClientTokenId)."""
    return AwsError("InvalidToken", "The provided token is malformed or otherwise invalid.", 400)


class SessionTokens:
    """Mints and opens session credentials; every process holding the master key can do both."""

    def __init__(self, master_key: bytes) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_PURPOSE).derive(master_key)
        self._aead = AESGCM(derived[:32])
        self._mac_key = derived[32:]
        self._opened: dict[tuple[str, str], tuple[str, Session]] = {}

    @staticmethod
    def is_temporary(access_key_id: str) -> bool:
        return access_key_id.startswith(KEY_PREFIX)

    def secret(self, access_key_id: str) -> str:
        """40 characters, like AWS's secrets: base64 of 30 bytes of HMAC-SHA256 of the key id."""
        digest = hmac.new(self._mac_key, access_key_id.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest[:30]).decode()

    def mint(self, session: Session) -> Credentials:
        access_key_id = KEY_PREFIX + "".join(secrets.choice(_BASE32) for _ in range(16))
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, zlib.compress(_encode(session), 6), access_key_id.encode())
        token = base64.urlsafe_b64encode(_VERSION + nonce + sealed).decode().rstrip("=")
        return Credentials(access_key_id, self.secret(access_key_id), token, session.expires)

    def open(self, access_key_id: str, token: str) -> tuple[str, Session]:
        """(secret, session) of temporary credentials; ``InvalidToken`` when the token is not one this server
        sealed for that key id.  The expiry is :meth:`Session.check`'s, after the signature."""
        try:
            return self._opened[(access_key_id, token)]
        except KeyError:
            pass
        if len(token) > _TOKEN_LIMIT:
            raise invalid_token()
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            if raw[:1] != _VERSION:
                raise ValueError("version")
            plain = self._aead.decrypt(raw[1:13], raw[13:], access_key_id.encode())
            session = _decode(zlib.decompress(plain))
        except (ValueError, TypeError, KeyError, InvalidTag, zlib.error, UnicodeError):
            raise invalid_token() from None
        found = (self.secret(access_key_id), session)
        if len(self._opened) >= _CACHE_LIMIT:
            self._opened.clear()
        self._opened[(access_key_id, token)] = found
        return found


# -- the principal a session acts as ---------------------------------------------------------------------------


def assumed_role_arn(account_id: str, role_name: str, session_name: str) -> str:
    """``arn:aws:sts::<account>:assumed-role/<role>/<session>`` (the role's path is not part of it)."""
    return f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"


@dataclass(frozen=True, slots=True)
class RoleInfo:
    """What a role session needs of its role: name, path, tags."""

    role_id: str
    name: str
    path: str
    tags: tuple[tuple[str, str], ...] = field(default=())


def merged_tags(role_tags: Sequence[tuple[str, str]],
                session_tags: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """aws:PrincipalTag/… of a role session: the role's tags, overridden by session tags of the same key (keys
    compare case-insensitively): "If a session tag has the same key as a role tag, the session tag value
    overrides" (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html)."""
    out = {k.lower(): (k, v) for k, v in role_tags}
    out.update({k.lower(): (k, v) for k, v in session_tags})
    return tuple(out.values())


# -- revoking a role's sessions ----------------------------------------------------------------------------------

REVOKE_POLICY = "AWSRevokeOlderSessions"


def revocation(now: float) -> tuple[str, str]:
    """AWS's "Revoke active sessions" (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-
    sessions.html): the cutoff, and the inline policy AWSRevokeOlderSessions denying every session issued before
    it.  The cutoff is the next whole second (a session issued earlier in this second is revoked too; rounded
    down, it was not)."""
    cutoff = iso(float(int(now) + 1))
    return cutoff, json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}}]})
