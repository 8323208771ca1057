"""Key hygiene: a warning in the server log for every access key the guide says to rotate or delete.

The guide's rules: rotate access keys every 90 days; delete keys nobody uses.  AWS's own advice is the same
("Rotate access keys regularly", "Remove unused IAM users and credentials",
https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html).  At start and then once a day, the
``storeroom serve`` process (one process whatever the number of workers, on a thread of its own: never on a
request's way) reads the keys and logs one line per finding:

- an *active* key older than ``--key-max-age-days`` (default 90): rotate it;
- a key (active or not) unused for ``--key-unused-days`` (default 90; never used counts from its creation):
  delete it, or deactivate it first.

A line names the owner (the IAM user's name, or the account root) and the key id, never the secret (the query
does not even read the sealed secrets).  The check only reads (a read-only connection, bounded by IAM's quotas
of 2 keys per user), so killing the server at any moment leaves nothing behind.  With PostgreSQL metadata the
thread reads it with a synchronous psycopg connection of its own; each node logs its own warnings.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("storeroom.hygiene")

DAY = 86400.0
CHECK_INTERVAL = DAY
ROOT_OWNER = "root"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str                  # "max-age" or "unused"
    access_key_id: str
    owner: str                 # the IAM user's name, or "root"
    status: str                # Active / Inactive
    age_days: int
    unused_days: int
    last_used: float | None

    def message(self, max_age_days: int, unused_days: int) -> str:
        who = "the account root" if self.owner == ROOT_OWNER else f"user {self.owner}"
        if self.rule == "max-age":
            return (f"access key {self.access_key_id} of {who} is {self.age_days} days old "
                    f"(--key-max-age-days {max_age_days}): rotate it (create a second key, move the application "
                    f"to it, deactivate and delete this one)")
        used = "never used" if self.last_used is None else f"last used {self.unused_days} days ago"
        return (f"access key {self.access_key_id} of {who} ({self.status}) is {used} "
                f"(--key-unused-days {unused_days}): delete it if nothing needs it")


_KEYS = ("SELECT k.access_key_id, k.principal, k.status, k.created, k.last_used, u.name FROM access_keys k "
         "LEFT JOIN iam_users u ON u.user_id = k.principal ORDER BY k.created, k.access_key_id")


def findings(rows: Iterable[Sequence[Any]], now: float, max_age_days: int, unused_days: int) -> list[Finding]:
    """Every key that breaks a rule, oldest first (a key may break both)."""
    out: list[Finding] = []
    for key_id, principal, status, created, last_used, name in rows:
        owner = ROOT_OWNER if principal == ROOT_OWNER else (name or principal)
        age = int((now - created) // DAY)
        idle = int((now - (last_used if last_used is not None else created)) // DAY)
        if status == "Active" and now - created >= max_age_days * DAY:
            out.append(Finding("max-age", key_id, owner, status, age, idle, last_used))
        if now - (last_used if last_used is not None else created) >= unused_days * DAY:
            out.append(Finding("unused", key_id, owner, status, age, idle, last_used))
    return out


def _read_keys(meta_db: Path, meta_url: str | None) -> list[Sequence[Any]]:
    if meta_url:
        import psycopg

        from storeroom.store.postgres import conninfo

        with psycopg.connect(conninfo(meta_url, application_name="storeroom-hygiene"), autocommit=True) as pg:
            return list(pg.execute(_KEYS).fetchall())
    conn = sqlite3.connect(f"{meta_db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(_KEYS).fetchall()
    finally:
        conn.close()


def check(meta_db: Path, max_age_days: int, unused_days: int, meta_url: str | None = None) -> list[Finding]:
    """One pass: read the keys (read-only), log a warning per finding; returns the findings."""
    found = findings(_read_keys(meta_db, meta_url), time.time(), max_age_days, unused_days)
    for finding in found:
        log.warning("%s", finding.message(max_age_days, unused_days))
    return found


class KeyHygiene(threading.Thread):
    """Runs :func:`check` now and every ``interval`` seconds until :meth:`stop` (a daemon: it dies with the
    server, and it never writes)."""

    def __init__(self, meta_db: Path, max_age_days: int, unused_days: int, interval: float = CHECK_INTERVAL,
                 meta_url: str | None = None) -> None:
        super().__init__(name="key-hygiene", daemon=True)
        self.meta_db, self.max_age_days, self.unused_days, self.interval = meta_db, max_age_days, unused_days, interval
        self.meta_url = meta_url
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                check(self.meta_db, self.max_age_days, self.unused_days, self.meta_url)
            except Exception:  # noqa: BLE001 - a failed check must not take the server down; try again tomorrow
                log.exception("key hygiene check failed")
            self._stopped.wait(self.interval)

    def stop(self) -> None:
        self._stopped.set()


def configure_logging() -> None:
    """The warnings go to the server's log (stderr) with a time, whatever uvicorn configures for its own."""
    if log.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s storeroom: %(message)s",
                                           "%Y-%m-%dT%H:%M:%S%z"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
