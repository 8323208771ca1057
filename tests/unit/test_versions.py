"""Version ids (storeroom/store/versions.py)."""

from __future__ import annotations

from storeroom.store.versions import new_version_id, valid_version_id


def test_version_ids_are_valid_unique_and_never_look_like_an_option() -> None:
    """A version id starting with "-" is taken for an option by the AWS CLI (``--version-id -Ab…``: "expected
    one argument"); one id in 64 did, which made tests/e2e/test_object_lock.py::test_aws_cli fail now and then."""
    ids = [new_version_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(valid_version_id(v) and len(v) == 32 for v in ids)
    assert not [v for v in ids if v.startswith("-")]
