"""The IAM user/group/key SQL on each metadata backend (a real SQLite file, a real PostgreSQL database): delete
conflicts (including the policy tables written by another module), quotas, tag merging, case-insensitive
names."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from storeroom.errors import AwsError
from storeroom.iam import user_store as store
from storeroom.iam.user_store import Group, User
from tests.unit.conftest import Harness, sql


@pytest.fixture
def write(metadata: Harness) -> Callable[..., Any]:
    return metadata.write


def _user(name: str = "alice") -> User:
    return User("AIDA" + name.upper().ljust(17, "X")[:17], name, "/", time.time(), [], None)


def _code(exc: pytest.ExceptionInfo[AwsError]) -> tuple[str, int, str]:
    return exc.value.code, exc.value.status, exc.value.message


def test_delete_user_refused_while_policies_remain(write: Callable[..., None]) -> None:
    user = _user()
    write(lambda c: store.create_user_job(c, user))
    write(lambda c: sql(c, "INSERT INTO iam_inline_policies VALUES ('user', ?, 'p', '{}')", user.user_id))
    with pytest.raises(AwsError) as exc:
        write(lambda c: store.delete_user_job(c, user.user_id, user.name))
    assert _code(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete policies first.")
    write(lambda c: sql(c, "DELETE FROM iam_inline_policies"))
    write(lambda c: sql(c, "INSERT INTO iam_attachments VALUES ('user', ?, 'arn:aws:iam::aws:policy/X', 0)",
                        user.user_id))
    with pytest.raises(AwsError) as exc:
        write(lambda c: store.delete_user_job(c, user.user_id, user.name))
    assert _code(exc) == ("DeleteConflict", 409, "Cannot delete entity, must detach all policies first.")
    write(lambda c: sql(c, "DELETE FROM iam_attachments"))
    write(lambda c: store.delete_user_job(c, user.user_id, user.name))


def test_delete_group_refused_while_policies_remain(write: Callable[..., None]) -> None:
    group = Group("AGPA" + "G" * 17, "devs", "/", time.time())
    write(lambda c: store.create_group_job(c, group))
    write(lambda c: sql(c, "INSERT INTO iam_attachments VALUES ('group', ?, 'arn:aws:iam::aws:policy/X', 0)",
                        group.group_id))
    with pytest.raises(AwsError) as exc:
        write(lambda c: store.delete_group_job(c, group.group_id, group.name))
    assert _code(exc) == ("DeleteConflict", 409, "Cannot delete entity, must detach all policies first.")


def test_customer_policy_is_a_valid_boundary(write: Callable[..., None]) -> None:
    arn = "arn:aws:iam::123456789012:policy/limits"
    write(lambda c: sql(c, "INSERT INTO iam_policies(policy_id, arn, name, path, default_version, next_version, "
                        "created, updated) VALUES ('ANPA1', ?, 'limits', '/', 'v1', 2, 0, 0)", arn))
    user = User("AIDA" + "B" * 17, "bounded", "/", time.time(), [], arn)
    write(lambda c: store.create_user_job(c, user))
    assert write(lambda c: store.get_user(c, "BOUNDED")) == user


def test_tag_merging_is_case_insensitive() -> None:
    merged = store.merged_tags([("Dept", "a"), ("env", "b")], [("DEPT", "c"), ("new", "")])
    assert merged == [("DEPT", "c"), ("env", "b"), ("new", "")]
    assert store.without_tags(merged, ["dept", "NEW"]) == [("env", "b")]
    with pytest.raises(AwsError) as exc:
        store.check_unique_keys([("k", "1"), ("K", "2")])
    assert exc.value.code == "InvalidInput"


def test_key_quota_counts_every_key_of_the_principal(write: Callable[..., None]) -> None:
    for n in range(2):
        write(lambda c, n=n: store.create_key_job(c, store.ROOT, "", f"AKIATEST{n:012}", b"s", time.time()))
    with pytest.raises(AwsError) as exc:
        write(lambda c: store.create_key_job(c, store.ROOT, "", "AKIATEST999999999999", b"s", time.time()))
    assert _code(exc) == ("LimitExceeded", 409, "Cannot exceed quota for AccessKeysPerUser: 2")
