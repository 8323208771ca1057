"""Small blobs kept inside the metadata database: a layer over any blob store (storeroom/store/blob_backend.py).

Why: a small PUT written as a file pays, on the thread pool, a create, a write, an fsync of the file and one of
its folder (and an unlink when it is overwritten), then the metadata commit's own fsync -- two thread hops and
three fsyncs, with the GIL handed back and forth at each step.  A blob of at most :data:`INLINE_MAX` bytes is
instead kept in memory until the object's row commits, and inserted into the table ``inline_blobs`` in *that*
transaction (MetaStore calls :meth:`InlineBlobs.take`, as it does for the encrypting layer's key rows), which the
metadata writer group-commits with the other requests' rows: one fsync for a whole batch of PUTs, no file, no
pool thread.  Many object stores do the same for small objects.

The layer sits below the encrypting layer (storeroom/store/encrypted_blobs.py), so an inline blob is stored
sealed like any other.  It keeps every promise of the blob interface: ``commit`` runs ``check`` before the bytes
can become durable (they become durable only with the row that refers to them, which is stronger: no orphan is
ever left by a crash); a freed blob's row is deleted after the row that referenced it is gone (a job the metadata
writer group-commits with other writes); an orphan (a crash before that deletion) is removed by the sweep;
``open_range`` raises FileNotFoundError when the blob is gone.

Ids of inline blobs start with ``i`` (the stores below make hexadecimal ids), so every layer can tell them apart
without a lookup: the stores below never see them (``storeroom migrate-blobs`` skips them: they live in the
metadata, which moves with ``storeroom migrate``).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from storeroom.randomness import random_hex
from storeroom.store.blob_backend import Blobs, Writer
from storeroom.store.blobs import DeferredDeletes

if TYPE_CHECKING:
    from storeroom.store.blobs import Hasher
    from storeroom.store.meta import MetaStore
    from storeroom.store.space import SpaceReserve
    from storeroom.store.sql import Database

# Blobs up to this size (as stored: sealed, when encrypted) live in the metadata database (0: none).  SQLite
# keeps a row this size in overflow pages (written once more at checkpoint); measured in bench/RESULTS.md.
INLINE_MAX = int(os.environ.get("STOREROOM_INLINE_MAX", str(64 * 1024)))
PREFIX = "i"
PENDING_FOR = 600.0  # seconds a written blob waits at most for its row (which comes within the same request)
_BATCH = 500        # ids per statement (SQLite's default limit of host parameters is far above)
# hashlib lets go of the GIL for an update of more than 2,047 bytes; on the event loop, taking it back from the
# metadata writer thread costs more than hashing a small body, so small bodies are hashed in pieces this size
_HASH_PIECE = 2047


def is_inline(blob_id: str) -> bool:
    return blob_id.startswith(PREFIX)


def new_inline_id() -> str:
    """A new inline blob's id: the prefix, the time in microseconds (14 hex digits), then 72 random bits.

    Why time first: ``inline_blobs`` and ``blob_keys`` are B-trees keyed by the id.  Random ids sent each PUT's
    two rows to a leaf page of their own, which the commit wrote to the WAL and the checkpoint wrote again (and,
    once the tables outgrow the page cache, read from disk first); ids in creation order put a batch's rows
    side by side at the tree's right edge.  The random part keeps ids unique across workers and nodes."""
    return f"{PREFIX}{time.time_ns() // 1000:014x}{random_hex(9)}"


def inline_store(meta: MetaStore, inner: Blobs, space: SpaceReserve | None = None) -> InlineBlobs:
    """The layer over ``inner`` for a server process; ``meta`` inserts new blobs' rows with the rows that refer
    to them; ``space`` refuses new blobs while a local volume is below its reserve of free space."""
    layer = InlineBlobs(inner, meta.db, space)
    meta.take_inline = layer.take
    return layer


