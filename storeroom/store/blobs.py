"""Blob files: object bytes in files named by random ids, never by object keys.

``DATA_DIR/blobs/ab/cd/abcd…`` (two-level fan-out).  A blob is written and fsynced *before* the metadata row
that makes it visible is committed, and deleted only *after* the row that referenced it is gone; a crash in
between leaves an unreferenced file, which :func:`sweep_orphans` removes at the next start.  So a reader never
sees a half-written object, and an acknowledged object is on disk.

File writes and fsyncs run on a thread pool: an fsync can take milliseconds and must not stall the event loop.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Protocol

# Reads of this size or less are done on the event loop thread: from the page cache they take microseconds,
# less than a thread hop.  Larger files are read on the thread pool in chunks of this size.
INLINE_READ_MAX = 256 * 1024
READ_CHUNK = 1024 * 1024
WRITE_BUFFER = 1024 * 1024


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, blob_id: str) -> str:
        return f"{self.root}/{blob_id[:2]}/{blob_id[2:4]}/{blob_id}"

    def new_writer(self, hashers: Sequence[Hasher] = ()) -> BlobWriter:
        return BlobWriter(self, secrets.token_hex(16), hashers)

    def delete(self, blob_ids: Iterable[str]) -> None:
        for blob_id in blob_ids:
            try:
                os.unlink(self.path(blob_id))
            except FileNotFoundError:
                pass

    async def read(self, blobs: list[tuple[str, int]], start: int, end: int) -> AsyncIterator[bytes]:
        """Yields bytes [start, end) of the concatenation of ``blobs`` ((id, size) pairs), streaming."""
        loop = asyncio.get_running_loop()
        offset = 0
        for blob_id, size in blobs:
            lo, hi = max(start - offset, 0), min(end - offset, size)
            offset += size
            if lo >= hi:
                continue
            fd = os.open(self.path(blob_id), os.O_RDONLY)
            try:
                if hi - lo <= INLINE_READ_MAX:
                    yield os.pread(fd, hi - lo, lo)
                    continue
                pos = lo
                while pos < hi:
                    n = min(READ_CHUNK, hi - pos)
                    chunk = await loop.run_in_executor(None, os.pread, fd, n, pos)
                    if not chunk:
                        raise OSError(f"blob {blob_id} is shorter than recorded")
                    pos += len(chunk)
                    yield chunk
            finally:
                os.close(fd)

    def open_fd(self, blob_id: str) -> int:
        return os.open(self.path(blob_id), os.O_RDONLY)


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...


class BlobWriter:
    """Writes one new blob: ``await write(data)`` … ``await commit()`` (fsync) or ``discard()``.

    ``hashers`` (MD5 for the ETag, the payload SHA-256, x-amz-checksum-*) are fed the same bytes on the
    thread pool, a megabyte at a time: hashlib releases the GIL there, so hashing uses another core.
    """

    def __init__(self, store: BlobStore, blob_id: str, hashers: Sequence[Hasher] = ()) -> None:
        self.blob_id = blob_id
        self.hashers = tuple(hashers)
        self.size = 0
        self._path = store.path(blob_id)
        self._buffer = bytearray()
        try:
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    async def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        self._buffer += data
        if len(self._buffer) >= WRITE_BUFFER:
            buffer, self._buffer = self._buffer, bytearray()
            await asyncio.get_running_loop().run_in_executor(None, _write_and_hash, self._fd, buffer,
                                                             self.hashers)

    async def commit(self) -> None:
        """Flush and fsync (file, then its folder, so the new name is durable too); then close."""
        buffer, self._buffer = self._buffer, bytearray()
        fd, self._fd = self._fd, -1  # _finish closes it, whatever happens
        await asyncio.get_running_loop().run_in_executor(None, _finish, fd, buffer, self._path, self.hashers)

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_and_hash(fd: int, data: bytearray, hashers: tuple[Hasher, ...]) -> None:
    for hasher in hashers:
        hasher.update(data)
    _write_all(fd, data)


def _finish(fd: int, buffer: bytearray, path: str, hashers: tuple[Hasher, ...]) -> None:
    try:
        if buffer:
            _write_and_hash(fd, buffer, hashers)
        os.fsync(fd)
    finally:
        os.close(fd)
    dir_fd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def sweep_orphans(root: Path, referenced: Iterable[str]) -> int:
    """Deletes blob files no metadata refers to (left by a crash mid-write). Run before serving requests."""
    keep = set(referenced)
    removed = 0
    if not root.exists():
        return 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name not in keep:
                os.unlink(os.path.join(dirpath, name))
                removed += 1
    return removed
