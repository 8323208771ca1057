"""The console under hostile input (fuzzing, 2026-12-07): each of these answered 500 (a bare one, before the console's
own error page), held the console, or grew its memory by hundreds of megabytes; each is now refused or answered."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import StoreroomServer, make_client
from tests.e2e.console import ROOT_EMAIL, ROOT_PASSWORD
from tests.e2e.helpers import unique_name


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found is not None, text[:500]
    return found.group(1)


@pytest.fixture
def root_session(console_server: StoreroomServer) -> Iterator[requests.Session]:
    session = requests.Session()
    base = console_server.console_url
    token = _csrf(session.get(f"{base}/signin", timeout=10).text)
    signed_in = session.post(f"{base}/signin", data={"csrf_token": token, "kind": "root", "email": ROOT_EMAIL,
                                                     "password": ROOT_PASSWORD}, timeout=10)
    assert signed_in.status_code == 200, signed_in.text[:500]
    yield session
    session.close()


def test_an_origin_no_url_parser_reads_is_refused(console_server: StoreroomServer) -> None:
    session = requests.Session()
    base = console_server.console_url
    token = _csrf(session.get(f"{base}/signin", timeout=10).text)
    r = session.post(f"{base}/signin", data={"csrf_token": token, "kind": "root", "email": ROOT_EMAIL,
                                             "password": "x"}, headers={"Origin": "http://["}, timeout=10)
    assert r.status_code == 403 and "security token" in r.text


def test_a_form_whose_charset_spells_lone_surrogates_is_refused(console_server: StoreroomServer) -> None:
    session = requests.Session()
    base = console_server.console_url
    token = _csrf(session.get(f"{base}/signin", timeout=10).text)
    fields = {"csrf_token": token.encode(), "kind": b"root", "email": b"\\ud800", "password": b"x"}
    body = b"".join(f'--XyZ\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v + b"\r\n"
                    for k, v in fields.items()) + b"--XyZ--\r\n"
    r = session.post(f"{base}/signin", data=body, timeout=10,
                     headers={"Content-Type": "multipart/form-data; boundary=XyZ; charset=raw_unicode_escape"})
    assert r.status_code == 400 and "could not be read" in r.text


def test_a_form_sent_without_its_length_is_refused_unread(console_server: StoreroomServer) -> None:
    """A chunked form was read whole, past the 256 KiB limit: 400 MiB grew the console by 360 MB."""
    host, port = urlsplit(console_server.console_url).hostname, urlsplit(console_server.console_url).port
    assert host is not None and port is not None
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"POST /signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"a=" + b"x" * 65536
        sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        answer = sock.recv(200)
    assert answer.startswith(b"HTTP/1.1 411"), answer


def test_numbers_that_are_digits_only_to_isdigit(root_session: requests.Session,
                                                console_server: StoreroomServer) -> None:
    base = console_server.console_url
    token = _csrf(root_session.get(f"{base}/iam/roles/create", timeout=10).text)
    trust = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": '
             '"ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}')
    name = unique_name("r")
    r = root_session.post(f"{base}/iam/roles/create", timeout=10, data={
        "csrf_token": token, "role_name": name, "policy_document": trust, "max_session": "\u00b2"})
    assert r.status_code in (200, 400), r.status_code
    assert "Something went wrong" not in r.text
    iam = make_client(console_server.endpoint, service="iam")
    if name in [role["RoleName"] for role in iam.list_roles()["Roles"]]:
        iam.delete_role(RoleName=name)


def test_the_simulator_shows_at_most_a_page_of_results(root_session: requests.Session,
                                                       console_server: StoreroomServer) -> None:
    """1,500 actions × 150 resources made a 130 MB page and held the whole console for a minute."""
    base = console_server.console_url
    token = _csrf(root_session.get(f"{base}/iam/simulator", timeout=10).text)
    r = root_session.post(f"{base}/iam/simulator", timeout=30, data={
        "csrf_token": token, "source": "custom", "context": "",
        "policy": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}',
        "actions": " ".join(f"s3:GetObject{i}" for i in range(1500)),
        "resources": " ".join(f"arn:aws:s3:::b/k{i}" for i in range(150))})
    assert r.status_code == 400 and "at most 1000 results" in r.text and len(r.content) < 1_000_000


def test_an_answer_naming_a_key_with_a_control_character_is_read(root_session: requests.Session,
                                                                 console_server: StoreroomServer) -> None:
    """S3 writes such a key as &#x1;, which XML 1.0 parsers refuse: the console's large uploads of such a key failed
    (500) and left their uploads behind; a bogus continuation token the API took and echoed did the same."""
    base = console_server.console_url
    s3 = make_client(console_server.endpoint)
    bucket = unique_name("hostile")
    s3.create_bucket(Bucket=bucket)
    try:
        token = _csrf(root_session.get(f"{base}/s3/buckets/{bucket}/upload", timeout=10).text)
        r = root_session.post(f"{base}/s3/buckets/{bucket}/upload/start?key=%01.bin", data=b"", timeout=10,
                              headers={"X-CSRF-Token": token})
        assert r.status_code == 200 and r.json()["uploadId"], r.text[:300]
        root_session.post(f"{base}/s3/buckets/{bucket}/upload/abort?key=%01.bin&uploadId={r.json()['uploadId']}",
                          data=b"", timeout=10, headers={"X-CSRF-Token": token})
        page = root_session.get(f"{base}/s3/buckets/{bucket}?token=%00", timeout=10)
        assert "Something went wrong" not in page.text
    finally:
        for upload in s3.list_multipart_uploads(Bucket=bucket, EncodingType="url").get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key="\x01.bin", UploadId=upload["UploadId"])
        s3.delete_bucket(Bucket=bucket)


def test_a_continuation_token_s3_never_gave_is_refused(console_server: StoreroomServer) -> None:
    """AWS: InvalidArgument "The continuation token provided is incorrect"; these read as the first page."""
    from botocore.exceptions import ClientError

    s3 = make_client(console_server.endpoint)
    bucket = unique_name("tokens")
    s3.create_bucket(Bucket=bucket)
    try:
        for token in ("\x00", "%%%", "a b"):
            with pytest.raises(ClientError) as exc:
                s3.list_objects_v2(Bucket=bucket, ContinuationToken=token)
            assert exc.value.response["Error"]["Code"] == "InvalidArgument"
    finally:
        s3.delete_bucket(Bucket=bucket)
