"""Random bytes for the hot paths (blob ids, version and upload ids, data keys, nonces): the kernel's CSPRNG,
fetched 64 KiB at a time into a per-process pool.

Why a pool: ``os.urandom`` releases the GIL around its ``getrandom()`` call, and on a busy server the thread
pool (fsyncs) and the SQLite writer are waiting for it, so the event loop then waits to take it back.  Measured
with py-spy on 4 KiB PUTs (issue 13, bench/RESULTS.md): the wrap nonce's ``os.urandom`` alone was ~5 % of the
event loop's time, and the encrypted PUT cost +15 % CPU over a clear one, most of it GIL handovers.  One call
per 64 KiB pays that once per ~1,000 PUTs.

Safety: the bytes are ``os.urandom``'s, each handed out once: a lock guards the position (any thread may take
bytes, not only the event loop's), and a forked child starts with an empty pool, so a parent and
its child never hand out the same bytes (a repeated data key or nonce would break AES-GCM).
"""

from __future__ import annotations

import base64
import os
import threading

POOL_BYTES = 64 * 1024


class _Pool:
    __slots__ = ("_buffer", "_position", "_lock")

    def __init__(self) -> None:
        self._buffer = b""
        self._position = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bytes:
        if n > POOL_BYTES // 4:
            return os.urandom(n)
        with self._lock:
            start = self._position
            if start + n > len(self._buffer):
                self._buffer = os.urandom(POOL_BYTES)
                start = 0
            self._position = start + n
            return self._buffer[start:start + n]

    def forget(self) -> None:
        """In a forked child: never reuse the parent's bytes (a new lock too: the parent's may be held)."""
        self._buffer = b""
        self._position = 0
        self._lock = threading.Lock()


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.forget)


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the kernel's CSPRNG (as ``os.urandom(n)``)."""
    return _pool.take(n)


def random_hex(n: int) -> str:
    """``2 n`` hex characters (as ``secrets.token_hex(n)``)."""
    return _pool.take(n).hex()


def random_urlsafe(n: int) -> str:
    """``n`` random bytes as URL-safe base64 without padding (as ``secrets.token_urlsafe(n)``)."""
    return base64.urlsafe_b64encode(_pool.take(n)).rstrip(b"=").decode("ascii")
