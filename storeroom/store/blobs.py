"""Blob files: object bytes in files named by random ids, never by object keys.

``DATA_DIR/blobs/abc/abcdef…``: one level of 4,096 folders, each made by the first blob written into it (a mkdir
and an fsync of ``blobs/``, so the folder outlives a crash before that blob is acknowledged).  Every later upload
adds one entry to an existing folder, and fsyncing the file and that folder makes it durable.  (Making all 4,096
folders at first start cost that start 0.2-0.8 s of CPU and disk; one level keeps a first write to one mkdir.)
ext4 and XFS index large folders, so a few thousand entries per folder, i.e. tens of millions of objects, stay
cheap to look up.

A blob is written and fsynced *before* the metadata row that makes it visible is committed, and deleted only
*after* the row that referenced it is gone; a crash in between leaves an unreferenced file, which
:func:`sweep_orphans` removes at the next start.  So a reader never sees a half-written object, and an
acknowledged object is on disk.

Creates, writes, fsyncs and unlinks run on a thread pool: each can wait milliseconds on the disk or on a
folder's lock, and must not stall the event loop.

The same layout serves a folder several nodes share (``--blobs file:///mnt/shared/storeroom``, an NFS or
CephFS mount; ``shared=True``): ids are random 128-bit numbers, so nodes never collide, and nothing else is
node-local but the small-blob cache, whose entries cannot go stale.  What changes is cleanup: the sweep
removes only unreferenced files older than a grace period (a younger one may be another node's upload whose
row is not committed yet), and freed files are unlinked after a delay, since a GET streaming one on another
node holds no descriptor on this node's side of the mount.  See :mod:`storeroom.store.blob_backend`.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from storeroom.errors import AwsError
from storeroom.randomness import random_hex
from storeroom.store import lanes

log = logging.getLogger("storeroom")

# Reads of this size or less are done on the event loop thread: from the page cache they take microseconds,
# less than a thread hop.  Larger files are read on the thread pool in chunks of this size.
INLINE_READ_MAX = 256 * 1024
READ_CHUNK = 1024 * 1024
COPY_CHUNK = 4 * 1024 * 1024  # copied by the kernel between two writeback starts
WRITE_BUFFER = 1024 * 1024
EAGER_OPEN = 64
# The blobs of an object of more parts than a read opens at once are deleted this much later: a GET or a copy of it
# still running opens its later parts as it reaches them (an overwrite or DELETE removed them at once, and such a
# GET, 200 with its whole length, broke after 64 parts; found by race fuzzing).  A crash before then leaves
# orphans, which the start-up sweep removes.
LATE_DELETE_DELAY = 600.0
# The others' a little later too: a GET or copy that looked an object up opens its files a few milliseconds later,
# and an overwrite in between made it answer NoSuchKey for a key that never stopped existing (a copy retried three
# times still lost the race under heavy overwriting).
SOON_DELETE_DELAY = 2.0
SMALL_BLOB_MAX = 64 * 1024
SMALL_CACHE_BYTES = 32 * 1024 * 1024


FANOUT_DIGITS = 3  # 16**3 = 4,096 folders
_FANOUT = re.compile(f"[0-9a-f]{{{FANOUT_DIGITS}}}")
BLOB_NAME = re.compile(r"[0-9a-f]{32}")
ACCOUNT_MARKER = ".storeroom-account"


class BlobStore:
    """The local folder (the default), or with ``shared=True`` a folder several nodes mount."""

    def __init__(self, root: Path, *, shared: bool = False, delete_delay: float = 0.0,
                 sweep_grace: float = 0.0) -> None:
        self.root = root
        self.shared = shared
        self.sweep_grace = sweep_grace if shared else 0.0
        self.description = f"file://{root}" if shared else str(root)
        # a shared folder's marker is on the mount itself: without it the folder is an unmounted mount point
        self.marker = str(root / ACCOUNT_MARKER) if shared else None
        self._small: dict[str, bytes] = {}  # insertion-ordered: a FIFO cache of small blobs
        self._small_bytes = 0
        # a shared folder's own delay (another node may be reading), else SOON_DELETE_DELAY; LATE_DELETE_DELAY at
        # least for the files of objects of more parts than a read opens at once, on either
        soon = delete_delay if shared else SOON_DELETE_DELAY
        self._soon = DeferredDeletes(soon, self._unlink_later)
        self._late = DeferredDeletes(max(soon, LATE_DELETE_DELAY), self._unlink_later)
        _create_root(root)

    def path(self, blob_id: str) -> str:
        return f"{self.root}/{blob_id[:FANOUT_DIGITS]}/{blob_id}"

    def new_writer(self, hashers: Sequence[Hasher] = (), size: int | None = None) -> BlobWriter:
        return BlobWriter(self, random_hex(16), hashers)

    # -- multipart: a part is a blob like any other, and completing copies nothing -------------------------

    async def create_upload(self, upload_id: str) -> str:
        return upload_id

    def part_writer(self, upload_id: str, part_number: int, hashers: Sequence[Hasher], size: int) -> BlobWriter:
        return self.new_writer(hashers)

    async def complete_upload(self, upload_id: str, parts: Sequence[tuple[str, int]]) -> None:
        return None

    async def abort_upload(self, upload_id: str, part_ids: Sequence[str]) -> None:
        self.delete(part_ids)

    def discard_parts(self, blob_ids: Iterable[str]) -> None:
        self.delete(blob_ids)

    # -- freeing -----------------------------------------------------------------------------------------

    def delete(self, blob_ids: Iterable[str], keep: Iterable[tuple[str, int]] = ()) -> None:
        """Remove blobs no metadata refers to any more, a little later (see the delays above) and on the thread
        pool, without waiting (an unlink can wait on the folder's lock): if the server dies first, the start-up
        sweep removes them.  (``keep``:
        blobs here share no storage, so there is nothing to keep.)"""
        paths = [self.path(blob_id) for blob_id in blob_ids]
        if not paths:
            return
        (self._late if len(paths) > EAGER_OPEN else self._soon).add(paths)

    async def _unlink_later(self, paths: list[str]) -> None:
        await asyncio.get_running_loop().run_in_executor(None, _unlink_all, paths)

    # -- migration ---------------------------------------------------------------------------------------

    async def import_blob(self, blob_id: str, source_path: str, size: int) -> bool:
        """Copy a blob in from a file under the same id (storeroom/store/blob_migration.py); False when it is
        already here with the same bytes.  Written under a temporary name, fsynced, renamed, read back."""
        return await asyncio.get_running_loop().run_in_executor(None, self._import_sync, blob_id, source_path,
                                                                size)

    def _import_sync(self, blob_id: str, source_path: str, size: int) -> bool:
        dest = self.path(blob_id)
        wanted = file_md5(source_path)
        try:
            if os.stat(dest).st_size == size and file_md5(dest) == wanted:
                return False
        except FileNotFoundError:
            pass
        temporary = f"{dest}.{secrets.token_hex(4)}.import"
        fd = _create(temporary, self.marker)
        try:
            with open(source_path, "rb") as source:
                while chunk := source.read(READ_CHUNK):
                    _write_all(fd, chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, dest)
        _fsync_dir(os.path.dirname(dest))
        if file_md5(dest) != wanted:
            raise OSError(f"{dest}: the copy does not read back as the source {source_path}")
        return True

    async def copy_blob(self, blob_id: str, size: int) -> str | None:
        """CopyObject's bytes copied by the kernel (``copy_file_range``: nothing through this process, and a
        shared extent on file systems that reflink), then fsynced as a written blob is."""
        new_id = random_hex(16)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._copy_sync, blob_id, new_id, size)
        except FileNotFoundError:
            self._check_mounted()
            raise
        return new_id

    def _copy_sync(self, blob_id: str, new_id: str, size: int) -> None:
        source = os.open(self.path(blob_id), os.O_RDONLY)  # opened first: a deletion now cannot cut the copy
        try:
            dest = self.path(new_id)
            fd = _create(dest, self.marker)
            try:
                _copy_all(source, fd, size)
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                os.unlink(dest)
                raise
            os.close(fd)
        finally:
            os.close(source)
        _fsync_dir(os.path.dirname(dest))

    # -- start, health, end ------------------------------------------------------------------------------

    async def prepare(self, account_id: str, *, stored: bool = False) -> None:
        """A shared folder records the account it belongs to: a second deployment pointed at it by mistake
        (its own metadata, another account) would take this one's blobs for orphans.  An empty folder without
        the marker, while the metadata names objects in it, is a mount point whose mount is missing (a boot
        whose NFS mount failed): refused, rather than claimed and written beside the mount."""
        if not self.shared:
            return
        marker = self.root / ACCOUNT_MARKER
        if stored and not marker.exists() and not any(_FANOUT.fullmatch(p.name) for p in self.root.iterdir()):
            raise ValueError(f"{self.root} is empty, without its {ACCOUNT_MARKER}, although objects are stored in "
                             "it: is the shared folder mounted?")
        claim_marker(marker, account_id, self.description)

    async def sweep(self, referenced: Iterable[str], upload_exists: Callable[[str], bool]) -> int:
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: sweep_orphans(self.root, referenced, grace=self.sweep_grace if self.shared else None))

    async def health(self) -> str | None:
        # a shared folder's marker is on the mount itself: an unmounted mount point (an empty folder) fails
        probe = self.root / ACCOUNT_MARKER if self.shared else self.root
        try:
            os.stat(probe)
        except OSError as exc:
            return f"blob folder {self.root}: {exc.strerror or exc}"
        return None

    async def close(self) -> None:
        for deferred in (self._soon, self._late):
            await deferred.flush()

    # -- reading -----------------------------------------------------------------------------------------

    async def open_range(self, blobs: list[tuple[str, int]], start: int, end: int) -> bytes | BlobReader:
        return self.open_range_now(blobs, start, end)

    def open_range_now(self, blobs: list[tuple[str, int]], start: int, end: int) -> bytes | BlobReader:
        """Bytes [start, end) of the concatenation of ``blobs`` ((id, size) pairs): :meth:`_open_range`; a file
        missing from a shared folder whose marker is missing too is the mount's absence, 503, not a lost blob."""
        try:
            return self._open_range(blobs, start, end)
        except FileNotFoundError:
            self._check_mounted()
            raise

    def _check_mounted(self) -> None:
        if self.marker is not None and not os.path.exists(self.marker):
            raise unavailable(self.marker) from None

    def _open_range(self, blobs: list[tuple[str, int]], start: int, end: int) -> bytes | BlobReader:
        """Bytes [start, end) of the concatenation of ``blobs`` ((id, size) pairs).

        Small ranges are read at once and returned as bytes; larger ones as a :class:`BlobReader` whose first
        files (up to EAGER_OPEN of them: a 10,000-part object must not take 10,000 descriptors) are already
        open.  Either way a missing file raises FileNotFoundError *here*, before a response has started (an
        object deleted between its metadata lookup and this call), and an open file deleted later stays
        readable through its descriptor.
        """
        spans = []
        offset = 0
        for blob_id, size in blobs:
            lo, hi = max(start - offset, 0), min(end - offset, size)
            offset += size
            if lo < hi:
                spans.append((blob_id, size, lo, hi))
        if end - start <= INLINE_READ_MAX:
            return b"".join(self._read_small(*span) for span in spans)
        opened: list[tuple[str, int, int, int]] = []
        try:
            for i, (blob_id, _, lo, hi) in enumerate(spans):
                path = self.path(blob_id)
                opened.append((path, os.open(path, os.O_RDONLY) if i < EAGER_OPEN else -1, lo, hi))
        except BaseException:
            _close_all([fd for _, fd, _, _ in opened if fd >= 0])
            raise
        return BlobReader(opened)


    def _read_small(self, blob_id: str, size: int, lo: int, hi: int) -> bytes:
        """Bytes [lo, hi) of a blob; small blobs are kept in a per-process cache.

        A blob's content never changes and its id is never reused, so a cached blob can never be stale:
        a deleted one is simply never asked for again and ages out.  This saves the open/read/close of
        every read of a hot small object.
        """
        if size > SMALL_BLOB_MAX:
            return _read_span(self.path(blob_id), lo, hi)
        cache = self._small
        data = cache.get(blob_id)
        if data is None:
            data = _read_span(self.path(blob_id), 0, size)
            cache[blob_id] = data
            self._small_bytes += size
            while self._small_bytes > SMALL_CACHE_BYTES:
                self._small_bytes -= len(cache.pop(next(iter(cache))))  # oldest first
        return data if (lo, hi) == (0, size) else data[lo:hi]


