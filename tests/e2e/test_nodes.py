"""Several Storeroom nodes on one PostgreSQL database: ``storeroom serve --meta postgresql://… --blobs
file://…`` processes on their own ports and data dirs, sharing the metadata, one blob folder (what a shared
filesystem gives) and one master key; the read-after-write and kill -9 tests also run with the object data on
SeaweedFS (``--blobs s3://…``), the issue's "three nodes sharing PostgreSQL + SeaweedFS".

- nodes starting at the same moment make one account, one root key and one root password;
- a write through one node is read through the others at once (S3's read-after-write consistency);
- an IAM change through one node (a key deactivated, a policy detached, a bucket deleted) is seen by the others
  within the stated bound (storeroom/store/postgres.py): milliseconds through LISTEN/NOTIFY, at most the poll
  interval when the notification channel is cut (its connections are terminated under the nodes' feet);
- conditional writes and multipart completion racing on different nodes stay atomic;
- PostgreSQL stopped under load: nodes answer 503 fast, /_storeroom/ready says why, and they recover by
  themselves when it is back, with nothing acknowledged lost;
- a node killed with -9 during uploads: clients retrying on another node lose nothing acknowledged.
"""

from __future__ import annotations

import base64
import concurrent.futures
import csv
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from storeroom.store.postgres import POLL_INTERVAL
from tests.conftest import (
    REGION,
    ROOT_ACCESS_KEY_ID,
    ROOT_SECRET_ACCESS_KEY,
    StoreroomServer,
    make_client,
)
from tests.e2e.blob_backends import SeaweedFS, s3_blobs_server, seaweedfs  # noqa: F401 - the fixture
from tests.pg import PostgresCluster, find_bin_dir

pytestmark = pytest.mark.meta_backends("postgresql")

NOTIFY_BOUND = 1.0                     # seconds: an IAM change reaches every node (normally milliseconds)
CHANNEL_DOWN_BOUND = POLL_INTERVAL + 1.0   # … when the LISTEN connections are cut


class Nodes:
    """``count`` nodes on one database, one shared blob folder and one master key."""

    def __init__(self, root: Path, url: str, count: int, env: dict[str, str] | None = None,
                 weed: SeaweedFS | None = None) -> None:
        """Object data in one shared folder, or, with ``weed``, in a bucket of that SeaweedFS (the S3 backend)."""
        self.url = url
        self.blobs = root / "shared-blobs"
        self.blobs.mkdir()
        key = base64.b64encode(os.urandom(32)).decode()
        self.nodes: list[StoreroomServer] = []
        backend_bucket = weed.create_bucket(f"nodes-{uuid.uuid4().hex[:8]}") if weed is not None else ""
        for i in range(count):
            node_env = {"STOREROOM_MASTER_KEY": key, **(env or {})}
            if weed is not None:
                node = s3_blobs_server(root / f"node{i}", weed, backend_bucket, env=node_env)
                node.meta_url = url
            else:
                node = StoreroomServer(root / f"node{i}", workers=1, meta_url=url,
                                       extra_args=["--blobs", f"file://{self.blobs}"], env=node_env)
            self.nodes.append(node)

    def start(self) -> None:
        with concurrent.futures.ThreadPoolExecutor(len(self.nodes)) as pool:  # all at once: the bootstrap races
            list(pool.map(lambda n: n.start(), self.nodes))

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def s3(self, i: int, **kwargs: Any) -> Any:
        return make_client(self.nodes[i].endpoint, **kwargs)

    def iam(self, i: int) -> Any:
        return make_client(self.nodes[i].endpoint, service="iam")


@pytest.fixture
def nodes(tmp_path: Path, postgres: PostgresCluster, meta_backend: str,
          request: pytest.FixtureRequest) -> Iterator[Nodes]:
    """Three nodes; with ``@pytest.mark.parametrize("nodes", ["seaweedfs"], indirect=True)`` their object data
    is on SeaweedFS (the S3 backend) instead of a shared folder."""
    weed = request.getfixturevalue("seaweedfs") if getattr(request, "param", "folder") == "seaweedfs" else None
    group = Nodes(tmp_path, postgres.database("nodes"), 3, weed=weed)
    group.start()
    yield group
    group.stop()


