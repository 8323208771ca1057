"""GET /_storeroom/metrics: scraped from a real server with 2 workers and parsed with prometheus-client's own
parser; counts move after real requests (summed across workers); dead workers are marked; who may scrape."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from storeroom.config import Settings
from storeroom.http.app import App
from tests.conftest import ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, StoreroomServer, make_client, meta_url_for
from tests.e2e.helpers import sign_headers

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample by (name, sorted labels), through prometheus-client's parser."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(server: StoreroomServer) -> Samples:
    with urllib.request.urlopen(f"{server.endpoint}/_storeroom/metrics", timeout=10) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(r.read().decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def eventually(server: StoreroomServer, check: Callable[[Samples], bool], timeout: float = 10) -> Samples:
    """Workers flush their counts every second: scrape until ``check`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(server)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
                meta_backend: str) -> Iterator[StoreroomServer]:
    srv = StoreroomServer(tmp_path_factory.mktemp("metrics") / "data", workers=2,
                          meta_url=meta_url_for(request, meta_backend))
    srv.start()
    yield srv
    srv.stop()


def test_counts_move_after_requests(two_workers: StoreroomServer) -> None:
    server = two_workers
    s3, iam = make_client(server.endpoint), make_client(server.endpoint, service="iam")
    deadline = time.monotonic() + 20  # ready answers once one worker is up; the other may still be starting
    while value(scrape(server), "storeroom_workers") < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    before = scrape(server)
    s3.create_bucket(Bucket="counted")
    for i in range(4):  # spread over both workers (one connection each time: boto3 reuses, so do several)
        make_client(server.endpoint).put_object(Bucket="counted", Key=f"k{i}", Body=b"x" * 1000)
    assert s3.get_object(Bucket="counted", Key="k0")["Body"].read() == b"x" * 1000
    iam.create_user(UserName="nosy")
    key = iam.create_access_key(UserName="nosy")["AccessKey"]
    nosy = make_client(server.endpoint, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with pytest.raises(ClientError):
        nosy.get_object(Bucket="counted", Key="k0")
    assert requests.get(f"{server.endpoint}/counted/k0", timeout=10).status_code == 403   # anonymous
    nosy_arn = iam.get_user(UserName="nosy")["User"]["Arn"]

    def moved(s: Samples) -> bool:
        return value(s, "storeroom_requests_total", service="s3", operation="PutObject", status="200") - \
            value(before, "storeroom_requests_total", service="s3", operation="PutObject", status="200") >= 4 \
            and value(s, "storeroom_access_denied_total", principal="anonymous") >= 1 \
            and value(s, "storeroom_access_denied_total", principal=nosy_arn) >= 1 \
            and value(s, "storeroom_response_body_bytes_total", service="s3", operation="GetObject") >= 1000 \
            and value(s, "storeroom_requests_total", service="iam", operation="CreateUser", status="200") >= 1

    after = eventually(server, moved)
    assert moved(after), {k: v for k, v in after.items() if k[0].startswith("storeroom_requests")}
    put = {"service": "s3", "operation": "PutObject"}
    assert value(after, "storeroom_request_body_bytes_total", **put) - \
        value(before, "storeroom_request_body_bytes_total", **put) >= 4000
    assert value(after, "storeroom_request_duration_seconds_count", **put) >= 4
    assert value(after, "storeroom_request_duration_seconds_bucket", le="+Inf", **put) == \
        value(after, "storeroom_request_duration_seconds_count", **put)
    assert value(after, "storeroom_request_duration_seconds_sum", **put) > 0
    assert value(after, "storeroom_requests_total", service="s3", operation="GetObject", status="403") >= 2
    assert value(after, "storeroom_requests_total", service="iam", operation="CreateUser", status="200") >= 1
    # computed from the store at scrape time
    assert value(after, "storeroom_bucket_objects", bucket="counted") == 4
    assert value(after, "storeroom_bucket_bytes", bucket="counted") == 4000
    assert value(after, "storeroom_access_keys", status="Active") == 2   # root's and nosy's
    assert value(after, "storeroom_access_keys_over_max_age") == 0
    assert value(after, "storeroom_workers") == 2


def test_label_values_stay_bounded(two_workers: StoreroomServer) -> None:
    """A client chooses its credential scope's service and its Action: neither may mint new series."""
    server = two_workers
    url = f"{server.endpoint}/"
    headers = sign_headers("POST", url, {"Content-Type": "application/x-www-form-urlencoded"},
                           b"Action=Invent", service="made-up-service")
    requests.post(url, headers=headers, data=b"Action=Invent", timeout=10)
    iam_headers = sign_headers("POST", url, {"Content-Type": "application/x-www-form-urlencoded"},
                               b"Action=NoSuchAction&Version=2010-05-08", service="iam")
    assert requests.post(url, headers=iam_headers, data=b"Action=NoSuchAction&Version=2010-05-08",
                         timeout=10).status_code == 400
    samples = eventually(server, lambda s: value(s, "storeroom_requests_total", service="other",
                                                 operation="Unknown", status="400") >= 1)
    labels = {dict(k[1]).get("service") for k in samples if k[0] == "storeroom_requests_total"}
    assert "made-up-service" not in labels and "other" in labels
    operations = {dict(k[1]).get("operation") for k in samples if k[0] == "storeroom_requests_total"}
    assert "NoSuchAction" not in operations and "Invent" not in operations


def test_dead_worker_is_marked(two_workers: StoreroomServer) -> None:
    server = two_workers
    # counts of this test's own (the module's other tests may run on another pytest worker), flushed to the
    # workers' files before one of them dies
    s3 = make_client(server.endpoint)
    s3.create_bucket(Bucket="before-the-kill")
    for i in range(4):
        make_client(server.endpoint).put_object(Bucket="before-the-kill", Key=f"k{i}", Body=b"x")
    put = {"service": "s3", "operation": "PutObject", "status": "200"}
    counted = value(eventually(server, lambda s: value(s, "storeroom_requests_total", **put) >= 4),
                    "storeroom_requests_total", **put)
    live = sorted((server.data_dir / "metrics").glob("gauge_livesum_*.db"))
    assert len(live) == 2, live
    victim = int(live[0].stem.rsplit("_", 1)[1])
    os.kill(victim, signal.SIGKILL)   # uvicorn's supervisor starts a new worker in its place
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            samples = scrape(server)
        except OSError:
            samples = {}
        files = list((server.data_dir / "metrics").glob("gauge_livesum_*.db"))
        if value(samples, "storeroom_workers") == 2 and len(files) == 2 and \
                not (server.data_dir / "metrics" / f"gauge_livesum_{victim}.db").exists():
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"workers {value(samples, 'storeroom_workers')}, files {files}")
    # the dead worker's counts stay in the totals (they are counters)
    assert value(scrape(server), "storeroom_requests_total", **put) >= counted


# -- who may scrape: a request from a non-loopback address, through the real app in this process -------------------


class _InProcess:
    """The Storeroom ASGI app on a server's data dir, driven in this process with the client address of our
    choosing (a test cannot send packets from a non-loopback address here)."""

    def __init__(self, server: StoreroomServer, **settings: Any) -> None:
        self.app = App(Settings(data_dir=server.data_dir, meta_url=server.meta_url, **settings))
        self.runner = asyncio.Runner()  # one loop for the app's life (a PostgreSQL pool belongs to its loop)
        self.runner.run(self.app.open())

    def get(self, client: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        scope = {"type": "http", "method": "GET", "path": "/_storeroom/metrics",
                 "raw_path": b"/_storeroom/metrics", "query_string": b"", "scheme": "http", "http_version": "1.1",
                 "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
                 "client": (client, 51000)}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        self.runner.run(self.app.handle(scope, receive, send))
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    def close(self) -> None:
        self.runner.run(self.app.close())
        self.runner.close()


def _signed(host: str, access_key: str, secret_key: str) -> dict[str, str]:
    headers = sign_headers("GET", f"http://{host}/_storeroom/metrics", access_key=access_key, secret_key=secret_key)
    return {**headers, "Host": host}  # botocore signs the Host of the URL without adding the header


def test_who_may_scrape(two_workers: StoreroomServer) -> None:
    server = two_workers
    iam = make_client(server.endpoint, service="iam")
    iam.create_user(UserName="prometheus")
    iam.put_user_policy(UserName="prometheus", PolicyName="scrape", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "storeroom:GetMetrics",
                                                "Resource": "*"}]}))
    reader = iam.create_access_key(UserName="prometheus")["AccessKey"]
    iam.create_user(UserName="stranger")
    stranger = iam.create_access_key(UserName="stranger")["AccessKey"]
    host = "storeroom.example:9000"
    app = _InProcess(server)
    try:
        status, body = app.get("192.0.2.10")                    # unsigned, from a non-loopback address
        assert status == 403 and b"<Code>AccessDenied</Code>" in body
        status, body = app.get("192.0.2.10", _signed(host, stranger["AccessKeyId"], stranger["SecretAccessKey"]))
        assert status == 403 and b"is not authorized to perform: storeroom:GetMetrics" in body
        assert b"user/stranger" in body
        bad = _signed(host, reader["AccessKeyId"], "not-the-secret-key-at-all-000000000000000")
        assert app.get("192.0.2.10", bad)[0] == 403              # SignatureDoesNotMatch
        status, body = app.get("192.0.2.10", _signed(host, reader["AccessKeyId"], reader["SecretAccessKey"]))
        assert status == 200 and ("storeroom_access_keys", (("status", "Active"),)) in parse(body.decode())
        assert app.get("192.0.2.10", _signed(host, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY))[0] == 200
        assert app.get("127.0.0.2")[0] == 200                      # loopback: unsigned is fine
        assert app.get("::1")[0] == 200
    finally:
        app.close()
    public = _InProcess(server, metrics_public=True)     # --metrics-public
    try:
        assert public.get("192.0.2.10")[0] == 200
    finally:
        public.close()
