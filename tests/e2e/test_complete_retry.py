"""A CompleteMultipartUpload retried after it succeeded (its answer was lost) is answered again, as S3 does --
for the same parts and while the key holds the object it made; anything else is NoSuchUpload."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import REGION, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, make_client
from tests.e2e.helpers import MiB, client_error, random_bytes

PART = 5 * MiB


def _upload(s3, bucket: str, key: str, parts: list[bytes], **create) -> tuple[str, list[dict]]:  # type: ignore[no-untyped-def]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    listed = []
    for number, body in enumerate(parts, start=1):
        extra = {"ChecksumAlgorithm": create["ChecksumAlgorithm"]} if "ChecksumAlgorithm" in create else {}
        answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **extra)
        listed.append({"PartNumber": number, "ETag": answer["ETag"],
                       **{k: v for k, v in answer.items() if k.startswith("Checksum") and k != "ChecksumType"}})
    return upload_id, listed


def _complete(s3, bucket: str, key: str, upload_id: str, parts: list[dict], **kwargs) -> dict:  # type: ignore[no-untyped-def]
    answer = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                          MultipartUpload={"Parts": parts}, **kwargs)
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def test_a_retry_with_the_same_parts_gets_the_same_answer(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    upload_id, parts = _upload(s3, bucket, "k", [random_bytes(PART), b"tail"])
    first = _complete(s3, bucket, "k", upload_id, parts)
    again = _complete(s3, bucket, "k", upload_id, parts)
    assert again == first
    assert (again["Bucket"], again["Key"], again["ETag"]) == (bucket, "k", s3.head_object(Bucket=bucket,
                                                                                            Key="k")["ETag"])
    # The completing request passed If-None-Match; its retry finds its own object there.
    assert _complete(s3, bucket, "k", upload_id, parts, IfNoneMatch="*") == first


def test_a_retry_carries_the_checksum_of_the_object(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    upload_id, parts = _upload(s3, bucket, "k", [b"one"], ChecksumAlgorithm="SHA256")
    first = _complete(s3, bucket, "k", upload_id, parts)
    assert first["ChecksumSHA256"].endswith("-1") and first["ChecksumType"] == "COMPOSITE"
    assert _complete(s3, bucket, "k", upload_id, parts) == first


def test_other_parts_are_no_such_upload(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    upload_id, parts = _upload(s3, bucket, "k", [random_bytes(PART), b"two"])
    _complete(s3, bucket, "k", upload_id, parts[:1])
    with pytest.raises(ClientError) as exc:
        _complete(s3, bucket, "k", upload_id, parts)
    assert client_error(exc) == (404, "NoSuchUpload")
    assert exc.value.response["Error"]["UploadId"] == upload_id


@pytest.mark.parametrize("change", ["overwrite", "delete", "copy-in-place"])
def test_a_retry_after_the_object_changed_is_no_such_upload(s3, bucket, change: str) -> None:  # type: ignore[no-untyped-def]
    upload_id, parts = _upload(s3, bucket, "k", [b"one"])
    _complete(s3, bucket, "k", upload_id, parts)
    if change == "overwrite":
        s3.put_object(Bucket=bucket, Key="k", Body=b"another object")
    elif change == "delete":
        s3.delete_object(Bucket=bucket, Key="k")
    else:
        s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "k"},
                       MetadataDirective="REPLACE", Metadata={"new": "metadata"})
    with pytest.raises(ClientError) as exc:
        _complete(s3, bucket, "k", upload_id, parts)
    assert client_error(exc) == (404, "NoSuchUpload")


def test_the_upload_id_is_bound_to_its_key_after_completion(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    upload_id, parts = _upload(s3, bucket, "k", [b"one"])
    _complete(s3, bucket, "k", upload_id, parts)
    s3.put_object(Bucket=bucket, Key="other", Body=b"one")
    with pytest.raises(ClientError) as exc:
        _complete(s3, bucket, "other", upload_id, parts)
    assert client_error(exc) == (404, "NoSuchUpload")


def test_an_aborted_upload_is_still_no_such_upload(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    upload_id, parts = _upload(s3, bucket, "k", [b"one"])
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    with pytest.raises(ClientError) as exc:
        _complete(s3, bucket, "k", upload_id, parts)
    assert client_error(exc) == (404, "NoSuchUpload")


def test_completions_are_remembered_across_a_restart(fresh_server) -> None:  # type: ignore[no-untyped-def]
    s3 = make_client(fresh_server.endpoint)
    s3.create_bucket(Bucket="bkt")
    upload_id, parts = _upload(s3, "bkt", "k", [b"one"])
    first = _complete(s3, "bkt", "k", upload_id, parts)
    fresh_server.kill9()
    fresh_server.start()
    assert _complete(s3, "bkt", "k", upload_id, parts) == first


class AnswerDroppingProxy:
    """A TCP proxy to the server that lets the first CompleteMultipartUpload through, then closes the
    client's connection instead of passing the answer on: the network failing after the server did the work."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.to_drop = 1
        self.completes_seen = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.port))
            drop = threading.Event()
            threading.Thread(target=self._requests, args=(client, upstream, drop), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, client, drop), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket, drop: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                if data.startswith(b"POST ") and b"uploadId=" in data.split(b"\r\n", 1)[0]:
                    with self.lock:
                        self.completes_seen += 1
                        if self.to_drop:
                            self.to_drop -= 1
                            drop.set()
                upstream.sendall(data)
        except OSError:
            pass

    def _answers(self, upstream: socket.socket, client: socket.socket, drop: threading.Event) -> None:
        try:
            while data := upstream.recv(65536):
                if drop.is_set():  # the server has answered (so it has committed): lose the answer
                    break
                client.sendall(data)
        except OSError:
            pass
        for sock in (client, upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


@pytest.fixture
def dropping_proxy(server) -> Iterator[AnswerDroppingProxy]:  # type: ignore[no-untyped-def]
    proxy = AnswerDroppingProxy(server.port)
    yield proxy
    proxy.close()


def test_botocore_retries_a_complete_whose_answer_was_lost(s3, bucket, dropping_proxy) -> None:  # type: ignore[no-untyped-def]
    retrying = boto3.client("s3", endpoint_url=dropping_proxy.endpoint, region_name=REGION,
                            aws_access_key_id=ROOT_ACCESS_KEY_ID, aws_secret_access_key=ROOT_SECRET_ACCESS_KEY,
                            config=Config(retries={"mode": "standard", "max_attempts": 3}))
    upload_id, parts = _upload(s3, bucket, "k", [random_bytes(PART), b"tail"])
    answer = _complete(retrying, bucket, "k", upload_id, parts)
    assert dropping_proxy.completes_seen == 2  # the first answer was lost, botocore sent the request again
    assert answer["ETag"] == s3.head_object(Bucket=bucket, Key="k")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="k")["ContentLength"] == PART + 4


def test_identical_completes_at_once_all_succeed(s3, bucket, client_factory) -> None:  # type: ignore[no-untyped-def]
    """An SDK's retry can overlap the request it retries: whichever commits first, both get the answer."""
    from concurrent.futures import ThreadPoolExecutor

    clients = [client_factory() for _ in range(6)]
    for attempt in range(3):
        key = f"k{attempt}"
        upload_id, parts = _upload(s3, bucket, key, [b"one"])
        with ThreadPoolExecutor(len(clients)) as pool:
            answers = list(pool.map(lambda c: _complete(c, bucket, key, upload_id, parts), clients))  # noqa: B023
        assert all(a == answers[0] for a in answers)
        assert answers[0]["ETag"] == s3.head_object(Bucket=bucket, Key=key)["ETag"]