def _until(check: Callable[[], bool], limit: float, step: float = 0.005) -> float:
    """Seconds until ``check()`` is true (AssertionError past ``limit``)."""
    start = time.monotonic()
    while not check():
        elapsed = time.monotonic() - start
        if elapsed > limit:
            raise AssertionError(f"not within {limit}s")
        time.sleep(step)
    return time.monotonic() - start


def _refused(client: Any, bucket: str) -> bool:
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# -- start-up -------------------------------------------------------------------------------------------------


def test_nodes_starting_together_make_one_account(tmp_path: Path, postgres: PostgresCluster,
                                                  meta_backend: str) -> None:
    """No root keys or password given: each node would generate them; exactly one node does, the others keep
    what it stored, and its printed credentials work on every node."""
    group = Nodes(tmp_path, postgres.database("boot"), 3,
                  env={"STOREROOM_ROOT_ACCESS_KEY_ID": "", "STOREROOM_ROOT_SECRET_ACCESS_KEY": ""})
    group.start()
    try:
        saved = [n.data_dir / "root-credentials.csv" for n in group.nodes if (n.data_dir / "root-credentials.csv")
                 .exists()]
        passwords = [n for n in group.nodes if (n.data_dir / "root-password.txt").exists()]
        assert len(saved) == 1 and len(passwords) == 1
        key_id, secret = list(csv.reader(saved[0].read_text().splitlines()))[1]
        accounts = {make_client(n.endpoint, "sts", key_id, secret).get_caller_identity()["Account"]
                    for n in group.nodes}
        assert len(accounts) == 1
    finally:
        group.stop()


def test_a_node_with_another_master_key_refuses_to_start(tmp_path: Path, nodes: Nodes) -> None:
    stranger = StoreroomServer(tmp_path / "stranger", meta_url=nodes.url,
                               env={"STOREROOM_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()})
    with pytest.raises(RuntimeError, match="master key"):
        stranger.start()


# -- consistency ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nodes", ["folder", "seaweedfs"], indirect=True)
def test_a_write_through_one_node_is_read_through_the_others(nodes: Nodes) -> None:
    bucket = f"shared-{uuid.uuid4().hex[:8]}"
    nodes.s3(0).create_bucket(Bucket=bucket)
    for i in range(20):  # read-after-write: each object, at once, on every other node
        body = os.urandom(100 + i)
        nodes.s3(i % 3).put_object(Bucket=bucket, Key=f"k{i}", Body=body)
        for j in range(3):
            assert nodes.s3(j).get_object(Bucket=bucket, Key=f"k{i}")["Body"].read() == body
    listed = nodes.s3(2).list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(f"k{i}" for i in range(20))
    nodes.s3(1).delete_object(Bucket=bucket, Key="k0")
    with pytest.raises(ClientError) as exc:
        nodes.s3(0).head_object(Bucket=bucket, Key="k0")
    assert exc.value.response["Error"]["Code"] == "404"
    # a multipart upload started on one node, its parts sent to the two others, completed on the first
    upload = nodes.s3(0).create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(1024)]
    etags = [nodes.s3(n + 1).upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=n + 1,
                                         Body=part)["ETag"] for n, part in enumerate(parts)]
    nodes.s3(0).complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": n + 1, "ETag": etag} for n, etag in enumerate(etags)]})
    assert nodes.s3(2).get_object(Bucket=bucket, Key="big")["Body"].read() == b"".join(parts)


def _user_with_key(nodes: Nodes, bucket: str) -> tuple[str, dict[str, str]]:
    name = f"u{uuid.uuid4().hex[:8]}"
    iam = nodes.iam(0)
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key


def _as(nodes: Nodes, i: int, key: dict[str, str]) -> Any:
    return nodes.s3(i, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])


