"""``storeroom migrate``: move a single-machine Storeroom (a data dir) onto the backends several nodes share.

One command, two halves, run in this order:

1. **Metadata** (``--meta postgresql://…``): the data dir's SQLite metadata and audit trail are copied into
   PostgreSQL, resumably and verified table by table (storeroom/store/transfer.py).
2. **Object data** (``--blobs file:///…`` or ``s3://…``): the blobs are copied there as ``storeroom
   migrate-blobs`` copies them (storeroom/store/blob_migration.py: resumable, verified by checksum).  Without
   it the blobs stay in ``DATA_DIR/blobs``.

Stop the server first: the copy is a snapshot of the data dir.  Run it again after an interruption: it goes on
where it stopped, and verifies again.  The nodes must then share the data dir's master key (the stored secrets
are sealed with it): the command says how.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from storeroom.cli.common import fail
from storeroom.config import default_data_dir


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help=f"the single-machine data dir to move (default {default_data_dir()}; env STOREROOM_DATA_DIR)")
@click.option("--meta", "meta_url", required=True, envvar="STOREROOM_META_URL", metavar="URL",
              help="the PostgreSQL database the nodes will share (postgresql://user:password@host:port/db; env "
                   "STOREROOM_META_URL); empty, or a copy this command started")
@click.option("--batch", type=click.IntRange(min=1), default=2000, show_default=True,
              help="rows per transaction (and per resumable step)")
@click.option("--verify-only", is_flag=True, help="copy nothing: compare counts and checksums of every table")
@click.option("--blobs", "blobs_url", default=None, metavar="URL",
              help="also copy the object data there, as `storeroom migrate-blobs` does: file:///PATH or "
                   "s3://BUCKET[/PREFIX] (with STOREROOM_BLOBS_ENDPOINT, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _REGION)")
def migrate(data_dir: Path | None, meta_url: str, batch: int, verify_only: bool, blobs_url: str | None) -> None:
    """Copy a data dir's metadata (and audit trail) into PostgreSQL, resumably, verified per table; with
    --blobs, its object data too."""
    from storeroom.cli.serve import _lock_data_dir
    from storeroom.store.backend import check_url

    data_dir = (data_dir or default_data_dir()).resolve()
    try:
        url = check_url(meta_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--meta") from None
    assert url is not None
    if not (data_dir / "meta.sqlite3").exists():
        raise click.UsageError(f"no Storeroom data in {data_dir}")
    lock = _lock_data_dir(data_dir, "migrate")  # refused while a server is using it: the copy is a snapshot
    try:
        _metadata_step(data_dir, url, batch, verify_only)
        if not verify_only:
            _blob_step(data_dir, blobs_url)
    finally:
        lock.close()
    key_file = data_dir / "master.key"
    click.echo(f"Done. Start every node with --meta and the same master key: STOREROOM_MASTER_KEY=$(cat {key_file}) "
               f"(or a copy of {key_file} in each node's data dir).", err=True)


def _metadata_step(data_dir: Path, url: str, batch: int, verify_only: bool) -> None:
    from storeroom.store.postgres import redacted
    from storeroom.store.transfer import MigrationError, Transfer

    def progress(table: str, rows: int) -> None:
        click.echo(f"  {table}: {rows} rows", err=True)

    click.echo(f"Metadata: {data_dir} → {redacted(url)}", err=True)
    import psycopg

    try:
        reports = asyncio.run(Transfer(data_dir, url, batch=batch, progress=progress).run(verify_only=verify_only))
    except MigrationError as exc:
        fail(str(exc))
    except psycopg.OperationalError as exc:  # no server there, refused credentials, a connection lost: one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"cannot reach {redacted(url)}: {reason}" if "connection failed" in reason
             else f"PostgreSQL at {redacted(url)}: {reason} (run the command again to resume)")
    for report in reports:
        click.echo(f"  {report.table}: {report.rows} rows, sha256 {report.checksum[:16]}… verified"
                   + (f" ({report.copied} copied now)" if report.copied else ""), err=True)


def _blob_step(data_dir: Path, blobs_url: str | None) -> None:
    """The object data's half of the move (after the metadata, whose object rows name the blob ids, which do
    not change): the blob interface's copy, or nothing."""
    if not blobs_url:
        click.echo(f"Object data: left in {data_dir / 'blobs'} (give the nodes that folder, or copy it with "
                   f"storeroom migrate-blobs)", err=True)
        return
    from storeroom.cli.migrate_blobs import _run
    from storeroom.config import Settings
    from storeroom.store.blob_backend import BackendError, open_blob_store
    from storeroom.store.s3_client import redacted_url

    shown = redacted_url(blobs_url)  # never the backend's secret key in a terminal or a log
    click.echo(f"Object data: {data_dir / 'blobs'} → {shown}", err=True)
    try:
        result = asyncio.run(_run(Settings(data_dir=data_dir),
                                  open_blob_store(Settings(data_dir=data_dir, blobs=blobs_url)), 8))
    except (ValueError, OSError, BackendError) as exc:
        fail(f"--blobs {shown}: {exc}")
    click.echo(f"  {result.total} blob(s): {result.copied} copied, {result.present} already there (verified); "
               f"start the nodes with --blobs {shown}", err=True)
