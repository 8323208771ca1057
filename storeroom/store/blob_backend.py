"""The blob interface: where object bytes live, behind one seam the S3 handlers use.

Three implementations, chosen by ``--blobs`` (``STOREROOM_BLOBS``):

- *(empty, the default)*: the local folder ``DATA_DIR/blobs`` (:class:`storeroom.store.blobs.BlobStore`), one
  node;
- ``file:///path``: the same layout on a shared filesystem (NFS, CephFS) that several nodes mount
  (:class:`~storeroom.store.blobs.BlobStore` with ``shared=True``);
- ``s3://bucket/prefix``: any S3-compatible store (:class:`storeroom.store.s3_blobs.S3BlobStore`), for which
  Storeroom becomes an IAM, audit and console gateway.

A blob is identified by an opaque id the store makes up (a random one; for an S3 backend's multipart part, one
that also names the backend upload's part).  Ids are what the metadata rows list; a blob's bytes never change
and an id is never reused, so anything read by id can be cached without invalidation.

The contract every implementation keeps (``docs/architecture.md``):

- a writer's :meth:`Writer.commit` returns only once the bytes are durable (fsync, or the backend's own
  acknowledgement), and runs ``check`` after every byte has passed through the hashers and *before* the bytes
  become durable: a body that fails verification is never stored;
- a blob is deleted only after the row that referenced it is gone (``delete``); a crash in between leaves an
  unreferenced blob, which :meth:`Blobs.sweep` removes at a later start -- on stores shared by several nodes,
  only blobs older than a grace period, so that another node's upload in flight is never taken for one;
- ``open_range`` raises FileNotFoundError before anything is sent when a blob is gone (the object was deleted
  since its row was read), so that the handler can look again.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from storeroom.config import Settings
    from storeroom.store.blobs import Hasher
    from storeroom.store.encrypted_blobs import EncryptedBlobs
    from storeroom.store.meta import MetaStore

# Stores shared by several nodes: an unreferenced blob younger than this may be another node's upload whose
# row is not committed yet, and is left alone by the sweep.
SWEEP_GRACE = float(os.environ.get("STOREROOM_BLOBS_SWEEP_GRACE", str(24 * 3600)))
# ... and a freed blob is removed this long after its row went, not at once: a GET streaming it on another
# node (which holds no open file there) finishes first.  Ceph's RGW defers its deletions for the same reason.
DELETE_DELAY = float(os.environ.get("STOREROOM_BLOBS_DELETE_DELAY", "60"))


class BackendError(Exception):
    """An S3 object-data backend answered with an error (or not at all).  Here, not beside the S3 client that
    raises it, so that a server on a local folder never imports aiohttp (~0.2 s of every start) to catch it."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(f"object store backend: {status} {code} {message}".strip())
        self.status, self.code, self.message = status, code, message


class Writer(Protocol):
    """One new blob: ``await write(data)`` … ``await commit(check)``, or ``discard()`` on any failure."""

    size: int

    @property
    def blob_id(self) -> str: ...

    async def write(self, data: bytes | bytearray | memoryview) -> None: ...

    async def commit(self, check: Callable[[], None] | None = None,
                     tail: Callable[[], bytes | bytearray] | None = None) -> None:
        """Make the blob durable.  ``tail`` makes the blob's last bytes where the writer writes them (the
        encrypting layer hashes and seals its last segment there, beside the write: storeroom/store/
        encrypted_blobs.py); ``check`` runs once every byte is written, before the blob is made durable."""

    def discard(self) -> None: ...


