"""Share links: presigned S3 ``GetObject`` URLs made by the console for the signed-in principal.

AWS's S3 console presigns with the console session's *temporary credentials*, never with a user's access key
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/ShareObjectPreSignedURL.html: "The credentials used by the
presigned URL are those of the AWS user who generated the URL. [...] When using the console the maximum
expiration time for a presigned URL is 12 hours from the time of creation").  The console must never hold a
user's secret access key (it is stored sealed, and only the SigV4 verifier opens it), so a share gets temporary
credentials of its own, minted for exactly one URL: a session of the principal who shared (storeroom/sessions.py,
the same self-contained credentials as STS's), carrying the console session's sign-in time and MFA, restricted to
S3, expiring with the URL.

The URL is an ordinary SigV4 presigned URL (``X-Amz-Security-Token`` in the query, as the SDKs write it for
temporary credentials), so any HTTP client can fetch it.  What it grants is fixed by the signature (the method,
the path and the query are signed: a ``GET`` of that one key, nothing else) and by the principal's policies *at
the time of use*: the request is authorized as the principal who shared, with the session's MFA facts
(``aws:MultiFactorAuthPresent``…), by the same Authorizer as any request; a user who lost ``s3:GetObject``, or
was deleted, shares nothing any more.  It expires at ``X-Amz-Date + X-Amz-Expires`` (SigV4's own check, at most
12 hours as AWS's console) and its token with it (``ExpiredToken``).

Only S3 accepts these credentials (the session's ``services``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from storeroom.errors import AwsError
from storeroom.sessions import ROOT, USER, Session, SessionTokens
from storeroom.sigv4.auth import UNSIGNED_PAYLOAD, hmac_sha256_hex, signing_key
from storeroom.sigv4.canonical import ALGORITHM, canonical_request, string_to_sign, uri_encode

MIN_EXPIRES = 60                   # AWS's console offers minutes (1 and up) or hours (up to 12)
MAX_EXPIRES = 12 * 3600


@dataclass(frozen=True, slots=True)
class Grant:
    """What a share's session says: who shared, when their console session began and whether it used MFA."""

    kind: str               # "root" or "user"
    principal_id: str       # the account id (root) or the IAM user's id (AIDA…)
    auth_time: float
    mfa: bool
    expires: float

    def check(self, now: float | None = None) -> None:
        """ExpiredToken once the token has expired (S3's code for an expired session token)."""
        if (time.time() if now is None else now) > self.expires:
            raise AwsError("ExpiredToken", "The provided token has expired.", 400)

    def session(self, expires: float) -> Session:
        return Session(ROOT if self.kind == "root" else USER, self.principal_id, self.auth_time, expires,
                       mfa=self.auth_time if self.mfa else None, services=("s3",), via="share")

    @classmethod
    def of(cls, session: Session) -> Grant:
        return cls("root" if session.kind == ROOT else "user", session.principal_id, session.issued,
                   session.mfa is not None, session.expires)


class Shares:
    """Mints share credentials (the console); the API's workers check them as any temporary credentials."""

    def __init__(self, master_key: bytes) -> None:
        self.tokens = SessionTokens(master_key)

    def open(self, access_key_id: str, token: str) -> tuple[str, Grant]:
        """(secret, grant) of a share's credentials; InvalidToken when the token is not one this server sealed."""
        secret, session = self.tokens.open(access_key_id, token)
        return secret, Grant.of(session)

    def presign_get(self, endpoint: str, bucket: str, key: str, region: str, expires: int, grant_of: Grant,
                    now: float | None = None) -> str:
        """A presigned ``GET`` of ``bucket/key`` on ``endpoint`` (``http://host:port``, path style) for
        ``expires`` seconds (1 minute to 12 hours), with fresh share credentials."""
        if not MIN_EXPIRES <= expires <= MAX_EXPIRES:
            raise ValueError(f"expires must be {MIN_EXPIRES}..{MAX_EXPIRES} seconds")
        at = int(time.time() if now is None else now)
        credentials = self.tokens.mint(grant_of.session(at + expires))
        access_key_id, token = credentials.access_key_id, credentials.session_token
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
        signature = hmac_sha256_hex(signing_key(credentials.secret_access_key, date, region, "s3"),
                                    string_to_sign(amz_date, scope, creq).encode())
        return f"{endpoint.rstrip('/')}{path}?{query}&X-Amz-Signature={signature}"
