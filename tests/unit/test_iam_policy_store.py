"""load_principal_policies on a real SQLite file: which policies apply to a user, how the simulator names them,
and the boundary."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from storeroom.iam import policy_store as store
from storeroom.store.meta import MetaStore

ALICE, DEVS, OPS = "AIDAALICEXXXXXXXXXXXX", "AGPADEVSXXXXXXXXXXXXX", "AGPAOPSXXXXXXXXXXXXXX"
S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
READ_ONLY = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
MINE = "arn:aws:iam::123456789012:policy/team/mine"


def _doc(action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action,
                                                               "Resource": "*"}]})


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaStore]:
    meta = MetaStore(tmp_path / "meta.sqlite3")

    def setup(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO iam_users(user_id, name, path, created) VALUES (?, 'alice', '/', 0)", (ALICE,))
        for gid, name in ((DEVS, "devs"), (OPS, "ops")):
            c.execute("INSERT INTO iam_groups VALUES (?, ?, '/', 0)", (gid, name))
        c.execute("INSERT INTO iam_group_members VALUES (?, ?, 0)", (DEVS, ALICE))
        store.create_policy(c, store.NewPolicy("ANPAMINEXXXXXXXXXXXXX", MINE, "mine", "/team/", "", _doc("s3:A"),
                                               0, ()))
        store.create_version(c, MINE, _doc("s3:B"), True, 1)
        c.execute("INSERT INTO iam_inline_policies VALUES ('user', ?, 'own', ?)", (ALICE, _doc("s3:C")))
        c.execute("INSERT INTO iam_inline_policies VALUES ('group', ?, 'shared', ?)", (DEVS, _doc("s3:D")))
        c.execute("INSERT INTO iam_inline_policies VALUES ('group', ?, 'other', ?)", (OPS, _doc("s3:E")))
        for kind, entity, arn in (("user", ALICE, MINE), ("group", DEVS, MINE), ("group", DEVS, S3_FULL),
                                  ("group", OPS, READ_ONLY)):
            c.execute("INSERT INTO iam_attachments VALUES (?, ?, ?, 0)", (kind, entity, arn))

    meta.db.write_sync(setup)
    yield meta
    meta.close()


@pytest.fixture
def conn(meta: MetaStore) -> sqlite3.Connection:
    return meta.db.read


def _set_boundary(meta: MetaStore, arn: str) -> None:
    meta.db.write_sync(lambda c: c.execute("UPDATE iam_users SET boundary = ? WHERE user_id = ?", (arn, ALICE)))


def test_user_group_inline_and_managed_policies(conn: sqlite3.Connection) -> None:
    loaded = store.load_principal_policies(conn, ALICE)
    assert loaded is not None and loaded.boundary is None
    # the user's own first, then each group's; a policy attached twice counts once; other groups don't apply
    assert [(s.source_id, s.source_type, s.arn) for s in loaded.identity] == [
        ("user_alice_own", "user", None),
        ("mine", "user-managed", MINE),
        ("group_devs_shared", "group", None),
        ("AmazonS3FullAccess", "aws-managed", S3_FULL),
    ]
    assert "s3:B" in loaded.identity[1].policy.text  # the default version, v2


def test_boundary_and_unknown_user(meta: MetaStore, conn: sqlite3.Connection) -> None:
    assert store.load_principal_policies(conn, "AIDANOBODYXXXXXXXXXX") is None
    _set_boundary(meta, MINE)
    loaded = store.load_principal_policies(conn, ALICE)
    assert loaded is not None and loaded.boundary is not None
    assert (loaded.boundary.source_id, loaded.boundary.source_type, loaded.boundary.arn) == (
        "mine", "permissions-boundary", MINE)
    _set_boundary(meta, S3_FULL)
    loaded = store.load_principal_policies(conn, ALICE)
    assert loaded is not None and loaded.boundary is not None and loaded.boundary.source_id == "AmazonS3FullAccess"


def test_group_policies(conn: sqlite3.Connection) -> None:
    loaded = store.group_policies(conn, OPS, "ops")
    assert [(s.source_id, s.source_type) for s in loaded.identity] == [
        ("group_ops_other", "group"), ("AmazonS3ReadOnlyAccess", "aws-managed")]


def test_policy_size_ignores_white_space() -> None:
    assert store.policy_size('{ "a" :\n\t"b c" }') == 10


def test_stored_policies_compile_under_rules_tightened_since() -> None:
    """A document stored before IAM's Sid rule was enforced (a Sid with a hyphen) still compiles when loaded."""
    from storeroom.iam.policy_store import compile_policy

    text = ('{"Version": "2012-10-17", "Statement": [{"Sid": "my-statement", "Effect": "Allow", '
            '"Action": "s3:*", "Resource": "*"}]}')
    assert compile_policy(text, "identity").statements[0].sid == "my-statement"