class Blobs(Protocol):
    description: str

    def new_writer(self, hashers: Sequence[Hasher] = (), size: int | None = None) -> Writer:
        """A new blob of ``size`` bytes (the S3 backend streams it and must announce the length)."""

    async def create_upload(self, upload_id: str) -> str:
        """A multipart upload begins; returns the upload id to use (the given one, or one naming the backend's
        own upload as well)."""

    def part_writer(self, upload_id: str, part_number: int, hashers: Sequence[Hasher], size: int) -> Writer:
        """A part of a multipart upload (the S3 backend writes it as the backend upload's part)."""

    async def complete_upload(self, upload_id: str, parts: Sequence[tuple[str, int]]) -> None:
        """Called before the completed object's row commits, with its parts' (blob id, size) in order."""

    async def abort_upload(self, upload_id: str, part_ids: Sequence[str]) -> None:
        """The upload's rows are gone: free its parts (and anything a completion left behind)."""

    def delete(self, blob_ids: Iterable[str], keep: Iterable[tuple[str, int]] = ()) -> None:
        """Free blobs no row refers to any more, without waiting -- except storage they share with ``keep``
        (the blobs of the object just committed: a completed multipart object's parts on the S3 backend)."""

    def discard_parts(self, blob_ids: Iterable[str]) -> None:
        """Free parts a multipart upload no longer lists (replaced, or uploaded to an upload that is gone)."""

    async def open_range(self, blobs: list[tuple[str, int]], start: int,
                         end: int) -> bytes | AsyncIterator[bytes]:
        """Bytes [start, end) of the concatenation of ``blobs`` ((id, size) pairs): small ranges as bytes,
        larger ones as a stream.  FileNotFoundError, before anything is returned, when a blob is gone."""

    async def import_blob(self, blob_id: str, source_path: str, size: int) -> bool:
        """Copy a blob in from a file, under the same id, verified (``storeroom migrate-blobs``); False when it
        is already here with the same bytes."""

    async def copy_blob(self, blob_id: str, size: int) -> str | None:
        """A new, durable blob with the stored bytes of ``blob_id`` (``size`` bytes as stored), copied without
        passing them through this process; its id, or None when this store cannot (the caller then reads and
        writes them).  FileNotFoundError when ``blob_id`` is gone."""

    async def prepare(self, account_id: str, *, stored: bool = False) -> None:
        """At start, before serving: check the store answers, and that it belongs to this account.  ``stored``:
        the metadata names objects in it already (an empty store is then not this one)."""

    async def sweep(self, referenced: Iterable[str], upload_exists: Callable[[str], bool]) -> int:
        """Remove blobs no row refers to; returns how many."""

    async def health(self) -> str | None:
        """None when the store answers, else what is wrong (for /_storeroom/ready)."""

    async def close(self) -> None:
        """Finish deferred deletions; release connections."""


def server_blobs(settings: Settings, meta: MetaStore) -> EncryptedBlobs:
    """What a server process (and the tools that write objects) reads and writes object bytes through: the store
    ``settings.blobs`` names, small blobs kept in the metadata database above it (storeroom/store/inline_blobs.py),
    encryption at rest above both (storeroom/store/encrypted_blobs.py)."""
    from storeroom.store.blobs import BlobStore
    from storeroom.store.encrypted_blobs import encrypted_store
    from storeroom.store.inline_blobs import inline_store
    from storeroom.store.space import SpaceReserve, parse_min_free

    inner = open_blob_store(settings)
    local = [settings.data_dir] + ([inner.root] if isinstance(inner, BlobStore) else [])
    space = SpaceReserve(local, parse_min_free(settings.min_free))
    return encrypted_store(settings, meta, inline_store(meta, inner, space))


def open_blob_store(settings: Settings) -> Blobs:
    """The store ``settings.blobs`` names."""
    url = settings.blobs
    if not url:
        from storeroom.store.blobs import BlobStore

        return BlobStore(settings.blob_dir)
    if url.startswith("file://"):
        from storeroom.store.blobs import BlobStore

        path = url.removeprefix("file://")
        if not path.startswith("/"):
            raise ValueError(f"--blobs file:// needs an absolute path (file:///mnt/shared/storeroom), got {url!r}")
        return BlobStore(Path(path), shared=True, delete_delay=DELETE_DELAY, sweep_grace=SWEEP_GRACE)
    if url.startswith("s3://"):
        from storeroom.store.s3_blobs import S3BlobStore
        from storeroom.store.s3_client import parse_s3_url

        return S3BlobStore(parse_s3_url(url, os.environ), delete_delay=DELETE_DELAY, sweep_grace=SWEEP_GRACE)
    from storeroom.store.s3_client import redacted_url

    raise ValueError(f"--blobs must be file:///PATH or s3://BUCKET[/PREFIX], got {redacted_url(url)!r}")
