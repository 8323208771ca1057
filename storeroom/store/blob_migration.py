"""Moving object data out of a data dir's blob folder into another store (``storeroom migrate-blobs``, and the
blob half of ``storeroom migrate``).

Every blob the source metadata refers to (objects and the parts of uploads in progress; orphans are left) is
copied to the target under the *same id*, so the metadata needs no change: an S3 target keeps it as the object
``<prefix><id>``, a folder target at the same place in the same layout.  A multipart object's parts stay
separate objects on an S3 target, which reads them in order like any multipart object's; an upload in progress
continues there with its parts as objects of their own.

Resumable and verified: each blob's MD5 is computed from the source file first; a blob already on the target
with that size and MD5 (the ETag, or the ``x-amz-meta-storeroom-md5`` the copy sets) is skipped, and a copy is
sent with ``Content-MD5`` (the backend refuses bytes that do not match) and checked against the ETag the backend
answers (a folder target: read back and hashed).  So an interrupted run is simply run again, and a blob damaged
on the target is copied again.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storeroom.store.blob_backend import Blobs, open_blob_store
from storeroom.store.blobs import BlobStore
from storeroom.store.inline_blobs import is_inline

if TYPE_CHECKING:
    from storeroom.config import Settings

CONCURRENCY = 8


@dataclass(slots=True)
class CopyProgress:
    total: int                # blobs to copy
    total_bytes: int
    done: int = 0
    done_bytes: int = 0
    copied: int = 0           # sent to the target by this run
    present: int = 0          # already on the target, verified


async def copy_blobs(source_settings: Settings, target_backend: Blobs,
                     progress: Callable[[CopyProgress], None] = lambda _: None, *,
                     concurrency: int = CONCURRENCY) -> CopyProgress:
    """Copy every referenced blob of ``source_settings``' data dir (its metadata and blob folder) to
    ``target_backend``; ``progress`` is called after each blob.  Raises FileNotFoundError naming blobs the
    metadata refers to but the source folder lacks (nothing of the run is lost: run again once resolved)."""
    from storeroom.store.backend import open_meta

    source = open_blob_store(source_settings)
    if not isinstance(source, BlobStore):
        raise ValueError("the source of a blob copy must be a folder (the data dir's blobs, or file://); "
                         "copy between S3 stores with the stores' own tools")
    meta = await open_meta(source_settings.data_dir, source_settings.meta_url, migrate=False)
    try:
        account_id = await meta.get_kv("account_id")
        if account_id is None:
            raise ValueError(f"no account in {source_settings.data_dir}")
        # small blobs kept in the metadata database move with the metadata (storeroom migrate), not here
        referenced = sorted(b for b in await meta.referenced_blobs() if not is_inline(b))
        blobs = list(_sized(source, iter(referenced)))
    finally:
        await meta.close()
    missing = [blob_id for blob_id, size in blobs if size < 0]
    if missing:
        raise FileNotFoundError(f"{len(missing)} blob(s) the metadata refers to are not in {source.root}, e.g. "
                                f"{', '.join(missing[:3])}")
    await target_backend.prepare(account_id)
    state = CopyProgress(len(blobs), sum(size for _, size in blobs))
    queue = iter(blobs)

    async def worker() -> None:
        for blob_id, size in queue:
            if await target_backend.import_blob(blob_id, source.path(blob_id), size):
                state.copied += 1
            else:
                state.present += 1
            state.done += 1
            state.done_bytes += size
            progress(state)

    await asyncio.gather(*(worker() for _ in range(max(concurrency, 1))))
    return state


def _sized(source: BlobStore, blob_ids: Iterator[str]) -> Iterator[tuple[str, int]]:
    for blob_id in blob_ids:
        try:
            yield blob_id, os.stat(source.path(blob_id)).st_size
        except FileNotFoundError:
            yield blob_id, -1