def _read_span(path: str, lo: int, hi: int) -> bytes:
    fd, data = _read_at(path, -1, lo, hi - lo)
    os.close(fd)
    return data


class BlobReader:
    """Streams byte spans of files, a megabyte at a time from the thread pool, one megabyte read ahead; closes
    them as it goes.

    Why read ahead: a large GET's event loop decrypts and sends one megabyte, then waited for the next one's read
    (a thread hop and a copy from the page cache, ~0.2 ms) with nothing to do (py-spy: ~16 % of a 64 MiB GET's
    loop in ``epoll_wait``).  The next megabyte is now read while this one is decrypted and sent.

    Spans are (path, fd or -1 if not opened yet, start, end)."""

    def __init__(self, spans: list[tuple[str, int, int, int]]) -> None:
        self._spans = spans
        self._index = 0
        self._ahead: asyncio.Future[tuple[int, bytes]] | None = None   # the next chunk's read: (fd, data)

    def __aiter__(self) -> BlobReader:
        return self

    async def __anext__(self) -> bytes:
        pending = self._ahead if self._ahead is not None else self._read_next()
        self._ahead = None
        if pending is None:
            raise StopAsyncIteration
        try:
            fd, chunk = await asyncio.shield(pending)  # a cancelled wait must not lose a descriptor it opens
        except BaseException:
            self._ahead = pending
            self._close_rest()
            raise
        path, _, lo, hi = self._spans[self._index]
        self._spans[self._index] = (path, fd, lo, hi)    # opened by the read, if it was not yet
        self._ahead = self._read_next()
        return chunk

    def _read_next(self) -> asyncio.Future[tuple[int, bytes]] | None:
        """Starts the read of the next chunk (its span's bounds moved past it); None after the last."""
        while self._index < len(self._spans):
            path, fd, lo, hi = self._spans[self._index]
            if lo < hi:
                size = min(READ_CHUNK, hi - lo)
                self._spans[self._index] = (path, fd, lo + size, hi)
                return asyncio.get_running_loop().run_in_executor(None, _read_at, path, fd, lo, size)
            if fd >= 0:
                os.close(fd)
            self._index += 1
        return None

    async def aclose(self) -> None:
        self._close_rest()

    def _close_rest(self) -> None:
        ahead, self._ahead = self._ahead, None
        fds = [fd for _, fd, _, _ in self._spans[self._index:] if fd >= 0]
        self._index = len(self._spans)
        if ahead is None:
            _close_all(fds)
        else:  # the read in flight uses one of them, or opens its file: close them once it is done
            ahead.add_done_callback(functools.partial(_close_after, fds))

    def __del__(self) -> None:  # a reader dropped without being read (the response never started)
        try:
            self._close_rest()
        except RuntimeError:  # a read still in flight when its event loop has closed (shutdown)
            pass


