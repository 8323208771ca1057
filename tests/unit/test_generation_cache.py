"""The one per-process cache mechanism (credentials, compiled policies, bucket policies, bucket records)."""

from __future__ import annotations

import asyncio

from storeroom.store.generation import GenerationCache


def test_empties_when_the_generation_moves_and_reads_it_before_loading() -> None:
    state = {"generation": 0, "value": "old"}
    loads: list[str] = []

    async def load(key: str) -> str:
        state["generation"] += 1  # a change commits (and bumps) while this load runs
        loads.append(key)
        return f"{key}:{state['value']}"

    cache: GenerationCache[str, str] = GenerationCache(lambda: state["generation"], load)
    assert asyncio.run(cache.get("k")) == "k:old"
    # the generation read before the load was 0, it is now 1: the value loaded under 0 is not trusted
    state["value"] = "new"
    assert asyncio.run(cache.get("k")) == "k:new"
    assert loads == ["k", "k"]


def test_caches_misses_and_respects_its_limit() -> None:
    loads: list[int] = []

    async def load(key: int) -> None:
        loads.append(key)

    cache: GenerationCache[int, None] = GenerationCache(lambda: 0, load, limit=2)
    for key in (1, 1, 2, 2, 3, 1):
        assert asyncio.run(cache.get(key)) is None
    assert loads == [1, 2, 3, 1]  # 3 arrived with 2 entries held: the cache emptied, so 1 loads again


def test_a_load_overlapping_a_change_is_returned_but_not_kept() -> None:
    """Two requests: the first loads under generation 0; while it waits for the database, a change is made and
    a second request empties the cache for generation 1.  The first's (older) value must not be cached."""
    state = {"generation": 0}
    loads: list[int] = []

    async def scenario() -> None:
        release = asyncio.Event()

        async def load(key: str) -> int:
            loads.append(state["generation"])
            n = len(loads)
            if n == 1:
                await release.wait()
            return n

        cache: GenerationCache[str, int] = GenerationCache(lambda: state["generation"], load)
        first = asyncio.ensure_future(cache.get("k"))
        await asyncio.sleep(0)
        state["generation"] = 1
        assert await cache.get("k") == 2  # loaded anew for generation 1, and kept
        release.set()
        assert await first == 1  # the old load's caller gets its value...
        assert await cache.get("k") == 2  # ...but the cache keeps generation 1's

    asyncio.run(scenario())
