"""``storeroom migrate-blobs``: copy a data dir's object data to another store (``--blobs file://…`` or
``s3://…``), resumable and verified by checksum.  The work is :func:`copy_blobs`
(``storeroom/store/blob_migration.py``), which ``storeroom migrate`` also calls.

Run it with the server stopped (it takes the data dir's lock), then start the server with the same data dir and
``--blobs URL``: blob ids do not change, so the metadata stays as it is.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import click

from storeroom.cli.common import fail
from storeroom.config import Settings, default_data_dir
from storeroom.store.blob_backend import Blobs
from storeroom.store.blob_migration import CopyProgress, copy_blobs

__all__ = ["copy_blobs", "migrate_blobs"]


@click.command("migrate-blobs")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help=f"the data dir whose blobs are copied (default {default_data_dir()}; env STOREROOM_DATA_DIR)")
@click.option("--blobs", "target", required=True, envvar="STOREROOM_BLOBS", metavar="URL",
              help="where to copy them: file:///PATH or s3://BUCKET[/PREFIX] (with STOREROOM_BLOBS_ENDPOINT, "
                   "_ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _REGION), as `storeroom serve --blobs` will use it")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
              help="blobs copied at once")
def migrate_blobs(data_dir: Path | None, target: str, concurrency: int) -> None:
    """Copy the object data of a data dir to a shared folder or an S3-compatible store.

    Blobs already on the target with the same MD5 are skipped, so an interrupted run is resumed by running it
    again.  Afterwards, start the server with `--blobs URL`; the old blob folder can then be removed.
    """
    from storeroom.cli.serve import _lock_data_dir
    from storeroom.store.blob_backend import BackendError, open_blob_store
    from storeroom.store.s3_client import redacted_url

    data_dir = (data_dir or default_data_dir()).resolve()
    if not (data_dir / "meta.sqlite3").exists():
        raise click.UsageError(f"no Storeroom data in {data_dir}")
    lock = _lock_data_dir(data_dir, "migrate-blobs")  # refused while a server is using it
    source = Settings(data_dir=data_dir)
    try:
        result = asyncio.run(_run(source, open_blob_store(Settings(data_dir=data_dir, blobs=target)),
                                  concurrency))
    except (ValueError, OSError, BackendError) as exc:
        fail(f"migrate-blobs: {exc}")
    finally:
        lock.close()
    click.echo(f"{result.total} blob(s), {result.total_bytes} bytes: {result.copied} copied, "
               f"{result.present} already there (verified). Start the server with --blobs {redacted_url(target)}.")


async def _run(source: Settings, target: Blobs, concurrency: int) -> CopyProgress:
    shown = [0.0]
    live = sys.stderr.isatty()  # a terminal redraws one line; a log or a pipe gets a line every 10 s

    def progress(state: CopyProgress) -> None:
        now = time.monotonic()
        finished = state.done == state.total
        if now - shown[0] > (1 if live else 10) or finished:
            shown[0] = now
            text = f"{state.done}/{state.total} blobs, {state.done_bytes >> 20}/{state.total_bytes >> 20} MiB"
            click.echo(f"\r{text}" if live else text, nl=finished or not live, err=True)

    try:
        return await copy_blobs(source, target, progress, concurrency=concurrency)
    finally:
        await target.close()
