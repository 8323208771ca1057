"""Cache invalidation across nodes (storeroom/store/postgres.py GenerationSync), on a real PostgreSQL: a write that
moves a generation on one "node" moves the other node's shared counter — by NOTIFY in milliseconds, and by the
poll of the generation rows within POLL_INTERVAL when the listener is gone for good."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from storeroom.store import generation
from storeroom.store.generation import Generations
from storeroom.store.migrations import migrate_postgres
from storeroom.store.postgres import POLL_INTERVAL, PostgresDatabase
from storeroom.store.sql import Conn
from tests.pg import PostgresCluster

pytestmark = pytest.mark.meta_backends("postgresql")


async def _noop(conn: Conn) -> None:
    await conn.one("SELECT 1")


async def _moved(generations: Generations, before: int, limit: float) -> float:
    start = time.monotonic()
    while generations.get(generation.IAM) == before:
        assert time.monotonic() - start < limit, f"not within {limit}s"
        await asyncio.sleep(0.002)
    return time.monotonic() - start


@pytest.mark.parametrize("listener", ["listening", "gone"])
def test_a_change_on_one_node_reaches_the_other(tmp_path: Path, postgres: PostgresCluster, meta_backend: str,
                                                listener: str) -> None:
    url = postgres.database("gen")

    async def scenario() -> float:
        await migrate_postgres(url)
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        writer = PostgresDatabase(url, Generations(tmp_path / "a" / "generations"))
        other_counters = Generations(tmp_path / "b" / "generations")
        other = PostgresDatabase(url, other_counters)
        await writer.open()
        await other.open()
        await other.start()
        try:
            await asyncio.sleep(0.3)  # the listener is connected, the poll has seen the rows once
            sync = other._sync
            assert sync is not None and sync.listening
            if listener == "gone":  # the channel is lost for good: only the poll is left
                sync._tasks[0].cancel()
                sync.listening = False
                await asyncio.sleep(POLL_INTERVAL * 1.5)  # (while down, each poll also empties the caches)
            before = other_counters.get(generation.IAM)
            await writer.write(_noop, bump=(generation.IAM,))
            return await _moved(other_counters, before, 0.5 if listener == "listening" else POLL_INTERVAL + 0.5)
        finally:
            await other.close()
            await writer.close()

    took = asyncio.run(scenario())
    print(f"{listener}: the other node's generation moved after {took * 1000:.1f} ms")
