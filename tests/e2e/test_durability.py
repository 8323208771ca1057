"""Crash safety and resource use, each on a server of the test's own (``fresh_server``).

- Every PUT that was answered 200 survives ``kill -9``; nothing half-written ever becomes visible; in a versioned
  bucket every acknowledged version (and version delete) too, with one latest version per key.
- Object data lives in files under DATA_DIR/blobs; once every object is deleted and the server restarted,
  no file is left there (no orphans from crashed uploads).
- The server streams: a 256 MiB PUT and GET do not grow its memory by the object's size.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, make_client
from tests.e2e.helpers import MiB, PatternFile, key_path, sign_headers, stored_blobs

pytestmark = pytest.mark.skipif(bool(os.environ.get("STOREROOM_E2E_ENDPOINT")),
                                reason="needs a local storeroom server to kill")


# --- helpers -------------------------------------------------------------------------------------

def client(srv):
    return make_client(srv.endpoint)


def blob_files(srv: StoreroomServer) -> list[str]:
    """Blob files and small blobs kept in the metadata database."""
    return stored_blobs(srv)


def process_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for children in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in children.read_text().split())
            except OSError:
                pass
    return pids


def tree_rss_bytes(pid: int) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def content_for(key: str, size: int) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // 32 + 1))[:size]


def start_cut_off_put(srv, bucket: str, key: str, size: int, sent: int) -> http.client.HTTPConnection:
    """Begin a PUT announcing ``size`` bytes, send only ``sent`` of them, and leave the connection hanging."""
    url = srv.endpoint + key_path(bucket, key)
    headers = sign_headers("PUT", url, {"Content-Length": str(size)}, payload_hash="UNSIGNED-PAYLOAD")
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.putrequest("PUT", key_path(bucket, key), skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(content_for(key, size)[:sent])
    return conn


# --- crash safety ----------------------------------------------------------------------------------

def test_acknowledged_objects_survive_kill9(fresh_server):
    s3 = client(fresh_server)
    s3.create_bucket(Bucket="durable")
    expected = {}
    for i in range(40):
        key = f"obj/{i:03d}"
        expected[key] = content_for(key, (i * 7919) % (300 * 1024))
        s3.put_object(Bucket="durable", Key=key, Body=expected[key])
    s3.put_object(Bucket="durable", Key="obj/000", Body=b"overwritten")
    expected["obj/000"] = b"overwritten"
    s3.delete_object(Bucket="durable", Key="obj/001")
    del expected["obj/001"]

    fresh_server.kill9()
    fresh_server.start()

    s3 = client(fresh_server)
    listed = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="durable")
              for o in p.get("Contents", [])]
    assert listed == sorted(expected)
    for key, data in expected.items():
        assert s3.get_object(Bucket="durable", Key=key)["Body"].read() == data, key


def test_kill9_during_concurrent_uploads(fresh_server):
    s3 = client(fresh_server)
    s3.create_bucket(Bucket="crash")
    size = 4 * MiB
    acked: dict[str, bytes] = {}
    attempted: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def uploader(t: int) -> None:
        c = client(fresh_server)
        n = 0
        while not stop.is_set():
            key = f"t{t}/{n:04d}"
            data = content_for(key, size + t * 1000 + n)
            with lock:
                attempted[key] = data
            try:
                c.put_object(Bucket="crash", Key=key, Body=data)
            except Exception:  # noqa: BLE001 - the server is being killed
                return
            with lock:
                acked[key] = data
            n += 1

    # a few uploads cut off mid-body, hanging when the server dies
    hanging = [start_cut_off_put(fresh_server, "crash", f"cut/{i}", 16 * MiB, 5 * MiB) for i in range(3)]
    threads = [threading.Thread(target=uploader, args=(t,), daemon=True) for t in range(4)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 20
    while len(acked) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(acked) >= 8, "uploads did not progress"
    fresh_server.kill9()
    stop.set()
    for th in threads:
        th.join(timeout=30)
    for conn in hanging:
        conn.close()

    fresh_server.start()
    s3 = client(fresh_server)
    for key, data in acked.items():
        body = s3.get_object(Bucket="crash", Key=key)["Body"].read()
        assert len(body) == len(data) and body == data, key
    listed = {o["Key"]: o["Size"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="crash")
              for o in p.get("Contents", [])}
    for key, listed_size in listed.items():
        assert key in attempted, f"unknown object {key} appeared"
        assert listed_size == len(attempted[key]), key
    for key, data in attempted.items():
        if key in acked:
            continue
        try:
            body = s3.get_object(Bucket="crash", Key=key)["Body"].read()
        except ClientError as e:
            assert e.response["Error"]["Code"] == "NoSuchKey", e.response
        else:
            assert body == data, f"partially written {key} is visible"
    for i in range(3):
        with pytest.raises(ClientError) as exc:
            s3.head_object(Bucket="crash", Key=f"cut/{i}")
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    live = len(listed)
    assert len(blob_files(fresh_server)) >= live

    # delete everything; after a restart the blob store must be empty (no orphans from the crash)
    for key in listed:
        s3.delete_object(Bucket="crash", Key=key)
    fresh_server.restart()
    leftovers = blob_files(fresh_server)
    assert leftovers == [], f"{len(leftovers)} orphan blob files, e.g. {leftovers[:3]}"


def test_aborted_and_overwritten_data_leaves_no_blobs(fresh_server):
    s3 = client(fresh_server)
    s3.create_bucket(Bucket="gcbucket")
    s3.put_object(Bucket="gcbucket", Key="k", Body=b"v1" * 1000)
    s3.put_object(Bucket="gcbucket", Key="k", Body=b"v2" * 1000)
    up = s3.create_multipart_upload(Bucket="gcbucket", Key="mp")["UploadId"]
    s3.upload_part(Bucket="gcbucket", Key="mp", UploadId=up, PartNumber=1, Body=b"p" * 1000)
    s3.abort_multipart_upload(Bucket="gcbucket", Key="mp", UploadId=up)
    up2 = s3.create_multipart_upload(Bucket="gcbucket", Key="mp2")["UploadId"]
    s3.upload_part(Bucket="gcbucket", Key="mp2", UploadId=up2, PartNumber=1, Body=b"q" * 1000)
    fresh_server.kill9()  # leave an in-progress upload behind
    fresh_server.start()
    s3 = client(fresh_server)
    assert s3.get_object(Bucket="gcbucket", Key="k")["Body"].read() == b"v2" * 1000
    s3.abort_multipart_upload(Bucket="gcbucket", Key="mp2", UploadId=up2)
    s3.delete_object(Bucket="gcbucket", Key="k")
    fresh_server.restart()
    assert blob_files(fresh_server) == []


# --- memory ----------------------------------------------------------------------------------------

class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            time.sleep(0.02)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def test_memory_stays_flat_for_256_mib_object(fresh_server):
    s3 = client(fresh_server)
    s3.create_bucket(Bucket="mem")
    # warm up every code path first, so imports and buffers are in the baseline
    warm = PatternFile(6 * MiB, seed=1)
    s3.put_object(Bucket="mem", Key="warm", Body=warm)
    for _ in s3.get_object(Bucket="mem", Key="warm")["Body"].iter_chunks(MiB):
        pass
    time.sleep(0.2)
    assert fresh_server.proc is not None
    pid = fresh_server.proc.pid
    baseline = tree_rss_bytes(pid)
    assert baseline > 0

    sampler = RssSampler(pid)
    sampler.start()
    big = PatternFile(256 * MiB, seed=2)
    s3.put_object(Bucket="mem", Key="big", Body=big)
    h = hashlib.md5()
    n = 0
    for chunk in s3.get_object(Bucket="mem", Key="big")["Body"].iter_chunks(MiB):
        h.update(chunk)
        n += len(chunk)
    peak = sampler.stop()

    assert n == big.size
    assert h.hexdigest() == big.md5()
    growth = peak - baseline
    assert growth < 48 * MiB, f"server RSS grew by {growth / MiB:.1f} MiB (baseline {baseline / MiB:.1f} MiB)"


def test_memory_stays_flat_for_multipart_complete_and_copy(fresh_server):
    s3 = client(fresh_server)
    s3.create_bucket(Bucket="mem-mp")
    up = s3.create_multipart_upload(Bucket="mem-mp", Key="warm")["UploadId"]
    etag = s3.upload_part(Bucket="mem-mp", Key="warm", UploadId=up, PartNumber=1, Body=b"w" * MiB)["ETag"]
    s3.complete_multipart_upload(Bucket="mem-mp", Key="warm", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    s3.copy_object(Bucket="mem-mp", Key="warm-copy", CopySource={"Bucket": "mem-mp", "Key": "warm"})
    time.sleep(0.2)
    assert fresh_server.proc is not None
    pid = fresh_server.proc.pid
    baseline = tree_rss_bytes(pid)

    sampler = RssSampler(pid)
    sampler.start()
    up = s3.create_multipart_upload(Bucket="mem-mp", Key="big")["UploadId"]
    parts, md5s = [], []
    for n in range(1, 4):
        body = PatternFile(40 * MiB, seed=10 + n)
        md5s.append(bytes.fromhex(body.md5()))
        etag = s3.upload_part(Bucket="mem-mp", Key="big", UploadId=up, PartNumber=n, Body=body)["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    s3.complete_multipart_upload(Bucket="mem-mp", Key="big", UploadId=up, MultipartUpload={"Parts": parts})
    s3.copy_object(Bucket="mem-mp", Key="big-copy", CopySource={"Bucket": "mem-mp", "Key": "big"})
    peak = sampler.stop()

    assert s3.head_object(Bucket="mem-mp", Key="big-copy")["ContentLength"] == 120 * MiB
    expected = [PatternFile(40 * MiB, seed=10 + n) for n in range(1, 4)]
    h = hashlib.md5()
    for chunk in s3.get_object(Bucket="mem-mp", Key="big-copy")["Body"].iter_chunks(MiB):
        h.update(chunk)
    whole = hashlib.md5()
    for f in expected:
        f.seek(0)
        while block := f.read(MiB):
            whole.update(block)
    assert h.hexdigest() == whole.hexdigest()
    growth = peak - baseline
    assert growth < 48 * MiB, f"server RSS grew by {growth / MiB:.1f} MiB (baseline {baseline / MiB:.1f} MiB)"


def test_iam_changes_survive_kill9(fresh_server):
    """Acknowledged IAM writes (user, policy, key, deactivation, bucket policy) survive kill -9; the secret comes
    back only through the key that was shown once, and it still signs."""
    iam = make_client(fresh_server.endpoint, service="iam")
    iam.create_user(UserName="kept")
    iam.attach_user_policy(UserName="kept", PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    active = iam.create_access_key(UserName="kept")["AccessKey"]
    inactive = iam.create_access_key(UserName="kept")["AccessKey"]
    iam.update_access_key(UserName="kept", AccessKeyId=inactive["AccessKeyId"], Status="Inactive")

    fresh_server.kill9()
    fresh_server.start()

    user_s3 = make_client(fresh_server.endpoint, access_key=active["AccessKeyId"],
                          secret_key=active["SecretAccessKey"])
    user_s3.create_bucket(Bucket="after-crash")
    iam = make_client(fresh_server.endpoint, service="iam")
    statuses = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="kept")["AccessKeyMetadata"]}
    assert statuses == {active["AccessKeyId"]: "Active", inactive["AccessKeyId"]: "Inactive"}
    stale = make_client(fresh_server.endpoint, access_key=inactive["AccessKeyId"],
                        secret_key=inactive["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        stale.list_buckets()
    assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_kill9_during_versioned_writes(fresh_server):
    """Writers overwrite and delete a few keys of a versioned bucket (and remove versions) while the server is
    killed: every acknowledged version is there with its bytes after the restart, nothing half-written is, each
    key has exactly one latest version, and once every version is deleted no blob is left."""
    s3 = client(fresh_server)
    s3.create_bucket(Bucket="versions")
    s3.put_bucket_versioning(Bucket="versions", VersioningConfiguration={"Status": "Enabled"})
    acked: dict[str, tuple[str, bytes]] = {}       # version id -> (key, bytes)
    removed: set[str] = set()                      # version ids deleted (acknowledged)
    attempted: set[str] = set()                    # version ids whose delete was sent (maybe cut by the kill)
    bodies: dict[bytes, str] = {}                  # every body attempted -> its key
    lock = threading.Lock()
    stop = threading.Event()

    def writer(t: int) -> None:
        c = client(fresh_server)
        n = 0
        while not stop.is_set():
            key = f"k{(t + n) % 3}"
            data = content_for(f"{key}/{t}/{n}", 64 * 1024 + n)
            with lock:
                bodies[data] = key
            try:
                if n % 7 == 6:
                    c.delete_object(Bucket="versions", Key=key)  # a delete marker
                elif n % 5 == 4 and acked:
                    with lock:
                        victim = next(iter(sorted(v for v in acked if v not in removed)), None)
                    if victim is not None:
                        with lock:
                            attempted.add(victim)
                        c.delete_object(Bucket="versions", Key=acked[victim][0], VersionId=victim)
                        with lock:
                            removed.add(victim)
                else:
                    version = c.put_object(Bucket="versions", Key=key, Body=data)["VersionId"]
                    with lock:
                        acked[version] = (key, data)
            except Exception:  # noqa: BLE001 - the server is being killed
                return
            n += 1

    threads = [threading.Thread(target=writer, args=(t,), daemon=True) for t in range(4)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 20
    while len(acked) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(acked) >= 30, "writes did not progress"
    fresh_server.kill9()
    stop.set()
    for th in threads:
        th.join(timeout=30)

    fresh_server.start()
    s3 = client(fresh_server)
    listed = [(v["Key"], v["VersionId"], v["IsLatest"], False) for page in s3.get_paginator(
        "list_object_versions").paginate(Bucket="versions") for v in page.get("Versions", [])]
    listed += [(m["Key"], m["VersionId"], m["IsLatest"], True) for page in s3.get_paginator(
        "list_object_versions").paginate(Bucket="versions") for m in page.get("DeleteMarkers", [])]
    for version, (key, data) in acked.items():
        if version in removed or version in attempted:
            # a delete cut by the kill may have committed or not: either is right (its answer never came)
            if version not in removed and version in {v for _, v, _, _ in listed}:
                assert s3.get_object(Bucket="versions", Key=key, VersionId=version)["Body"].read() == data
            continue
        assert s3.get_object(Bucket="versions", Key=key, VersionId=version)["Body"].read() == data, version
    for key, version, _, marker in listed:
        if not marker:
            body = s3.get_object(Bucket="versions", Key=key, VersionId=version)["Body"].read()
            assert bodies.get(body) == key, f"a version of {key} that no writer sent is visible"
    for key in {k for k, *_ in listed}:
        assert sum(1 for k, _, latest, _ in listed if k == key and latest) == 1, key
    for version in removed:
        assert version not in {v for _, v, _, _ in listed}, "an acknowledged version delete came back"

    entries = [{"Key": k, "VersionId": v} for k, v, _, _ in listed]
    for i in range(0, len(entries), 1000):
        s3.delete_objects(Bucket="versions", Delete={"Objects": entries[i:i + 1000], "Quiet": True})
    fresh_server.restart()
    assert blob_files(fresh_server) == []
    s3 = client(fresh_server)
    s3.delete_bucket(Bucket="versions")


@pytest.mark.meta_backends("sqlite")
def test_workers_go_with_a_main_process_killed_alone(tmp_path: Path) -> None:
    """``kill -9`` of the main process only (the out-of-memory killer picks one process): its workers, orphaned,
    went on serving the port unmanaged, and a restart could not listen on it. They now end with their parent."""
    import signal

    srv = StoreroomServer(tmp_path / "data", workers=2)
    srv.start()
    assert srv.proc is not None
    workers = _children(srv.proc.pid)
    assert len(workers) >= 2
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]
    srv.proc = None
    srv.start()  # the port is free again
    make_client(srv.endpoint).list_buckets()
    srv.stop()


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().split(") ")[-1].split()[1]) == parent:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] != "Z"  # a zombie is gone but for its exit status
    except FileNotFoundError:
        return False
