"""AssumeRoleWithWebIdentity: role credentials for a JSON Web Token from a registered OpenID Connect provider, so
that CI systems with OIDC (GitHub Actions, GitLab) reach buckets with no stored secret.

The request is unsigned, as on AWS (botocore sends it without credentials; storeroom/http/app.py routes it).  The
token is checked as AWS checks it
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_oidc_manual.html and the API reference):

1. its issuer (``iss``) must be an OpenID Connect provider registered in IAM (storeroom/iam/oidc.py), else
   ``InvalidIdentityToken`` "No OpenIDConnect provider found in your account for <iss>";
2. its signature, with a key of the issuer's JWKS: fetched over HTTPS from ``<iss>/.well-known/openid-configuration``
   → ``jwks_uri``, cached for an hour and fetched again when a token names an unknown ``kid`` (at most once a
   second), or read from a file for installations without network access (``STOREROOM_OIDC_JWKS``, below);
3. ``exp`` (``ExpiredTokenException``) and ``nbf``; an audience (``aud``) among the provider's client ids, else
   "Incorrect token audience";
4. the role's trust policy must allow ``sts:AssumeRoleWithWebIdentity`` to the provider (``"Federated":
   "arn:aws:iam::<account>:oidc-provider/<host>"``), with the token's claims as condition keys
   ``<host/path>:sub``, ``:aud``, ``:azp``, ``:amr`` (GitHub's trust policies test ``…:sub`` against
   ``repo:owner/name:ref:refs/heads/main``).

The session carries ``aws:FederatedProvider`` (the provider's ARN) and the same claim keys into its requests.

Where the keys come from:

- ``STOREROOM_OIDC_JWKS=https://issuer.example=/etc/storeroom/jwks.json[,…]``: the issuer's JWKS from a file
  (read again when it changes), never from the network;
- otherwise over HTTPS, verified against the system's CAs plus ``STOREROOM_OIDC_CA_BUNDLE`` (a PEM file); a
  certificate chain no CA vouches for is accepted when one of its certificates' SHA-1 thumbprints is in the
  provider's ThumbprintList (the connection is then pinned to the leaf certificate that was checked).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from storeroom import clock
from storeroom.authz import RequestContext
from storeroom.errors import AwsError
from storeroom.iam import role_store
from storeroom.iam.oidc import provider_arn
from storeroom.iam.role_store import OidcProvider
from storeroom.identity import Principal
from storeroom.policy import AuthRequest
from storeroom.policy.evaluate import trusts
from storeroom.sessions import ROLE, Session
from storeroom.sts import Handler, Result, StsCall, jwt
from storeroom.sts.assume import (
    check_arn_form,
    check_packed,
    duration,
    find_role,
    issue,
    note_role_used,
    role_session_result,
    session_policies,
    trust_source,
)

if TYPE_CHECKING:  # aiohttp (~0.2 s to import) is imported when a provider's keys are first fetched
    import aiohttp

HANDLERS: dict[str, Handler] = {}
ACTION = "sts:AssumeRoleWithWebIdentity"
CACHE_SECONDS = 3600
REFETCH_SECONDS = 1
FETCH_TIMEOUT = 5.0
# An issuer that could not be reached is not asked again for this long: its callers are answered at once
# (IDPCommunicationError) instead of queuing 5 s each behind one another (fuzzing: a silent issuer held
# anonymous callers 35 s, and callers of every other issuer behind them)
FAILURE_SECONDS = 10.0
MAX_DOCUMENT = 1 << 20
_CLAIMS = ("sub", "aud", "azp", "amr")
_DER = 2  # _ssl.ENCODING_DER


def idp_unreachable() -> AwsError:
    return AwsError("IDPCommunicationError", "The request could not be fulfilled because the identity provider (IDP) "
                    "that was asked to verify the incoming identity token could not be reached.", 400)


@dataclass(slots=True)
class _Cached:
    jwks: dict[str, Any]
    fetched: float


class WebIdentity:
    """The issuers' JWKS, per process: fetched, cached, or read from files (``STOREROOM_OIDC_JWKS``)."""

    def __init__(self) -> None:
        self._files = _jwks_files(os.environ.get("STOREROOM_OIDC_JWKS", ""))
        self._bundle = os.environ.get("STOREROOM_OIDC_CA_BUNDLE") or None
        self._cache: dict[str, _Cached] = {}
        # (issuer, thumbprints) -> (when, what its last fetch answered); a provider whose thumbprints were just
        # changed (to trust the issuer's certificate) is asked again at once
        self._failed: dict[tuple[str, tuple[str, ...]], tuple[float, AwsError]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._locks: dict[str, asyncio.Lock] = {}  # one per issuer: a slow one holds up no other

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def jwks(self, provider: OidcProvider, *, refresh: bool = False) -> dict[str, Any]:
        issuer = provider.url
        path = self._files.get(issuer.rstrip("/"))
        if path is not None:
            return _read_file(path)
        cached = self._cache.get(issuer)
        now = time.monotonic()
        if cached is not None and now - cached.fetched < CACHE_SECONDS and not (
                refresh and now - cached.fetched >= REFETCH_SECONDS):
            return cached.jwks
        async with self._locks.setdefault(issuer, asyncio.Lock()):
            cached = self._cache.get(issuer)
            if cached is not None and time.monotonic() - cached.fetched < REFETCH_SECONDS:
                return cached.jwks
            attempt = (issuer, tuple(provider.thumbprints))
            failed = self._failed.get(attempt)
            if failed is not None and time.monotonic() - failed[0] < FAILURE_SECONDS:
                raise AwsError(failed[1].code, failed[1].message, failed[1].status)  # a fresh one: no traceback grows
            try:
                jwks = await self._fetch(provider)
            except AwsError as err:
                self._failed[attempt] = (time.monotonic(), err)
                raise
            self._failed.pop(attempt, None)
            self._cache[issuer] = _Cached(jwks, time.monotonic())
            return jwks

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self._bundle:
            context.load_verify_locations(self._bundle)
        return context

    async def _fetch(self, provider: OidcProvider) -> dict[str, Any]:
        import aiohttp

        issuer = provider.url
        try:
            pin: ssl.SSLContext | aiohttp.Fingerprint = self._context()
            try:
                discovery = await self._get_json(f"{issuer}/.well-known/openid-configuration", pin)
            except aiohttp.ClientConnectorCertificateError:
                pin = await _thumbprint_pin(issuer, provider.thumbprints)
                discovery = await self._get_json(f"{issuer}/.well-known/openid-configuration", pin)
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str) or urlsplit(jwks_uri).scheme != "https":
                raise jwt.invalid()
            if urlsplit(jwks_uri).netloc != urlsplit(issuer).netloc and isinstance(pin, aiohttp.Fingerprint):
                pin = await _thumbprint_pin(jwks_uri, provider.thumbprints)
            return await self._get_json(jwks_uri, pin)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            raise idp_unreachable() from None

    async def _get_json(self, url: str, pin: ssl.SSLContext | aiohttp.Fingerprint) -> dict[str, Any]:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT))
        async with self._session.get(url, ssl=pin, allow_redirects=False) as response:
            if response.status != 200:
                raise ValueError(f"{url}: {response.status}")
            body = await response.content.read(MAX_DOCUMENT + 1)
        if len(body) > MAX_DOCUMENT:
            raise ValueError(f"{url}: too large")
        found = json.loads(body)
        if not isinstance(found, dict):
            raise ValueError(f"{url}: not a JSON object")
        return found


