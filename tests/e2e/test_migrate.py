"""``storeroom migrate``: a single-machine data dir (SQLite) moved onto PostgreSQL, interrupted (kill -9) and
resumed, verified, its blobs copied to a shared folder (``--blobs``); then served by a node on PostgreSQL and
that folder with everything there — objects, users and their keys and policies, the audit trail with its event
ids — and a tampered copy caught by ``--verify-only``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, make_client
from tests.pg import PostgresCluster

pytestmark = pytest.mark.meta_backends("postgresql")


def _migrate(data_dir: Path, url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "storeroom", "migrate", "--data-dir", str(data_dir), "--meta",
                             url, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _fill(server: StoreroomServer) -> dict[str, bytes]:
    s3, iam = make_client(server.endpoint), make_client(server.endpoint, service="iam")
    s3.create_bucket(Bucket="moved")
    bodies = {f"k{i:04d}": os.urandom(32) for i in range(300)}
    bodies["odd\x01key"] = b"control character"
    for key, body in bodies.items():
        s3.put_object(Bucket="moved", Key=key, Body=body)
    s3.put_bucket_policy(Bucket="moved", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::moved/k0000"}]}))
    s3.put_bucket_cors(Bucket="moved", CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET"]}]})
    iam.create_user(UserName="carol")
    iam.attach_user_policy(UserName="carol", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    iam.create_group(GroupName="Readers")
    iam.add_user_to_group(GroupName="Readers", UserName="carol")
    upload = s3.create_multipart_upload(Bucket="moved", Key="unfinished")["UploadId"]
    s3.upload_part(Bucket="moved", Key="unfinished", UploadId=upload, PartNumber=1, Body=b"part")
    # versions (noncurrent ones and a delete marker: no current object), a version's tags, bucket settings
    s3.create_bucket(Bucket="kept")
    s3.put_bucket_versioning(Bucket="kept", VersioningConfiguration={"Status": "Enabled"})
    for n in (1, 2):
        bodies[f"kept/{s3.put_object(Bucket='kept', Key='k', Body=f'v{n}'.encode(), Tagging=f'n={n}')['VersionId']}"] \
            = f"v{n}".encode()
    s3.delete_object(Bucket="kept", Key="k")
    s3.put_bucket_lifecycle_configuration(Bucket="kept", LifecycleConfiguration={"Rules": [
        {"ID": "old", "Status": "Enabled", "Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}]})
    return bodies


def test_a_data_dir_moves_to_postgres_resumably_and_verified(tmp_path: Path, postgres: PostgresCluster,
                                                             meta_backend: str) -> None:
    data_dir = tmp_path / "single"
    single = StoreroomServer(data_dir)
    single.start()
    try:
        bodies = _fill(single)
        carol = make_client(single.endpoint, service="iam").create_access_key(UserName="carol")["AccessKey"]
        trail = make_client(single.endpoint, service="cloudtrail").lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}])["Events"]
        assert len(trail) == 1
    finally:
        single.stop()

    url = postgres.database("moved")
    first = _migrate(data_dir, url, "--batch", "1")
    assert first.stdout is not None
    for line in first.stdout:  # killed in the middle of the objects
        if line.strip().startswith("objects: 100 rows"):
            first.send_signal(signal.SIGKILL)
            break
    first.wait(timeout=60)
    with psycopg.connect(url) as conn:
        partial = conn.execute("SELECT count(*) FROM objects").fetchone()[0]
    assert 100 <= partial < len(bodies)

    shared = tmp_path / "shared-blobs"
    again = _migrate(data_dir, url, "--batch", "50", "--blobs", f"file://{shared}")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert "objects: 301 rows" in out and "object_versions: 3 rows" in out and "verified" in out, out
    # the unfinished upload's part is the one file; the small objects' bytes moved with the metadata
    assert "events:" in out and "inline_blobs: 303 rows" in out and " 1 blob(s):" in out, out
    with psycopg.connect(url) as conn:  # counted by the triggers as the objects arrived
        assert conn.execute("SELECT sum(objects) FROM bucket_stats_delta WHERE bucket = 'moved'").fetchone()[0] == 301

    node = StoreroomServer(tmp_path / "node", meta_url=url, extra_args=["--blobs", f"file://{shared}"],
                           env={"STOREROOM_MASTER_KEY": (data_dir / "master.key").read_text().strip()})
    node.start()
    try:
        s3 = make_client(node.endpoint)
        for key in ("k0007", "k0299", "odd\x01key"):
            assert s3.get_object(Bucket="moved", Key=key)["Body"].read() == bodies[key]
        for name in (k for k in bodies if k.startswith("kept/")):
            version = name.removeprefix("kept/")
            got = s3.get_object(Bucket="kept", Key="k", VersionId=version)
            assert got["Body"].read() == bodies[name] and got["TagCount"] == 1
        assert [m["IsLatest"] for m in s3.list_object_versions(Bucket="kept")["DeleteMarkers"]] == [True]
        assert s3.get_bucket_lifecycle_configuration(Bucket="kept")["Rules"][0]["ID"] == "old"
        with pytest.raises(ClientError) as exc:  # the bucket policy came along
            s3.delete_object(Bucket="moved", Key="k0000")
        assert exc.value.response["Error"]["Code"] == "AccessDenied"
        assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="moved")["Uploads"]]
        assert s3.get_bucket_cors(Bucket="moved")["CORSRules"] == [  # and its CORS rules
            {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["GET"]}]
        as_carol = make_client(node.endpoint, access_key=carol["AccessKeyId"], secret_key=carol["SecretAccessKey"])
        assert as_carol.get_object(Bucket="moved", Key="k0001")["Body"].read() == bodies["k0001"]
        with pytest.raises(ClientError):
            as_carol.put_object(Bucket="moved", Key="new", Body=b"x")  # read-only, as before
        groups = make_client(node.endpoint, service="iam").list_groups_for_user(UserName="carol")["Groups"]
        assert [g["GroupName"] for g in groups] == ["Readers"]
        cloudtrail = make_client(node.endpoint, service="cloudtrail")
        found = cloudtrail.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": trail[0]["EventId"]}])["Events"]
        assert [e["EventName"] for e in found] == ["CreateUser"]
        by_name = cloudtrail.lookup_events(  # through the lookup rows that came along
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}])["Events"]
        assert [(e["EventId"], e["Resources"]) for e in by_name] == [(trail[0]["EventId"], trail[0]["Resources"])]
    finally:
        node.stop()

    with psycopg.connect(url, autocommit=True) as conn:  # a copy damaged afterwards is caught
        conn.execute("UPDATE objects SET etag = 'tampered' WHERE key = 'k0042'")
    check = _migrate(data_dir, url, "--verify-only")
    out, _ = check.communicate(timeout=300)
    assert check.returncode != 0 and "objects:" in out and "PostgreSQL" in out, out


def test_a_database_holding_another_account_is_refused(tmp_path: Path, postgres: PostgresCluster,
                                                       meta_backend: str) -> None:
    url = postgres.database("taken")
    other = StoreroomServer(tmp_path / "other", meta_url=url)
    other.start()
    other.stop()
    single = StoreroomServer(tmp_path / "single")
    single.start()
    single.stop()
    run = _migrate(tmp_path / "single", url)
    out, _ = run.communicate(timeout=120)
    assert run.returncode != 0 and "another account" in out, out


def test_an_audit_file_of_the_older_layout_moves_with_its_lookup_rows(tmp_path: Path, postgres: PostgresCluster,
                                                                     meta_backend: str) -> None:
    """A data dir whose audit.sqlite3 still has the layout before the postings: converted, then copied."""
    from tests.unit.test_audit import write_old_audit_file

    single = StoreroomServer(tmp_path / "single")
    single.start()
    single.stop()
    for name in ("audit.sqlite3", "audit.sqlite3-wal", "audit.sqlite3-shm"):
        (tmp_path / "single" / name).unlink(missing_ok=True)
    write_old_audit_file(tmp_path / "single" / "audit.sqlite3", time.time())
    url = postgres.database("older")
    run = _migrate(tmp_path / "single", url)
    out, _ = run.communicate(timeout=120)
    assert run.returncode == 0 and "event_postings:" in out, out
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (3,)
        assert conn.execute("SELECT entries FROM event_postings WHERE attribute = 'Username' AND value = 'alice' "
                            "AND scope = 0").fetchone() is not None


def test_an_unreachable_database_is_said_in_one_line(tmp_path: Path, meta_backend: str) -> None:
    """PostgreSQL not there (refused connection): one line naming it, not psycopg's traceback (admin CLI probe,
    finding 3)."""
    single = StoreroomServer(tmp_path / "single")
    single.start()
    single.stop()
    run = _migrate(tmp_path / "single", "postgresql://u:secret@127.0.0.1:1/db")
    out, _ = run.communicate(timeout=120)
    assert run.returncode == 2, out
    assert "Traceback" not in out and "secret" not in out, out
    assert "storeroom: cannot reach postgresql://u@127.0.0.1:1/db" in out, out
