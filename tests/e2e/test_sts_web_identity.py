"""AssumeRoleWithWebIdentity against OpenID Connect issuers this test serves itself on loopback over HTTPS
(tests/e2e/oidc_issuer.py): a CI job's flow with no stored secret (GitHub Actions' trust policy on ``…:sub`` and
``…:aud``), boto3's ``web_identity_token_file`` provider, every check of the token (signature, issuer, audience,
expiry, unknown keys and key rotation), an issuer trusted by thumbprint, and one whose JWKS is a file."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from joserfc.jwk import RSAKey

from tests.conftest import REGION, StoreroomServer, make_client, meta_url_for
from tests.e2e.helpers import unique_name
from tests.e2e.iam_cleanup import delete_role_fully
from tests.e2e.oidc_issuer import OidcIssuer

AUDIENCE = "sts.amazonaws.com"
S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
OFFLINE_ISSUER = "https://offline.idp.example"


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = exc.value.response
    err = response["Error"]
    return response["ResponseMetadata"]["HTTPStatusCode"], err["Code"], err.get("Message", "")


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcIssuer]:
    found = OidcIssuer(tmp_path_factory.mktemp("idp"))
    yield found
    found.stop()


@pytest.fixture(scope="module")
def pinned_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcIssuer]:
    """An issuer whose CA the server does not trust: accepted by its thumbprint only."""
    found = OidcIssuer(tmp_path_factory.mktemp("idp-pinned"))
    yield found
    found.stop()


@pytest.fixture(scope="module")
def offline_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "offline-1", "use": "sig"})


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, meta_backend: str,
        issuer: OidcIssuer, offline_key: RSAKey) -> Iterator[StoreroomServer]:
    base = tmp_path_factory.mktemp("webid")
    jwks = base / "offline-jwks.json"
    jwks.write_text(json.dumps({"keys": [offline_key.as_dict(private=False)]}))
    srv = StoreroomServer(base / "data", workers=1, meta_url=meta_url_for(request, meta_backend),
                          env={"STOREROOM_OIDC_CA_BUNDLE": str(issuer.ca.ca_cert),
                               "STOREROOM_OIDC_JWKS": f"{OFFLINE_ISSUER}={jwks}"})
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def iam(own: StoreroomServer) -> Any:
    return make_client(own.endpoint, "iam")


@pytest.fixture(scope="module")
def account(own: StoreroomServer) -> str:
    return str(make_client(own.endpoint, "sts").get_caller_identity()["Account"])


def unsigned_sts(endpoint: str) -> Any:
    return boto3.client("sts", endpoint_url=endpoint, region_name=REGION,
                        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))


def ci_role(iam: Any, account: str, host: str, sub: str = "repo:octo/app:ref:refs/heads/main") -> str:
    """GitHub's documented trust policy for Actions (aud and sub conditions), with AmazonS3FullAccess."""
    name = unique_name("ci")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{host}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host}:aud": AUDIENCE}, "StringLike": {f"{host}:sub": sub}}}]}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.attach_role_policy(RoleName=name, PolicyArn=S3_FULL)
    return f"arn:aws:iam::{account}:role/{name}"


@pytest.fixture(scope="module")
def provider(iam: Any, issuer: OidcIssuer) -> Iterator[str]:
    arn = iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=[AUDIENCE])["OpenIDConnectProviderArn"]
    yield arn
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


@pytest.fixture(scope="module")
def role(iam: Any, account: str, issuer: OidcIssuer, provider: str) -> Iterator[str]:
    arn = ci_role(iam, account, issuer.host)
    yield arn
    delete_role_fully(iam, arn.rpartition("/")[2])


def session_s3(endpoint: str, credentials: dict[str, Any]) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])


def test_a_ci_job_gets_bucket_access_with_no_stored_secret(own: StoreroomServer, issuer: OidcIssuer, role: str,
                                                           account: str) -> None:
    answer = unsigned_sts(own.endpoint).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="gha-run-42", WebIdentityToken=issuer.token())
    assert answer["SubjectFromWebIdentityToken"] == "repo:octo/app:ref:refs/heads/main"
    assert answer["Audience"] == AUDIENCE and answer["Provider"] == issuer.url
    name = role.rpartition("/")[2]
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/{name}/gha-run-42"
    s3 = session_s3(own.endpoint, answer["Credentials"])
    bucket = unique_name("ci")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="artifact.tgz", Body=b"built")
    assert s3.get_object(Bucket=bucket, Key="artifact.tgz")["Body"].read() == b"built"
    s3.delete_object(Bucket=bucket, Key="artifact.tgz")
    s3.delete_bucket(Bucket=bucket)


