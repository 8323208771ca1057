"""The one per-process cache mechanism (credentials, compiled policies, bucket policies, bucket records)."""

from __future__ import annotations

from storeroom.store.generation import GenerationCache


def test_empties_when_the_generation_moves_and_reads_it_before_loading() -> None:
    state = {"generation": 0, "value": "old"}
    loads: list[str] = []

    def load(key: str) -> str:
        state["generation"] += 1  # a change commits (and bumps) while this load runs
        loads.append(key)
        return f"{key}:{state['value']}"

    cache: GenerationCache[str, str] = GenerationCache(lambda: state["generation"], load)
    assert cache.get("k") == "k:old"
    # the generation read before the load was 0, it is now 1: the value loaded under 0 is not trusted
    state["value"] = "new"
    assert cache.get("k") == "k:new"
    assert loads == ["k", "k"]


def test_caches_misses_and_respects_its_limit() -> None:
    loads: list[int] = []

    def load(key: int) -> None:
        loads.append(key)

    cache: GenerationCache[int, None] = GenerationCache(lambda: 0, load, limit=2)
    for key in (1, 1, 2, 2, 3, 1):
        assert cache.get(key) is None
    assert loads == [1, 2, 3, 1]  # 3 arrived with 2 entries held: the cache emptied, so 1 loads again