def _jwks_files(spec: str) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for item in spec.split(","):
        issuer, sep, path = item.strip().rpartition("=")
        if sep and issuer and path:
            files[issuer.rstrip("/")] = Path(path)
    return files


def _read_file(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        raise idp_unreachable() from None
    return found if isinstance(found, dict) else {}


async def _thumbprint_pin(url: str, thumbprints: list[str]) -> aiohttp.Fingerprint:
    """A certificate chain no trusted CA signed: acceptable when one of its certificates' SHA-1 thumbprints is the
    provider's (AWS's legacy rule), and then only that leaf certificate (pinned by its SHA-256)."""
    import aiohttp

    if not thumbprints:
        raise idp_unreachable()
    parts = urlsplit(url)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(parts.hostname, parts.port or 443, ssl=context, server_hostname=parts.hostname),
        FETCH_TIMEOUT)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        # Python 3.13's SSLObject.get_unverified_chain(); older ones have it on the C object
        chain = [c.public_bytes(_DER) for c in ssl_object._sslobj.get_unverified_chain()]
    finally:
        writer.close()
        del reader
    if not chain or not any(hashlib.sha1(der).hexdigest() in thumbprints for der in chain):
        raise idp_unreachable()
    return aiohttp.Fingerprint(hashlib.sha256(chain[0]).digest())