def test_boto3_web_identity_token_file(own: StoreroomServer, issuer: OidcIssuer, role: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard configuration: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, boto3's default chain."""
    token_file = tmp_path / "token"
    token_file.write_text(issuer.token())
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ROLE_ARN", role)
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "from-file")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ENDPOINT_URL", own.endpoint)
    session = boto3.Session(region_name=REGION)
    who = session.client("sts").get_caller_identity()
    assert who["Arn"].endswith(f"/{role.rpartition('/')[2]}/from-file")


@pytest.mark.parametrize(("claims", "expected"), [
    ({"sub": "repo:octo/app:ref:refs/heads/feature"},
     (403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")),
    ({"aud": "someone-else"}, (400, "InvalidIdentityToken", "Incorrect token audience")),
])
def test_claims_the_role_does_not_accept(own: StoreroomServer, issuer: OidcIssuer, role: str,
                                         claims: dict[str, str], expected: tuple[int, str, str]) -> None:
    with pytest.raises(ClientError) as exc:
        unsigned_sts(own.endpoint).assume_role_with_web_identity(
            RoleArn=role, RoleSessionName="s1", WebIdentityToken=issuer.token(**claims))
    assert error(exc) == expected


def test_a_role_arn_that_is_no_arn_is_a_validation_error(own: StoreroomServer, issuer: OidcIssuer) -> None:
    """As for AssumeRole (LocalStack's AWS-recorded test_sts_invalid_parameters): "X is invalid", not a refusal."""
    with pytest.raises(ClientError) as exc:
        unsigned_sts(own.endpoint).assume_role_with_web_identity(
            RoleArn="nothing-valid-in-here", RoleSessionName="s1", WebIdentityToken=issuer.token())
    assert error(exc) == (400, "ValidationError", "nothing-valid-in-here is invalid")


def test_tokens_that_cannot_be_trusted(own: StoreroomServer, issuer: OidcIssuer, role: str) -> None:
    sts = unsigned_sts(own.endpoint)
    expired = issuer.token(lifetime=-10)
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1", WebIdentityToken=expired)
    status, code, message = error(exc)
    assert (status, code) == (400, "ExpiredTokenException")
    assert message.startswith("Token expired: current date/time ") and "must be before the expiration date/time" \
        in message
    header, payload, signature = issuer.token().split(".")
    forged = f"{header}.{payload}.{signature[:-8]}AAAAAAAA"
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1", WebIdentityToken=forged)
    assert error(exc)[:2] == (400, "InvalidIdentityToken")
    stranger = RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig"})
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1",
                                          WebIdentityToken=issuer.token(key=stranger))
    assert error(exc)[:2] == (400, "InvalidIdentityToken")
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1",
                                          WebIdentityToken=issuer.token(iss="https://elsewhere.example"))
    assert error(exc) == (400, "InvalidIdentityToken",
                          "No OpenIDConnect provider found in your account for https://elsewhere.example")
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1", WebIdentityToken="not.a.jwt")
    assert error(exc)[:2] == (400, "InvalidIdentityToken")


