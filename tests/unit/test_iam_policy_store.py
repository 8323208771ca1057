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


def test_a_policy_deleted_meanwhile_is_neither_attached_nor_a_boundary(meta: Harness) -> None:
    """The policy's existence is judged inside the transaction that attaches it: a DeletePolicy committed after
    the request's own check (another worker, another node) made both succeed, leaving a user attached to a
    policy that no longer existed -- and to any policy created later under its name."""
    gone = "arn:aws:iam::123456789012:policy/gone"

    async def attach(c: Conn) -> None:
        user = await store.find_user(c, "123456789012", "alice")
        assert user is not None
        await store.attach(c, user, gone, 0)

    async def bound(c: Conn) -> None:
        user = await store.find_user(c, "123456789012", "alice")
        assert user is not None
        await store.set_boundary(c, user, gone)

    for job, message in ((attach, f"Policy {gone} does not exist or is not attachable."),
                         (bound, f"Scope ARN: {gone} does not exist or is not attachable.")):
        with pytest.raises(AwsError) as err:
            meta.write(job)
        assert (err.value.code, err.value.message) == ("NoSuchEntity", message)
    assert meta.read(lambda c: c.one("SELECT count(*) FROM iam_attachments WHERE policy_arn = ?", (gone,)))[0] == 0


def test_attach_and_delete_policy_at_once_never_both_take_effect(meta: Harness) -> None:
    """The race itself, with the two transactions made to overlap: on PostgreSQL (SERIALIZABLE, jobs retried)
    one of them is run again and fails; SQLite's one writer runs them one after the other. Either way the policy
    is attached and exists, or neither."""
    import asyncio

    arn = "arn:aws:iam::123456789012:policy/raced"
    meta.write(lambda c: store.create_policy(c, store.NewPolicy("ANPARACEDXXXXXXXXXXXX", arn, "raced", "/", "",
                                                                  _doc("s3:A"), 0, ())))

    async def attach(c: Conn) -> None:
        user = await store.find_user(c, "123456789012", "alice")
        assert user is not None
        await store.attach(c, user, arn, 0)
        if meta.backend == "postgresql":
            await asyncio.sleep(0.3)  # the delete runs its transaction meanwhile
        # (SQLite runs jobs on its one writer thread, one after the other: nothing to wait for)

    async def delete(c: Conn) -> None:
        await store.delete_policy(c, arn)

    async def race() -> list[object]:
        first = asyncio.ensure_future(meta.meta.db.write(attach))
        await asyncio.sleep(0.1)
        second = asyncio.ensure_future(meta.meta.db.write(delete))
        return list(await asyncio.gather(first, second, return_exceptions=True))

    outcomes = meta.run(race())
    exists = meta.read(lambda c: c.one("SELECT 1 FROM iam_policies WHERE arn = ?", (arn,))) is not None
    attached = meta.read(lambda c: c.one("SELECT 1 FROM iam_attachments WHERE policy_arn = ?", (arn,))) is not None
    assert exists == attached, outcomes
    assert sum(isinstance(o, AwsError) for o in outcomes) == 1, outcomes
