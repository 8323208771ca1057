"""The metadata store on each backend, for the unit tests of the code written on it (store/meta.py,
iam/*_store.py, the audit log): ``metadata`` is a :class:`Harness` over a fresh SQLite file or a fresh PostgreSQL
database, once per backend of ``--meta-backends``."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from storeroom.store.backend import open_meta
from storeroom.store.meta import MetaStore
from storeroom.store.sql import Conn, Job
from tests.conftest import meta_url_for

T = TypeVar("T")


class Harness:
    """A metadata store on its own event loop, driven from synchronous tests: ``run(coro)``, ``write(job)``,
    ``read(fn)`` (``fn(conn)`` on the read connection)."""

    def __init__(self, data_dir: Path, url: str | None) -> None:
        self.data_dir, self.url = data_dir, url
        self.runner = asyncio.Runner()
        self.meta: MetaStore = self.run(open_meta(data_dir, url, migrate=True))

    @property
    def backend(self) -> str:
        return "sqlite" if self.url is None else "postgresql"

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def write(self, job: Job[T]) -> T:
        return self.run(self.meta.db.write(job))

    def read(self, fn: Any) -> Any:
        async def go() -> Any:
            return await fn(self.meta.db.read)
        return self.run(go())

    def reopen(self) -> None:
        self.run(self.meta.close())
        self.meta = self.run(open_meta(self.data_dir, self.url, migrate=True))

    def close(self) -> None:
        self.run(self.meta.close())
        self.runner.close()


@pytest.fixture
def metadata(tmp_path: Path, request: pytest.FixtureRequest, meta_backend: str) -> Iterator[Harness]:
    harness = Harness(tmp_path, meta_url_for(request, meta_backend))
    yield harness
    harness.close()


def sql(conn: Conn, statement: str, *params: Any) -> Coroutine[Any, Any, int]:
    """A raw statement as a job: ``store.write(lambda c: sql(c, "DELETE …", x))``."""
    return conn.run(statement, params)
