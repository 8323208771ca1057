"""JSON Web Tokens of OpenID Connect identity providers, checked as AssumeRoleWithWebIdentity checks them (sans-IO).

RFC 7519 (JWT), RFC 7515 (JWS, compact serialisation only) and RFC 7517/7518 (JWK keys and algorithms): RS256,
RS384, RS512, PS256, ES256 and ES384 — what OIDC issuers sign ID tokens with (GitHub Actions and GitLab: RS256).
``none`` and the HMAC algorithms are refused: a public JWKS cannot vouch for a shared secret.

:func:`parse` splits a token and reads its header and claims without trusting them (the issuer names the keys to
check it with); :func:`verify` checks the signature against a JWKS; :func:`check_times` applies ``exp`` and
``nbf`` (with a minute of leeway for ``nbf``, for clocks that run a little apart).
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from storeroom.errors import AwsError

MAX_TOKEN = 20_000          # the model's limit on WebIdentityToken
LEEWAY = 60

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384,
                                                  "512": hashes.SHA512}
_CURVES: dict[str, tuple[ec.EllipticCurve, str]] = {"P-256": (ec.SECP256R1(), "ES256"),
                                                    "P-384": (ec.SECP384R1(), "ES384")}


def invalid(message: str = "Couldn't retrieve verification key from your identity provider,  please reference "
                           "AssumeRoleWithWebIdentity documentation for requirements") -> AwsError:
    """InvalidIdentityToken: AWS's words for a token it cannot verify."""
    return AwsError("InvalidIdentityToken", message, 400)


@dataclass(frozen=True, slots=True)
class Token:
    header: dict[str, Any]
    claims: dict[str, Any]
    signed: bytes            # header.payload, as signed
    signature: bytes

    @property
    def issuer(self) -> str:
        iss = self.claims.get("iss")
        if not isinstance(iss, str) or not iss:
            raise invalid("The token has no issuer (iss).")
        return iss

    @property
    def audiences(self) -> list[str]:
        aud = self.claims.get("aud")
        values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        return [v for v in values if isinstance(v, str)]


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def parse(text: str) -> Token:
    """The token's parts, or InvalidIdentityToken when it is not a JWS compact serialisation of a JSON claims
    object."""
    if len(text) > MAX_TOKEN:
        raise invalid("The token is too large.")
    parts = text.strip().split(".")
    if len(parts) != 3:
        raise invalid("The token is not a signed JSON Web Token.")
    try:
        header, claims = _json(_b64(parts[0])), _json(_b64(parts[1]))
        signature = _b64(parts[2])
        # a claim holding a lone surrogate ("\ud800", which JSON can spell) is no text: no database, no session
        # can store it (it was a 500 past the signature check, or before it in the issuer's lookup)
        json.dumps([header, claims], ensure_ascii=False).encode()
    except (ValueError, UnicodeError, RecursionError):  # RecursionError: JSON nested a thousand deep
        raise invalid("The token is not a signed JSON Web Token.") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise invalid("The token is not a signed JSON Web Token.")
    return Token(header, claims, f"{parts[0]}.{parts[1]}".encode(), signature)


_LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is no JSON number")


def _json(data: bytes) -> Any:
    """JSON as RFC 8259 has it: NaN and Infinity are no numbers (an ``exp`` of NaN never expired)."""
    return json.loads(data, parse_constant=_no_constant)


def _int(value: Any) -> int:
    return int.from_bytes(_b64(str(value)), "big")


def _check_with(key: dict[str, Any], alg: str, token: Token) -> bool:
    kty = key.get("kty")
    digest = _HASHES.get(alg[2:])
    if digest is None:
        return False
    try:
        if kty == "RSA" and alg[:2] in ("RS", "PS"):
            public = rsa.RSAPublicNumbers(_int(key["e"]), _int(key["n"])).public_key()
            pad: padding.AsymmetricPadding = padding.PKCS1v15() if alg.startswith("RS") else padding.PSS(
                padding.MGF1(digest()), padding.PSS.DIGEST_LENGTH)
            public.verify(token.signature, token.signed, pad, digest())
            return True
        if kty == "EC" and alg.startswith("ES"):
            curve, expected = _CURVES.get(str(key.get("crv")), (None, ""))
            if curve is None or expected != alg:
                return False
            ec_key = ec.EllipticCurvePublicNumbers(_int(key["x"]), _int(key["y"]), curve).public_key()
            half = len(token.signature) // 2
            der = encode_dss_signature(int.from_bytes(token.signature[:half], "big"),
                                       int.from_bytes(token.signature[half:], "big"))
            ec_key.verify(der, token.signed, ec.ECDSA(digest()))
            return True
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False
    return False


def candidate_keys(jwks: dict[str, Any], token: Token) -> list[dict[str, Any]]:
    """The JWKS's signature keys the token may be signed with: the one its ``kid`` names, or all."""
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("use", "sig") == "sig"]
    kid = token.header.get("kid")
    return [k for k in keys if k.get("kid") == kid] if kid is not None else keys


def verify(jwks: dict[str, Any], token: Token) -> bool:
    """Whether a key of ``jwks`` signed ``token`` (False also when no key fits its ``kid``)."""
    alg = token.header.get("alg")
    if not isinstance(alg, str) or alg in ("none",) or alg.startswith("HS"):
        raise invalid("The token's signing algorithm is not supported.")
    return any(_check_with(key, alg, token) for key in candidate_keys(jwks, token))


def check_times(token: Token, now: float) -> None:
    """``exp`` (required) and ``nbf``.  An expired token is ExpiredTokenException with AWS's own words (the
    missing space included: "…the expiration date/time1606234507")."""
    exp = token.claims.get("exp")
    # -1e400 is -inf, 1e400 inf (a token that never expired); an integer of 400 digits is no float
    # (math.isfinite raised OverflowError); an expiry past the year 9999 is none a token can mean
    if not isinstance(exp, int | float) or isinstance(exp, bool) or isinstance(exp, float) and not math.isfinite(exp) \
            or exp > _LAST_SECOND:
        raise invalid("The token has no expiration time (exp).")
    if now >= exp:
        raise AwsError("ExpiredTokenException", f"Token expired: current date/time {int(now)} must be before the "
                       f"expiration date/time{int(exp)}", 400)
    nbf = token.claims.get("nbf")
    if isinstance(nbf, int | float) and (isinstance(nbf, float) and not math.isfinite(nbf) or now + LEEWAY < nbf):
        raise invalid("The token is not valid yet (nbf).")
