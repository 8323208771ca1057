"""The random pool (storeroom/randomness.py): every byte handed out once, across threads and forks."""

from __future__ import annotations

import os
import threading

from storeroom import randomness


def test_sizes_and_formats() -> None:
    assert len(randomness.random_bytes(12)) == 12
    assert len(randomness.random_bytes(randomness.POOL_BYTES)) == randomness.POOL_BYTES  # large: straight
    assert len(randomness.random_hex(16)) == 32
    token = randomness.random_urlsafe(24)
    assert len(token) == 32 and set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_no_repeats_across_refills() -> None:
    taken = [randomness.random_bytes(32) for _ in range(3 * randomness.POOL_BYTES // 32)]
    assert len(set(taken)) == len(taken)


def test_no_repeats_across_threads() -> None:
    taken: list[bytes] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [randomness.random_bytes(12) for _ in range(5000)]
        with lock:
            taken.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(taken)) == len(taken) == 40_000


def test_a_forked_child_never_hands_out_its_parents_bytes() -> None:
    randomness.random_bytes(1)  # the pool is filled: a child without its own would continue from here
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, randomness.random_bytes(32))
        os._exit(0)
    os.close(write)
    child = os.read(read, 32)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert randomness.random_bytes(32) != child