def test_iam_changes_reach_every_node_within_the_bound(nodes: Nodes) -> None:
    bucket = f"iam-{uuid.uuid4().hex[:8]}"
    nodes.s3(0).create_bucket(Bucket=bucket)
    name, key = _user_with_key(nodes, bucket)
    clients = [_as(nodes, i, key) for i in range(3)]
    for client in clients:  # every node has the key and the user's policies cached
        client.head_bucket(Bucket=bucket)
    nodes.iam(0).update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    took = [_until(lambda c=c: _refused(c, bucket), NOTIFY_BOUND) for c in clients[1:]]
    print(f"key deactivated on node 0: refused by nodes 1 and 2 after {[round(t * 1000, 1) for t in took]} ms")
    nodes.iam(0).update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    for client in clients:
        _until(lambda c=client: not _refused(c, bucket), NOTIFY_BOUND)
    nodes.iam(1).detach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    took = [_until(lambda c=c: _refused(c, bucket), NOTIFY_BOUND) for c in (clients[0], clients[2])]
    print(f"policy detached on node 1: refused by nodes 0 and 2 after {[round(t * 1000, 1) for t in took]} ms")
    # a bucket deleted on one node is gone for the others' bucket caches
    nodes.s3(2).delete_bucket(Bucket=bucket)
    for i in (0, 1):
        with pytest.raises(ClientError) as exc:
            nodes.s3(i).put_object(Bucket=bucket, Key="k", Body=b"x")
        assert exc.value.response["Error"]["Code"] == "NoSuchBucket"


def test_the_bound_holds_when_the_notification_channel_drops(nodes: Nodes, postgres: PostgresCluster) -> None:
    bucket = f"drop-{uuid.uuid4().hex[:8]}"
    nodes.s3(0).create_bucket(Bucket=bucket)
    name, key = _user_with_key(nodes, bucket)
    clients = [_as(nodes, i, key) for i in range(3)]
    for client in clients:
        client.head_bucket(Bucket=bucket)
    assert postgres.terminate("storeroom-listen") >= 3  # every node's listener loses its connection
    nodes.iam(0).update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    took = [_until(lambda c=c: _refused(c, bucket), CHANNEL_DOWN_BOUND) for c in clients[1:]]
    print(f"with the LISTEN connections cut: refused after {[round(t * 1000, 1) for t in took]} ms")
    # the listeners come back by themselves: a later change travels by notification again
    time.sleep(POLL_INTERVAL * 2)
    nodes.iam(0).update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    for client in clients[1:]:
        _until(lambda c=client: not _refused(c, bucket), NOTIFY_BOUND)


