"""Key hygiene (storeroom/hygiene.py): at start (and daily) the server warns in its log about active keys older
than --key-max-age-days and keys unused for --key-unused-days, once whatever the number of workers, naming the
user and the key id, never the secret."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from storeroom.store.backend import open_meta
from storeroom.store.sql import Conn
from tests.conftest import ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, StoreroomServer, make_client, meta_url_for

DAY = 86400


def _log_lines(server: StoreroomServer, needle: str, count: int, timeout: float = 10) -> list[str]:
    """The log lines containing ``needle``, once at least ``count`` are there (the check runs at start)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in server.log_path.read_text().splitlines() if needle in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def _age_keys(server: StoreroomServer, changes: dict[str, tuple[float, float | None]]) -> None:
    """Test-only edit of the server's metadata (its SQLite file or PostgreSQL database) while it is stopped:
    make keys look created (and last used) days ago, as time would."""
    async def edit() -> None:
        meta = await open_meta(server.data_dir, server.meta_url, migrate=False)

        async def job(conn: Conn) -> None:
            for key_id, (created, last_used) in changes.items():
                await conn.run("UPDATE access_keys SET created = ?, last_used = ? WHERE access_key_id = ?",
                               (created, last_used, key_id))
        try:
            await meta.db.write(job)
        finally:
            await meta.close()
    asyncio.run(edit())


def test_old_and_unused_keys_are_warned_about_once(tmp_path: Path, request: pytest.FixtureRequest,
                                                   meta_backend: str) -> None:
    server = StoreroomServer(tmp_path / "data", workers=2, meta_url=meta_url_for(request, meta_backend))
    server.start()
    try:
        iam = make_client(server.endpoint, service="iam")
        iam.create_user(UserName="alice")
        busy = iam.create_access_key(UserName="alice")["AccessKey"]
        idle = iam.create_access_key(UserName="alice")["AccessKey"]
        iam.update_access_key(UserName="alice", AccessKeyId=idle["AccessKeyId"], Status="Inactive")
        iam.create_user(UserName="bob")
        fresh = iam.create_access_key(UserName="bob")["AccessKey"]
        server.stop()
        now = time.time()
        _age_keys(server, {busy["AccessKeyId"]: (now - 120 * DAY, now - DAY),   # old, in use
                                    idle["AccessKeyId"]: (now - 100 * DAY, None)})       # never used, inactive
        server.start()

        old = _log_lines(server, busy["AccessKeyId"], 1)
        assert len(old) == 1, old  # one process checks, not each of the 2 workers
        assert "WARNING" in old[0] and "of user alice is 120 days old (--key-max-age-days 90)" in old[0]
        unused = _log_lines(server, idle["AccessKeyId"], 1)
        assert len(unused) == 1 and "of user alice (Inactive) is never used (--key-unused-days 90)" in unused[0]
        assert _log_lines(server, fresh["AccessKeyId"], 1, timeout=1) == []   # a new key: nothing to say
        assert _log_lines(server, ROOT_ACCESS_KEY_ID, 1, timeout=0) == []
        log = server.log_path.read_text()
        for secret in (busy["SecretAccessKey"], idle["SecretAccessKey"], fresh["SecretAccessKey"],
                       ROOT_SECRET_ACCESS_KEY):
            assert secret not in log

        # the thresholds are flags (and STOREROOM_* variables): 0 days makes every active key too old
        server.stop()
        server.extra_args = ["--key-max-age-days", "0"]
        server.env = {"STOREROOM_KEY_UNUSED_DAYS": "365"}
        server.start()
        root = _log_lines(server, f"access key {ROOT_ACCESS_KEY_ID} of the account root is 0 days old", 1)
        assert len(root) == 1 and "(--key-max-age-days 0)" in root[0]
        assert len(_log_lines(server, f"{fresh['AccessKeyId']} of user bob is 0 days old", 1)) == 1
        assert len(_log_lines(server, "(--key-unused-days 365)", 1, timeout=1)) == 0  # 100 days < 365
    finally:
        server.stop()
