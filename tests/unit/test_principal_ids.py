"""Principals by unique id (storeroom/iam/principal_ids.py): where the principals are in a policy's text, and
how the evaluation engine matches a caller against a stored policy that names users and roles by id."""

from __future__ import annotations

import json

from storeroom.iam.principal_ids import names_own_entity, principal_spans
from storeroom.policy import AuthRequest, PolicySource, PrincipalPolicies, evaluate, parse_policy
from storeroom.policy.evaluate import trusts

ACCOUNT = "123456789012"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
ALICE_ID = "AIDAAAAAAAAAAAAAAAAAA"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
ROLE_ID = "AROABBBBBBBBBBBBBBBBB"
OBJECT = "arn:aws:s3:::b/k"


def test_only_the_aws_principals_of_principal_elements_are_found() -> None:
    text = ('{ "Version": "2012-10-17", "Statement": [ {"Effect": "Allow", "Principal": {"AWS" : ["a", "1"], '
            '"Service": "s"}, "Action": "s3:*", "Resource": "x", "Condition": {"StringEquals": '
            '{"aws:PrincipalArn": "a"}}}, {"Effect": "Deny", "NotPrincipal": {"AWS": "b"}, "Action": "s3:*", '
            '"Resource": "y"}, {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "z"} ] }')
    spans = principal_spans(text)
    assert [v for _, _, v in spans] == ["a", "1", "b"]
    assert all(json.loads(text[start:end]) == value for start, end, value in spans)
    assert [v for _, _, v in principal_spans('{"Principal": {"AWS": "x"}}')] == ["x"]  # a statement alone


def test_which_arns_are_stored_by_id() -> None:
    assert names_own_entity(ACCOUNT, ALICE) and names_own_entity(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/p/app")
    for other in (f"arn:aws:iam::{ACCOUNT}:root", "arn:aws:iam::111122223333:user/alice", ACCOUNT, "*",
                  f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s", f"arn:aws:iam::{ACCOUNT}:group/g"):
        assert not names_own_entity(ACCOUNT, other)


def _bucket_policy(principal: str) -> PolicySource:
    text = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal},
                                                                "Action": "s3:GetObject", "Resource": OBJECT}]})
    return PolicySource(parse_policy(text, "resource"), "b bucket policy", "resource")


def _alice(user_id: str | None) -> AuthRequest:
    return AuthRequest("s3:GetObject", OBJECT, "IAMUser", ALICE, ACCOUNT, {}, user_id=user_id)


def test_a_stored_policy_names_the_user_by_id_not_by_arn() -> None:
    stored = _bucket_policy(ALICE_ID)
    assert evaluate(_alice(ALICE_ID), PrincipalPolicies(()), stored, ACCOUNT).allowed
    # another user of the same name (a new id) is not named, and neither is the ARN once ids are in play
    assert not evaluate(_alice("AIDACCCCCCCCCCCCCCCCC"), PrincipalPolicies(()), stored, ACCOUNT).allowed
    assert not evaluate(_alice(ALICE_ID), PrincipalPolicies(()), _bucket_policy(ALICE), ACCOUNT).allowed
    # without ids (the simulator's CallerArn against its ResourcePolicy): by ARN
    assert evaluate(_alice(None), PrincipalPolicies(()), _bucket_policy(ALICE), ACCOUNT).allowed


def test_a_role_session_is_named_by_its_roles_id() -> None:
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s"
    request = AuthRequest("s3:GetObject", OBJECT, "AssumedRole", session, ACCOUNT, {}, ROLE, role_id=ROLE_ID)
    assert evaluate(request, PrincipalPolicies(()), _bucket_policy(ROLE_ID), ACCOUNT).allowed
    assert not evaluate(request, PrincipalPolicies(()), _bucket_policy(ROLE), ACCOUNT).allowed
    assert evaluate(request, PrincipalPolicies(()), _bucket_policy(session), ACCOUNT).allowed
    trust = PolicySource(parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ROLE_ID}, "Action": "sts:AssumeRole"}]}), "trust"), "t", "resource")
    assert trusts(AuthRequest("sts:AssumeRole", "arn:aws:iam::123456789012:role/other", "AssumedRole", session,
                              ACCOUNT, {}, ROLE, role_id=ROLE_ID), trust) == "allow"
    assert trusts(AuthRequest("sts:AssumeRole", "arn:aws:iam::123456789012:role/other", "AssumedRole", session,
                              ACCOUNT, {}, ROLE, role_id="AROACCCCCCCCCCCCCCCCC"), trust) == "none"
