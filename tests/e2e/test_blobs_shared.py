"""Object data in a folder several nodes share (``--blobs file:///…``: what an NFS or CephFS mount gives).

Two nodes of one account write into the same folder at once.  Their metadata is each node's own SQLite here
(a copy of one data dir, so that the account is the same): what is under test is the blob layer -- the same
layout as the local folder, ids that never collide, and a start-up sweep that never takes another node's upload
in flight for an orphan (only unreferenced files older than the grace period go).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import StoreroomServer, make_client
from tests.e2e.helpers import MiB
from tests.e2e.test_durability import content_for, start_cut_off_put

GRACE = 30  # seconds: STOREROOM_BLOBS_SWEEP_GRACE of the nodes


def blob_files(root: Path) -> dict[str, Path]:
    return {p.name: p for p in root.glob("[0-9a-f][0-9a-f][0-9a-f]/*") if p.is_file()}


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[StoreroomServer, StoreroomServer, Path]]:
    shared = tmp_path / "shared"
    # every object a file in the shared folder, small ones included: the folder is what these tests are about
    env = {"STOREROOM_BLOBS_SWEEP_GRACE": str(GRACE), "STOREROOM_BLOBS_DELETE_DELAY": "1", "STOREROOM_INLINE_MAX": "0"}
    args = ["--blobs", f"file://{shared}"]
    a = StoreroomServer(tmp_path / "a", extra_args=args, env=env)
    a.start()
    a.stop()
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # the same account, master key and root keys
    b = StoreroomServer(tmp_path / "b", extra_args=args, env=env)
    a.start()
    b.start()
    yield a, b, shared
    a.stop()
    b.stop()


def test_two_nodes_write_into_one_folder(two_nodes: tuple[StoreroomServer, StoreroomServer, Path]) -> None:
    a, b, shared = two_nodes
    written: dict[tuple[int, str], bytes] = {}
    lock = threading.Lock()

    def writer(node: int, server: StoreroomServer) -> None:
        s3 = make_client(server.endpoint)
        s3.create_bucket(Bucket=f"node{node}")
        for i in range(25):
            key = f"k{i:02d}"
            data = content_for(f"{node}/{key}", 1000 + i * 70_000)
            s3.put_object(Bucket=f"node{node}", Key=key, Body=data)
            with lock:
                written[(node, key)] = data

    threads = [threading.Thread(target=writer, args=(n, s)) for n, s in ((0, a), (1, b))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert len(written) == 50
    for (node, key), data in written.items():
        server = (a, b)[node]
        assert make_client(server.endpoint).get_object(Bucket=f"node{node}", Key=key)["Body"].read() == data
    files = blob_files(shared)
    assert len(files) == 50  # one file per object, the local folder's layout, no id shared
    assert all(p.parent.name == name[:3] for name, p in files.items())

    # a freed blob is unlinked after the delete delay (1 s here), not at once
    s3 = make_client(a.endpoint)
    s3.delete_object(Bucket="node0", Key="k00")
    assert len(blob_files(shared)) == 50
    deadline = time.monotonic() + 10
    while len(blob_files(shared)) != 49 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(blob_files(shared)) == 49


def test_a_restart_does_not_sweep_another_nodes_upload(
        two_nodes: tuple[StoreroomServer, StoreroomServer, Path]) -> None:
    a, b, shared = two_nodes
    make_client(b.endpoint).create_bucket(Bucket="slow")
    # node B receives an upload that is still coming in; its blob file exists, referenced by nothing yet
    size, first = 4 * MiB, 3 * MiB
    conn = start_cut_off_put(b, "slow", "in-flight", size, first)
    deadline = time.monotonic() + 10
    before = blob_files(shared)
    while not before and time.monotonic() < deadline:
        time.sleep(0.05)
        before = blob_files(shared)
    assert len(before) == 1
    # an orphan a crash left long ago: older than the grace period
    orphan = shared / "abc" / ("abc" + "0" * 29)
    orphan.parent.mkdir(exist_ok=True)  # fan-out folders are made by their first blob
    orphan.write_bytes(b"left by a crash")
    os.utime(orphan, (time.time() - GRACE - 60,) * 2)

    a.restart()  # node A sweeps at start

    assert not orphan.exists()
    assert set(blob_files(shared)) == set(before)
    conn.send(content_for("in-flight", size)[first:])
    response = conn.getresponse()
    assert response.status == 200, response.read()
    conn.close()
    assert make_client(b.endpoint).get_object(Bucket="slow", Key="in-flight")["Body"].read() == \
        content_for("in-flight", size)


def test_another_account_cannot_use_the_folder(tmp_path: Path,
                                               two_nodes: tuple[StoreroomServer, StoreroomServer, Path]) -> None:
    _, _, shared = two_nodes
    other = StoreroomServer(tmp_path / "other", extra_args=["--blobs", f"file://{shared}"])
    with pytest.raises(RuntimeError) as exc:
        other.start()
    assert "belongs to account" in str(exc.value)


def test_versions_on_a_shared_folder(two_nodes: tuple[StoreroomServer, StoreroomServer, Path]) -> None:
    """Each version keeps a file of its own in the shared folder; a deleted version's file goes after the delay."""
    a, _, shared = two_nodes
    s3 = make_client(a.endpoint)
    s3.create_bucket(Bucket="versions")
    s3.put_bucket_versioning(Bucket="versions", VersioningConfiguration={"Status": "Enabled"})
    ids = [s3.put_object(Bucket="versions", Key="k", Body=content_for(f"v{i}", 1000))["VersionId"] for i in range(3)]
    s3.delete_object(Bucket="versions", Key="k")
    assert len(blob_files(shared)) == 3
    s3.delete_object(Bucket="versions", Key="k", VersionId=ids[1])
    deadline = time.monotonic() + 10
    while len(blob_files(shared)) != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(blob_files(shared)) == 2
    for i in (0, 2):
        assert s3.get_object(Bucket="versions", Key="k", VersionId=ids[i])["Body"].read() == content_for(f"v{i}", 1000)


