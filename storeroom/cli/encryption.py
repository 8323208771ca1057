"""``storeroom master-key rotate`` and ``storeroom encrypt-existing`` (README "Encryption at rest").

Both run with the server stopped (they take the data dir's lock; with ``--meta``, stop every node), both are
crash-safe and resumable: run again after an interruption and they finish.

Rotation never touches object data: a blob's data key stays the same, only its wrapping changes.  The steps:

1. the next key is made and stored as ``master.key.next`` (written aside, fsynced, renamed), or taken from
   ``$STOREROOM_MASTER_KEY_NEXT`` when the key is given by environment;
2. every ``blob_keys`` row not yet under the next key is re-wrapped, a batch per transaction (each row names
   its key by fingerprint, so rows of both keys open meanwhile: servers load both while ``.next`` exists);
3. what else the master key sealed (access-key secrets, MFA seeds) is re-sealed, row by row under a compare-and-
   set (a sealed value opens under either key meanwhile: storeroom/crypto.py);
4. the store records the next key's fingerprint (the start-up check accepts either key's while both are there);
5. ``master.key.next`` replaces ``master.key`` (an atomic rename).

A kill at any point leaves every row readable with the keys on disk, and a second run continues from there.
Sessions and console cookies are derived from the master key: the ones issued before the rotation end with it.

``encrypt-existing`` rewrites the objects whose data was stored in clear (written before encryption, or with
``--encryption off``): new encrypted blobs, then one transaction that points the object at them (only if the
object is unchanged) with their keys, then the old blobs are deleted.  A kill leaves either the old row and
orphan new blobs, or the new row and orphan old blobs; the next start's sweep removes orphans.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import click
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storeroom.cli.common import fail, open_meta_or_fail
from storeroom.config import Settings, default_data_dir
from storeroom.crypto import Keyring, fingerprint, load_master_key, load_next_key, next_key_path

BATCH = int(os.environ.get("STOREROOM_ROTATE_BATCH") or 200)  # rows per transaction (tests make it small)


def _options(f: Any) -> Any:
    f = click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                     help=f"the data dir (default {default_data_dir()}; env STOREROOM_DATA_DIR)")(f)
    f = click.option("--meta", "meta_url", default=None, envvar="STOREROOM_META_URL", metavar="URL",
                     help="the PostgreSQL metadata, as `storeroom serve --meta` (env STOREROOM_META_URL)")(f)
    return f


def _settings(command: str, data_dir: Path | None, meta_url: str | None, blobs: str = "") -> tuple[Settings, Any]:
    from storeroom.cli.serve import _lock_data_dir

    data_dir = (data_dir or default_data_dir()).resolve()
    if not (data_dir / "master.key").exists() and not os.environ.get("STOREROOM_MASTER_KEY"):
        raise click.UsageError(f"no Storeroom data in {data_dir}")
    lock = _lock_data_dir(data_dir, command)  # refused while a server is using it
    return Settings(data_dir=data_dir, meta_url=meta_url, blobs=blobs, encryption=True), lock


@click.group("master-key")
def master_key() -> None:
    """The master key that wraps object data keys and seals stored secrets."""


@master_key.command("rotate")
@_options
def rotate(data_dir: Path | None, meta_url: str | None) -> None:
    """Move everything the master key protects to a new key, without rewriting object data."""
    settings, lock = _settings("master-key rotate", data_dir, meta_url)
    try:
        path = settings.master_key_file
        following = load_next_key(path)
        if following is None:
            if os.environ.get("STOREROOM_MASTER_KEY"):
                fail("master-key rotate: the master key is given by STOREROOM_MASTER_KEY: give the "
                         "new one as STOREROOM_MASTER_KEY_NEXT (base64 of 32 bytes: openssl rand -base64 32)")
            following = _make_next_key(path)
        counts = asyncio.run(_rotate(settings, following))
        if not os.environ.get("STOREROOM_MASTER_KEY"):
            os.replace(next_key_path(path), path)
            _fsync_dir(path.parent)
            where = str(path)
        else:
            where = "STOREROOM_MASTER_KEY: set it to STOREROOM_MASTER_KEY_NEXT's value on every node, then unset that"
    finally:
        lock.close()
    click.echo(f"re-wrapped {counts[0]} data key(s), re-sealed {counts[1]} secret(s); the new master key is in "
               f"{where} (back it up: what it protects cannot be read without it). Sessions and console sign-ins "
               f"issued before end now.")


def _make_next_key(path: Path) -> bytes:
    key = AESGCM.generate_key(bit_length=256)
    temporary = path.with_name(path.name + ".next.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, base64.b64encode(key))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, next_key_path(path))
    _fsync_dir(path.parent)
    return key


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _rotate(settings: Settings, following: bytes) -> tuple[int, int]:
    current = load_master_key(settings.master_key_file)
    keyring = Keyring(following, (current,))
    new_id = keyring.current_id
    meta = await open_meta_or_fail(settings.data_dir, settings.meta_url)
    try:
        wrapped = await _rewrap_all(meta.db, keyring, new_id)
        sealed = await _reseal_all(meta.db, current, following)
        await meta.set_kv("master_key_fingerprint", fingerprint(following))
    finally:
        await meta.close()
    return wrapped, sealed


async def _rewrap_all(db: Any, keyring: Keyring, new_id: str) -> int:
    from storeroom.store.sql import Conn

    done = 0
    while True:
        rows = await db.read.all("SELECT blob_id, key_id, wrapped FROM blob_keys WHERE key_id <> ? LIMIT ?",
                                 (new_id, BATCH))
        if not rows:
            return done
        updates = []
        for blob_id, key_id, wrapped in rows:
            data_key = keyring.unwrap(str(key_id), bytes(wrapped), str(blob_id))
            updates.append((*keyring.wrap(data_key, str(blob_id), new_id), str(blob_id), str(key_id)))

        async def job(conn: Conn, updates: list[tuple[str, bytes, str, str]] = updates) -> None:
            for row in updates:
                await conn.run("UPDATE blob_keys SET key_id = ?, wrapped = ? WHERE blob_id = ? AND key_id = ?", row)
        await db.write(job, serializable=False)
        done += len(updates)


# (table, key column, sealed column, associated-data column): what the master key sealed besides data keys
SEALED = (("access_keys", "access_key_id", "secret", "access_key_id"),
          ("iam_mfa_devices", "serial", "seed", "serial"))


async def _reseal_all(db: Any, current: bytes, following: bytes) -> int:
    from storeroom.store.sql import Conn

    old, new = AESGCM(current), AESGCM(following)
    done = 0
    for table, key, column, associated in SEALED:
        rows = await db.read.all(f"SELECT {key}, {column}, {associated} FROM {table}")
        updates = []
        for ident, sealed, ad in rows:
            sealed = bytes(sealed)
            nonce, body = sealed[:12], sealed[12:]
            try:
                new.decrypt(nonce, body, str(ad).encode())
                continue  # already under the new key (a run before this one got here)
            except InvalidTag:
                pass
            plain = old.decrypt(nonce, body, str(ad).encode())
            fresh = os.urandom(12)
            updates.append((fresh + new.encrypt(fresh, plain, str(ad).encode()), ident, sealed))
        for i in range(0, len(updates), BATCH):
            batch = updates[i:i + BATCH]

            async def job(conn: Conn, batch: list[tuple[bytes, Any, bytes]] = batch, table: str = table,
                          key: str = key, column: str = column) -> None:
                for row in batch:
                    await conn.run(f"UPDATE {table} SET {column} = ? WHERE {key} = ? AND {column} = ?", row)
            await db.write(job, serializable=False)
        done += len(updates)
    return done


@click.command("encrypt-existing")
@_options
@click.option("--blobs", default="", envvar="STOREROOM_BLOBS", metavar="URL",
              help="the object data store, as `storeroom serve --blobs` (env STOREROOM_BLOBS)")
def encrypt_existing(data_dir: Path | None, meta_url: str | None, blobs: str) -> None:
    """Encrypt object data stored in clear (written before encryption at rest, or with --encryption off)."""
    from storeroom.store.blob_backend import BackendError

    settings, lock = _settings("encrypt-existing", data_dir, meta_url, blobs)
    try:
        done, total = asyncio.run(_encrypt_existing(settings))
    except (ValueError, OSError, BackendError) as exc:
        fail(f"encrypt-existing: {exc}")
    finally:
        lock.close()
    click.echo(f"encrypted {done} object(s) stored in clear, of {total}.")


async def _encrypt_existing(settings: Settings) -> tuple[int, int]:
    from storeroom.store.blob_backend import server_blobs

    meta = await open_meta_or_fail(settings.data_dir, settings.meta_url)
    layer = server_blobs(settings, meta)
    done = total = 0
    try:
        account_id = await meta.get_kv("account_id")
        await layer.prepare(account_id or "")
        tables = (("objects", ("bucket", "key")), ("object_versions", ("bucket", "key", "seq")))
        # blobs more than one row lists (none, as rows are written today; a safeguard): rewritten per row, and
        # the clear copy is left to the sweep once no row lists it any more
        seen: set[str] = set()
        shared: set[str] = set()
        for table, key_columns in tables:
            async for _, doc in _rows(meta.db, table, key_columns):
                for blob_id, _size in json.loads(doc)["b"]:
                    (shared if blob_id in seen else seen).add(blob_id)
        shared.update(str(r[0]) for r in await meta.db.read.all("SELECT blob_id FROM parts") if str(r[0]) in seen)
        # current versions, then noncurrent ones (their rows list blobs the same way)
        for table, key_columns in tables:
            async for where, doc in _rows(meta.db, table, key_columns):
                total += 1
                done += await _encrypt_object(meta, layer, table, where, doc, shared)
    finally:
        await layer.close()
        await meta.close()
    return done, total


async def _rows(db: Any, table: str, key_columns: tuple[str, ...]) -> Any:
    """(primary key, doc) of every row of ``table``, in pages by primary key."""
    columns = ", ".join(key_columns)
    after: tuple[Any, ...] | None = None
    while True:
        if after is None:
            rows = await db.read.all(f"SELECT {columns}, doc FROM {table} ORDER BY {columns} LIMIT ?", (BATCH,))
        else:
            marks = ", ".join("?" * len(key_columns))
            rows = await db.read.all(f"SELECT {columns}, doc FROM {table} WHERE ({columns}) > ({marks}) "
                                     f"ORDER BY {columns} LIMIT ?", (*after, BATCH))
        if not rows:
            return
        for row in rows:
            yield dict(zip(key_columns, row[:-1], strict=True)), str(row[-1])
        after = tuple(rows[-1][:-1])


async def _encrypt_object(meta: Any, layer: Any, table: str, where: dict[str, Any], doc: str,
                          shared: set[str]) -> int:
    from storeroom.store.encrypted_blobs import INSERT_KEY
    from storeroom.store.meta import INSERT_INLINE
    from storeroom.store.sql import Conn

    fields = json.loads(doc)
    blobs = [(str(b), int(size)) for b, size in fields["b"]]
    keys = await layer.keys_of(b for b, _ in blobs)
    if all(keys[b] is not None for b, _ in blobs):
        return 0
    # every blob of the object is rewritten: on an S3 backend a multipart object's parts are ranges of one
    # backend object, which must be replaced whole
    fresh: list[tuple[str, int]] = []
    try:
        for blob_id, size in blobs:
            writer = layer.new_writer((), size)
            try:
                data = await layer.open_range([(blob_id, size)], 0, size)
                if isinstance(data, bytes):
                    await writer.write(data)
                else:
                    async for chunk in data:
                        await writer.write(chunk)
                await writer.commit()
            except BaseException:
                writer.discard()
                raise
            fresh.append((writer.blob_id, size))
    except FileNotFoundError:
        layer.delete([b for b, _ in fresh])
        return 0
    rows = [(*row, time.time()) for row in layer.take_keys(b for b, _ in fresh)]
    inline = meta.new_inline_rows(b for b, _ in fresh)
    new_doc = json.dumps({**fields, "b": fresh}, separators=(",", ":"))

    condition = " AND ".join(f"{column} = ?" for column in where)

    async def job(conn: Conn) -> bool:
        if await conn.run(f"UPDATE {table} SET doc = ? WHERE {condition} AND doc = ?",
                          (new_doc, *where.values(), doc)) == 0:
            return False
        for row in rows:
            await conn.run(INSERT_KEY, row)
        for row in inline:
            await conn.run(INSERT_INLINE, row)
        return True
    if not await meta.db.write(job, serializable=False):
        layer.delete([b for b, _ in fresh])
        return 0
    layer.inner.delete([b for b, _ in blobs if b not in shared])
    return 1
