"""The MD5 lane (storeroom/store/lanes.py): chunks hashed in order on shared threads, even when the writer lets
the lane run behind and several lanes share a thread."""

from __future__ import annotations

import asyncio
import hashlib
import os

from storeroom.store import lanes


def test_lanes_sharing_threads_hash_each_stream_in_order() -> None:
    streams = [[os.urandom(64 * 1024 + i) for i in range(40)] for _ in range(3 * len(lanes._EXECUTORS))]

    async def feed(chunks: list[bytes]) -> bytes:
        md5 = hashlib.md5()
        lane = lanes.SideLane(md5)
        for n, chunk in enumerate(chunks):
            await lane.wait(lanes.MD5_BEHIND)
            lane.start(chunk)
            if n % 3 == 0:
                await asyncio.sleep(0)  # let the other streams in between
        await lane.wait()
        return md5.digest()

    async def main() -> list[bytes]:
        return await asyncio.gather(*(feed(chunks) for chunks in streams))

    digests = asyncio.run(main())
    assert digests == [hashlib.md5(b"".join(chunks)).digest() for chunks in streams]


def test_an_abandoned_lane_lets_its_chunks_end_on_their_own() -> None:
    async def main() -> None:
        lane = lanes.SideLane(hashlib.md5())
        lane.start(os.urandom(1 << 20))
        lane.start(os.urandom(1 << 20))
        lane.abandon()
        await lane.wait()  # nothing left to wait for

    asyncio.run(main())
