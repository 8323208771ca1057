"""load_principal_policies on each metadata backend: which policies apply to a user, how the simulator names
them, and the boundary."""

from __future__ import annotations

import json

import pytest

from storeroom.errors import AwsError
from storeroom.iam import policy_store as store
from storeroom.store.sql import Conn
from tests.unit.conftest import Harness

ALICE, DEVS, OPS = "AIDAALICEXXXXXXXXXXXX", "AGPADEVSXXXXXXXXXXXXX", "AGPAOPSXXXXXXXXXXXXXX"
S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
READ_ONLY = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
MINE = "arn:aws:iam::123456789012:policy/team/mine"


def _doc(action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action,
                                                               "Resource": "*"}]})


@pytest.fixture
def meta(metadata: Harness) -> Harness:
    async def setup(c: Conn) -> None:
        await c.run("INSERT INTO iam_users(user_id, name, path, created) VALUES (?, 'alice', '/', 0)", (ALICE,))
        for gid, name in ((DEVS, "devs"), (OPS, "ops")):
            await c.run("INSERT INTO iam_groups VALUES (?, ?, '/', 0)", (gid, name))
        await c.run("INSERT INTO iam_group_members VALUES (?, ?, 0)", (DEVS, ALICE))
        await store.create_policy(c, store.NewPolicy("ANPAMINEXXXXXXXXXXXXX", MINE, "mine", "/team/", "",
                                                     _doc("s3:A"), 0, ()))
        await store.create_version(c, MINE, _doc("s3:B"), True, 1)
        await c.run("INSERT INTO iam_inline_policies VALUES ('user', ?, 'own', ?)", (ALICE, _doc("s3:C")))
        await c.run("INSERT INTO iam_inline_policies VALUES ('group', ?, 'shared', ?)", (DEVS, _doc("s3:D")))
        await c.run("INSERT INTO iam_inline_policies VALUES ('group', ?, 'other', ?)", (OPS, _doc("s3:E")))
        for kind, entity, arn in (("user", ALICE, MINE), ("group", DEVS, MINE), ("group", DEVS, S3_FULL),
                                  ("group", OPS, READ_ONLY)):
            await c.run("INSERT INTO iam_attachments VALUES (?, ?, ?, 0)", (kind, entity, arn))

    metadata.write(setup)
    return metadata


def _set_boundary(meta: Harness, arn: str) -> None:
    meta.write(lambda c: c.run("UPDATE iam_users SET boundary = ? WHERE user_id = ?", (arn, ALICE)))


def test_user_group_inline_and_managed_policies(meta: Harness) -> None:
    loaded = meta.read(lambda c: store.load_principal_policies(c, ALICE))
    assert loaded is not None and loaded.boundary is None
    # the user's own first, then each group's; a policy attached twice counts once; other groups don't apply
    assert [(s.source_id, s.source_type, s.arn) for s in loaded.identity] == [
        ("user_alice_own", "user", None),
        ("mine", "user-managed", MINE),
        ("group_devs_shared", "group", None),
        ("AmazonS3FullAccess", "aws-managed", S3_FULL),
    ]
    assert "s3:B" in loaded.identity[1].policy.text  # the default version, v2


def test_boundary_and_unknown_user(meta: Harness) -> None:
    assert meta.read(lambda c: store.load_principal_policies(c, "AIDANOBODYXXXXXXXXXX")) is None
    _set_boundary(meta, MINE)
    loaded = meta.read(lambda c: store.load_principal_policies(c, ALICE))
    assert loaded is not None and loaded.boundary is not None
    assert (loaded.boundary.source_id, loaded.boundary.source_type, loaded.boundary.arn) == (
        "mine", "permissions-boundary", MINE)
    _set_boundary(meta, S3_FULL)
    loaded = meta.read(lambda c: store.load_principal_policies(c, ALICE))
    assert loaded is not None and loaded.boundary is not None and loaded.boundary.source_id == "AmazonS3FullAccess"


def test_group_policies(meta: Harness) -> None:
    loaded = meta.read(lambda c: store.group_policies(c, OPS, "ops"))
    assert [(s.source_id, s.source_type) for s in loaded.identity] == [
        ("group_ops_other", "group"), ("AmazonS3ReadOnlyAccess", "aws-managed")]


def test_names_are_unique_and_found_case_insensitively(meta: Harness) -> None:
    """IAM names compare case-insensitively on both engines (SQLite's NOCASE, PostgreSQL's citext)."""
    found = meta.read(lambda c: store.find_user(c, "123456789012", "ALICE"))
    assert found is not None and found.entity_id == ALICE
    with pytest.raises(AwsError) as exc:
        meta.write(lambda c: store.create_policy(c, store.NewPolicy("ANPAOTHERXXXXXXXXXXXX", MINE + "2", "MINE",
                                                                    "/", "", _doc("s3:A"), 0, ())))
    assert exc.value.code == "EntityAlreadyExists"


def test_policy_size_ignores_white_space() -> None:
    assert store.policy_size('{ "a" :\n\t"b c" }') == 10


def test_stored_policies_compile_under_rules_tightened_since() -> None:
    """A document stored before IAM's Sid rule was enforced (a Sid with a hyphen) still compiles when loaded."""
    from storeroom.iam.policy_store import compile_policy

    text = ('{"Version": "2012-10-17", "Statement": [{"Sid": "my-statement", "Effect": "Allow", '
            '"Action": "s3:*", "Resource": "*"}]}')
    assert compile_policy(text, "identity").statements[0].sid == "my-statement"
