"""Failed-attempt throttling for passwords and MFA codes: per user and per source IP, exponential backoff.

Why a table in the metadata store (``signin_throttle``) rather than shared memory like store/generation.py's
counters: the state must be shared by every worker process (an attacker's requests are spread over all of
them), must survive a restart (or restarting the server would reset an attack's backoff), and must grow
with the number of subjects under attack, which fixed mmap slots cannot do without collisions; later it
must also be shared by several nodes, which PostgreSQL gives for free and a memory map never could.  The
cost is one write per *failed* attempt and one per success that clears a user's count — negligible next to
the Argon2 verification (tens of milliseconds of CPU) every attempt already pays.

A subject may fail ``free`` times; then each further failure makes it wait ``base * 2**n`` seconds (up to
``cap``) before its next attempt is even looked at — blocked attempts are refused without verifying the
password, so they cost almost nothing.  A subject with no failure for ``forget_after`` seconds starts over.
Two workers checking the same subject at the same instant may each let one attempt through: the bound is
the number of concurrent requests, not unlimited guessing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from storeroom.crypto import SecretBox
from storeroom.store.sql import Conn


@dataclass(frozen=True, slots=True)
class Backoff:
    free: int = 5
    base: float = 1.0
    cap: float = 900.0
    forget_after: float = 3600.0

    def wait(self, failures: int) -> float:
        """Seconds a subject with ``failures`` recent failures must wait after the last one."""
        if failures <= self.free:
            return 0.0
        return float(min(self.base * 2 ** min(failures - self.free - 1, 30), self.cap))


# A user's password is guessed from anywhere: few free tries.  One address may be a whole office behind NAT:
# more free tries, the same backoff after.
PER_USER = Backoff(free=5)
PER_IP = Backoff(free=20)


def user_subject(kind: str, name: str, box: SecretBox) -> str:
    """``iam~<pseudonym of the name>`` (user names are case-insensitive) or ``root~<pseudonym of the email>``;
    unknown names count too, so that throttling does not reveal which names exist.  Names are kept as keyed
    digests (:meth:`SecretBox.pseudonym`), never as typed: a failed sign-in's name may be a password typed into
    the wrong field (CloudTrail hides such names too).  Rows of the earlier form (``iam:<name>``) are removed
    by :func:`forget_clear_names`."""
    return f"{kind}~{box.pseudonym(name.strip().lower())}"


async def forget_clear_names(conn: Conn) -> None:
    """Deletes the rows an earlier Storeroom keyed by the typed name (run at every start)."""
    await conn.run("DELETE FROM signin_throttle WHERE subject LIKE 'iam:%' OR subject LIKE 'root:%'")


def ip_subject(address: str) -> str:
    return f"ip:{address}"


async def retry_after(conn: Conn, subjects: Iterable[str], now: float) -> float:
    """Seconds until every subject may try again (0: go ahead)."""
    wanted = list(subjects)
    marks = ",".join("?" * len(wanted))
    row = await conn.one(f"SELECT max(blocked_until) FROM signin_throttle WHERE subject IN ({marks})",
                         wanted)
    until = row[0] if row and row[0] is not None else 0.0
    return max(0.0, float(until) - now)


async def note_failure_job(conn: Conn, subject: str, backoff: Backoff, now: float) -> float:
    """Counts a failure; returns the wait it imposes.  Forgotten subjects are swept on the way."""
    await conn.run("DELETE FROM signin_throttle WHERE last_failure < ?", (now - backoff.forget_after,))
    row = await conn.one("SELECT failures FROM signin_throttle WHERE subject = ?", (subject,))
    failures = (row[0] if row else 0) + 1
    wait = backoff.wait(failures)
    await conn.run("INSERT INTO signin_throttle(subject, failures, last_failure, blocked_until) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT(subject) DO UPDATE SET failures = excluded.failures, "
                   "last_failure = excluded.last_failure, blocked_until = excluded.blocked_until",
                   (subject, failures, now, now + wait))
    return wait


async def clear_job(conn: Conn, subject: str) -> None:
    await conn.run("DELETE FROM signin_throttle WHERE subject = ?", (subject,))


async def clear_root_job(conn: Conn) -> None:
    """Lifts every backoff on root's sign-in (whatever email was typed): its password was just set by the
    owner."""
    await conn.run("DELETE FROM signin_throttle WHERE subject LIKE 'root~%'")