def _race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Runs the calls at the same instant (a barrier), each in its own thread; their results or exceptions."""
    barrier = threading.Barrier(len(calls))

    def go(call: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return call()
        except ClientError as exc:
            return exc
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


def _code(result: Any) -> str:
    return str(result.response["Error"]["Code"]) if isinstance(result, ClientError) else "OK"


def test_conditional_writes_race_atomically_across_nodes(nodes: Nodes) -> None:
    bucket = f"race-{uuid.uuid4().hex[:8]}"
    nodes.s3(0).create_bucket(Bucket=bucket)
    clients = [nodes.s3(i) for i in range(3)]
    for round_ in range(10):
        key = f"once-{round_}"
        results = _race([lambda c=c, i=i, k=key: c.put_object(Bucket=bucket, Key=k, Body=f"node{i}".encode(),
                                                               IfNoneMatch="*") for i, c in enumerate(clients * 2)])
        codes = sorted(_code(r) for r in results)
        assert codes.count("OK") == 1 and set(codes) <= {"OK", "PreconditionFailed", "ConditionalRequestConflict"}
        winner = next(i for i, r in enumerate(results) if _code(r) == "OK")  # the body it sent: node<i>
        assert clients[2].get_object(Bucket=bucket, Key=key)["Body"].read() == f"node{winner}".encode()
    # If-Match: of two updates of the same version, one wins
    etag = clients[0].put_object(Bucket=bucket, Key="versioned", Body=b"v0")["ETag"]
    results = _race([lambda c=c, i=i: c.put_object(Bucket=bucket, Key="versioned", Body=f"v1-{i}".encode(),
                                                    IfMatch=etag) for i, c in enumerate(clients)])
    assert sorted(_code(r) for r in results).count("OK") == 1


def test_multipart_completion_races_across_nodes(nodes: Nodes) -> None:
    bucket = f"mpu-{uuid.uuid4().hex[:8]}"
    nodes.s3(0).create_bucket(Bucket=bucket)
    clients = [nodes.s3(i) for i in range(3)]
    for round_ in range(4):
        key = f"obj-{round_}"
        upload = clients[0].create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        bodies = [os.urandom(5 * 1024 * 1024), os.urandom(100)]
        etags = [clients[1].upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n + 1,
                                        Body=b)["ETag"] for n, b in enumerate(bodies)]
        whole = [{"PartNumber": 1, "ETag": etags[0]}, {"PartNumber": 2, "ETag": etags[1]}]
        first_only = [{"PartNumber": 1, "ETag": etags[0]}]
        # two different completions of one upload on two nodes: exactly one is the object
        results = _race([
            lambda k=key, u=upload, p=whole: clients[0].complete_multipart_upload(
                Bucket=bucket, Key=k, UploadId=u, MultipartUpload={"Parts": p}),
            lambda k=key, u=upload, p=first_only: clients[2].complete_multipart_upload(
                Bucket=bucket, Key=k, UploadId=u, MultipartUpload={"Parts": p}),
        ])
        codes = [_code(r) for r in results]
        assert codes.count("OK") == 1 and set(codes) <= {"OK", "NoSuchUpload"}, codes
        expected = b"".join(bodies) if codes[0] == "OK" else bodies[0]
        assert clients[1].get_object(Bucket=bucket, Key=key)["Body"].read() == expected
        assert clients[1].list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


# -- failures ---------------------------------------------------------------------------------------------------


def _ready(node: StoreroomServer) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{node.endpoint}/_storeroom/ready", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _other_services_during_outage(node: StoreroomServer) -> dict[str, tuple[int, str]]:
    """(status, error code) of an IAM, an STS and a CloudTrail call while the database is away."""
    time.sleep(POLL_INTERVAL * 1.5)  # the caches (credentials too) are emptied while the database is away
    calls = {"iam": lambda c: c.list_users(), "sts": lambda c: c.get_caller_identity(),
             "cloudtrail": lambda c: c.lookup_events()}
    shapes = {}
    for service, call in calls.items():
        client = boto3.client(service, endpoint_url=node.endpoint, region_name=REGION,
                              aws_access_key_id=ROOT_ACCESS_KEY_ID, aws_secret_access_key=ROOT_SECRET_ACCESS_KEY,
                              config=Config(retries={"total_max_attempts": 1}))
        try:
            call(client)
            shapes[service] = (200, "")
        except ClientError as exc:
            shapes[service] = (exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"])
    return shapes


def test_postgres_stopped_under_load_means_503_then_recovery_with_nothing_lost(
        nodes: Nodes, postgres: PostgresCluster) -> None:
    bucket = f"outage-{uuid.uuid4().hex[:8]}"
    nodes.s3(0).create_bucket(Bucket=bucket)
    assert _ready(nodes.nodes[0]) == (200, {"status": "ready", "meta": {"backend": "postgresql", "status": "ok"}})
    acknowledged: dict[str, bytes] = {}
    outcomes: list[tuple[str, float]] = []   # (error code or "OK", seconds the request took)
    stop = threading.Event()

    def writer(i: int) -> None:
        client = boto3.client("s3", endpoint_url=nodes.nodes[i % 3].endpoint, region_name=REGION,
                              aws_access_key_id=ROOT_ACCESS_KEY_ID, aws_secret_access_key=ROOT_SECRET_ACCESS_KEY,
                              config=Config(retries={"total_max_attempts": 1}))  # one attempt: its own time
        n = 0
        while not stop.is_set():
            key, body = f"w{i}-{n}", os.urandom(64)
            started = time.monotonic()
            try:
                client.put_object(Bucket=bucket, Key=key, Body=body)
                acknowledged[key] = body
                outcomes.append(("OK", time.monotonic() - started))
            except ClientError as exc:
                outcomes.append((exc.response["Error"]["Code"], time.monotonic() - started))
            except Exception as exc:  # noqa: BLE001 - a connection error would be recorded as such
                outcomes.append((type(exc).__name__, time.monotonic() - started))
            n += 1
            time.sleep(0.01)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        postgres.stop("immediate")  # a crash of the database server
        down_at = len(outcomes)
        time.sleep(3.0)
        during = outcomes[down_at:]
        status, body = _ready(nodes.nodes[1])
        assert status == 503 and body["meta"]["status"] == "unavailable", body
        shapes = _other_services_during_outage(nodes.nodes[2])
        postgres.start()
        recovered = _until(lambda: len(outcomes) > 3 and all(o[0] == "OK" for o in outcomes[-3:]), 30.0, 0.1)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join()
    print(f"outage: {len(during)} requests, codes {sorted({c for c, _ in during})}, slowest "
          f"{max(t for _, t in during):.2f}s; writes succeed again {recovered:.1f}s after the restart")
    assert during and {c for c, _ in during} <= {"ServiceUnavailable", "OK"}
    times = sorted(t for _, t in during)
    assert times[len(times) // 2] < 1.0 and times[-1] < 3.0  # answered fast, never hung
    assert _ready(nodes.nodes[1])[0] == 200
    # IAM and STS answer in the Query protocol's shape, CloudTrail in JSON's: the same code, status 503
    assert shapes == {"iam": (503, "ServiceUnavailable"), "sts": (503, "ServiceUnavailable"),
                      "cloudtrail": (503, "ServiceUnavailable")}, shapes
    for key, body in acknowledged.items():  # every acknowledged write is there, on any node
        assert nodes.s3(hash(key) % 3).get_object(Bucket=bucket, Key=key)["Body"].read() == body


@pytest.mark.parametrize("nodes", ["folder", "seaweedfs"], indirect=True)
def test_a_node_killed_during_uploads_loses_nothing_acknowledged(nodes: Nodes) -> None:
    """Clients send to node 0 and, when it fails, retry on node 1 (what a load balancer does)."""
    bucket = f"kill-{uuid.uuid4().hex[:8]}"
    nodes.s3(0).create_bucket(Bucket=bucket)
    acknowledged: dict[str, bytes] = {}
    stop = threading.Event()
    primary, fallback = nodes.s3(0, connect_timeout=1, read_timeout=5), nodes.s3(1)

    def writer(i: int) -> None:
        n = 0
        while not stop.is_set():
            key, body = f"c{i}-{n}", os.urandom(256 * 1024)
            for client in (primary, fallback):
                try:
                    client.put_object(Bucket=bucket, Key=key, Body=body)
                    acknowledged[key] = body
                    break
                except Exception:  # noqa: BLE001 - the node died under the request: the next one
                    continue
            n += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.5)
        nodes.nodes[0].kill9()
        time.sleep(1.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(acknowledged) > 10
    for key, body in acknowledged.items():
        assert nodes.s3(2).get_object(Bucket=bucket, Key=key)["Body"].read() == body


def _family(pid: int) -> list[int]:
    """``pid`` and every process whose parent it is (a postmaster and its backends)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return [pid, *children]