def _read_at(path: str, fd: int, lo: int, size: int) -> tuple[int, bytes]:
    """``size`` bytes at ``lo`` of the file (opened first when ``fd`` is -1); (fd, bytes).  A short read means
    the file is shorter than recorded."""
    opened = fd < 0
    if opened:
        fd = os.open(path, os.O_RDONLY)
    try:
        data = os.pread(fd, size, lo)
        if len(data) != size:
            raise OSError(f"{path} is shorter than recorded")
    except BaseException:
        if opened:
            os.close(fd)
        raise
    return fd, data


def _close_after(fds: list[int], done: asyncio.Future[tuple[int, bytes]]) -> None:
    if not done.cancelled() and done.exception() is None and done.result()[0] not in fds:
        fds.append(done.result()[0])
    _close_all(fds)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...


class BlobWriter:
    """Writes one new blob: ``await write(data)`` … ``await commit()`` (fsync) or ``discard()``.

    Everything that touches the disk runs on the thread pool, creating the file included: a create takes the
    folder's lock, which fsyncs of other uploads may hold for milliseconds.  ``hashers`` (MD5 for the ETag,
    the payload SHA-256, x-amz-checksum-*) are fed the same bytes there, a megabyte at a time: hashlib
    releases the GIL, so hashing uses another core.  One megabyte is hashed and written while the next one
    is received (double buffering); the MD5 of a whole megabyte runs on a task of its own beside the one that
    feeds the other hashers and writes (storeroom/store/lanes.py), in order, up to one megabyte behind.
    """

    def __init__(self, store: BlobStore, blob_id: str, hashers: Sequence[Hasher] = ()) -> None:
        self.blob_id = blob_id
        self.hashers = tuple(hashers)
        self.size = 0
        self._path = store.path(blob_id)
        self._marker = store.marker
        self._buffer = bytearray()
        self._in_flight: asyncio.Future[None] | None = None
        self._fd: int | None = None  # None: not created yet; -1: closed
        self._written = 0
        md5, self._rest = lanes.split(self.hashers)
        self._md5 = None if md5 is None else lanes.SideLane(md5)  # whole chunks' MD5, beside the write

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """``data`` may be kept until it is written: a bytearray is handed over (the caller does not change it
        after), so that a whole chunk (a sealed megabyte) is written as it is rather than copied first."""
        self.size += len(data)
        if not self._buffer and len(data) >= WRITE_BUFFER and isinstance(data, bytes | bytearray):
            buffer = data
        else:
            self._buffer += data
            if len(self._buffer) < WRITE_BUFFER:
                return
            buffer, self._buffer = self._buffer, bytearray()
        await self._drain(lanes.MD5_BEHIND)
        hashers = self.hashers
        if self._md5 is not None:
            self._md5.start(buffer)
            hashers = self._rest
        self._in_flight = asyncio.get_running_loop().run_in_executor(None, self._chunk_sync, buffer, hashers)

    async def _drain(self, behind: int = 0) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight
        if self._md5 is not None:
            await self._md5.wait(behind)

    async def commit(self, check: Callable[[], None] | None = None,
                     tail: Callable[[], bytes | bytearray] | None = None) -> None:
        """Flush and fsync (file, then its folder, so the new name is durable too); then close.  ``tail``
        (the last bytes) is made on the pool thread too; ``check`` runs once every byte went through the
        hashers, before the fsync; what they raise is raised here."""
        await self._drain()
        buffer, self._buffer = self._buffer, bytearray()
        await asyncio.get_running_loop().run_in_executor(None, self._finish_sync, buffer, check, tail)

    def discard(self) -> None:
        """Remove the blob. A task still running on the pool finishes first (the file is removed after)."""
        if self._md5 is not None:
            self._md5.abandon()
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None and not in_flight.done():
            in_flight.add_done_callback(self._remove)
        else:
            self._remove(in_flight)

    # -- on the thread pool ------------------------------------------------------------------------------

    def _chunk_sync(self, buffer: bytes | bytearray, hashers: Sequence[Hasher]) -> None:
        """A whole chunk: written, and its writeback to the disk started at once, so that the final fsync
        waits only for the last chunk instead of the whole blob (~30 ms per 64 MiB here)."""
        self._flush_sync(buffer, hashers)
        assert self._fd is not None
        start_writeback(self._fd, self._written - len(buffer), len(buffer))

    def _flush_sync(self, buffer: bytes | bytearray, hashers: Sequence[Hasher]) -> None:
        if self._fd is None:
            self._fd = _create(self._path, self._marker)
        for hasher in hashers:
            hasher.update(buffer)
        _write_all(self._fd, buffer)
        self._written += len(buffer)

    def _finish_sync(self, buffer: bytearray, check: Callable[[], None] | None,
                     tail: Callable[[], bytes | bytearray] | None = None) -> None:
        try:
            if tail is not None:
                last = tail()
                self.size += len(last)
                buffer += last
            self._flush_sync(buffer, self.hashers)
            if check is not None:
                check()
            assert self._fd is not None
            os.fsync(self._fd)
        finally:
            self._close()
        _fsync_dir(os.path.dirname(self._path))

    def _close(self) -> None:
        if self._fd is not None and self._fd >= 0:
            os.close(self._fd)
        self._fd = -1

    def _remove(self, done: asyncio.Future[None] | None = None) -> None:
        if done is not None and not done.cancelled():
            done.exception()  # retrieved: the failure that matters was already raised to the request
        self._close()
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass


