"""storeroom/store/space.py: --min-free's values and what counts as a full disk."""

from __future__ import annotations

import errno
import logging
import sqlite3
from pathlib import Path

import pytest

from storeroom.store.space import FailureReport, SpaceReserve, StorageFull, is_storage_full, parse_min_free


def test_min_free_values() -> None:
    assert parse_min_free("auto") is None
    assert parse_min_free("0") == 0
    assert parse_min_free("512MiB") == 512 << 20
    assert parse_min_free("2GB") == 2 * 10**9
    assert parse_min_free(" 1.5 GiB ") == 3 << 29
    assert parse_min_free("10%") == pytest.approx(0.10)
    for bad in ("lots", "-1", "5 parsecs", "150%"):
        with pytest.raises(ValueError):
            parse_min_free(bad)


def test_what_counts_as_a_full_disk() -> None:
    assert is_storage_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_storage_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_storage_full(OSError(errno.EIO, "Input/output error"))
    full = sqlite3.connect(":memory:")
    full.execute("PRAGMA max_page_count = 1")  # SQLITE_FULL, as a full disk gives it
    with pytest.raises(sqlite3.OperationalError) as caught:
        full.execute("CREATE TABLE t (x)")
        full.execute("INSERT INTO t VALUES (zeroblob(100000))")
    assert is_storage_full(caught.value)
    assert not is_storage_full(sqlite3.OperationalError("no such table: t"))
    from psycopg import errors as pg  # PostgreSQL's disk_full (SQLSTATE 53100), as psycopg raises it
    assert is_storage_full(pg.DiskFull("could not extend file")) and not is_storage_full(pg.UniqueViolation())
    try:  # a cause further down the chain
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("the write failed") from inner
    except RuntimeError as outer:
        assert is_storage_full(outer)
    try:  # a bug while handling one is a bug (its traceback kept), not a full disk
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise KeyError("cleanup went wrong")  # noqa: B904 - implicitly chained, as a bug would be
    except KeyError as bug:
        assert bug.__context__ is not None and not is_storage_full(bug)


def test_a_full_disk_is_reported_once_while_it_lasts(caplog: pytest.LogCaptureFixture) -> None:
    report = FailureReport(logging.getLogger("test.space"), "a job")
    full = OSError(errno.ENOSPC, "No space left on device")
    with caplog.at_level(logging.WARNING, "test.space"):
        for _ in range(3):
            report.failed(full)
        report.failed(ValueError("a bug"))
        report.failed(full)
        report.succeeded()
        report.failed(full)
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in said] == ["WARNING", "ERROR", "WARNING", "WARNING"]
    assert said[1] == ("ERROR", "a job failed") and caplog.records[1].exc_info is not None


def test_the_reserve_refuses_what_would_eat_into_it(tmp_path: Path) -> None:
    SpaceReserve([tmp_path], 0).check(10**18)  # none kept: never refused
    SpaceReserve([tmp_path / "not" / "made"], 1).check(1)  # a folder not made yet: its parent's volume
    with pytest.raises(StorageFull) as caught:
        SpaceReserve([tmp_path], 1.0).check(0)  # the whole volume kept free
    assert caught.value.errno == errno.ENOSPC and is_storage_full(caught.value)
    assert len(SpaceReserve([tmp_path, tmp_path / "a", tmp_path], None).paths) == 1  # one per filesystem


def test_a_volume_is_asked_once_a_second_far_from_the_reserve_and_at_every_upload_near_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """statvfs is a round trip on NFS: asked at most once a second while far from the reserve; near it (by the
    estimate: each upload's size and PER_WRITE off the last reading), at every upload, and a refusal is always
    decided on a fresh reading."""
    import os

    from storeroom.store import space

    free = [10 << 20]
    calls = []

    def statvfs(path: object) -> os.statvfs_result:
        calls.append(path)
        return os.statvfs_result((4096, 1, 25600, free[0], free[0], 0, 0, 0, 0, 255))  # 100 MiB, free[0] free

    monkeypatch.setattr(space.os, "statvfs", statvfs)
    reserve = SpaceReserve([tmp_path], 1 << 20)  # 1 MiB kept
    for _ in range(100):  # 100 × (1 KiB + PER_WRITE) ≈ 6.5 MiB of the 9 MiB above the reserve: one reading
        reserve.check(1024)
    assert len(calls) == 1
    free[0] = (1 << 20) + (8 << 10)  # the volume really is 8 KiB above the reserve (the estimate does not know)
    for _ in range(60):  # until the estimate comes near the reserve: no reading
        reserve.check(1024)
    read = len(calls)
    assert 1 < read < 60
    for _ in range(5):  # near it: a reading at every upload (each admitted: 8 KiB are free above the reserve)
        reserve.check(1024)
    assert len(calls) == read + 5
    free[0] = (1 << 20) + 512  # at the reserve: refused on a fresh reading
    with pytest.raises(StorageFull):
        reserve.check(1024)
    assert len(calls) == read + 6
