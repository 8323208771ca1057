"""Blob files on a real folder: write/commit/discard, ranged reads across many blobs, the orphan sweep."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from storeroom.store import blobs as blobs_module
from storeroom.store.blobs import BlobReader, BlobStore, sweep_orphans


async def _write(store: BlobStore, data: bytes) -> tuple[str, str]:
    md5 = hashlib.md5()
    writer = store.new_writer([md5])
    for i in range(0, len(data), 100_000):
        await writer.write(data[i:i + 100_000])
    await writer.commit()
    return writer.blob_id, md5.hexdigest()


async def _read_all(result: bytes | BlobReader) -> bytes:
    if isinstance(result, bytes):
        return result
    return b"".join([chunk async for chunk in result])


def test_commit_writes_and_hashes(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = os.urandom(3 * 1024 * 1024 + 17)  # several write buffers, double-buffered
    blob_id, md5 = asyncio.run(_write(store, data))
    assert md5 == hashlib.md5(data).hexdigest()
    assert Path(store.path(blob_id)).read_bytes() == data


def test_discard_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")

    async def interrupted() -> str:
        writer = store.new_writer()
        await writer.write(os.urandom(2 * 1024 * 1024))  # one megabyte still in flight on the pool
        writer.discard()
        await asyncio.sleep(0.2)
        return writer.blob_id

    blob_id = asyncio.run(interrupted())
    assert not os.path.exists(store.path(blob_id))


def test_range_across_more_blobs_than_opened_eagerly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blobs_module, "EAGER_OPEN", 4)
    store = BlobStore(tmp_path / "blobs")
    parts = [os.urandom(40_000) for _ in range(12)]

    async def scenario() -> None:
        ids = [(await _write(store, p))[0] for p in parts]
        whole = b"".join(parts)
        layout = [(i, len(p)) for i, p in zip(ids, parts, strict=True)]
        for start, end in [(0, len(whole)), (39_999, 400_001), (123_456, len(whole) - 5)]:
            assert await _read_all(store.open_range_now(layout, start, end)) == whole[start:end]

    asyncio.run(scenario())


def test_a_read_of_many_parts_outlives_their_deletion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A GET (or copy) of an object of more parts than a read opens at once, while the object is overwritten or
    deleted: its later parts were unlinked at once, and the GET (200, its whole length promised) broke after 64
    parts (race fuzzing, 2026-12-07). Such an object's blobs are deleted later; smaller ones at once."""
    monkeypatch.setattr(blobs_module, "EAGER_OPEN", 4)
    monkeypatch.setattr(blobs_module, "SOON_DELETE_DELAY", 0.1)
    store = BlobStore(tmp_path / "blobs")
    parts = [os.urandom(300_000) for _ in range(12)]

    async def scenario() -> None:
        ids = [(await _write(store, p))[0] for p in parts]
        reader = store.open_range_now([(i, len(p)) for i, p in zip(ids, parts, strict=True)], 0, 12 * 300_000)
        store.delete(ids)  # the overwrite commits while the GET has read nothing yet
        await asyncio.sleep(0.3)  # an immediate unlink would have run on the pool by now
        assert await _read_all(reader) == b"".join(parts)
        assert all(os.path.exists(store.path(i)) for i in ids)
        small = (await _write(store, b"x"))[0]
        store.delete([small])
        await asyncio.sleep(0.3)
        assert not os.path.exists(store.path(small))  # a few blobs go soon (SOON_DELETE_DELAY)
        await store.close()  # the delayed ones go at the latest when the server stops
        assert not any(os.path.exists(store.path(i)) for i in ids)

    asyncio.run(scenario())


