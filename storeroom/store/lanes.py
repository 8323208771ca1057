"""The MD5 of a large upload on a pool task of its own, beside the task that checksums, seals and writes.

S3's ETag needs the MD5 of the whole body, and MD5 cannot be split within one stream: at ~450-520 MiB/s a core
it is the slowest stage of a large PUT (AES-GCM seals at ~3.8 GiB/s, CRC64NVME runs at ~11 GiB/s here).  Fed on
the same task as the rest, a chunk costs MD5 + everything else; fed on a task of its own (hashlib releases the
GIL for buffers over 2 KiB), it costs the slower of the two, so a single-stream PUT runs at about MD5's speed.

A lane's chunks are hashed in order on one thread (lanes share a few such threads).  The MD5 may run one chunk
behind the rest (:data:`MD5_BEHIND`): the writer hands the lanes chunk n+1 once the other lane has finished chunk n
and the MD5 lane chunk n-1, so the MD5 thread never waits for a chunk while the event loop receives it, nor the
event loop for the MD5 (a 64 MiB PUT: 455 → 546 MiB/s, bench/RESULTS.md "The MD5 lane one chunk behind").  A
writer holds at most three chunks (the one being received, the one being sealed and written, the one the MD5 is
still reading): memory stays flat.  Before the last bytes and the check of the digests, the writer waits for all.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storeroom.store.blobs import Hasher

MD5_BEHIND = 1  # chunks the MD5 lane may still have to hash when the writer starts the next one

# One thread per executor, so that a lane's chunks are hashed in the order they came; lanes take turns over as
# many executors as there are cores.
_EXECUTORS = [ThreadPoolExecutor(1, thread_name_prefix="md5-lane") for _ in range(max(2, os.cpu_count() or 2))]
_turns = itertools.count()


def split(hashers: Sequence[Hasher]) -> tuple[Hasher | None, tuple[Hasher, ...]]:
    """(the MD5 among ``hashers``, to feed on its own lane, or None; the others)."""
    md5 = next((h for h in hashers if getattr(h, "name", "") == "md5"), None)
    return md5, tuple(h for h in hashers if h is not md5)


class SideLane:
    """Feeds one hasher, chunk after chunk, in order, on one thread (shared with other lanes)."""

    __slots__ = ("_hasher", "_executor", "_in_flight")

    def __init__(self, hasher: Hasher) -> None:
        self._hasher = hasher
        self._executor = _EXECUTORS[next(_turns) % len(_EXECUTORS)]
        self._in_flight: deque[asyncio.Future[None]] = deque()

    def start(self, buffer: bytes | bytearray) -> None:
        """Hash ``buffer`` (which nobody changes any more) beside the caller, after the chunks before it."""
        self._in_flight.append(asyncio.get_running_loop().run_in_executor(self._executor, self._hasher.update,
                                                                          buffer))

    async def wait(self, behind: int = 0) -> None:
        """Until at most ``behind`` chunks are still to hash."""
        while len(self._in_flight) > behind:
            await self._in_flight[0]
            self._in_flight.popleft()

    def abandon(self) -> None:
        """The write failed: let running tasks end on their own (their results are of no use)."""
        for in_flight in self._in_flight:
            in_flight.add_done_callback(_retrieve)
        self._in_flight.clear()


def _retrieve(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()
