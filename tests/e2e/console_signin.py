"""Sign in as the console will: the sign-in core (storeroom/signin.py) in this process, on a running server's
data dir (its metadata store is shared with the server's workers through SQLite, as the console's will be)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storeroom.crypto import SecretBox, load_master_key
from storeroom.signin import SignedIn, SignIn, SignInRequest
from storeroom.store.meta import MetaStore


@contextmanager
def opened(data_dir: Path) -> Iterator[SignIn]:
    meta = MetaStore(data_dir / "meta.sqlite3")
    try:
        account_id = meta.get_kv("account_id")
        assert account_id is not None
        yield SignIn(meta, SecretBox(load_master_key(data_dir / "master.key")), account_id)
    finally:
        meta.close()


def sign_in(data_dir: Path, request: SignInRequest) -> SignedIn:
    with opened(data_dir) as signin:
        return asyncio.run(signin.sign_in(request))


def account_id(data_dir: Path) -> str:
    meta = MetaStore(data_dir / "meta.sqlite3")
    try:
        found = meta.get_kv("account_id")
        assert found is not None
        return found
    finally:
        meta.close()
