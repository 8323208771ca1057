"""Fixtures for the end-to-end tests (on top of tests/conftest.py's ``server``, ``s3``, ``bucket``...)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import StoreroomServer, make_client, meta_url_for
from tests.e2e.console import browser, console_server  # noqa: F401 - the console's browser-test fixtures
from tests.e2e.helpers import empty_bucket, unique_name
from tests.e2e.iam_cleanup import delete_group_fully, delete_role_fully, delete_user_fully


@pytest.fixture(scope="session")
def endpoint(request: pytest.FixtureRequest, meta_backend: str) -> str:
    """The session server's endpoint, or STOREROOM_E2E_ENDPOINT to aim the suite at another S3 implementation
    (used to check the tests themselves against a reference; server-internal tests then skip)."""
    external = os.environ.get("STOREROOM_E2E_ENDPOINT")
    if external:
        return external
    return str(request.getfixturevalue("server").endpoint)


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test-only clock offset of :func:`clocked_server` (seconds added to the real time; helpers.later)."""
    return tmp_path_factory.mktemp("clock") / "offset"


@pytest.fixture(scope="module")
def clocked_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, meta_backend: str,
                   clock_file: Path) -> Iterator[StoreroomServer]:
    """A server of the module's own whose clock ``clock_file`` moves (``STOREROOM_TEST_CLOCK_FILE``,
    storeroom/clock.py): session and restored-copy expiry seen at once instead of after minutes or days."""
    srv = StoreroomServer(tmp_path_factory.mktemp("clocked") / "data", workers=1,
                          meta_url=meta_url_for(request, meta_backend),
                          env={"STOREROOM_TEST_CLOCK_FILE": str(clock_file)})
    srv.start()
    yield srv
    srv.stop()


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


@pytest.fixture(scope="session")
def iam(endpoint: str):  # type: ignore[no-untyped-def]
    """A root IAM client."""
    return make_client(endpoint, service="iam")


@pytest.fixture
def new_user(iam) -> Iterator[Callable[..., str]]:  # type: ignore[no-untyped-def]
    """Factory for users by name (``new_user(Path="/dev/")``, or a given ``UserName``), torn down with all
    they have afterwards."""
    made: list[str] = []

    def make(**kwargs: object) -> str:
        name = str(kwargs.pop("UserName", None) or unique_name("u"))
        iam.create_user(UserName=name, **kwargs)
        made.append(name)
        return name

    yield make
    for name in made:
        delete_user_fully(iam, name)


@pytest.fixture
def new_group(iam) -> Iterator[Callable[..., str]]:  # type: ignore[no-untyped-def]
    """Factory for groups, torn down with their members and policies afterwards."""
    made: list[str] = []

    def make(**kwargs: object) -> str:
        name = str(kwargs.pop("GroupName", None) or unique_name("g"))
        iam.create_group(GroupName=name, **kwargs)
        made.append(name)
        return name

    yield make
    for name in made:
        delete_group_fully(iam, name)


def trust_policy(*statements: dict[str, object]) -> str:
    """A trust policy document of these statements (``{"Effect": "Allow", …}`` filled in when absent)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **s} for s in statements]})


@pytest.fixture
def new_role(iam) -> Iterator[Callable[..., str]]:  # type: ignore[no-untyped-def]
    """Factory for roles: ``new_role(trust_json, managed=[arn…], inline={name: json}, **CreateRole args)``,
    torn down with their policies and instance profiles afterwards."""
    made: list[str] = []

    def make(trust: str, managed: tuple[str, ...] | list[str] = (), inline: dict[str, str] | None = None,
             **kwargs: object) -> str:
        name = str(kwargs.pop("RoleName", None) or unique_name("r"))
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, **kwargs)
        made.append(name)
        for arn in managed:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        for policy_name, document in (inline or {}).items():
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=document)
        return name

    yield make
    for name in made:
        delete_role_fully(iam, name)


class IamUser:
    """An IAM user made for a test, with one access key and boto3 clients signed with it."""

    def __init__(self, endpoint: str, name: str, arn: str, user_id: str, key_id: str, secret: str) -> None:
        self.endpoint, self.name, self.arn, self.user_id = endpoint, name, arn, user_id
        self.key_id, self.secret = key_id, secret
        self.s3 = self.client("s3")
        self.iam = self.client("iam")

    def client(self, service: str, **config: object):  # type: ignore[no-untyped-def]
        return make_client(self.endpoint, service=service, access_key=self.key_id, secret_key=self.secret,
                           **config)


@pytest.fixture
def iam_user(endpoint: str, iam) -> Iterator[Callable[..., IamUser]]:  # type: ignore[no-untyped-def]
    """Factory: ``iam_user(managed=[arn…], inline={name: json}, groups=[name…], boundary=arn, tags={…})``.
    Everything it made is removed afterwards (keys, policies, memberships, boundary, user)."""
    made: list[str] = []

    def make(managed: tuple[str, ...] | list[str] = (), inline: dict[str, str] | None = None,
             groups: tuple[str, ...] | list[str] = (), boundary: str | None = None,
             tags: dict[str, str] | None = None, path: str = "/") -> IamUser:
        name = unique_name("user")
        kwargs: dict[str, object] = {"UserName": name, "Path": path}
        if tags:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        user = iam.create_user(**kwargs)["User"]
        made.append(name)
        for arn in managed:
            iam.attach_user_policy(UserName=name, PolicyArn=arn)
        for policy_name, document in (inline or {}).items():
            iam.put_user_policy(UserName=name, PolicyName=policy_name, PolicyDocument=document)
        for group in groups:
            iam.add_user_to_group(GroupName=group, UserName=name)
        if boundary:
            iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=boundary)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return IamUser(endpoint, name, user["Arn"], user["UserId"], key["AccessKeyId"], key["SecretAccessKey"])

    yield make
    for name in made:
        delete_user_fully(iam, name)


# Object-data backends (SeaweedFS as the S3 backend), started lazily by the tests that ask for them.
from tests.e2e.blob_backends import s3_blobs_session_server, seaweedfs  # noqa: E402, F401