def test_a_node_whose_shared_folder_is_not_mounted_refuses_rather_than_writes_beside_it(tmp_path: Path) -> None:
    """The shared folder's mount gone (an NFS mount that dropped, or never came up at boot): the mount point is an
    empty folder of the node's own disk.  Writes are refused with 503 (SDKs retry) instead of acknowledged into
    that folder — lost to the other nodes, and hidden under the mount once it is back — and a read of a blob
    that is not there is 503 too, not 500 (nodes probe, finding 1)."""
    import subprocess

    from botocore.exceptions import ClientError

    shared, mount_point = tmp_path / "shared", tmp_path / "mnt"
    shared.mkdir()
    mount_point.mkdir()
    subprocess.run(["mount", "--bind", str(shared), str(mount_point)], check=True)
    node = StoreroomServer(tmp_path / "node", extra_args=["--blobs", f"file://{mount_point}"],
                           env={"STOREROOM_INLINE_MAX": "0"})
    node.start()
    try:
        s3 = make_client(node.endpoint)
        s3.create_bucket(Bucket="mounted")
        s3.put_object(Bucket="mounted", Key="before", Body=b"x" * 300_000)
        subprocess.run(["umount", "-l", str(mount_point)], check=True)
        for call in (lambda: s3.put_object(Bucket="mounted", Key="during", Body=b"y" * 300_000),
                     lambda: s3.get_object(Bucket="mounted", Key="before")["Body"].read(),
                     lambda: s3.copy_object(Bucket="mounted", Key="copied", CopySource="mounted/before")):
            with pytest.raises(ClientError) as exc:
                call()
            assert exc.value.response["Error"]["Code"] == "ServiceUnavailable", exc.value.response
        assert [p for p in mount_point.rglob("*") if p.is_file()] == []  # nothing written beside the mount
        # a start while the mount is missing (a boot whose NFS mount failed) is refused, not the folder claimed
        # anew and written beside the mount (the review's finding: the start made the marker again)
        node.stop()
        with pytest.raises(RuntimeError) as refused:
            node.start()
        assert "is the shared folder mounted?" in str(refused.value)
        subprocess.run(["mount", "--bind", str(shared), str(mount_point)], check=True)
        node.start()
        s3 = make_client(node.endpoint)
        assert s3.get_object(Bucket="mounted", Key="before")["Body"].read() == b"x" * 300_000
        s3.put_object(Bucket="mounted", Key="during", Body=b"y" * 300_000)
        assert "InternalError" not in node.log_path.read_text()
    finally:
        node.stop()
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
