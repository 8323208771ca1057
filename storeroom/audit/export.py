"""Audit events for the tools people already run: CloudTrail log files (``--audit-export DIR``) and JSON lines on
standard output (``--audit-stdout``).

CloudTrail log files are laid out as CloudTrail delivers them to S3
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-find-log-files.html):
``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz``,
each a gzipped ``{"Records": [...]}`` document, so log shippers and CloudTrail parsers read them unchanged.

Each worker process writes its own file, so workers never share one: records are appended as gzip members
(one per batch) to a file under ``DIR/.incoming/`` that no shipper looks at; after 5 minutes or 10 MB of records
the document is closed, fsynced and renamed into its ``AWSLogs/…`` place, where it appears whole or not at
all.  A file a crash left behind in ``.incoming/`` is finished by the next start (:func:`recover`): its
complete members are kept, a torn last member is dropped.

Standard output is shared by the workers: each batch of lines is written under an exclusive lock (``flock``)
so that lines of two workers never interleave.
"""

from __future__ import annotations

import fcntl
import gzip
import os
import secrets
import string
import time
import zlib
from pathlib import Path

ROTATE_SECONDS = 300
ROTATE_BYTES = 10 * 1024 * 1024
_HEAD = '{"Records":['
_TAIL = "]}"
_ID_ALPHABET = string.ascii_letters + string.digits


class CloudTrailFiles:
    """One worker's CloudTrail log files.  Used from one thread (the audit writer)."""

    def __init__(self, root: Path, account_id: str, region: str, rotate_seconds: float = ROTATE_SECONDS,
                 rotate_bytes: int = ROTATE_BYTES) -> None:
        self.root = root
        self.rotate_seconds, self.rotate_bytes = rotate_seconds, rotate_bytes
        self.account_id = account_id
        self.region = region
        self.incoming = root / ".incoming"
        self.incoming.mkdir(parents=True, exist_ok=True)
        self._path: Path | None = None
        self._opened = 0.0
        self._bytes = 0

    def add(self, records: list[str], now: float) -> None:
        if not records:
            return
        text = ",".join(records)
        if self._path is None:
            self._path = self.incoming / f"{os.getpid()}-{secrets.token_hex(8)}.json.gz"
            self._opened, self._bytes = now, 0
            text = _HEAD + text
        else:
            text = "," + text
        data = text.encode()
        with open(self._path, "ab") as f:
            f.write(gzip.compress(data, compresslevel=5, mtime=0))
        self._bytes += len(data)
        if self._bytes >= self.rotate_bytes:
            self.finish(now)

    def tick(self, now: float) -> None:
        if self._path is not None and now - self._opened >= self.rotate_seconds:
            self.finish(now)

    def close(self, now: float) -> None:
        if self._path is not None:
            self.finish(now)

    def finish(self, now: float) -> None:
        """Close the open file's document and move it into place."""
        path, self._path = self._path, None
        if path is None:
            return
        with open(path, "ab") as f:
            f.write(gzip.compress(_TAIL.encode(), mtime=0))
            f.flush()
            os.fsync(f.fileno())
        _publish(path, final_path(self.root, self.account_id, self.region, now))


def final_path(root: Path, account_id: str, region: str, when: float) -> Path:
    tm = time.gmtime(when)
    stamp = time.strftime("%Y%m%dT%H%MZ", tm)
    unique = "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))
    return (root / "AWSLogs" / account_id / "CloudTrail" / region / f"{tm.tm_year:04d}" / f"{tm.tm_mon:02d}"
            / f"{tm.tm_mday:02d}" / f"{account_id}_CloudTrail_{region}_{stamp}_{unique}.json.gz")


def _publish(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(root: Path, account_id: str, region: str) -> int:
    """Finish the files a crash left in ``root/.incoming``: returns how many were published."""
    incoming = root / ".incoming"
    if not incoming.is_dir():
        return 0
    published = 0
    for path in sorted(incoming.glob("*.json.gz")):
        text = _complete_members(path.read_bytes())
        if not text.startswith(_HEAD):
            path.unlink()
            continue
        body = text if text.endswith(_TAIL) else text + _TAIL
        with open(path, "wb") as f:  # rewritten whole: a torn last member is dropped
            f.write(gzip.compress(body.encode(), mtime=0))
            f.flush()
            os.fsync(f.fileno())
        _publish(path, final_path(root, account_id, region, path.stat().st_mtime))
        published += 1
    return published


def _complete_members(data: bytes) -> str:
    """The text of the gzip members that are whole; a torn one at the end is left out."""
    parts: list[bytes] = []
    while data:
        d = zlib.decompressobj(wbits=31)
        try:
            chunk = d.decompress(data)
        except zlib.error:
            break
        if not d.eof:
            break
        parts.append(chunk)
        data = d.unused_data
    return b"".join(parts).decode("utf-8", "replace")


class StdoutLines:
    """One JSON line per event on standard output, batches written whole under an exclusive lock."""

    def __init__(self, lock_path: Path) -> None:
        self._lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    def write(self, records: list[str]) -> None:
        data = ("\n".join(records) + "\n").encode()
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            view = memoryview(data)
            while view:
                written = os.write(1, view)
                view = view[written:]
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
