"""``storeroom root``: the account root's console sign-in, for whoever holds the data dir.

Unlike the other admin commands these do not go through the API (root may have lost the very password the
API or console would want): they open the metadata store directly (the data dir's SQLite file, or the
servers' PostgreSQL database with ``--meta``), which is safe while the servers run: the change is one
transaction, and it moves the IAM generation that every worker's caches follow.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from storeroom.cli.common import fail, open_meta_or_fail
from storeroom.config import default_data_dir


@click.group()
def root() -> None:
    """The root user's console password and MFA."""


@root.command("reset-password")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help=f"the server's data dir (default {default_data_dir()}; env STOREROOM_DATA_DIR)")
@click.option("--password-stdin", is_flag=True,
              help="read the new password from standard input instead of generating one")
@click.option("--remove-mfa", is_flag=True, help="also deactivate root's MFA device (lost or broken device)")
@click.option("--meta", "meta_url", default=None, envvar="STOREROOM_META_URL", metavar="URL",
              help="the servers' PostgreSQL metadata database, if they use one (env STOREROOM_META_URL)")
def reset_password(data_dir: Path | None, password_stdin: bool, remove_mfa: bool, meta_url: str | None) -> None:
    """Set a new root password: generated and printed once, or read from standard input."""
    from storeroom.iam.root import PASSWORD_FILE

    data_dir = (data_dir or default_data_dir()).resolve()
    if not meta_url and not (data_dir / "meta.sqlite3").exists():
        fail(f"no Storeroom data in {data_dir} (start `storeroom serve` once first)")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # a node's generations file lives there
    password, removed = asyncio.run(_reset(data_dir, meta_url, password_stdin, remove_mfa))
    stale = data_dir / PASSWORD_FILE
    if stale.exists():  # the first start's password no longer works: do not leave it lying around
        stale.unlink()
    if not password_stdin:
        click.echo(password)  # the only place it is ever shown
    click.echo("Root password reset" + (f"; {removed} MFA device(s) deactivated" if removed else "") + ".",
               err=True)


async def _reset(data_dir: Path, meta_url: str | None, password_stdin: bool, remove_mfa: bool) -> tuple[str, int]:
    from storeroom.iam import passwords
    from storeroom.iam.root import RootPasswordError, remove_root_mfa, set_root_password
    from storeroom.store.backend import check_url

    try:
        url = check_url(meta_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--meta") from None
    meta = await open_meta_or_fail(data_dir, url)
    try:
        account_id = await meta.get_kv("account_id")
        if account_id is None:
            fail(f"no account in {data_dir} (start `storeroom serve` once first)")
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                fail("no password on standard input")
        else:
            password = passwords.generate()
        try:
            await set_root_password(meta, account_id, password)
        except RootPasswordError as exc:
            fail(str(exc))
        removed = await remove_root_mfa(meta) if remove_mfa else 0
    finally:
        await meta.close()
    return password, removed
