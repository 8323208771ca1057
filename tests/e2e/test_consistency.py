"""Strong read-after-write consistency, as S3 gives it, across the server's worker processes.

The session server runs 2 workers; every request below goes out on a fresh connection, so consecutive requests
land on either worker. A write acknowledged by one must be seen by the next read, whichever worker serves it.
"""

from __future__ import annotations

import pytest
import requests

from tests.e2e.helpers import parse_error, sign_headers, unique_name


def fresh(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None) -> requests.Response:
    """A signed request on a new connection (no shared session/pool)."""
    hdrs = sign_headers(method, url, headers, body)
    hdrs["Connection"] = "close"
    with requests.Session() as s:
        return s.request(method, url, headers=hdrs, data=body, timeout=30)


def test_overwrite_then_read_on_any_worker(endpoint, bucket):
    url = f"{endpoint}/{bucket}/flip"
    for i in range(25):
        body = f"version {i}".encode() * 10
        assert fresh("PUT", url, body).status_code == 200
        for _ in range(2):
            r = fresh("GET", url)
            assert r.status_code == 200
            assert r.content == body, (i, r.content[:20])


def test_delete_then_read_on_any_worker(endpoint, bucket):
    for i in range(15):
        url = f"{endpoint}/{bucket}/k{i}"
        assert fresh("PUT", url, b"x").status_code == 200
        assert fresh("DELETE", url).status_code == 204
        for _ in range(2):
            assert fresh("HEAD", url).status_code == 404
            r = fresh("GET", f"{endpoint}/{bucket}?list-type=2&prefix=k{i}")
            assert f"<Key>k{i}</Key>".encode() not in r.content


def test_bucket_create_delete_cycles_on_any_worker(endpoint, track_bucket):
    name = track_bucket(unique_name("cyc"))
    for _ in range(10):
        assert fresh("PUT", f"{endpoint}/{name}").status_code == 200
        assert fresh("HEAD", f"{endpoint}/{name}").status_code == 200
        assert fresh("PUT", f"{endpoint}/{name}/obj", b"data").status_code == 200
        assert fresh("DELETE", f"{endpoint}/{name}/obj").status_code == 204
        assert fresh("DELETE", f"{endpoint}/{name}").status_code == 204
        for _ in range(2):
            assert fresh("HEAD", f"{endpoint}/{name}").status_code == 404
            r = fresh("PUT", f"{endpoint}/{name}/obj", b"data")
            assert r.status_code == 404, r.content
            assert parse_error(r.content)["Code"] == "NoSuchBucket"


def test_metadata_change_seen_on_any_worker(endpoint, bucket):
    url = f"{endpoint}/{bucket}/meta"
    for i in range(15):
        r = fresh("PUT", url, b"same body", {"x-amz-meta-n": str(i), "Content-Type": f"text/v{i}"})
        assert r.status_code == 200
        for _ in range(2):
            h = fresh("HEAD", url)
            assert h.headers.get("x-amz-meta-n") == str(i)
            assert h.headers.get("Content-Type") == f"text/v{i}"


def test_cached_reads_follow_every_kind_of_write(endpoint, bucket, s3):
    """GET and HEAD answer from each worker's cache of current versions (MetaStore.current_object): once both
    workers hold the key (found or missing), every kind of write is seen by the next read on either."""
    url = f"{endpoint}/{bucket}/hot"

    def reads_see(check) -> None:  # type: ignore[no-untyped-def]
        for _ in range(12):  # fresh connections: both workers answer some
            check(fresh("GET", url))

    assert fresh("PUT", url, b"first").status_code == 200
    reads_see(lambda r: r.content == b"first" or pytest.fail(r.content))
    s3.put_object_tagging(Bucket=bucket, Key="hot", Tagging={"TagSet": [{"Key": "a", "Value": "1"}]})
    reads_see(lambda r: r.headers.get("x-amz-tagging-count") == "1" or pytest.fail(str(r.headers)))
    assert fresh("PUT", url, b"second").status_code == 200
    reads_see(lambda r: (r.content, r.headers.get("x-amz-tagging-count")) == (b"second", None)
              or pytest.fail(r.content))
    assert fresh("DELETE", url).status_code == 204
    reads_see(lambda r: r.status_code == 404 or pytest.fail(str(r.status_code)))
    assert fresh("PUT", url, b"third").status_code == 200  # a cached miss is forgotten too
    reads_see(lambda r: r.content == b"third" or pytest.fail(r.content))
