"""Sign in as the console will: the sign-in core (storeroom/signin.py) in this process, on a running server's
metadata (the data dir's SQLite file, or the server's PostgreSQL database), shared with the server's workers as
the console's will be."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from storeroom.crypto import SecretBox, load_master_key
from storeroom.signin import SignedIn, SignIn, SignInRequest
from storeroom.store.backend import open_meta
from tests.conftest import StoreroomServer


@asynccontextmanager
async def opened(server: StoreroomServer) -> AsyncIterator[SignIn]:
    meta = await open_meta(server.data_dir, server.meta_url, migrate=False)
    try:
        account_id = await meta.get_kv("account_id")
        assert account_id is not None
        yield SignIn(meta, SecretBox(load_master_key(server.data_dir / "master.key")), account_id)
    finally:
        await meta.close()


def sign_in(server: StoreroomServer, request: SignInRequest) -> SignedIn:
    async def go() -> SignedIn:
        async with opened(server) as signin:
            return await signin.sign_in(request)
    return asyncio.run(go())


def account_id(server: StoreroomServer) -> str:
    async def go() -> str:
        meta = await open_meta(server.data_dir, server.meta_url, migrate=False)
        try:
            found = await meta.get_kv("account_id")
            assert found is not None
            return found
        finally:
            await meta.close()
    return asyncio.run(go())