def test_a_reader_reads_ahead_and_leaves_no_descriptor_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BlobReader reads the next chunk while this one is used: whether it is read to the end, closed half-way
    (a read still in flight), cancelled while it waits for a read, or meets a file shorter than recorded, every
    descriptor it opened is closed."""
    monkeypatch.setattr(blobs_module, "EAGER_OPEN", 2)
    monkeypatch.setattr(blobs_module, "READ_CHUNK", 10_000)
    monkeypatch.setattr(blobs_module, "INLINE_READ_MAX", 0)
    store = BlobStore(tmp_path / "blobs")
    parts = [os.urandom(35_000) for _ in range(5)]

    def descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def scenario() -> None:
        ids = [(await _write(store, p))[0] for p in parts]
        layout = [(i, len(p)) for i, p in zip(ids, parts, strict=True)]
        whole = b"".join(parts)
        before = descriptors()
        reader = store.open_range_now(layout, 5, len(whole) - 5)
        assert isinstance(reader, BlobReader)
        chunks = [chunk async for chunk in reader]
        assert b"".join(chunks) == whole[5:-5] and max(map(len, chunks)) == 10_000
        assert descriptors() == before

        for taken in (1, 4, 8, 9):  # closed with a read in flight (after 8: the one that opens the third file)
            reader = store.open_range_now(layout, 0, len(whole))
            assert isinstance(reader, BlobReader)
            got = [await reader.__anext__() for _ in range(taken)]
            assert b"".join(got) == whole[:len(b"".join(got))]
            await reader.aclose()
            await asyncio.sleep(0.2)
            assert descriptors() == before, taken

        read_at = blobs_module._read_at

        def slow_read_at(*args: Any) -> tuple[int, bytes]:  # a slow disk: the cancel comes mid-read
            time.sleep(0.05)
            return read_at(*args)
        monkeypatch.setattr(blobs_module, "_read_at", slow_read_at)
        for taken in (0, 8):  # a wait cancelled (after 8: on the read that opens the third file)
            reader = store.open_range_now(layout, 0, len(whole))
            assert isinstance(reader, BlobReader)
            for _ in range(taken):
                await reader.__anext__()
            waiting = asyncio.ensure_future(reader.__anext__())
            await asyncio.sleep(0)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await asyncio.sleep(0.2)
            assert descriptors() == before, taken
        monkeypatch.setattr(blobs_module, "_read_at", read_at)

        reader = store.open_range_now(layout, 0, len(whole))
        os.truncate(store.path(ids[3]), 1000)
        with pytest.raises(OSError, match="shorter than recorded"):
            await _read_all(reader)
        await asyncio.sleep(0.2)
        assert descriptors() == before

    asyncio.run(scenario())


def test_missing_blob_is_reported_before_streaming(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(FileNotFoundError):
        store.open_range_now([("0" * 32, 10)], 0, 10)
    with pytest.raises(FileNotFoundError):
        store.open_range_now([("0" * 32, 1 << 20)], 0, 1 << 20)


def test_sweep_removes_only_unreferenced_files(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    kept, _ = asyncio.run(_write(store, b"kept"))
    orphan, _ = asyncio.run(_write(store, b"orphan"))
    assert sweep_orphans(tmp_path / "blobs", [kept]) == 1
    assert os.path.exists(store.path(kept)) and not os.path.exists(store.path(orphan))
    assert os.path.isdir(os.path.dirname(store.path(orphan)))  # the fan-out folders stay


def test_a_fan_out_folder_is_made_durably_by_its_first_blob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No folder is made before a blob needs it (a new store's first start made 4,096); the first blob of a
    folder makes it and fsyncs ``blobs/`` before its own file and folder; the next blob there does not."""
    store = BlobStore(tmp_path / "blobs")
    assert os.listdir(tmp_path / "blobs") == []
    synced: list[str] = []
    fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)

    async def write_as(blob_id: str, data: bytes) -> None:
        writer = blobs_module.BlobWriter(store, blob_id, [])
        await writer.write(data)
        await writer.commit()

    first, second = "abc" + "0" * 29, "abc" + "1" * 29
    asyncio.run(write_as(first, b"first"))
    root, folder = str(tmp_path / "blobs"), str(tmp_path / "blobs" / "abc")
    assert synced == [root, store.path(first), folder]
    synced.clear()
    asyncio.run(write_as(second, b"second"))
    assert synced == [store.path(second), folder]
    assert os.listdir(tmp_path / "blobs") == ["abc"]
    assert Path(store.path(first)).read_bytes() == b"first"


def test_small_blob_cache_serves_ranges_and_stays_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blobs_module, "SMALL_CACHE_BYTES", 10_000)
    store = BlobStore(tmp_path / "blobs")
    datas = [os.urandom(4096) for _ in range(5)]
    ids = [asyncio.run(_write(store, d))[0] for d in datas]
    for blob_id, data in zip(ids, datas, strict=True):
        assert store.open_range_now([(blob_id, 4096)], 0, 4096) == data
        assert store.open_range_now([(blob_id, 4096)], 100, 200) == data[100:200]
    assert store._small_bytes <= 10_000 and len(store._small) == 2  # the oldest were dropped
    os.unlink(store.path(ids[-1]))  # content is immutable by id: a cached blob is served as it was written
    assert store.open_range_now([(ids[-1], 4096)], 0, 10) == datas[-1][:10]
    with pytest.raises(FileNotFoundError):  # an evicted one is read again from disk
        os.unlink(store.path(ids[0]))
        store.open_range_now([(ids[0], 4096)], 0, 10)


def test_copy_blob_copies_the_file_and_leaves_nothing_on_failure(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """CopyObject's kernel copy: the same bytes under a new id (also where the file system has no
    copy_file_range); a source gone is FileNotFoundError, a source shorter than recorded an error, and neither
    leaves a file behind."""
    import errno

    store = BlobStore(tmp_path / "blobs")
    data = os.urandom(blobs_module.COPY_CHUNK + 12345)  # more than one piece between writeback starts
    blob_id, _ = asyncio.run(_write(store, data))
    copy_id = asyncio.run(store.copy_blob(blob_id, len(data)))
    assert copy_id is not None and copy_id != blob_id
    assert Path(store.path(copy_id)).read_bytes() == data

    def unsupported(*args: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    with monkeypatch.context() as patched:
        patched.setattr(os, "copy_file_range", unsupported)
        fallback_id = asyncio.run(store.copy_blob(blob_id, len(data)))
    assert fallback_id is not None and Path(store.path(fallback_id)).read_bytes() == data

    files = sorted(p for p in (tmp_path / "blobs").rglob("*") if p.is_file())
    with pytest.raises(FileNotFoundError):
        asyncio.run(store.copy_blob("0" * 32, 10))
    with pytest.raises(OSError, match="shorter"):
        asyncio.run(store.copy_blob(blob_id, len(data) + 1))
    assert sorted(p for p in (tmp_path / "blobs").rglob("*") if p.is_file()) == files


def test_health_of_a_shared_folder_looks_for_its_marker(tmp_path: Path) -> None:
    """A mount point with nothing mounted is an empty folder: only the account marker, written on the mount by
    the first start, tells the store is there (no fan-out folder is made in advance any more)."""
    local = BlobStore(tmp_path / "local")
    assert asyncio.run(local.health()) is None
    shared = BlobStore(tmp_path / "mnt", shared=True)
    assert "No such file" in (asyncio.run(shared.health()) or "")
    asyncio.run(shared.prepare("123456789012"))
    assert asyncio.run(shared.health()) is None
