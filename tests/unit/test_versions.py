"""Version ids (storeroom/store/versions.py)."""

from __future__ import annotations

import base64
import random

from storeroom.store.versions import new_version_id, next_seq, seq_of, valid_version_id


def test_version_ids_are_valid_unique_and_never_look_like_an_option() -> None:
    """A version id starting with "-" is taken for an option by the AWS CLI (``--version-id -Ab…``: "expected
    one argument"); one id in 64 did, which made tests/e2e/test_object_lock.py::test_aws_cli fail now and then."""
    ids = [new_version_id(next_seq(0)) for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(valid_version_id(v) and len(v) == 32 for v in ids)
    assert not [v for v in ids if v.startswith("-")]


def test_a_version_id_carries_its_seq() -> None:
    """So that a listing resumes after a version-id-marker deleted since (tests/e2e/test_versioning.py)."""
    seq = next_seq(0)
    assert seq_of(new_version_id(seq)) == seq
    assert seq_of("null") is None
    # ids of the earlier, all-random form: almost never taken for one (a seq of 2017-2100 after the format byte:
    # one in ~2 million). Drawn from a seeded generator: with fresh randomness, 20,000 of them met that one in a
    # hundred runs (a full run failed on 'AQAORZUJq1kObqmBDhFtdQMV8a2gSyiA')
    rng = random.Random(20261207)
    olds = [base64.urlsafe_b64encode(rng.randbytes(24)).decode() for _ in range(20_000)]
    assert not [v for v in olds if seq_of(v) is not None]
    assert seq_of("AQAORZUJq1kObqmBDhFtdQMV8a2gSyiA") is not None  # the rare one that does
