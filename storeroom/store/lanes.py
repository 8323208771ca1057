"""The MD5 of a large upload on a pool task of its own, beside the task that checksums, seals and writes.

S3's ETag needs the MD5 of the whole body, and MD5 cannot be split within one stream: at ~450-520 MiB/s a core
it is the slowest stage of a large PUT (AES-GCM seals at ~3.8 GiB/s, CRC64NVME runs at ~11 GiB/s here).  Fed on
the same task as the rest, a chunk costs MD5 + everything else; fed on a task of its own (hashlib releases the
GIL for buffers over 2 KiB), it costs the slower of the two, so a single-stream PUT runs at about MD5's speed.

Each lane keeps at most one task in flight and the writer waits for both lanes before it hands them the next
chunk, so every hasher still sees the chunks in order, and a writer holds at most two chunks at a time (the one
being processed, the one being received): memory stays flat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storeroom.store.blobs import Hasher


def split(hashers: Sequence[Hasher]) -> tuple[Hasher | None, tuple[Hasher, ...]]:
    """(the MD5 among ``hashers``, to feed on its own lane, or None; the others)."""
    md5 = next((h for h in hashers if getattr(h, "name", "") == "md5"), None)
    return md5, tuple(h for h in hashers if h is not md5)


class SideLane:
    """Feeds one hasher, chunk after chunk, on pool tasks of its own."""

    __slots__ = ("_hasher", "_in_flight")

    def __init__(self, hasher: Hasher) -> None:
        self._hasher = hasher
        self._in_flight: asyncio.Future[None] | None = None

    def start(self, buffer: bytes | bytearray) -> None:
        """Hash ``buffer`` (which nobody changes any more) beside the caller; :meth:`wait` first."""
        assert self._in_flight is None
        self._in_flight = asyncio.get_running_loop().run_in_executor(None, self._hasher.update, buffer)

    async def wait(self) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    def abandon(self) -> None:
        """The write failed: let a running task end on its own (its result is of no use)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.add_done_callback(_retrieve)


def _retrieve(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()
