"""Session credentials (storeroom/sessions.py): what a token says comes back exactly, only with the key id and the
master key it was sealed for, and an altered token is refused."""

from __future__ import annotations

import base64

import pytest

from storeroom.errors import AwsError
from storeroom.sessions import ROLE, USER, Session, SessionTokens, merged_tags

KEY = b"\x07" * 32


def full_session() -> Session:
    return Session(ROLE, "AROAEXAMPLEEXAMPLE12", 1000.0, 4600.0, "job", 990.0, '{"Version":"2012-10-17"}',
                   ("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",), (("team", "blue"), ("é", "ü")), ("team",),
                   "alice", True, "arn:aws:iam::123456789012:oidc-provider/idp", (("idp:sub", "s"),), ("s3",), "sts")


def test_a_token_says_what_was_sealed() -> None:
    tokens = SessionTokens(KEY)
    session = full_session()
    credentials = tokens.mint(session)
    assert credentials.access_key_id.startswith("ASIA") and len(credentials.access_key_id) == 20
    assert len(credentials.secret_access_key) == 40 and credentials.expiration == 4600.0
    secret, opened = SessionTokens(KEY).open(credentials.access_key_id, credentials.session_token)
    assert opened == session and secret == credentials.secret_access_key
    minimal = Session(USER, "AIDAEXAMPLE", 1.0, 2.0)
    c = tokens.mint(minimal)
    assert tokens.open(c.access_key_id, c.session_token)[1] == minimal
    assert len(c.session_token) < 200   # what is absent takes no room


def test_other_keys_other_key_ids_and_altered_tokens_are_refused() -> None:
    tokens = SessionTokens(KEY)
    c = tokens.mint(full_session())
    for key_id, token in ((c.access_key_id, c.session_token[:-2] + ("AA" if c.session_token[-2:] != "AA" else "BB")),
                          ("ASIA" + "A" * 16, c.session_token), (c.access_key_id, "garbage"),
                          (c.access_key_id, ""), (c.access_key_id, "x" * 9000)):
        with pytest.raises(AwsError) as err:
            SessionTokens(KEY).open(key_id, token)
        assert err.value.code == "InvalidToken"
    with pytest.raises(AwsError):
        SessionTokens(b"\x08" * 32).open(c.access_key_id, c.session_token)
    raw = base64.urlsafe_b64decode(c.session_token + "=" * (-len(c.session_token) % 4))
    other_version = base64.urlsafe_b64encode(b"\x02" + raw[1:]).decode()
    with pytest.raises(AwsError):
        SessionTokens(KEY).open(c.access_key_id, other_version)


def test_expiry_and_condition_keys() -> None:
    session = full_session()
    session.check(4600.0)
    with pytest.raises(AwsError) as err:
        session.check(4600.5)
    assert err.value.code == "ExpiredToken"
    keys = session.condition_keys(1000.0)
    assert keys["aws:multifactorauthpresent"] == ("true",) and keys["aws:multifactorauthage"] == ("10",)
    assert keys["aws:tokenissuetime"] == ("1970-01-01T00:16:40Z",) and keys["aws:sourceidentity"] == ("alice",)
    assert keys["aws:federatedprovider"] == ("arn:aws:iam::123456789012:oidc-provider/idp",)
    assert keys["idp:sub"] == ("s",)
    plain = Session(USER, "AIDA", 1.0, 2.0).condition_keys(1.0)
    assert plain["aws:multifactorauthpresent"] == ("false",) and "aws:multifactorauthage" not in plain


def test_session_tags_override_the_roles() -> None:
    assert merged_tags([("Team", "red"), ("cost", "1")], [("team", "blue")]) == (("team", "blue"), ("cost", "1"))


def test_a_revocation_covers_its_whole_second() -> None:
    """A session issued earlier in the revoking second (12:00:00.25) was not revoked: the cutoff was rounded
    down (12:00:00), and DateLessThan 12:00:00 does not hold for it."""
    import json

    from storeroom.sessions import revocation

    cutoff, document = revocation(1_767_268_800.7)   # 2026-01-01T12:00:00.7Z
    assert cutoff == "2026-01-01T12:00:01Z"
    statement = json.loads(document)["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {
        "DateLessThan": {"aws:TokenIssueTime": "2026-01-01T12:00:01Z"}}
