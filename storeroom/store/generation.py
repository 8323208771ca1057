"""Change counters shared by all worker processes through a memory-mapped file.

Caches (credentials and policies, bucket records) live in each worker process.  To stay correct they must
notice, at the very next request, a change made through any other worker: a key deactivated, a policy
detached, a bucket deleted.  Asking SQLite on every request costs a query; reading a shared 8-byte counter
costs a memory load.  Writers bump the counter *after* committing the change, readers read it *before*
loading from the database, so a reader can never cache stale data under a new counter value.

The counters live in the data dir's ``generations`` file and only ever grow (nothing resets them: a cache
compares equality, and a counter that went back could meet a value a cache saw before).  They are one
machine's: with PostgreSQL metadata, a write that moves one also moves its row in the database and NOTIFYs the
other nodes, whose workers move their own machine's counters (storeroom/store/postgres.py: GenerationSync).
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Awaitable, Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

IAM = 0       # access keys, users, groups, policies (bucket policies too)
BUCKETS = 1   # bucket creation and deletion
OBJECTS = 2   # SQLite: any commit of the metadata (the cache of current object versions, MetaStore.current_object)
_SLOTS = 8
_FORMAT = "<Q"


class Generations:
    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _SLOTS * 8:
                os.ftruncate(fd, _SLOTS * 8)
            self._map = mmap.mmap(fd, _SLOTS * 8, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)

    def get(self, slot: int) -> int:
        return int(struct.unpack_from(_FORMAT, self._map, slot * 8)[0])

    def bump(self, slot: int) -> None:
        """Not atomic across processes, and it need not be: any change of value invalidates caches.

        Two concurrent bumps may both write n+1; each writer committed its change before bumping, so every
        reader that saw n before either change sees n+1 after both, and reloads.
        """
        struct.pack_into(_FORMAT, self._map, slot * 8, self.get(slot) + 1)

    def close(self) -> None:
        self._map.close()


class GenerationCache(Generic[K, V]):
    """A per-process cache of ``await load(key)`` that empties itself whenever ``generation()`` moves.

    The generation is read before anything is loaded, so a value loaded before a change is never kept after
    it; a value whose load overlapped a change (another request emptied the cache meanwhile) is returned but
    not kept.  The cache also empties when it holds ``limit`` entries (it caches misses too, which callers
    choose).
    """

    __slots__ = ("_generation", "_load", "_limit", "_current", "_entries")

    def __init__(self, generation: Callable[[], Hashable], load: Callable[[K], Awaitable[V]],
                 limit: int = 10_000) -> None:
        self._generation = generation
        self._load = load
        self._limit = limit
        self._current: Hashable = None
        self._entries: dict[K, V] = {}

    def peek(self, key: K, default: V) -> V:
        """The cached value of ``key`` if one is held for the current generation, else ``default`` (no load)."""
        if self._generation() != self._current:
            return default
        return self._entries.get(key, default)

    async def get(self, key: K) -> V:
        current = self._generation()
        if current != self._current:
            self._entries.clear()
            self._current = current
        try:
            return self._entries[key]
        except KeyError:
            pass
        value = await self._load(key)
        if self._current != current:  # emptied for a newer generation while this load ran
            return value
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[key] = value
        return value
