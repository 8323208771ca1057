"""The S3 object-data backend (``--blobs s3://bucket/prefix``) against a real SeaweedFS.

What is checked on the backend itself (through its own S3 API): a PutObject is one backend object, a multipart
upload one backend multipart upload completed into one object (no copy), deletes and aborts free them, each version
keeps its own; a body that fails verification is never stored, not even as a part replacing a good one; kill -9
during uploads loses nothing acknowledged and the next start sweeps what the crash left; memory stays flat for large
objects; an unreachable backend is 503 (retried by SDKs) and the node recovers by itself; a second deployment cannot
take over the prefix."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, make_client
from tests.e2e.blob_backends import SeaweedFS, s3_blobs_server
from tests.e2e.helpers import MiB, PatternFile
from tests.e2e.test_durability import RssSampler, content_for, start_cut_off_put, tree_rss_bytes

PREFIX = "objects/"
BLOB_KEY = re.compile(r"objects/[0-9a-f]{32}")
UPLOAD_KEY = re.compile(r"objects/[0-9a-f]{40}")


class Node:
    """A Storeroom server of the test's own on a fresh SeaweedFS bucket (freed blobs deleted at once)."""

    def __init__(self, tmp_path: Path, weed: SeaweedFS, **kwargs: object) -> None:
        self.weed = weed
        self.bucket = weed.create_bucket(f"node-{uuid.uuid4().hex[:10]}")
        # in clear: these tests compare backend objects with the bytes sent (encrypted: test_encryption_s3.py)
        env = {"STOREROOM_BLOBS_DELETE_DELAY": "0", "STOREROOM_BLOBS_SWEEP_GRACE": "0", "STOREROOM_ENCRYPTION": "off"}
        self.server = s3_blobs_server(tmp_path / "data", weed, self.bucket, env=env, **kwargs)  # type: ignore[arg-type]
        self.server.start()
        self.s3 = make_client(self.server.endpoint)
        self.s3.create_bucket(Bucket="things")

    def backend_keys(self) -> dict[str, int]:
        return {k: v for k, v in self.weed.keys(self.bucket, PREFIX).items() if k != PREFIX + "storeroom-account"}

    def backend_uploads(self) -> list[str]:
        return [u["Key"] for u in self.weed.client().list_multipart_uploads(
            Bucket=self.bucket, Prefix=PREFIX).get("Uploads", [])]

    def wait_for_keys(self, expected: int, timeout: float = 10) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        while True:
            keys = self.backend_keys()
            if len(keys) == expected or time.monotonic() > deadline:
                return keys
            time.sleep(0.1)


@pytest.fixture
def node(tmp_path: Path, seaweedfs: SeaweedFS) -> Iterator[Node]:
    n = Node(tmp_path, seaweedfs)
    yield n
    n.server.stop()


def _parts(s3, key: str, datas: list[bytes]) -> tuple[str, list[dict[str, object]]]:  # type: ignore[no-untyped-def]
    upload = s3.create_multipart_upload(Bucket="things", Key=key)["UploadId"]
    parts = []
    for n, data in enumerate(datas, 1):
        etag = s3.upload_part(Bucket="things", Key=key, UploadId=upload, PartNumber=n, Body=data)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    return upload, parts


def test_objects_and_uploads_are_backend_objects_and_uploads(node: Node) -> None:
    s3 = node.s3
    small = b"x" * 1000
    s3.put_object(Bucket="things", Key="small", Body=small)
    keys = node.backend_keys()
    assert len(keys) == 1 and BLOB_KEY.fullmatch(next(iter(keys))) and list(keys.values()) == [1000]
    assert node.weed.client().get_object(Bucket=node.bucket, Key=next(iter(keys)))["Body"].read() == small

    datas = [content_for("p1", 5 * MiB), content_for("p2", 5 * MiB), content_for("p3", 123)]
    upload, parts = _parts(s3, "big", datas)
    uploads = node.backend_uploads()
    assert len(uploads) == 1 and UPLOAD_KEY.fullmatch(uploads[0])
    assert len(node.backend_keys()) == 1  # the parts are the backend upload's, not objects of their own
    # parts 1 and 3 only: the backend's completion drops part 2, as S3's does
    s3.complete_multipart_upload(Bucket="things", Key="big", UploadId=upload,
                                 MultipartUpload={"Parts": [parts[0], parts[2]]})
    keys = node.backend_keys()
    assert len(keys) == 2 and node.backend_uploads() == []
    (made, size), = [(k, v) for k, v in keys.items() if UPLOAD_KEY.fullmatch(k)]
    assert size == 5 * MiB + 123
    whole = datas[0] + datas[2]
    assert s3.get_object(Bucket="things", Key="big")["Body"].read() == whole
    got = s3.get_object(Bucket="things", Key="big", Range="bytes=5242870-5242889")["Body"].read()
    assert got == whole[5242870:5242890]
    assert s3.get_object(Bucket="things", Key="big", PartNumber=2)["Body"].read() == datas[2]

    aborted, _ = _parts(s3, "gone", [b"y" * 100])
    s3.abort_multipart_upload(Bucket="things", Key="gone", UploadId=aborted)
    assert node.backend_uploads() == []
    s3.delete_objects(Bucket="things", Delete={"Objects": [{"Key": "small"}, {"Key": "big"}]})
    assert node.wait_for_keys(0) == {}