def test_key_rotation_refetches_the_jwks(own: StoreroomServer, issuer: OidcIssuer, role: str) -> None:
    sts = unsigned_sts(own.endpoint)
    sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1", WebIdentityToken=issuer.token())
    fetched = issuer.requests.count("/jwks")
    sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1", WebIdentityToken=issuer.token())
    assert issuer.requests.count("/jwks") == fetched   # cached
    issuer.rotate()   # a new (EC) key, unknown to the cache: fetched again (at most once a second)
    time.sleep(1.1)
    answer = sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1", WebIdentityToken=issuer.token())
    assert answer["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert issuer.requests.count("/jwks") == fetched + 1


def test_an_issuer_trusted_by_thumbprint(own: StoreroomServer, iam: Any, account: str,
                                         pinned_issuer: OidcIssuer) -> None:
    sts = unsigned_sts(own.endpoint)
    arn = iam.create_open_id_connect_provider(Url=pinned_issuer.url, ClientIDList=[AUDIENCE])[
        "OpenIDConnectProviderArn"]
    role = ci_role(iam, account, pinned_issuer.host)
    try:
        with pytest.raises(ClientError) as exc:   # no CA the server trusts, no thumbprint: unreachable
            sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1",
                                              WebIdentityToken=pinned_issuer.token())
        assert error(exc)[:2] == (400, "IDPCommunicationError")
        iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn,
                                                       ThumbprintList=[pinned_issuer.ca_thumbprint])
        sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="s1", WebIdentityToken=pinned_issuer.token())
    finally:
        delete_role_fully(iam, role.rpartition("/")[2])
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def test_an_issuer_that_does_not_answer_holds_up_no_one_for_long(own: StoreroomServer, iam: Any, account: str,
                                                                  issuer: OidcIssuer, role: str) -> None:
    """Each caller naming a silent issuer waited for the one before it (5 s apiece: 35 s for the seventh), and
    callers of every other issuer waited behind them (fuzzing, 2026-12-07). Now a failure is remembered for a few
    seconds, and each issuer has its own turn."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections are taken by the kernel and never answered: the TLS handshake hangs
    url = f"https://127.0.0.1:{silent.getsockname()[1]}"
    arn = iam.create_open_id_connect_provider(Url=url, ClientIDList=[AUDIENCE])["OpenIDConnectProviderArn"]
    silent_role = ci_role(iam, account, url.removeprefix("https://"))
    token = issuer.token(iss=url)  # signed by another issuer's key: the keys are fetched before it is judged

    def assume(role_arn: str, web_token: str) -> tuple[str, float]:
        started = time.monotonic()
        try:
            unsigned_sts(own.endpoint).assume_role_with_web_identity(
                RoleArn=role_arn, RoleSessionName="s1", WebIdentityToken=web_token)
            code = "ok"
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
        return code, time.monotonic() - started

    try:
        with ThreadPoolExecutor(4) as pool:
            stalled = [pool.submit(assume, silent_role, token) for _ in range(3)]
            time.sleep(0.5)
            other = pool.submit(assume, role, issuer.token())
            assert other.result()[0] == "ok" and other.result()[1] < 4  # it waited behind the silent one
            answers = [f.result() for f in stalled]
        assert [code for code, _ in answers] == ["IDPCommunicationError"] * 3
        assert max(seconds for _, seconds in answers) < 11  # 5, 10 and 15 s before
        assert assume(silent_role, token) == ("IDPCommunicationError", pytest.approx(0, abs=2))  # remembered
    finally:
        silent.close()
        delete_role_fully(iam, silent_role.rpartition("/")[2])
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def test_an_offline_issuer_with_its_jwks_in_a_file(own: StoreroomServer, iam: Any, account: str,
                                                   offline_key: RSAKey) -> None:
    from joserfc import jwt

    arn = iam.create_open_id_connect_provider(Url=OFFLINE_ISSUER, ClientIDList=["storeroom"])[
        "OpenIDConnectProviderArn"]
    name = unique_name("offline")
    host = OFFLINE_ISSUER.split("://")[1]
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host}:sub": "job-7"}}}]}))
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*",
                       "Condition": {"StringEquals": {"aws:FederatedProvider": arn, f"{host}:sub": "job-7"}}}]}))
    try:
        now = int(time.time())
        token = jwt.encode({"alg": "RS256", "kid": "offline-1"},
                           {"iss": OFFLINE_ISSUER, "sub": "job-7", "aud": "storeroom", "exp": now + 60, "iat": now},
                           offline_key)
        answer = unsigned_sts(own.endpoint).assume_role_with_web_identity(
            RoleArn=f"arn:aws:iam::{account}:role/{name}", RoleSessionName="job-7", WebIdentityToken=token)
        session_s3(own.endpoint, answer["Credentials"]).list_buckets()   # the claims are in its requests too
    finally:
        delete_role_fully(iam, name)
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def test_cloudtrail_names_the_web_identity(own: StoreroomServer, issuer: OidcIssuer, role: str,
                                           provider: str) -> None:
    from tests.e2e.test_sts import lookup

    answer = unsigned_sts(own.endpoint).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="traced", WebIdentityToken=issuer.token(sub="repo:octo/app:ref:refs/heads/main"))
    key_id = answer["Credentials"]["AccessKeyId"]
    session_s3(own.endpoint, answer["Credentials"]).list_buckets()
    assumed = lookup(own.endpoint, "EventName", "AssumeRoleWithWebIdentity", lambda e: (
        e.get("responseElements") or {}).get("credentials", {}).get("accessKeyId") == key_id)
    assert assumed[0]["userIdentity"] == {
        "type": "WebIdentityUser", "principalId": f"{issuer.host}:{AUDIENCE}:repo:octo/app:ref:refs/heads/main",
        "userName": "repo:octo/app:ref:refs/heads/main", "identityProvider": issuer.host}
    assert assumed[0]["requestParameters"]["webIdentityToken"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    listed = lookup(own.endpoint, "AccessKeyId", key_id, lambda e: e["eventName"] == "ListBuckets")
    context = listed[0]["userIdentity"]["sessionContext"]
    assert context["webIdFederationData"] == {"federatedProvider": provider, "attributes": {}}
