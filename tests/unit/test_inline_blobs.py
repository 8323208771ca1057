"""The inline layer (storeroom/store/inline_blobs.py) over a real folder and a real SQLite metadata file: a blob
that outgrows what its writer announced is written below instead; a blob whose row never comes leaves nothing;
an object made of inline and stored pieces reads back whole; new blobs' ids sort in the order they were made."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from storeroom.store.blobs import BlobStore
from storeroom.store.inline_blobs import INLINE_MAX, inline_store, is_inline, new_inline_id
from storeroom.store.meta import MetaStore, ObjectRecord


def _run(tmp_path: Path, scenario) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        meta = MetaStore.sqlite(tmp_path / "meta.sqlite3")
        layer = inline_store(meta, BlobStore(tmp_path / "blobs"))
        try:
            await meta.create_bucket("b", "us-east-1")
            await scenario(meta, layer)
        finally:
            await layer.close()
            await meta.close()
    asyncio.run(main())


def test_a_blob_larger_than_announced_is_written_below(tmp_path: Path) -> None:
    async def scenario(meta: MetaStore, layer) -> None:  # type: ignore[no-untyped-def]
        data = os.urandom(INLINE_MAX + 10)
        md5 = hashlib.md5()
        writer = layer.new_writer([md5], 10)  # an estimate (a browser's POST form) that was wrong
        for i in range(0, len(data), 1000):
            await writer.write(data[i:i + 1000])
        await writer.commit()
        assert not is_inline(writer.blob_id) and writer.size == len(data)
        assert md5.digest() == hashlib.md5(data).digest()
        assert Path(layer.inner.path(writer.blob_id)).read_bytes() == data
        assert layer.take([writer.blob_id]) == []
    _run(tmp_path, scenario)


def test_an_inline_blob_rides_in_its_objects_transaction(tmp_path: Path) -> None:
    async def scenario(meta: MetaStore, layer) -> None:  # type: ignore[no-untyped-def]
        md5 = hashlib.md5()
        writer = layer.new_writer([md5], 5000)
        await writer.write(b"x" * 3000)
        await writer.commit(tail=lambda: b"y" * 2000)
        assert is_inline(writer.blob_id) and writer.size == 5000
        assert md5.digest() == hashlib.md5(b"x" * 3000 + b"y" * 2000).digest()  # hashed in pieces, tail too
        assert await meta.db.read.all("SELECT blob_id FROM inline_blobs") == []  # not before its row
        record = ObjectRecord("b", "k", 5000, md5.hexdigest(), 0.0, [(writer.blob_id, 5000)], {})
        assert (await meta.put_object(record))[0] == "ok"
        assert await layer.open_range([(writer.blob_id, 5000)], 2990, 3010) == b"x" * 10 + b"y" * 10

        # a stored piece after an inline one (not written today, but readable)
        below = layer.inner.new_writer((), None)
        await below.write(b"z" * 100)
        await below.commit()
        read = await layer.open_range([(writer.blob_id, 5000), (below.blob_id, 100)], 4990, 5010)
        got = read if isinstance(read, bytes) else b"".join([c async for c in read])
        assert got == b"y" * 10 + b"z" * 10

        refused = layer.new_writer((), 10)  # written, then refused (a failed condition): freed, never stored
        await refused.write(b"0123456789")
        await refused.commit()
        layer.delete([refused.blob_id])
        assert layer.take([refused.blob_id]) == []
        layer.delete([writer.blob_id])
        await layer.close()  # the batched deletion is done at close at the latest
        assert await meta.db.read.all("SELECT blob_id FROM inline_blobs") == []
        try:
            await layer.open_range([(writer.blob_id, 5000)], 0, 5000)
        except FileNotFoundError:
            pass
        else:
            raise AssertionError("a freed inline blob was still read")
    _run(tmp_path, scenario)


def test_new_inline_blobs_sort_in_the_order_they_were_written(tmp_path: Path) -> None:
    """Their rows then go side by side at the right edge of ``inline_blobs``' and ``blob_keys``' B-trees
    instead of one random leaf page each (what a PUT writes to the WAL: bench/RESULTS.md)."""
    async def scenario(meta: MetaStore, layer) -> None:  # type: ignore[no-untyped-def]
        written = []
        for i in range(30):
            writer = layer.new_writer((), 100)
            await writer.write(os.urandom(100))
            await writer.commit()
            record = ObjectRecord("b", f"k{i}", 100, "0" * 32, 0.0, [(writer.blob_id, 100)], {})
            assert (await meta.put_object(record))[0] == "ok"
            written.append(writer.blob_id)
        rows = await meta.db.read.all("SELECT blob_id FROM inline_blobs ORDER BY blob_id")
        assert [r[0] for r in rows] == written
    _run(tmp_path, scenario)


def test_inline_ids_made_in_the_same_microsecond_differ() -> None:
    ids = [new_inline_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(is_inline(i) and len(i) == 33 and int(i[1:], 16) >= 0 for i in ids)