def _create(path: str, marker: str | None = None) -> int:
    """A new blob file.  ``marker``: a shared folder's marker, which must be there before a missing fan-out
    folder is made: a folder made in an unmounted mount point would take acknowledged writes onto the node's own
    disk, lost to the other nodes and hidden under the mount once it is back."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileNotFoundError:  # the first blob of its fan-out folder (or the folder was removed by hand)
        if marker is not None and not os.path.exists(marker):
            raise unavailable(marker) from None
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        # Whoever made the folder, its entry must be on disk before this blob is acknowledged: a writer that
        # lost the race to another thread's mkdir cannot know that thread's fsync has happened.
        _fsync_dir(os.path.dirname(folder))
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


_warned_at = 0.0  # when the missing marker was last said (once a minute, not at every refusal and retry)


def unavailable(marker: str) -> AwsError:
    """503 (SDKs retry) for a shared folder whose marker is missing; why, in the log."""
    global _warned_at
    if time.monotonic() - _warned_at > 60:
        _warned_at = time.monotonic()
        log.warning("object data store: %s is missing: the shared folder is not mounted? Its reads and writes are "
                    "refused until it is back", marker)
    return AwsError("ServiceUnavailable", "The object data store is unavailable; please try again.")


def _create_root(root: Path) -> None:
    """The blob folder itself, durably (its fan-out folders are made by their first blobs: :func:`_create`);
    several workers may race here harmlessly (exist_ok)."""
    if root.is_dir():
        return
    root.mkdir(parents=True, exist_ok=True)
    _fsync_dir(str(root.parent))


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's sync_file_range(2) (not in Python's os module), or None elsewhere."""
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing [offset, offset + length) of ``fd`` to the disk without waiting for it.  Only a head
    start for the fsync that follows, which alone makes the bytes durable; where unsupported, nothing."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def _copy_all(source: int, dest: int, size: int) -> None:
    """``size`` bytes from ``source`` to ``dest``: ``copy_file_range`` where the kernel has it for these files,
    else read and write; each piece's writeback started at once, as a written blob's."""
    copied = 0
    if hasattr(os, "copy_file_range"):
        try:
            while copied < size:
                n = os.copy_file_range(source, dest, min(COPY_CHUNK, size - copied))
                if n == 0:
                    raise OSError(f"blob shorter than its recorded {size} bytes")
                start_writeback(dest, copied, n)
                copied += n
            return
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP) or copied:
                raise
    while copied < size:
        chunk = os.read(source, min(READ_CHUNK, size - copied))
        if not chunk:
            raise OSError(f"blob shorter than its recorded {size} bytes")
        _write_all(dest, chunk)
        start_writeback(dest, copied, len(chunk))
        copied += len(chunk)


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _unlink_all(paths: list[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def sweep_orphans(root: Path, referenced: Iterable[str], grace: float | None = None) -> int:
    """Deletes blob files no metadata refers to (left by a crash mid-write). Run before serving requests.

    ``grace`` (a folder shared by several nodes): only blob files last written more than ``grace`` seconds
    ago.  The files are listed *before* the references are read, so that a file whose row commits meanwhile
    is found referenced."""
    if not root.exists():
        return 0
    if grace is None:
        keep = set(referenced)
        removed = 0
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                if name not in keep:
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
        return removed
    cutoff = time.time() - grace
    old: list[tuple[str, str]] = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                if BLOB_NAME.fullmatch(name) and os.stat(path).st_mtime < cutoff:
                    old.append((name, path))
            except FileNotFoundError:
                pass
    keep = set(referenced)
    orphans = [path for name, path in old if name not in keep]
    _unlink_all(orphans)
    return len(orphans)


def claim_marker(path: Path, account_id: str, where: str) -> None:
    """Record ``account_id`` in a shared store's marker file, or check the one recorded there."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        owner = path.read_text().strip()
        if owner and owner != account_id:
            raise ValueError(f"the blob store {where} belongs to account {owner}, not to this one "
                             f"({account_id}): nodes sharing blobs must share their metadata too") from None
        return
    try:
        _write_all(fd, account_id.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class DeferredDeletes:
    """Deletions run ``delay`` seconds after they are asked for (at once with 0), as tasks of the running loop;
    :meth:`flush` runs the ones still waiting.  A deletion that fails is logged: the blob is then an orphan,
    which a later sweep removes."""

    def __init__(self, delay: float, run: Callable[[list[str]], Awaitable[None]]) -> None:
        self.delay = delay
        self._run = run
        self._waiting: list[tuple[float, list[str]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, keys: list[str]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: called from a script
            asyncio.run(self._guarded(keys))
            return
        if self.delay <= 0:
            self._start(loop, keys)
            return
        self._waiting.append((loop.time() + self.delay, keys))
        if self._timer is None:
            self._timer = loop.call_later(self.delay, self._due, loop)

    def now(self, keys: list[str]) -> None:
        """Delete without the delay (what nobody can be reading: a failed upload's object)."""
        try:
            self._start(asyncio.get_running_loop(), keys)
        except RuntimeError:
            asyncio.run(self._guarded(keys))

    def _due(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        ready = [keys for when, keys in self._waiting if when <= now]
        self._waiting = [(when, keys) for when, keys in self._waiting if when > now]
        if ready:
            self._start(loop, [k for keys in ready for k in keys])
        if self._waiting:
            self._timer = loop.call_later(max(self._waiting[0][0] - now, 0.01), self._due, loop)

    def _start(self, loop: asyncio.AbstractEventLoop, keys: list[str]) -> None:
        task = loop.create_task(self._guarded(keys))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, keys: list[str]) -> None:
        try:
            await self._run(keys)
        except Exception as exc:  # noqa: BLE001 - an orphan is swept later; the request already succeeded
            log.warning("could not delete %d freed blob(s) (removed by a later sweep): %s", len(keys), exc)

    async def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, []
        if waiting:
            await self._guarded([k for _, keys in waiting for k in keys])
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def file_md5(path: str) -> bytes:
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK):
            md5.update(chunk)
    return md5.digest()


async def read_all(data: bytes | AsyncIterator[bytes]) -> bytes:
    """The whole of what :meth:`BlobStore.open_range` (or another store's) returned."""
    if isinstance(data, bytes):
        return data
    return b"".join([chunk async for chunk in data])
