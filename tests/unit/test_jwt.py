"""JSON Web Tokens (storeroom/sts/jwt.py) signed by joserfc with RSA (PKCS#1 and PSS) and EC keys, checked against
a JWKS; what AssumeRoleWithWebIdentity refuses."""

from __future__ import annotations

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