def test_a_frozen_database_is_said_by_ready_within_seconds(tmp_path: Path, postgres: PostgresCluster) -> None:
    """A database host frozen (no refusal, no reset: a partition): /_storeroom/ready answers 503 with the reason
    within its one-second budget, as a load balancer's health check with a 5-second timeout needs; it took 11 s —
    psycopg's cancellation of the timed-out query (5 s for the cancel request, 5 more for the query to end) ran
    inside the probe (nodes probe, finding 3)."""
    import signal

    bin_dir = find_bin_dir()
    assert bin_dir is not None
    frozen = PostgresCluster(bin_dir)  # the test's own cluster: the session's serves the other tests meanwhile
    frozen.init()
    frozen.start()
    node = StoreroomServer(tmp_path / "node", meta_url=frozen.database("frozen"))
    try:
        node.start()
        assert _ready(node)[0] == 200
        postmaster = frozen.postmaster_pid()
        assert postmaster is not None
        stopped = _family(postmaster)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            status, body = _ready(node)
            took = time.monotonic() - started
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        assert status == 503 and body["status"] == "unavailable", body
        assert took < 3, took
        assert _until(lambda: _ready(node)[0] == 200, 60, step=0.5) < 60  # and back by itself
    finally:
        node.stop()
        frozen.destroy()