def test_each_version_is_a_backend_object_freed_with_it(node: Node) -> None:
    """Versions keep their own backend objects (a multipart one its completed upload): overwriting keeps them,
    deleting a version (or a lifecycle run expiring it) deletes its backend object, and no other."""
    s3 = node.s3
    s3.put_bucket_versioning(Bucket="things", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="things", Key="k", Body=b"1" * 100)["VersionId"]
    upload, parts = _parts(s3, "k", [content_for("v2", 5 * MiB), b"tail"])
    second = s3.complete_multipart_upload(Bucket="things", Key="k", UploadId=upload,
                                          MultipartUpload={"Parts": parts})["VersionId"]
    marker = s3.delete_object(Bucket="things", Key="k")["VersionId"]
    assert len(node.wait_for_keys(2)) == 2  # the delete marker has no bytes; both versions keep theirs
    s3.delete_object(Bucket="things", Key="k", VersionId=first)
    (remaining, size), = node.wait_for_keys(1).items()
    assert UPLOAD_KEY.fullmatch(remaining) and size == 5 * MiB + 4
    assert s3.get_object(Bucket="things", Key="k", VersionId=second)["Body"].read()[-4:] == b"tail"
    s3.delete_object(Bucket="things", Key="k", VersionId=second)
    s3.delete_object(Bucket="things", Key="k", VersionId=marker)
    assert node.wait_for_keys(0) == {}


def test_a_body_failing_verification_is_never_stored(node: Node) -> None:
    s3 = node.s3
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="things", Key="bad", Body=b"z" * (3 * MiB), ContentMD5=wrong_md5)
    assert exc.value.response["Error"]["Code"] == "BadDigest"
    assert node.wait_for_keys(0, timeout=1) == {}

    # A part sent again with a bad digest must not replace the good part 1 on the backend: the backend never
    # receives its last bytes, so the completion still makes the object of the good one.
    good = content_for("good", 5 * MiB + 10)
    upload, parts = _parts(s3, "mp", [good, b"tail"])
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket="things", Key="mp", UploadId=upload, PartNumber=1, Body=b"q" * (5 * MiB + 10),
                       ContentMD5=wrong_md5)
    assert exc.value.response["Error"]["Code"] == "BadDigest"
    backend = node.weed.client()
    (pending,) = backend.list_multipart_uploads(Bucket=node.bucket, Prefix=PREFIX)["Uploads"]
    listed = backend.list_parts(Bucket=node.bucket, Key=pending["Key"], UploadId=pending["UploadId"])["Parts"]
    assert [(p["PartNumber"], p["ETag"].strip('"')) for p in listed] == [
        (1, hashlib.md5(good).hexdigest()), (2, hashlib.md5(b"tail").hexdigest())]
    s3.complete_multipart_upload(Bucket="things", Key="mp", UploadId=upload, MultipartUpload={"Parts": parts})
    assert s3.get_object(Bucket="things", Key="mp")["Body"].read() == good + b"tail"


