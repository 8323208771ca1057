"""The root user's console sign-in: its email address and password.

At every start (``storeroom serve``, before the workers): the email is ``STOREROOM_ROOT_EMAIL`` when set, else
what was stored, else ``root@localhost``.  The password is ``STOREROOM_ROOT_PASSWORD`` when set (and replaces
the stored one when different), otherwise it is generated at first start, printed once and saved to
``DATA_DIR/root-password.txt`` (mode 0600), as root-credentials.csv is for the root keys
(storeroom/identity.py).  ``storeroom root reset-password`` sets a new one for whoever holds the data dir.

Root's password follows AWS's rules for root passwords (those of the default password policy: 8 to 128
characters, three of four character kinds, not the account id, alias or email), never the account's IAM
password policy.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from storeroom.errors import AwsError
from storeroom.iam import login_store, passwords, throttle
from storeroom.iam.user_store import ROOT
from storeroom.identity import write_secret_file
from storeroom.store import generation
from storeroom.store.meta import MetaStore
from storeroom.store.sql import Conn

PASSWORD_FILE = "root-password.txt"


class RootPasswordError(ValueError):
    """A root password that AWS's root password rules refuse."""


async def _check(meta: MetaStore, account_id: str, password: str) -> None:
    problems = passwords.violations(None, password, await login_store.account_names(meta.db.read, account_id))
    if problems:
        raise RootPasswordError(" ".join(problems))


async def set_root_password(meta: MetaStore, account_id: str, password: str, *, only_if_none: bool = False) -> bool:
    """Creates or replaces root's password (checked against the root rules), and lifts any sign-in backoff
    on root so that the owner can sign in at once.  ``only_if_none``: leave a password that exists (another
    node starting at the same moment made one).  Returns whether the password was stored."""
    await _check(meta, account_id, password)
    hashed, now = passwords.hash_password(password), time.time()

    async def job(conn: Conn) -> bool:
        if await login_store.get_login_profile(conn, ROOT) is None:
            await login_store.create_login_profile_job(conn, ROOT, "root", hashed, now, False)
        elif only_if_none:
            return False
        else:
            await login_store.set_password_job(conn, ROOT, "root", hashed, now, False)
        await throttle.clear_root_job(conn)
        return True
    return await meta.db.write(job)


async def change_root_password(meta: MetaStore, account_id: str, old: str, new: str) -> None:
    """Root changing its own password (the console's account settings; ChangePassword is for IAM users):
    AccessDenied when ``old`` is wrong, PasswordPolicyViolation when ``new`` breaks the root rules."""
    profile = await login_store.get_login_profile(meta.db.read, ROOT)
    if profile is None or not await asyncio.to_thread(passwords.verify_password, profile.hash, old):
        raise AwsError("AccessDenied", "The old password is incorrect.", 403)
    passwords.check(None, new, await login_store.account_names(meta.db.read, account_id))
    hashed = await asyncio.to_thread(passwords.hash_password, new)
    now = time.time()
    await meta.db.write(lambda conn: login_store.set_password_job(conn, ROOT, "root", hashed, now, False))


async def ensure_root_login(meta: MetaStore, account_id: str, data_dir: Path) -> None:
    """Root's email and password at start (see the module docstring).  RootPasswordError if
    ``STOREROOM_ROOT_PASSWORD`` breaks the root password rules."""
    email = os.environ.get("STOREROOM_ROOT_EMAIL", "").strip()
    stored = await meta.db.read.one("SELECT value FROM kv WHERE name = 'root_email'")
    if email and (stored is None or stored[0] != email):
        await meta.db.write(lambda conn: login_store.set_root_email_job(conn, email))
    elif stored is None:
        await meta.db.write(lambda conn: login_store.set_root_email_job(conn, login_store.DEFAULT_ROOT_EMAIL))
    profile = await login_store.get_login_profile(meta.db.read, ROOT)
    given = os.environ.get("STOREROOM_ROOT_PASSWORD")
    if given:
        if profile is None or not passwords.verify_password(profile.hash, given):
            await set_root_password(meta, account_id, given)
        return
    if profile is not None:
        return
    password = passwords.generate()
    if not await set_root_password(meta, account_id, password, only_if_none=True):
        return  # another node starting at the same time made root's password, printed and saved it
    saved = write_secret_file(data_dir / PASSWORD_FILE, password + "\n")
    print(f"Storeroom: the root user signs in to the console as {await login_store.root_email(meta.db.read)} with "
          f"this password (shown once, {saved}):\n  {password}", file=sys.stderr, flush=True)


async def remove_root_mfa(meta: MetaStore) -> int:
    """Deactivates root's MFA devices (the owner lost the device); returns how many."""
    async def job(conn: Conn) -> int:
        return await conn.run("UPDATE iam_mfa_devices SET principal = NULL, enabled = NULL WHERE principal = ?",
                              (ROOT,))
    return await meta.db.write(job, bump=(generation.IAM,))