class InlineBlobs:
    def __init__(self, inner: Blobs, db: Database, space: SpaceReserve | None = None) -> None:
        self.inner = inner
        self.db = db
        self.space = space  # checked before each new blob (the layer every new blob of the server passes)
        self.description = inner.description
        # blob id → (bytes, when): committed by its writer, its row not yet inserted
        self._pending: dict[str, tuple[bytes, float]] = {}
        self._staged = 0
        # rows of freed blobs: deleted at once, each deletion a job the metadata writer group-commits with others
        self._deletes = DeferredDeletes(0.0, lambda ids: delete_rows(self.db, ids))

    # -- writing -----------------------------------------------------------------------------------------

    def new_writer(self, hashers: Sequence[Hasher] = (), size: int | None = None) -> Writer:
        if self.space is not None:
            self.space.check(size)
        if size is not None and size <= INLINE_MAX and INLINE_MAX > 0:
            return InlineWriter(self, hashers)
        return self.inner.new_writer(hashers, size)

    def take(self, blob_ids: Iterable[str]) -> list[tuple[str, bytes]]:
        """The rows of newly written inline blobs among ``blob_ids`` (MetaStore inserts them with the row that
        refers to them)."""
        pending = self._pending
        if not pending:
            return []
        return [(b, pending.pop(b)[0]) for b in blob_ids if b in pending]

    def _stage(self, blob_id: str, data: bytes) -> None:
        now = time.monotonic()
        self._pending[blob_id] = (data, now)
        self._staged += 1
        if self._staged % 1024 == 0:  # a request that failed between its writer's commit and its row's: forgotten
            for old in [b for b, (_, when) in self._pending.items() if now - when > PENDING_FOR]:
                del self._pending[old]

    # multipart uploads: parts are written by the store below (a part is at least 5 MiB but the last)
    async def create_upload(self, upload_id: str) -> str:
        return await self.inner.create_upload(upload_id)

    def part_writer(self, upload_id: str, part_number: int, hashers: Sequence[Hasher], size: int) -> Writer:
        if self.space is not None:
            self.space.check(size)
        return self.inner.part_writer(upload_id, part_number, hashers, size)

    async def complete_upload(self, upload_id: str, parts: Sequence[tuple[str, int]]) -> None:
        await self.inner.complete_upload(upload_id, parts)

    async def abort_upload(self, upload_id: str, part_ids: Sequence[str]) -> None:
        await self.inner.abort_upload(upload_id, part_ids)

    # -- freeing -----------------------------------------------------------------------------------------

    def delete(self, blob_ids: Iterable[str], keep: Iterable[tuple[str, int]] = ()) -> None:
        ids = list(blob_ids)
        below = [b for b in ids if not is_inline(b)]
        if below:
            self.inner.delete(below, keep)
        self._forget([b for b in ids if is_inline(b)])

    def discard_parts(self, blob_ids: Iterable[str]) -> None:
        self.inner.discard_parts([b for b in blob_ids if not is_inline(b)])

    def _forget(self, blob_ids: Sequence[str]) -> None:
        """A deletion lost (the process ends first) is done by the next start's sweep."""
        if not blob_ids:
            return
        for blob_id in blob_ids:
            self._pending.pop(blob_id, None)  # written, then refused (a failed condition): never inserted
        self._deletes.add(list(blob_ids))

    # -- reading -----------------------------------------------------------------------------------------

    async def open_range(self, blobs: list[tuple[str, int]], start: int,
                         end: int) -> bytes | AsyncIterator[bytes]:
        if not any(is_inline(b) for b, _ in blobs):
            return await self.inner.open_range(blobs, start, end)
        if len(blobs) == 1:
            data = await self._read(blobs[0][0])
            return data if (start, end) == (0, len(data)) else data[start:end]
        # an object made of inline and other blobs (not written today: parts are never inline), piece by piece
        pieces: list[bytes | tuple[list[tuple[str, int]], int, int]] = []
        position = 0
        for blob_id, size in blobs:
            lo, hi = max(start - position, 0), min(end - position, size)
            if lo < hi:
                if is_inline(blob_id):
                    pieces.append((await self._read(blob_id))[lo:hi])
                else:
                    pieces.append(([(blob_id, size)], lo, hi))
            position += size
        return self._stream(pieces)

    async def _read(self, blob_id: str) -> bytes:
        row = await self.db.read.one("SELECT data FROM inline_blobs WHERE blob_id = ?", (blob_id,))
        if row is None:
            raise FileNotFoundError(blob_id)
        return bytes(row[0])

    async def _stream(self, pieces: list[bytes | tuple[list[tuple[str, int]], int, int]]) -> AsyncIterator[bytes]:
        for piece in pieces:
            if isinstance(piece, bytes):
                yield piece
                continue
            read = await self.inner.open_range(*piece)
            if isinstance(read, bytes):
                yield read
            else:
                async for chunk in read:
                    yield chunk

    # -- the rest: the store below's ---------------------------------------------------------------------

    async def import_blob(self, blob_id: str, source_path: str, size: int) -> bool:
        return await self.inner.import_blob(blob_id, source_path, size)

    async def copy_blob(self, blob_id: str, size: int) -> str | None:
        if is_inline(blob_id):
            return None  # a small body: read and written again, in one metadata row
        return await self.inner.copy_blob(blob_id, size)

    async def prepare(self, account_id: str, *, stored: bool = False) -> None:
        await self.inner.prepare(account_id, stored=stored)

    @property
    def sweep_grace(self) -> float:
        return float(getattr(self.inner, "sweep_grace", 0.0) or 0.0)

    async def sweep(self, referenced: Iterable[str], upload_exists: Callable[[str], bool]) -> int:
        refs = set(referenced)
        removed = await self.inner.sweep(refs, upload_exists)
        # a row is inserted in the transaction of the row that refers to it, so an unreferenced one is an orphan
        # (an overwrite's freed row whose deletion a crash lost).  Where other nodes write meanwhile (a store
        # shared by several nodes), only rows older than the store's grace period are judged, as for files.
        before = time.time() - self.sweep_grace
        rows = await self.db.read.all("SELECT blob_id FROM inline_blobs WHERE created < ?", (before,))
        orphans = [str(r[0]) for r in rows if str(r[0]) not in refs]
        if orphans:
            await delete_rows(self.db, orphans)
        return removed + len(orphans)

    async def health(self) -> str | None:
        return await self.inner.health()

    async def close(self) -> None:
        await self._deletes.flush()
        await self.inner.close()