def test_kill9_during_uploads_loses_nothing_acknowledged(node: Node) -> None:
    server = node.server
    acked: dict[str, bytes] = {}
    attempted: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def uploader(t: int) -> None:
        c = make_client(server.endpoint)
        n = 0
        while not stop.is_set():
            key = f"t{t}/{n:04d}"
            data = content_for(key, 2 * MiB + t * 1000 + n)
            with lock:
                attempted[key] = data
            try:
                if t == 0 and n % 2:  # one thread makes multipart objects
                    upload, parts = _parts(c, key, [data[:5 * MiB], data[5 * MiB:]]) if len(data) > 5 * MiB \
                        else _parts(c, key, [data])
                    c.complete_multipart_upload(Bucket="things", Key=key, UploadId=upload,
                                                MultipartUpload={"Parts": parts})
                else:
                    c.put_object(Bucket="things", Key=key, Body=data)
            except Exception:  # noqa: BLE001 - the server is being killed
                return
            with lock:
                acked[key] = data
            n += 1

    hanging = [start_cut_off_put(server, "things", f"cut/{i}", 8 * MiB, 3 * MiB) for i in range(2)]
    threads = [threading.Thread(target=uploader, args=(t,), daemon=True) for t in range(3)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 30
    while len(acked) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(acked) >= 8, "uploads did not progress"
    server.kill9()
    stop.set()
    for th in threads:
        th.join(timeout=30)
    for conn in hanging:
        conn.close()

    server.start()  # STOREROOM_BLOBS_SWEEP_GRACE=0: the sweep removes what the crash left at once
    s3 = make_client(server.endpoint)
    for key, data in acked.items():
        assert s3.get_object(Bucket="things", Key=key)["Body"].read() == data, key
    listed = {o["Key"]: o["Size"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="things")
              for o in p.get("Contents", [])}
    for key, size in listed.items():
        assert key in attempted and size == len(attempted[key]), key
    for i in range(2):
        with pytest.raises(ClientError):
            s3.head_object(Bucket="things", Key=f"cut/{i}")
    # every backend object is some object's (nothing of the crash is left), and there is one per object
    assert len(node.backend_keys()) == len(listed)

    for key in listed:
        s3.delete_object(Bucket="things", Key=key)
    for upload in s3.list_multipart_uploads(Bucket="things").get("Uploads", []):
        s3.abort_multipart_upload(Bucket="things", Key=upload["Key"], UploadId=upload["UploadId"])
    server.restart()
    assert node.wait_for_keys(0) == {}
    assert node.backend_uploads() == []


def test_memory_stays_flat_for_a_large_object(node: Node) -> None:
    s3 = node.s3
    warm = PatternFile(6 * MiB, seed=1)
    s3.put_object(Bucket="things", Key="warm", Body=warm)
    for _ in s3.get_object(Bucket="things", Key="warm")["Body"].iter_chunks(MiB):
        pass
    time.sleep(0.2)
    assert node.server.proc is not None
    pid = node.server.proc.pid
    baseline = tree_rss_bytes(pid)
    sampler = RssSampler(pid)
    sampler.start()
    big = PatternFile(160 * MiB, seed=2)
    s3.put_object(Bucket="things", Key="big", Body=big)
    h = hashlib.md5()
    for chunk in s3.get_object(Bucket="things", Key="big")["Body"].iter_chunks(MiB):
        h.update(chunk)
    peak = sampler.stop()
    assert h.hexdigest() == big.md5()
    growth = peak - baseline
    assert growth < 48 * MiB, f"server RSS grew by {growth / MiB:.1f} MiB (baseline {baseline / MiB:.1f} MiB)"


class Cuttable(threading.Thread):
    """A TCP forwarder to ``port`` whose traffic can be cut (every connection closed, new ones refused) and
    resumed: the network between Storeroom and its backend failing."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self.open: list[socket.socket] = []

    def run(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def sever(self) -> None:
        self.cut.set()
        for s in self.open:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.open = []


def _ready(server: StoreroomServer) -> int:
    try:
        with urllib.request.urlopen(f"{server.endpoint}/_storeroom/ready", timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_an_unreachable_backend_is_503_and_the_node_recovers(tmp_path: Path, seaweedfs: SeaweedFS) -> None:
    forwarder = Cuttable(seaweedfs.port)
    forwarder.start()
    bucket = seaweedfs.create_bucket(f"cut-{uuid.uuid4().hex[:10]}")
    server = s3_blobs_server(tmp_path / "data", seaweedfs, bucket,
                             env={"STOREROOM_BLOBS_ENDPOINT": f"http://127.0.0.1:{forwarder.port}"})
    server.start()
    try:
        s3 = make_client(server.endpoint)
        s3.create_bucket(Bucket="things")
        body = content_for("k", 300 * 1024)  # larger than the small-blob cache takes
        s3.put_object(Bucket="things", Key="k", Body=body)
        forwarder.sever()
        for call in (lambda: s3.put_object(Bucket="things", Key="k2", Body=b"v" * 1000),
                     lambda: s3.get_object(Bucket="things", Key="k"),
                     lambda: s3.create_multipart_upload(Bucket="things", Key="m")):
            with pytest.raises(ClientError) as exc:
                call()
            assert exc.value.response["Error"]["Code"] == "ServiceUnavailable"
            assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        deadline = time.monotonic() + 10
        while _ready(server) != 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _ready(server) == 503
        assert s3.list_objects_v2(Bucket="things")["KeyCount"] == 1  # metadata still answers

        forwarder.cut.clear()
        deadline = time.monotonic() + 10
        while _ready(server) != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert s3.get_object(Bucket="things", Key="k")["Body"].read() == body
        s3.put_object(Bucket="things", Key="k2", Body=b"v" * 1000)
        assert s3.get_object(Bucket="things", Key="k2")["Body"].read() == b"v" * 1000
    finally:
        server.stop()
        forwarder.listener.close()


def test_another_deployment_cannot_take_over_the_prefix(tmp_path: Path, node: Node) -> None:
    other = s3_blobs_server(tmp_path / "other", node.weed, node.bucket)
    with pytest.raises(RuntimeError) as exc:
        other.start()
    assert "belongs to account" in str(exc.value)


def test_a_backend_that_cannot_be_used_stops_the_start(tmp_path: Path, seaweedfs: SeaweedFS) -> None:
    missing = s3_blobs_server(tmp_path / "a", seaweedfs, f"absent-{uuid.uuid4().hex[:8]}")
    with pytest.raises(RuntimeError, match="there is no bucket"):
        missing.start()
    bucket = seaweedfs.create_bucket(f"keys-{uuid.uuid4().hex[:8]}")
    wrong = s3_blobs_server(tmp_path / "b", seaweedfs, bucket, env={"STOREROOM_BLOBS_SECRET_ACCESS_KEY": "wrong"})
    with pytest.raises(RuntimeError, match="access denied"):
        wrong.start()


def test_an_upload_gone_from_the_backend_is_no_such_upload(node: Node) -> None:
    """The backend's upload can be gone while the row stays (consumed by a completion whose row then failed, or
    aborted behind Storeroom's back): parts answer NoSuchUpload (not a 503 the SDK would retry), and the
    upload can still be aborted."""
    s3 = node.s3
    upload = s3.create_multipart_upload(Bucket="things", Key="lost")["UploadId"]
    backend = node.weed.client()
    (pending,) = backend.list_multipart_uploads(Bucket=node.bucket, Prefix=PREFIX)["Uploads"]
    backend.abort_multipart_upload(Bucket=node.bucket, Key=pending["Key"], UploadId=pending["UploadId"])
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket="things", Key="lost", UploadId=upload, PartNumber=1, Body=b"x" * 1000)
    assert exc.value.response["Error"]["Code"] == "NoSuchUpload"
    s3.abort_multipart_upload(Bucket="things", Key="lost", UploadId=upload)
    assert s3.list_multipart_uploads(Bucket="things").get("Uploads", []) == []


def test_a_copy_is_the_backend_s_own_copy(node: Node) -> None:
    """CopyObject of an object not uploaded in parts is the backend's CopyObject: a second backend object (with the
    source backend object's metadata, which only a backend copy carries over), which outlives its source; a
    multipart source's copy is read and written through the node, as one object."""
    s3, weed = node.s3, node.weed.client()
    data = content_for("copied", 3 * MiB + 5)
    put = s3.put_object(Bucket="things", Key="source", Body=data)
    (source_key,) = node.backend_keys()
    weed.copy_object(Bucket=node.bucket, Key=source_key, CopySource={"Bucket": node.bucket, "Key": source_key},
                     Metadata={"probe": "backend-copy"}, MetadataDirective="REPLACE")
    copied = s3.copy_object(Bucket="things", Key="copy", CopySource={"Bucket": "things", "Key": "source"})
    assert copied["CopyObjectResult"]["ETag"] == put["ETag"]
    keys = node.wait_for_keys(2)
    (copy_key,) = set(keys) - {source_key}
    assert weed.head_object(Bucket=node.bucket, Key=copy_key)["Metadata"] == {"probe": "backend-copy"}
    assert weed.get_object(Bucket=node.bucket, Key=copy_key)["Body"].read() == data
    s3.delete_object(Bucket="things", Key="source")
    assert set(node.wait_for_keys(1)) == {copy_key}
    assert s3.get_object(Bucket="things", Key="copy")["Body"].read() == data

    upload, parts = _parts(s3, "parted", [content_for("m1", 5 * MiB), b"end"])
    s3.complete_multipart_upload(Bucket="things", Key="parted", UploadId=upload, MultipartUpload={"Parts": parts})
    whole = content_for("m1", 5 * MiB) + b"end"
    copied = s3.copy_object(Bucket="things", Key="parted-copy", CopySource={"Bucket": "things", "Key": "parted"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(whole).hexdigest()}"'
    assert s3.get_object(Bucket="things", Key="parted-copy")["Body"].read() == whole
