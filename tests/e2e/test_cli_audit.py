"""``storeroom audit`` against a real server, run as the owner runs it (a subprocess): a real user uploads,
downloads and is denied first, then the trail is searched by user, key, event, bucket and outcome, and followed
while the user keeps working."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.e2e.cli import REPO, cli_env, one_line_error, storeroom


def bucket_policy(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}]})


def wait_for(trail: Any, user: str, done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    """The user's events once ``done(events)``: another worker may hold an event for up to a second."""
    deadline = time.monotonic() + 10
    while True:
        events: list[dict[str, Any]] = []
        for page in trail.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": user}]):
            events += page["Events"]
        if done(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


@pytest.fixture
def worker(endpoint: str, iam_user, bucket: str, new_bucket):  # type: ignore[no-untyped-def]
    """A user allowed one bucket, after 2 uploads, a download, a listing and 2 denied requests."""
    user = iam_user(inline={"app": bucket_policy(bucket)})
    user.s3.put_object(Bucket=bucket, Key="reports/a.csv", Body=b"a")
    user.s3.put_object(Bucket=bucket, Key="reports/b.csv", Body=b"b")
    user.s3.get_object(Bucket=bucket, Key="reports/a.csv")["Body"].read()
    user.s3.list_objects_v2(Bucket=bucket, Prefix="reports/")
    other = new_bucket()
    for call in (lambda: user.s3.put_object(Bucket=other, Key="x", Body=b"x"), lambda: user.iam.list_users()):
        with pytest.raises(ClientError):
            call()
    user.other_bucket = other
    wait_for(make_client(endpoint, "cloudtrail"), user.name, lambda es: len(es) >= 6)
    return user


def lines_of(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_audit_table_of_a_users_requests(endpoint: str, worker, bucket: str) -> None:  # type: ignore[no-untyped-def]
    result = storeroom(endpoint, "audit", "--user", worker.name)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["Time", "User", "Event", "Resources", "Source", "IP", "Outcome"]
    assert [row.split()[2] for row in rows] == ["ListUsers", "PutObject", "ListObjects", "GetObject", "PutObject",
                                                "PutObject"]  # newest first
    assert all(row.split()[1] == worker.name and "127.0.0.1" in row for row in rows)
    assert rows[0].split()[-1] == "AccessDenied"
    assert rows[1].split()[3:] == [f"{worker.other_bucket}/x", "127.0.0.1", "AccessDenied"]
    assert rows[2].split()[3:] == [bucket, "127.0.0.1", "ok"]  # a listing is on the bucket
    assert rows[3].split()[3:] == [f"{bucket}/reports/a.csv", "127.0.0.1", "ok"]
    times = [row.split()[0] for row in rows]
    assert times == sorted(times, reverse=True)


def test_audit_json_lines_and_filters(endpoint: str, worker, bucket: str) -> None:  # type: ignore[no-untyped-def]
    records = lines_of(storeroom(endpoint, "audit", "--user", worker.name, "--json"))
    assert len(records) == 6
    assert all(r["userIdentity"]["userName"] == worker.name and r["eventID"] for r in records)

    puts = lines_of(storeroom(endpoint, "audit", "--user", worker.name, "--event", "PutObject", "--json"))
    assert [r["requestParameters"]["key"] for r in puts] == ["x", "reports/b.csv", "reports/a.csv"]

    # --key is the lookup attribute, --bucket and --event are applied to each record
    on_bucket = lines_of(storeroom(endpoint, "audit", "--key", worker.key_id, "--bucket", bucket, "--json"))
    assert [r["eventName"] for r in on_bucket] == ["ListObjects", "GetObject", "PutObject", "PutObject"]
    listings = lines_of(storeroom(endpoint, "audit", "--bucket", bucket, "--user", worker.name, "--event",
                                  "ListObjectsV2", "--json"))  # CloudTrail's name for it is ListObjects
    assert [r["requestParameters"]["list-type"] for r in listings] == ["2"]

    denied = lines_of(storeroom(endpoint, "audit", "--user", worker.name, "--denied", "--json"))
    assert [(r["eventName"], r["errorCode"]) for r in denied] == [("ListUsers", "AccessDenied"),
                                                                  ("PutObject", "AccessDenied")]
    newest = lines_of(storeroom(endpoint, "audit", "--user", worker.name, "--limit", "2", "--json"))
    assert [r["eventName"] for r in newest] == ["ListUsers", "PutObject"]
    assert lines_of(storeroom(endpoint, "audit", "--user", worker.name, "--until", "1h", "--json")) == []
    assert len(lines_of(storeroom(endpoint, "audit", "--user", worker.name, "--since", "10m", "--json"))) == 6
    empty = storeroom(endpoint, "audit", "--user", worker.name, "--event", "DeleteBucket")
    assert empty.returncode == 0 and empty.stdout.strip() == "No events found."


def test_audit_denied_requests_of_anyone(endpoint: str, worker) -> None:  # type: ignore[no-untyped-def]
    """--denied without another filter reads every event, and keeps the refused ones: an unknown key's too."""
    stranger = make_client(endpoint, "s3", access_key="AKIAIOSFODNN7STRANGE", secret_key="x" * 40)
    with pytest.raises(ClientError):
        stranger.list_buckets()
    deadline = time.monotonic() + 10
    while True:
        records = lines_of(storeroom(endpoint, "audit", "--denied", "--since", "5m", "--limit", "0", "--json"))
        if any(r["errorCode"] == "InvalidAccessKeyId" for r in records) or time.monotonic() > deadline:
            break
    assert all(r.get("errorCode") for r in records)
    assert {"ListUsers", "PutObject", "ListBuckets"} <= {r["eventName"] for r in records}
    table = storeroom(endpoint, "audit", "--denied", "--since", "5m", "--event", "ListBuckets")
    assert "unknown key AKIAIOSFODNN7STRANGE" in table.stdout and "InvalidAccessKeyId" in table.stdout


def test_audit_follow_prints_new_events_once(endpoint: str, worker, bucket: str) -> None:  # type: ignore[no-untyped-def]
    # Ctrl-C as a terminal delivers it: SIGINT at its default disposition in the follower, whatever the test run
    # inherited (a shell starts background commands with SIGINT ignored, and the follower would keep that).
    proc = subprocess.Popen([sys.executable, "-m", "storeroom", "audit", "--user", worker.name, "--follow",
                             "--interval", "0.3", "--json"], cwd=REPO, env=cli_env(endpoint),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    errors: list[str] = []  # drained as it comes: a full stderr pipe would stop the follower
    threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]

    def read(n: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 15
        return [json.loads(lines.get(timeout=max(deadline - time.monotonic(), 0.1))) for _ in range(n)]

    try:
        initial = read(6)  # the last events, oldest first, as tail -f shows them
        assert initial[0]["requestParameters"]["key"] == "reports/a.csv"
        assert [r["eventName"] for r in initial[-2:]] == ["PutObject", "ListUsers"]
        for i in range(3):
            worker.s3.put_object(Bucket=bucket, Key=f"live/{i}.txt", Body=b"x")
        new = read(3)
        time.sleep(1.5)  # several more polls: nothing printed twice
        while not lines.empty():
            new.append(json.loads(lines.get()))
        everything = initial + new
        assert len(everything) == 6 + 3
        assert len({r["eventID"] for r in everything}) == len(everything)
        assert [r["requestParameters"]["key"] for r in new] == ["live/0.txt", "live/1.txt", "live/2.txt"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("the follower did not stop on SIGINT; its stderr ends:\n"
                                 + "".join(errors)[-3000:]) from None
    assert proc.returncode == 0
    time.sleep(0.2)  # the stderr reader's last lines
    assert "Traceback" not in "".join(errors), "".join(errors)[-3000:]


def test_audit_needs_cloudtrail_lookup_events(endpoint: str, worker) -> None:  # type: ignore[no-untyped-def]
    env = cli_env(endpoint, AWS_ACCESS_KEY_ID=worker.key_id, AWS_SECRET_ACCESS_KEY=worker.secret)
    error = one_line_error(storeroom(endpoint, "audit", "--user", worker.name, env=env))
    assert error.startswith("storeroom: AccessDenied: cannot read the audit trail: the credentials used need "
                            "cloudtrail:LookupEvents on *")

    usage = storeroom(endpoint, "audit", "--since", "yesterday")
    assert usage.returncode == 2 and "expected a duration" in usage.stderr and "Traceback" not in usage.stderr
    usage = storeroom(endpoint, "audit", "--follow", "--until", "1h")
    assert usage.returncode == 2 and "--follow cannot be used with --until" in usage.stderr


def test_audit_follow_goes_on_through_a_server_outage_and_hides_its_own_polls(fresh_server) -> None:  # type: ignore[no-untyped-def]
    """--follow is tail -f of the trail: a server that stops answering for a while (a restart, its database away)
    is said once on stderr and followed again when it is back, events of the gap included (it exited on the first
    503); its own LookupEvents polls are not printed (one every --interval buried the real events); --limit 0
    shows every earlier event first, as --help says (nodes and admin CLI probes)."""
    s3 = make_client(fresh_server.endpoint)
    s3.create_bucket(Bucket="followed")
    proc = subprocess.Popen([sys.executable, "-m", "storeroom", "audit", "--follow", "--limit", "0", "--interval",
                             "0.3", "--json"], cwd=REPO, env=cli_env(fresh_server.endpoint),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    errors: list[str] = []
    threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
    printed: list[dict[str, Any]] = []

    def until(done: Callable[[], bool], within: float = 30) -> None:
        deadline = time.monotonic() + within
        while not done():
            try:
                printed.append(json.loads(lines.get(timeout=max(deadline - time.monotonic(), 0.1))))
            except queue.Empty:
                raise AssertionError(f"not printed; stderr: {''.join(errors)[-2000:]}") from None

    def keys() -> list[str]:
        return [r.get("requestParameters", {}).get("key") for r in printed if r["eventName"] == "PutObject"]
    try:
        until(lambda: any(r["eventName"] == "CreateBucket" for r in printed))  # --limit 0: the earlier ones too
        s3.put_object(Bucket="followed", Key="before", Body=b"x")
        until(lambda: "before" in keys())
        fresh_server.stop()
        time.sleep(6)  # several polls meet no server (past boto3's own retries)
        fresh_server.start()
        make_client(fresh_server.endpoint).put_object(Bucket="followed", Key="after", Body=b"x")
        until(lambda: "after" in keys())
        time.sleep(1)  # more polls: none of them printed
        while not lines.empty():
            printed.append(json.loads(lines.get()))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0, "".join(errors)[-2000:]
    time.sleep(0.2)
    assert "LookupEvents" not in {r["eventName"] for r in printed}
    assert keys() == ["before", "after"]
    stderr = "".join(errors)
    assert "Traceback" not in stderr and "following again" in stderr, stderr[-2000:]
