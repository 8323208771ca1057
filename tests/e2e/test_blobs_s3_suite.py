"""A focused subset of the e2e suite again, with the object data on an S3 backend (SeaweedFS, ``--blobs s3://…``).

The tests of objects (PUT, GET, HEAD, ranges, conditional requests, copies, deletes, checksums), versions and tags,
multipart uploads (parts, copies of ranges, completion, its retries and checksums, listing, abort), form uploads
(whose file's size the backend must be told) and read-after-write consistency across workers are imported from
their modules and collected here a second time; the fixtures below aim them at a session server whose blobs live
in SeaweedFS.  Tests of the server's own data dir or restarts (``fresh_server``) are left to their modules, and
``test_blobs_s3.py`` has the backend's own tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import StoreroomServer, make_client
from tests.e2e.test_checksum_types import *  # noqa: F403
from tests.e2e.test_complete_checksums import *  # noqa: F403
from tests.e2e.test_complete_retry import *  # noqa: F403
from tests.e2e.test_consistency import *  # noqa: F403
from tests.e2e.test_multipart import *  # noqa: F403
from tests.e2e.test_objects import *  # noqa: F403
from tests.e2e.test_post_object import *  # noqa: F403
from tests.e2e.test_tagging import *  # noqa: F403
from tests.e2e.test_versioning import *  # noqa: F403

globals().pop("test_completions_are_remembered_across_a_restart")  # a fresh_server test: the local store's
globals().pop("test_a_large_form_streams_in_flat_memory")  # likewise

# SQLite only: the object-data backend is what this suite varies; the metadata backends are covered
# by the modules it imports.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")


@pytest.fixture(scope="module")
def server(s3_blobs_session_server: StoreroomServer) -> StoreroomServer:
    return s3_blobs_session_server


@pytest.fixture(scope="module")
def endpoint(server: StoreroomServer) -> str:
    return server.endpoint


@pytest.fixture(scope="module")
def s3(endpoint: str) -> Any:
    return make_client(endpoint)


@pytest.fixture(scope="module")
def iam(endpoint: str) -> Any:
    return make_client(endpoint, service="iam")


@pytest.fixture(scope="module")
def client_factory(endpoint: str) -> Callable[..., Any]:
    def make(**kwargs: Any) -> Any:
        return make_client(endpoint, **kwargs)

    return make
