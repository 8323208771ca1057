"""The time authentication judges requests and sessions by: :func:`now`.

It is ``time.time`` — except under ``STOREROOM_TEST_CLOCK_FILE`` (**tests only**): then the file holds a number of
seconds added to the real time (an absent or unreadable file adds nothing).  Session expiry cannot be tested by
shifting the client's clock alone: a request signed more than 15 minutes ahead is refused as skewed before its
session is looked at, and the shortest session lasts 15 minutes.  Moving the server's and the client's clocks
together (tests/e2e/test_sts_expiry.py) reaches an expired session in milliseconds instead of a quarter of an hour.
Only SigV4's time check, the minting and expiry of sessions, Object Lock's retention dates
(s3/object_lock.py, store/locks.py) and the expiry of archived objects' restored copies (s3/restore.py) read this
clock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

_TEST_FILE = os.environ.get("STOREROOM_TEST_CLOCK_FILE")


def _shifted(path: str) -> Callable[[], float]:
    cache: list[float] = [0.0, -1.0]   # offset, and the file's mtime it was read at

    def now() -> float:
        try:
            mtime = os.stat(path).st_mtime
            if mtime != cache[1]:
                with open(path) as f:
                    cache[0], cache[1] = float(f.read().strip() or 0), mtime
        except (OSError, ValueError):
            cache[0], cache[1] = 0.0, -1.0
        return time.time() + cache[0]

    return now


now: Callable[[], float] = _shifted(_TEST_FILE) if _TEST_FILE else time.time
