"""JSON Web Tokens (storeroom/sts/jwt.py) signed by joserfc with RSA (PKCS#1 and PSS) and EC keys, checked against
a JWKS; what AssumeRoleWithWebIdentity refuses."""

from __future__ import annotations

import base64
import time

import pytest
from joserfc import jwt as jose
from joserfc.jwk import ECKey, RSAKey

from storeroom.errors import AwsError
from storeroom.sts import jwt

RSA = RSAKey.generate_key(2048, parameters={"kid": "r1"})
EC = ECKey.generate_key("P-256", parameters={"kid": "e1"})
JWKS = {"keys": [RSA.as_dict(private=False), EC.as_dict(private=False)]}


def claims(**extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"iss": "https://idp.example", "sub": "s", "aud": ["a", "b"], "exp": now + 60, "nbf": now - 1, **extra}


@pytest.mark.parametrize(("alg", "key"), [("RS256", RSA), ("RS512", RSA), ("PS256", RSA), ("ES256", EC)])
def test_signatures_verify(alg: str, key: RSAKey | ECKey) -> None:
    token = jwt.parse(jose.encode({"alg": alg, "kid": key.kid}, claims(), key, algorithms=[alg]))
    assert jwt.verify(JWKS, token) and token.issuer == "https://idp.example" and token.audiences == ["a", "b"]
    jwt.check_times(token, time.time())


def test_a_token_of_another_key_or_altered_is_not_verified() -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "r1"})
    assert not jwt.verify(JWKS, jwt.parse(jose.encode({"alg": "RS256", "kid": "r1"}, claims(), stranger)))
    text = jose.encode({"alg": "ES256", "kid": "e1"}, claims(), EC)
    head, body, signature = text.split(".")
    forged = jose.encode({"alg": "ES256", "kid": "e1"}, claims(sub="admin"), EC).split(".")[1]
    assert not jwt.verify(JWKS, jwt.parse(f"{head}.{forged}.{signature}"))
    assert not jwt.verify(JWKS, jwt.parse(jose.encode({"alg": "RS256", "kid": "nobody"}, claims(), RSA)))


def test_refused_tokens() -> None:
    with pytest.raises(AwsError) as err:
        jwt.verify(JWKS, jwt.parse("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."))   # alg none
    assert err.value.code == "InvalidIdentityToken"
    for bad in ("a.b", "not-base64!.x.y", "e30.W10.AA"):   # not three parts, not JSON, claims not an object
        with pytest.raises(AwsError) as err:
            jwt.parse(bad)
        assert err.value.code == "InvalidIdentityToken"
    expired = jwt.parse(jose.encode({"alg": "RS256", "kid": "r1"}, claims(exp=1000), RSA))
    with pytest.raises(AwsError) as err:
        jwt.check_times(expired, 2000)
    assert (err.value.code, err.value.message) == (
        "ExpiredTokenException", "Token expired: current date/time 2000 must be before the expiration date/time1000")
    early = jwt.parse(jose.encode({"alg": "RS256", "kid": "r1"}, claims(nbf=int(time.time()) + 3600), RSA))
    with pytest.raises(AwsError):
        jwt.check_times(early, time.time())


def _unsigned(header: str, claims_text: str) -> str:
    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    return f"{b64(header)}.{b64(claims_text)}.c2ln"


@pytest.mark.parametrize("claims_text", [
    "[" * 1000 + "]" * 1000,                            # nested a thousand deep: RecursionError was a 500
    '{"iss": "\\ud800"}',                               # a lone surrogate: the issuer's lookup was a 500
    '{"iss": "https://idp.example", "sub": "\\udfff"}',  # ... and the session's encoding, after the signature
    '{"iss": "https://idp.example", "exp": NaN}',       # NaN is no JSON number: it never expired
    '{"iss": "https://idp.example", "exp": Infinity}',
])
def test_tokens_that_are_no_json_text_are_invalid(claims_text: str) -> None:
    """Found by fuzzing (2026-12-07): each was answered 500 or taken."""
    with pytest.raises(AwsError) as err:
        jwt.parse(_unsigned('{"alg": "RS256"}', claims_text))
    assert (err.value.code, err.value.message) == ("InvalidIdentityToken", "The token is not a signed JSON Web Token.")


@pytest.mark.parametrize("exp", ["-1e400", "1e400", "1" + "0" * 400])
def test_an_expiry_beyond_any_number_is_none(exp: str) -> None:
    token = jwt.parse(_unsigned('{"alg": "RS256"}', f'{{"iss": "https://idp.example", "exp": {exp}}}'))
    with pytest.raises(AwsError) as err:  # -1e400 was an OverflowError (500); 1e400 never expired
        jwt.check_times(token, time.time())
    assert err.value.code == "InvalidIdentityToken"