# -- the action ---------------------------------------------------------------------------------------------------


def _claims(key: str, token: jwt.Token) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for claim in _CLAIMS:
        value = token.claims.get(claim)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str | int | float) and not isinstance(item, bool):
                out.append((f"{key}:{claim}", str(item)))
    return tuple(out)


async def _verified(call: StsCall, token: jwt.Token) -> OidcProvider:
    issuer = token.issuer
    url = issuer if "://" in issuer else f"https://{issuer}"
    provider = await role_store.get_provider(call.sts.meta.db.read, provider_arn(call.account_id, url))
    if provider is None:
        raise jwt.invalid(f"No OpenIDConnect provider found in your account for {issuer}")
    web = call.sts.web_identity
    if not jwt.verify(await web.jwks(provider), token) and not jwt.verify(await web.jwks(provider, refresh=True),
                                                                           token):
        raise jwt.invalid()
    return provider


async def assume_role_with_web_identity(call: StsCall) -> Result:
    p = call.params
    token = jwt.parse(p["WebIdentityToken"])
    provider = await _verified(call, token)
    now = clock.now()
    jwt.check_times(token, now)
    audience = next((a for a in token.audiences if a in provider.client_ids), None)
    azp = token.claims.get("azp")
    if audience is None and isinstance(azp, str) and azp in provider.client_ids:
        audience = azp
    if audience is None:
        raise jwt.invalid("Incorrect token audience")
    sub = str(token.claims.get("sub", ""))
    key = provider.issuer_key
    call.ctx.principal = Principal("WebIdentityUser", call.account_id, "", f"{key}:{audience}:{sub}", sub,
                                   issuer_arn=key)
    check_arn_form(p["RoleArn"])
    role = await find_role(call, p["RoleArn"])
    denied = AwsError("AccessDenied", f"Not authorized to perform {ACTION}", 403)
    if role is None:
        raise denied
    seconds = duration(p.get("DurationSeconds"), role, False)
    policy, policy_arns = await session_policies(call)
    packed = check_packed(policy, policy_arns, ())
    claims = _claims(key, token)
    keys: dict[str, tuple[str, ...]] = {}
    for name, value in claims:
        keys[name.lower()] = (*keys.get(name.lower(), ()), value)
    keys["aws:federatedprovider"] = (provider.arn,)
    request = AuthRequest(ACTION, trust_source(call, role).arn or "", "WebIdentityUser", f"Federated:{provider.arn}",
                          "", RequestContext(call.ctx, keys))
    if trusts(request, trust_source(call, role)) != "allow":
        raise denied
    session = Session(ROLE, role.role_id, now, now + seconds, p["RoleSessionName"], None, policy, policy_arns,
                      provider=provider.arn, claims=claims, via="web")
    note_role_used(call, role, now)
    out = role_session_result(call, role, session, issue(call, session), packed)
    out.update({"SubjectFromWebIdentityToken": sub, "Provider": token.issuer, "Audience": audience})
    return out


HANDLERS["AssumeRoleWithWebIdentity"] = assume_role_with_web_identity