class InlineWriter:
    """Keeps the blob in memory; ``commit`` hashes, checks and hands it to the layer, whose row MetaStore inserts
    with the object's.  Should more bytes come than announced (beyond :data:`INLINE_MAX`), the blob is written
    by the store below instead."""

    def __init__(self, layer: InlineBlobs, hashers: Sequence[Hasher]) -> None:
        self.blob_id = new_inline_id()
        self.size = 0
        self._layer = layer
        self._hashers = tuple(hashers)
        self._buffer = bytearray()
        self._spilled: Writer | None = None

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._spilled is not None:
            self.size += len(data)
            await self._spilled.write(data)
            return
        self._buffer += data
        self.size += len(data)
        if len(self._buffer) > INLINE_MAX:
            self._spilled = self._layer.inner.new_writer(self._hashers, None)
            self.blob_id = self._spilled.blob_id
            buffer, self._buffer = self._buffer, bytearray()
            await self._spilled.write(buffer)

    async def commit(self, check: Callable[[], None] | None = None,
                     tail: Callable[[], bytes | bytearray] | None = None) -> None:
        if self._spilled is not None:
            await self._spilled.commit(check, tail)
            self.size = self._spilled.size
            return
        if tail is not None:
            last = tail()
            self.size += len(last)
            self._buffer += last
        data = bytes(self._buffer)
        self._buffer = bytearray()
        hash_small(self._hashers, data)
        if check is not None:
            check()
        self._layer._stage(self.blob_id, data)

    def discard(self) -> None:
        if self._spilled is not None:
            self._spilled.discard()
            return
        self._layer._pending.pop(self.blob_id, None)


def hash_small(hashers: Sequence[Hasher], data: bytes | bytearray) -> None:
    """``data`` (a small body, hashed where the event loop runs) through ``hashers`` in pieces that hashlib
    hashes without letting go of the GIL."""
    if not hashers:
        return
    if len(data) <= _HASH_PIECE:
        for hasher in hashers:
            hasher.update(data)
        return
    view = memoryview(data)
    for i in range(0, len(data), _HASH_PIECE):
        piece = view[i:i + _HASH_PIECE]
        for hasher in hashers:
            hasher.update(piece)


async def delete_rows(db: Database, blob_ids: Sequence[str]) -> None:
    from storeroom.store.sql import Conn

    async def job(conn: Conn) -> None:
        for i in range(0, len(blob_ids), _BATCH):
            batch = blob_ids[i:i + _BATCH]
            await conn.run(f"DELETE FROM inline_blobs WHERE blob_id IN ({', '.join('?' * len(batch))})", tuple(batch))
    await db.write(job, serializable=False)
