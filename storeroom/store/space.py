"""Free space on the local volumes the server writes to, and what a full disk is answered with.

Why a reserve: when the disk fills, every write fails — deletes too, since SQLite appends a delete to its WAL
and the audit trail records it — so a full server could not be emptied through its own API.  New object data is
therefore refused while the volume's free space is below a reserve (``--min-free``, by default the smaller of
64 MiB and 5 % of the volume: room for tens of thousands of deletes, while a nearly full laptop disk still takes
uploads); deletes, metadata and the audit trail go on into the reserve, so deleting objects frees space again.
The check is made before a byte of the upload is received (:class:`SpaceReserve`).

Whatever still meets a full disk (another program filled it, several uploads passed the check together) is
answered 507 ``InsufficientStorage`` instead of 500 ``InternalError`` (:func:`is_storage_full`): the write
leaves nothing behind, as any failed write.  AWS has no such answer (its storage does not fill); 507 is HTTP's
"Insufficient Storage", as MinIO answers a full drive, and SDKs do not retry it blindly as they would a 500.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from storeroom.errors import AwsError

DEFAULT_RESERVE_BYTES = 64 << 20  # at most; ...
DEFAULT_RESERVE_FRACTION = 0.05  # ... and at most this share of the volume
RECHECK = 1.0  # seconds a volume's free space is taken as read, far from the reserve (SpaceReserve)
PER_WRITE = 64 << 10  # what an upload is counted beyond its bytes until the next reading
_SQLITE_FULL = 13  # "Insertion failed because database is full" (also the disk)
_PG_DISK_FULL = "53100"  # PostgreSQL's SQLSTATE disk_full
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*|%)\s*")
MESSAGE = "The server's storage is full. Delete objects, or give the server more space, and try again."


class StorageFull(OSError):
    """New data refused: the volume's free space is below the reserve."""

    def __init__(self, path: Path) -> None:
        super().__init__(errno.ENOSPC, "free space below the reserve (--min-free)", str(path))


def storage_refusal(exc: BaseException) -> AwsError | None:
    """The answer to a failure that is a full disk (507 InsufficientStorage), else None: the one mapping of the
    API's edge (http/app.py) and the console's calls (console/services.py)."""
    return AwsError("InsufficientStorage", MESSAGE, 507) if is_storage_full(exc) else None


def is_storage_full(exc: BaseException) -> bool:
    """Whether ``exc``, or what it was explicitly raised from (``raise … from``), is a full disk or quota: OSError
    ENOSPC/EDQUOT, SQLite's SQLITE_FULL, PostgreSQL's disk_full.  (Not an exception merely raised while one was
    being handled: a bug in a handler of ENOSPC must keep its traceback.)"""
    seen: BaseException | None = exc
    for _ in range(8):  # a chain of causes, bounded
        if seen is None:
            return False
        if _full(seen):
            return True
        seen = seen.__cause__
    return False


class FailureReport:
    """How a background job (the audit writer, access-log delivery) reports failing, and retrying at its next
    turn: a full disk in one line once while it lasts (it is not a bug, and would repeat every second), anything
    else with its traceback each time."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger, self.what, self.full = logger, what, False

    def succeeded(self) -> None:
        self.full = False

    def failed(self, exc: BaseException) -> None:
        full = is_storage_full(exc)
        if not full:
            self.logger.error("%s failed", self.what, exc_info=exc)
        elif not self.full:
            self.logger.warning("%s: the disk is full; retried until it has room (%s)", self.what, exc)
        self.full = full


def _full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL
    return getattr(exc, "sqlstate", None) == _PG_DISK_FULL


def parse_min_free(value: str) -> int | float | None:
    """``--min-free``: ``auto`` (None: the default rule), a size (``0``, ``512MiB``, ``2GB``: bytes) or a share
    of the volume (``10%``: a float below 1)."""
    text = value.strip().lower()
    if text in ("", "auto"):
        return None
    match = _SIZE.fullmatch(text)
    if match is None or (match.group(2) != "%" and match.group(2) not in _UNITS):
        raise ValueError(f"--min-free must be auto, a size (512MiB, 2GB, 0) or a percentage (5%), not {value!r}")
    number = float(match.group(1))
    if match.group(2) == "%":
        if number > 100:
            raise ValueError(f"--min-free cannot be more than 100%, got {value!r}")
        return number / 100
    return int(number * _UNITS[match.group(2)])


class SpaceReserve:
    """Refuses new object data while a volume the server writes to has less than the reserve free.

    Far from the reserve, a volume is asked (``statvfs``) at most once every :data:`RECHECK` seconds: on a
    shared folder (NFS) the call is a round trip to the file server, made on the event loop.  In between, each
    upload admitted is taken off the last reading with :data:`PER_WRITE` more (what its rows, journal pages and
    audit event cost beside its bytes); once that estimate comes near the reserve, the volume is asked again at
    every upload, so a refusal is always decided on a fresh reading."""

    def __init__(self, paths: Iterable[Path], min_free: int | float | None) -> None:
        self.paths: list[Path] = []
        self._known: dict[Path, tuple[float, int, int]] = {}  # path → (when read, free bytes left, reserve)
        devices: set[int] = set()
        for path in paths:  # one path per filesystem (a folder not made yet: the one it will be made in)
            while not path.exists() and path.parent != path:
                path = path.parent
            try:
                device = os.stat(path).st_dev
            except OSError:
                continue
            if device not in devices:
                devices.add(device)
                self.paths.append(path)
        self.min_free = min_free

    def reserve(self, stats: os.statvfs_result) -> int:
        size = stats.f_blocks * stats.f_frsize
        if self.min_free is None:
            return min(DEFAULT_RESERVE_BYTES, int(size * DEFAULT_RESERVE_FRACTION))
        if isinstance(self.min_free, float):
            return int(size * self.min_free)
        return self.min_free

    def check(self, size: int | None) -> None:
        """Raises :class:`StorageFull` unless ``size`` more bytes (0 when unknown) leave the reserve free."""
        if self.min_free == 0:
            return
        now, size = time.monotonic(), size or 0
        for path in self.paths:
            when, free, reserve = self._known.get(path, (-math.inf, 0, 0))  # (never read: read now)
            if now - when >= RECHECK or free - size - PER_WRITE < reserve:  # stale, or near the reserve
                stats = os.statvfs(path)
                when, free, reserve = now, stats.f_bavail * stats.f_frsize, self.reserve(stats)
            if free - size < reserve:
                self._known[path] = (when, free, reserve)
                raise StorageFull(path)
            self._known[path] = (when, free - size - PER_WRITE, reserve)
