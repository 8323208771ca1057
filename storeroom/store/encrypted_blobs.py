"""Encryption at rest (SSE-S3): a layer over any blob store (storeroom/store/blob_backend.py) that stores every
new blob sealed in segments (storeroom/store/segments.py) under a data key of its own (a CopyObject's copy of the
stored bytes, under its source's: the same ciphertext).

Why a layer over the blob interface: the local folder, a shared folder and an S3 backend are all covered by the
same code, and none of them ever sees a plaintext byte.  The handlers keep seeing plaintext sizes and offsets:
the layer maps a plaintext range to the segments that cover it and asks the store below for those stored bytes
only (a multipart object on the S3 backend is one backend object whose parts' offsets the store below computes
from the stored sizes the layer hands it).

Where the data keys live: the metadata table ``blob_keys`` (blob id, master key id, wrapped key), not the blob.
A blob never changes after it is written (and an S3 backend could not change it in place), so a key kept in it
could not be re-wrapped; a row can, in a transaction, which is what ``storeroom master-key rotate`` does.  The
row of a new blob is inserted in the same transaction as the object or part row that first refers to it
(:meth:`take_keys`, called by MetaStore), so no blob is visible without its key and no extra commit is paid
per PUT.  A blob without a row is a plaintext blob written before encryption was on (or with it off): it is read
as it is.  Rows of freed blobs are deleted after the blobs (so a reader that finds no row finds no blob either),
and what a crash leaves is removed by the sweep.

Unwrapped keys are cached per process by blob id: a blob's data key never changes (a rotation re-wraps it under
another master key), and ids are never reused, so the cache needs no invalidation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storeroom.store import lanes, segments
from storeroom.store.blob_backend import Blobs, Writer
from storeroom.store.inline_blobs import INLINE_MAX, hash_small, is_inline

if TYPE_CHECKING:
    from storeroom.config import Settings
    from storeroom.crypto import Keyring
    from storeroom.store.blobs import Hasher
    from storeroom.store.meta import MetaStore
    from storeroom.store.sql import Database

CHUNK = 1024 * 1024          # plaintext sealed per thread-pool task (whole segments)
KEY_CACHE = 100_000          # unwrapped keys kept per process
SMALL_BLOB_MAX = 64 * 1024   # small encrypted blobs are cached decrypted, per process (as the stores below cache
SMALL_CACHE_BYTES = 32 * 1024 * 1024  # small blobs: ids are immutable), so a hot small GET decrypts nothing
KEY_ROWS_DELETE_AFTER = 5.0  # seconds after the blob store freed blobs, their key rows go


def encrypted_store(settings: Settings, meta: MetaStore, inner: Blobs) -> EncryptedBlobs:
    """The layer over ``inner`` for a server process: keys from the master key (and the next one, during a
    rotation), key rows through ``meta`` (which inserts new ones with the rows that refer to them)."""
    from storeroom.crypto import Keyring
    from storeroom.store.blob_backend import DELETE_DELAY

    layer = EncryptedBlobs(inner, meta.db, Keyring.load(settings.master_key_file), encrypt=settings.encryption,
                           delete_delay=DELETE_DELAY if settings.blobs else 0.0)
    meta.take_keys = layer.take_keys
    return layer


class EncryptedBlobs:
    """Wraps ``inner``; ``encrypt`` False writes new blobs in clear (reads still decrypt encrypted ones)."""

    def __init__(self, inner: Blobs, db: Database, keyring: Keyring, *, encrypt: bool = True,
                 delete_delay: float = 0.0) -> None:
        self.inner = inner
        self.db = db
        self.keyring = keyring
        self.encrypt = encrypt
        self.description = inner.description
        self._pending: dict[str, tuple[str, bytes]] = {}   # blob id → (key id, wrapped): committed, row not yet
        # blob id → its data key (None: a blob in clear).  Raw keys, not AESGCM objects: one of those holds 2 KB
        # of OpenSSL state, and making one takes 3 µs
        self._cache: dict[str, bytes | None] = {}
        self._small: dict[str, bytes] = {}                   # blob id → its plaintext (FIFO)
        self._small_bytes = 0
        self._delete_after = delete_delay + KEY_ROWS_DELETE_AFTER
        self._freed: list[str] = []
        self._flusher: asyncio.Task[None] | None = None

    # -- writing -----------------------------------------------------------------------------------------

    def new_writer(self, hashers: Sequence[Hasher] = (), size: int | None = None) -> Writer:
        if not self.encrypt:
            return self.inner.new_writer(hashers, size)
        return EncryptingWriter(self, self.inner.new_writer((), None if size is None else segments.sealed_size(size)),
                                hashers)

    async def create_upload(self, upload_id: str) -> str:
        return await self.inner.create_upload(upload_id)

    def part_writer(self, upload_id: str, part_number: int, hashers: Sequence[Hasher], size: int) -> Writer:
        if not self.encrypt:
            return self.inner.part_writer(upload_id, part_number, hashers, size)
        return EncryptingWriter(self, self.inner.part_writer(upload_id, part_number, (),
                                                             segments.sealed_size(size)), hashers)

    async def complete_upload(self, upload_id: str, parts: Sequence[tuple[str, int]]) -> None:
        await self.inner.complete_upload(upload_id, await self._stored(parts))

    def take_keys(self, blob_ids: Iterable[str]) -> list[tuple[str, str, bytes]]:
        """The key rows of newly written blobs among ``blob_ids`` (MetaStore inserts them with the row that
        refers to them)."""
        pending = self._pending
        if not pending:
            return []
        return [(b, *pending.pop(b)) for b in blob_ids if b in pending]

    def _written(self, blob_id: str, key: bytes) -> None:
        key_id, wrapped = self.keyring.wrap(key, blob_id)
        self._pending[blob_id] = (key_id, wrapped)
        self._remember(blob_id, key)

    # -- freeing -----------------------------------------------------------------------------------------

    async def abort_upload(self, upload_id: str, part_ids: Sequence[str]) -> None:
        await self.inner.abort_upload(upload_id, part_ids)
        self._forget_later(part_ids)

    def delete(self, blob_ids: Iterable[str], keep: Iterable[tuple[str, int]] = ()) -> None:
        ids = list(blob_ids)
        self.inner.delete(ids, keep)
        self._forget_later(ids)

    def discard_parts(self, blob_ids: Iterable[str]) -> None:
        ids = list(blob_ids)
        self.inner.discard_parts(ids)
        self._forget_later(ids)

    def _forget_later(self, blob_ids: Sequence[str]) -> None:
        """Delete the key rows of freed blobs once the blobs are gone (the store below deletes them at once or
        after its delay): a reader holding an old object row then finds neither key nor blob.  A row whose
        deletion is lost (the process ends first) is removed by the next start's sweep."""
        ids = [b for b in blob_ids if b]
        if not ids:
            return
        for blob_id in ids:
            self._pending.pop(blob_id, None)
        # batched: one transaction per interval for all the blobs freed meanwhile, not one per overwrite
        self._freed.extend(ids)
        if self._flusher is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._flusher = loop.create_task(self._forget())

    async def _forget(self) -> None:
        try:
            await asyncio.sleep(self._delete_after)
        finally:
            self._flusher = None
        freed, self._freed = self._freed, []
        try:
            await delete_key_rows(self.db, freed)
        except Exception:  # noqa: BLE001 - the sweep removes them later
            pass

    # -- reading -----------------------------------------------------------------------------------------

    async def keys_of(self, blob_ids: Iterable[str]) -> dict[str, AESGCM | None]:
        keys = await self._raw_keys(blob_ids)
        return {blob_id: None if key is None else AESGCM(key) for blob_id, key in keys.items()}

    async def _raw_keys(self, blob_ids: Iterable[str]) -> dict[str, bytes | None]:
        cache = self._cache
        keys: dict[str, bytes | None] = {}
        missing: list[str] = []
        for blob_id in blob_ids:
            if blob_id in cache:
                keys[blob_id] = cache[blob_id]
            else:
                missing.append(blob_id)
        if missing:
            rows = await read_key_rows(self.db, missing)
            for blob_id in missing:
                row = rows.get(blob_id)
                key = None if row is None else self.keyring.unwrap(row[0], row[1], blob_id)
                keys[blob_id] = key
                self._remember(blob_id, key)
        return keys

    def _remember(self, blob_id: str, key: bytes | None) -> None:
        cache = self._cache
        cache[blob_id] = key
        if len(cache) > KEY_CACHE:
            del cache[next(iter(cache))]

    async def _stored(self, blobs: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
        keys = await self.keys_of(b for b, _ in blobs)
        return [(b, size if keys[b] is None else segments.sealed_size(size)) for b, size in blobs]

    def known_key(self, blob_id: str) -> bytes | None | bool:
        """The cached key of ``blob_id`` (None: in clear), or False when not cached."""
        return self._cache.get(blob_id, False)

    async def _small_blob(self, blob_id: str, size: int, aead: AESGCM | None) -> bytes:
        """A small blob's plaintext, cached: decrypted once, or (``aead`` None: a blob in clear kept in the
        metadata database, which the store below does not cache) read once."""
        data = self._small.get(blob_id)
        if data is None:
            stored_size = size if aead is None else segments.sealed_size(size)
            read = await self.inner.open_range([(blob_id, stored_size)], 0, stored_size)
            stored = read if isinstance(read, bytes) else b"".join([chunk async for chunk in read])
            data = stored if aead is None else segments.open_range(aead, size, 0, size, stored)
            self._small[blob_id] = data
            self._small_bytes += size
            while self._small_bytes > SMALL_CACHE_BYTES:
                self._small_bytes -= len(self._small.pop(next(iter(self._small))))
        return data

    async def open_range(self, blobs: list[tuple[str, int]], start: int,
                         end: int) -> bytes | AsyncIterator[bytes]:
        if len(blobs) == 1 and blobs[0][1] <= SMALL_BLOB_MAX:  # the hot path: a small object
            blob_id, size = blobs[0]
            data = self._small.get(blob_id)
            if data is None:
                aead = (await self.keys_of((blob_id,)))[blob_id]
                if aead is None and not is_inline(blob_id):  # a file in clear: the folder store caches it
                    return await self.inner.open_range(blobs, start, end)
                data = await self._small_blob(blob_id, size, aead)
            return data if (start, end) == (0, size) else data[start:end]
        keys = await self.keys_of(b for b, _ in blobs)
        if not any(keys.values()):
            return await self.inner.open_range(blobs, start, end)
        stored: list[tuple[str, int]] = []
        pieces: list[tuple[int, segments.RangeOpener | None]] = []  # stored bytes of each piece, its opener
        stored_start = stored_end = -1
        position = offset = 0
        for blob_id, size in blobs:
            aead = keys[blob_id]
            stored_size = size if aead is None else segments.sealed_size(size)
            stored.append((blob_id, stored_size))
            lo, hi = max(start - position, 0), min(end - position, size)
            if lo < hi:
                if aead is None:
                    span = (lo, hi)
                    opener = None
                else:
                    opener = segments.RangeOpener(aead, size, lo, hi)
                    span = opener.stored
                if stored_start < 0:
                    stored_start = offset + span[0]
                stored_end = offset + span[1]
                pieces.append((span[1] - span[0], opener))
            position += size
            offset += stored_size
        if not pieces:
            return b""
        read = await self.inner.open_range(stored, stored_start, stored_end)
        if isinstance(read, bytes):
            return _Decrypting(pieces).all(read)
        return _Decrypting(pieces).stream(read)

    # -- the rest: the store below's ---------------------------------------------------------------------

    async def copy_blob(self, blob_id: str, size: int) -> str | None:
        """A copy of a blob's sealed bytes under the same data key (``size``: plaintext bytes).  The copy holds
        the same plaintext sealed with the same key and nonces, so it is the same ciphertext: no (key, nonce)
        pair seals two different plaintexts.  Its key row, wrapped for the new id, goes in with the row that
        refers to it, as a written blob's.  A blob in clear while encryption is on is not copied as it is."""
        key = (await self._raw_keys((blob_id,)))[blob_id]
        if key is None:
            return None if self.encrypt else await self.inner.copy_blob(blob_id, size)
        new_id = await self.inner.copy_blob(blob_id, segments.sealed_size(size))
        if new_id is not None:
            self._written(new_id, key)
        return new_id

    async def import_blob(self, blob_id: str, source_path: str, size: int) -> bool:
        return await self.inner.import_blob(blob_id, source_path, size)

    async def prepare(self, account_id: str, *, stored: bool = False) -> None:
        await self.inner.prepare(account_id, stored=stored)

    async def sweep(self, referenced: Iterable[str], upload_exists: Callable[[str], bool]) -> int:
        refs = set(referenced)
        removed = await self.inner.sweep(refs, upload_exists)
        grace = float(getattr(self.inner, "sweep_grace", 0.0) or 0.0)
        await sweep_key_rows(self.db, refs, time.time() - grace)
        return removed

    async def health(self) -> str | None:
        return await self.inner.health()

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self.inner.close()


class EncryptingWriter:
    """Feeds the request's hashers the plaintext, seals it in segments (on the thread pool a megabyte at a
    time, while the store below writes the megabyte before, and the MD5 runs on a lane of its own, up to a
    megabyte behind: storeroom/store/lanes.py), and writes the sealed bytes below."""

    def __init__(self, layer: EncryptedBlobs, inner: Writer, hashers: Sequence[Hasher]) -> None:
        self.size = 0
        self._layer = layer
        self._inner = inner
        self._hashers = tuple(hashers)
        self._key = segments.new_key()
        self._aead = AESGCM(self._key)
        self._sealer = segments.SegmentSealer(self._aead)
        self._buffer = bytearray()
        self._in_flight: asyncio.Future[bytes | bytearray] | None = None
        md5, self._rest = lanes.split(self._hashers)
        self._md5 = None if md5 is None else lanes.SideLane(md5)  # whole chunks' MD5, beside the sealing

    @property
    def blob_id(self) -> str:
        return self._inner.blob_id

    def _process(self, buffer: bytes | bytearray, hashers: Sequence[Hasher]) -> bytes | bytearray:
        for hasher in hashers:
            hasher.update(buffer)
        return self._sealer.feed(buffer)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        self.size += len(data)
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            await self._drain(lanes.MD5_BEHIND)
            buffer, self._buffer = self._buffer, bytearray()
            hashers = self._hashers
            if self._md5 is not None:
                self._md5.start(buffer)
                hashers = self._rest
            self._in_flight = asyncio.get_running_loop().run_in_executor(None, self._process, buffer, hashers)

    async def _drain(self, behind: int = 0) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            sealed = await in_flight
            if sealed:
                await self._inner.write(sealed)
        if self._md5 is not None:
            await self._md5.wait(behind)

    async def commit(self, check: Callable[[], None] | None = None,
                     tail: Callable[[], bytes | bytearray] | None = None) -> None:
        await self._drain()
        buffer, self._buffer = self._buffer, bytearray()

        def last() -> bytes | bytearray:
            if tail is not None:
                more = tail()
                self.size += len(more)
                buffer.extend(more)
            if self.size <= INLINE_MAX:  # all of a small body: on the event loop when the blob is kept inline
                hash_small(self._hashers, buffer)
                return self._sealer.feed(buffer) + self._sealer.finish()
            return self._process(buffer, self._hashers) + self._sealer.finish()

        # the last bytes are hashed and sealed where the store below writes them (the local folder: on the
        # pool thread, in the hop that writes and fsyncs; a small blob kept in the metadata database: on the
        # event loop, hashed in pieces small enough for hashlib to keep the GIL): on the event loop, a hashlib
        # update of a larger buffer lets go of the GIL, and taking it back from busy threads costs more than
        # the work
        await self._inner.commit(check, tail=last)
        self._layer._written(self._inner.blob_id, self._key)

    def discard(self) -> None:
        if self._md5 is not None:
            self._md5.abandon()
        self._inner.discard()


class _Decrypting:
    """Turns the stored bytes of consecutive pieces (a part of a plaintext blob, or segments of an encrypted
    one) back into plaintext."""

    def __init__(self, pieces: list[tuple[int, segments.RangeOpener | None]]) -> None:
        self._pieces = pieces
        self._index = 0
        self._left = pieces[0][0]

    def feed(self, data: bytes | memoryview) -> bytes:
        out: list[bytes] = []
        view = memoryview(data)
        while view.nbytes and self._index < len(self._pieces):
            take = view[:self._left]
            opener = self._pieces[self._index][1]
            out.append(bytes(take) if opener is None else opener.feed(take))
            self._left -= take.nbytes
            view = view[take.nbytes:]
            if self._left == 0:
                if opener is not None:
                    opener.finish()
                self._index += 1
                if self._index < len(self._pieces):
                    self._left = self._pieces[self._index][0]
        if view.nbytes:
            raise segments.TamperedBlob("more stored bytes than recorded")
        return out[0] if len(out) == 1 else b"".join(out)  # one piece: no copy

    def all(self, data: bytes) -> bytes:
        out = self.feed(data)
        self._finish()
        return out

    def _finish(self) -> None:
        if self._index < len(self._pieces):
            raise segments.TamperedBlob("encrypted blob is shorter than recorded")

    async def stream(self, data: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The plaintext, decrypted on the event loop as the stored bytes arrive.  Decrypting the next chunk on
        the thread pool while this one is sent was measured slower (issue 14, bench/RESULTS.md): AES-GCM opens
        ~9 GiB/s here, less than the thread hops and GIL handovers around it cost."""
        try:
            async for chunk in data:
                out = self.feed(chunk)
                if out:
                    yield out
            self._finish()
        finally:
            close = getattr(data, "aclose", None)
            if close is not None:
                await close()


# -- the blob_keys table -----------------------------------------------------------------------------------

_BATCH = 500


async def read_key_rows(db: Database, blob_ids: Sequence[str]) -> dict[str, tuple[str, bytes]]:
    found: dict[str, tuple[str, bytes]] = {}
    for i in range(0, len(blob_ids), _BATCH):
        batch = blob_ids[i:i + _BATCH]
        if len(batch) == 1:
            rows = await db.read.all("SELECT blob_id, key_id, wrapped FROM blob_keys WHERE blob_id = ?", (batch[0],))
        else:
            marks = ", ".join("?" * len(batch))
            rows = await db.read.all(f"SELECT blob_id, key_id, wrapped FROM blob_keys WHERE blob_id IN ({marks})",
                                     tuple(batch))
        for blob_id, key_id, wrapped in rows:
            found[str(blob_id)] = (str(key_id), bytes(wrapped))
    return found


INSERT_KEY = ("INSERT INTO blob_keys(blob_id, key_id, wrapped, created) VALUES (?, ?, ?, ?) "
              "ON CONFLICT(blob_id) DO NOTHING")


async def delete_key_rows(db: Database, blob_ids: Sequence[str]) -> None:
    from storeroom.store.sql import Conn

    async def job(conn: Conn) -> None:
        for i in range(0, len(blob_ids), _BATCH):
            batch = blob_ids[i:i + _BATCH]
            await conn.run(f"DELETE FROM blob_keys WHERE blob_id IN ({', '.join('?' * len(batch))})", tuple(batch))
    await db.write(job, serializable=False)


async def sweep_key_rows(db: Database, referenced: set[str], before: float) -> int:
    """Remove key rows of blobs no row refers to (and older than ``before``: on a shared store another node's
    upload may be committing).  ``referenced`` was read after the rows' blobs were listed by the sweep."""
    rows = await db.read.all("SELECT blob_id FROM blob_keys WHERE created < ?", (before,))
    orphans = [str(r[0]) for r in rows if str(r[0]) not in referenced]
    if orphans:
        await delete_key_rows(db, orphans)
    return len(orphans)
