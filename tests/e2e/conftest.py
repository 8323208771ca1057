"""Fixtures for the end-to-end tests (on top of tests/conftest.py's ``server``, ``s3``, ``bucket``...)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import make_client
from tests.e2e.helpers import empty_bucket, unique_name


@pytest.fixture(scope="session")
def endpoint(request: pytest.FixtureRequest) -> str:
    """The session server's endpoint, or STOREROOM_E2E_ENDPOINT to aim the suite at another S3 implementation
    (used to check the tests themselves against a reference; server-internal tests then skip)."""
    external = os.environ.get("STOREROOM_E2E_ENDPOINT")
    if external:
        return external
    return str(request.getfixturevalue("server").endpoint)


@pytest.fixture
def new_bucket(s3) -> Iterator[Callable[..., str]]:  # type: ignore[no-untyped-def]
    """Factory for extra buckets: ``new_bucket()`` or ``new_bucket(LocationConstraint='eu-west-1')``."""
    created: list[str] = []

    def make(location: str | None = None) -> str:
        name = unique_name("tb")
        kwargs = {}
        if location:
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": location}
        s3.create_bucket(Bucket=name, **kwargs)
        created.append(name)
        return name

    yield make
    for name in created:
        empty_bucket(s3, name)


@pytest.fixture
def track_bucket(s3) -> Iterator[Callable[[str], str]]:  # type: ignore[no-untyped-def]
    """Register a bucket name that the test creates itself, so it is removed afterwards."""
    names: list[str] = []

    def track(name: str) -> str:
        names.append(name)
        return name

    yield track
    for name in names:
        empty_bucket(s3, name)


@pytest.fixture(scope="session")
def client_factory(endpoint: str):  # type: ignore[no-untyped-def]
    def make(**kwargs):  # type: ignore[no-untyped-def]
        return make_client(endpoint, **kwargs)

    return make
