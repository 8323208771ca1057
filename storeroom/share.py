"""Share links: presigned S3 ``GetObject`` URLs made by the console for the signed-in principal.

AWS's S3 console presigns with the console session's *temporary credentials*, never with a user's access key
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/ShareObjectPreSignedURL.html: "The credentials used by the
presigned URL are those of the AWS user who generated the URL. [...] When using the console the maximum
expiration time for a presigned URL is 12 hours from the time of creation").  Storeroom has no STS sessions yet,
and the console must never hold a user's secret access key (it is stored sealed, and only the SigV4 verifier
opens it), so a share gets temporary credentials of its own, minted for exactly one URL:

- an ``ASIA…`` access key id (AWS's prefix for temporary credentials), random per share;
- a session token: the principal (root, or the IAM user's id), the console session's sign-in time and MFA, and
  the expiry, sealed with AES-256-GCM under a key derived (HKDF) from the data dir's master key, so any worker
  can check it without shared state and nobody without the master key can forge or read one;
- a secret derived from the key id with an HMAC under the same derived key: it is never stored, never shown,
  and used once, by the console, to sign the URL.

The URL is an ordinary SigV4 presigned URL (``X-Amz-Security-Token`` in the query, as the SDKs write it for
temporary credentials), so any HTTP client can fetch it.  What it grants is fixed by the signature (the method,
the path and the query are signed: a ``GET`` of that one key, nothing else) and by the principal's policies *at
the time of use*: the request is authorized as the principal who shared, with the session's MFA facts
(``aws:MultiFactorAuthPresent``…), by the same Authorizer as any request; a user who lost ``s3:GetObject``, or
was deleted, shares nothing any more.  It expires at ``X-Amz-Date + X-Amz-Expires`` (SigV4's own check, at most
12 hours as AWS's console) and its token with it (``ExpiredToken``).

Only S3 accepts these credentials.  When Storeroom gets STS sessions (temporary credentials in general), a share
becomes one such session scoped to its URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storeroom.errors import AwsError
from storeroom.identity import Principal
from storeroom.sigv4.auth import UNSIGNED_PAYLOAD, hmac_sha256_hex, signing_key
from storeroom.sigv4.canonical import ALGORITHM, canonical_request, string_to_sign, uri_encode
from storeroom.store.meta import MetaStore

KEY_PREFIX = "ASIA"
MIN_EXPIRES = 60                   # AWS's console offers minutes (1 and up) or hours (up to 12)
MAX_EXPIRES = 12 * 3600
_PURPOSE = b"storeroom share v1"
_TOKEN_LIMIT = 2048
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True, slots=True)
class Grant:
    """What a share's token says: who shared, when their console session began and whether it used MFA."""

    kind: str               # "root" or "user"
    principal_id: str       # the account id (root) or the IAM user's id (AIDA…)
    auth_time: float
    mfa: bool
    expires: float

    def check(self, now: float | None = None) -> None:
        """ExpiredToken once the token has expired (S3's code for an expired session token)."""
        if (time.time() if now is None else now) > self.expires:
            raise AwsError("ExpiredToken", "The provided token has expired.", 400)


class Shares:
    """Mints (console) and checks (API workers) share credentials; both hold the same master key."""

    def __init__(self, master_key: bytes) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_PURPOSE).derive(master_key)
        self._aead = AESGCM(derived[:32])
        self._mac_key = derived[32:]

    @staticmethod
    def is_share_key(access_key_id: str) -> bool:
        return access_key_id.startswith(KEY_PREFIX)

    def _secret(self, access_key_id: str) -> str:
        return base64.b64encode(hmac.new(self._mac_key, access_key_id.encode(), hashlib.sha256).digest()).decode()

    def _seal(self, access_key_id: str, grant: Grant) -> str:
        body = json.dumps({"k": grant.kind, "p": grant.principal_id, "t": grant.auth_time, "m": grant.mfa,
                           "e": grant.expires}, separators=(",", ":")).encode()
        nonce = os.urandom(12)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, body, access_key_id.encode())).decode()

    def open(self, access_key_id: str, token: str) -> tuple[str, Grant]:
        """(secret, grant) of a share's credentials; InvalidToken when the token is not one this server sealed
        for that key id (S3's code for a bad session token).  The expiry is checked by :meth:`Grant.check`, after
        the signature: a URL past its X-Amz-Expires answers "Request has expired" like any presigned URL."""
        invalid = AwsError("InvalidToken", "The provided token is malformed or otherwise invalid.", 400)
        if len(token) > _TOKEN_LIMIT:
            raise invalid
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = json.loads(self._aead.decrypt(raw[:12], raw[12:], access_key_id.encode()))
            grant = Grant(str(data["k"]), str(data["p"]), float(data["t"]), bool(data["m"]), float(data["e"]))
        except (ValueError, TypeError, KeyError, InvalidTag):
            raise invalid from None
        return self._secret(access_key_id), grant

    def presign_get(self, endpoint: str, bucket: str, key: str, region: str, expires: int, grant_of: Grant,
                    now: float | None = None) -> str:
        """A presigned ``GET`` of ``bucket/key`` on ``endpoint`` (``http://host:port``, path style) for
        ``expires`` seconds (1 minute to 12 hours), with fresh share credentials."""
        if not MIN_EXPIRES <= expires <= MAX_EXPIRES:
            raise ValueError(f"expires must be {MIN_EXPIRES}..{MAX_EXPIRES} seconds")
        at = int(time.time() if now is None else now)
        access_key_id = KEY_PREFIX + "".join(secrets.choice(_BASE32) for _ in range(16))
        grant = Grant(grant_of.kind, grant_of.principal_id, grant_of.auth_time, grant_of.mfa, at + expires)
        token = self._seal(access_key_id, grant)
        moment = datetime.fromtimestamp(at, UTC)
        amz_date, date = moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y%m%d")
        scope = f"{date}/{region}/s3/aws4_request"
        host = endpoint.split("://", 1)[-1].rstrip("/")
        path = "/" + uri_encode(bucket.encode(), keep_slash=False) + "/" + uri_encode(
            key.encode("utf-8", "surrogatepass"), keep_slash=True)
        params = [("X-Amz-Algorithm", ALGORITHM), ("X-Amz-Credential", f"{access_key_id}/{scope}"),
                  ("X-Amz-Date", amz_date), ("X-Amz-Expires", str(expires)),
                  ("X-Amz-Security-Token", token), ("X-Amz-SignedHeaders", "host")]
        query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params)
        creq = canonical_request("GET", path, query, {"host": host}, ("host",), UNSIGNED_PAYLOAD, s3=True)
        signature = hmac_sha256_hex(signing_key(self._secret(access_key_id), date, region, "s3"),
                                    string_to_sign(amz_date, scope, creq).encode())
        return f"{endpoint.rstrip('/')}{path}?{query}&X-Amz-Signature={signature}"


def share_principal(meta: MetaStore, account_id: str, grant: Grant, access_key_id: str) -> Principal | None:
    """The principal a share acts as, as it is now: None when the user who shared is gone."""
    if grant.kind == "root":
        if grant.principal_id != account_id:
            return None
        return Principal("Root", account_id, f"arn:aws:iam::{account_id}:root", account_id, None, access_key_id)
    user = meta.iam_user_identity(grant.principal_id)
    if user is None:
        return None
    name, path, tags = user
    return Principal("IAMUser", account_id, f"arn:aws:iam::{account_id}:user{path}{name}", grant.principal_id,
                     name, access_key_id, tuple(tags))
