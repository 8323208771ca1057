"""POST Object: HTML form uploads as boto3's generate_presigned_post makes them, sent with requests -- the policy
and its conditions, the signature (Version 4, and Version 2), the answers (204, 200, 201's PostResponse, the 303
redirect), S3's refusals, authorization as s3:PutObject for the signer, the audit event, a streamed body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, make_client
from tests.e2e.helpers import MiB, assert_s3_error, client_error, md5_hex, unique_name

FILE = b"hello from a form\r\n--not-a-boundary\r\n"


def sigv4(s3):  # type: ignore[no-untyped-def]
    """A client like ``s3`` that signs forms with Signature Version 4 (botocore's default for them is still
    Version 2 in us-east-1)."""
    return make_client(s3.meta.endpoint_url, signature_version="s3v4")


def post(presigned: dict[str, Any], data: bytes = FILE, filename: str = "hello.txt",
         extra: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
    fields = dict(presigned["fields"])
    fields.update(extra or {})
    return requests.post(presigned["url"], data=fields, files={"file": (filename, data, "text/plain")},
                         allow_redirects=False, timeout=30, **kwargs)


def test_a_presigned_post_uploads(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    presigned = sigv4(s3).generate_presigned_post(bucket, "dir/a key.txt")
    resp = post(presigned)
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers["ETag"] == f'"{md5_hex(FILE)}"'
    assert resp.headers["Location"] == f"{presigned['url']}/dir%2Fa%20key.txt"
    got = s3.get_object(Bucket=bucket, Key="dir/a key.txt")
    assert got["Body"].read() == FILE and got["ContentType"] == "binary/octet-stream"
    assert got["ETag"] == resp.headers["ETag"]


def test_filename_metadata_content_type_and_201(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    presigned = sigv4(s3).generate_presigned_post(
        bucket, "uploads/${filename}",
        Fields={"success_action_status": "201", "Content-Type": "text/plain", "x-amz-meta-owner": "eve"},
        Conditions=[{"success_action_status": "201"}, ["starts-with", "$Content-Type", "text/"],
                    {"x-amz-meta-owner": "eve"}, ["content-length-range", 1, 1024]])
    resp = post(presigned, filename="C:\\Users\\eve\\notes.txt")
    assert resp.status_code == 201, resp.content
    root = ET.fromstring(resp.content)
    answer = {child.tag: child.text for child in root}
    assert root.tag == "PostResponse"
    assert answer == {"Location": f"{presigned['url']}/uploads%2Fnotes.txt", "Bucket": bucket,
                      "Key": "uploads/notes.txt", "ETag": f'"{md5_hex(FILE)}"'}
    head = s3.head_object(Bucket=bucket, Key="uploads/notes.txt")
    assert head["ContentType"] == "text/plain" and head["Metadata"] == {"owner": "eve"}


def test_status_200_and_redirect(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    ok = sigv4(s3).generate_presigned_post(bucket, "a", Fields={"success_action_status": "200"},
                                    Conditions=[{"success_action_status": "200"}])
    resp = post(ok)
    assert resp.status_code == 200 and resp.content == b""
    target = "https://app.example.com/done?from=upload"
    redirect = sigv4(s3).generate_presigned_post(bucket, "b c/d", Fields={"success_action_redirect": target},
                                          Conditions=[{"success_action_redirect": target}])
    resp = post(redirect)
    assert resp.status_code == 303
    location = resp.headers["Location"]
    assert location.startswith(target + "&bucket=")
    query = parse_qs(urlsplit(location).query)
    assert query == {"from": ["upload"], "bucket": [bucket], "key": ["b c/d"], "etag": [f'"{md5_hex(FILE)}"']}
    assert "b+c%2Fd" in location  # form-encoded, as S3 writes it
    # a URL S3 cannot interpret is ignored, as if the field were not there
    relative = sigv4(s3).generate_presigned_post(bucket, "e", Fields={"success_action_redirect": "/done"},
                                          Conditions=[{"success_action_redirect": "/done"}])
    assert post(relative).status_code == 204


def _fails(resp: requests.Response, status: int, code: str) -> str:
    return assert_s3_error(resp, status, code)["Message"]


def test_conditions(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    prefix = sigv4(s3).generate_presigned_post(bucket, "user/eve/${filename}",
                                        Conditions=[["starts-with", "$key", "user/eve/"]])
    assert post(prefix).status_code == 204
    assert s3.get_object(Bucket=bucket, Key="user/eve/hello.txt")["Body"].read() == FILE
    elsewhere = post(prefix, extra={"key": "user/bob/x"})
    assert _fails(elsewhere, 403, "AccessDenied") == (
        'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "user/eve/"]')
    exact = sigv4(s3).generate_presigned_post(bucket, "k")
    assert _fails(post(exact, extra={"key": "other"}), 403, "AccessDenied") == (
        'Invalid according to Policy: Policy Condition failed: ["eq", "$key", "k"]')
    # a field the policy does not cover, named as sent
    assert _fails(post(exact, extra={"X-Amz-Meta-Extra": "1"}), 403, "AccessDenied") == (
        "Invalid according to Policy: Extra input fields: X-Amz-Meta-Extra")
    assert post(exact, extra={"x-ignore-anything": "1"}).status_code == 204
    sized = sigv4(s3).generate_presigned_post(bucket, "sized", Conditions=[["content-length-range", 10, 20]])
    large = assert_s3_error(post(sized, data=b"x" * 21), 400, "EntityTooLarge")
    assert (large["Message"], large["MaxSizeAllowed"]) == ("Your proposed upload exceeds the maximum allowed size",
                                                           "20")
    small = assert_s3_error(post(sized, data=b"x" * 9), 400, "EntityTooSmall")
    assert (small["Message"], small["ProposedSize"], small["MinSizeAllowed"]) == (
        "Your proposed upload is smaller than the minimum allowed size", "9", "10")
    assert post(sized, data=b"x" * 20).status_code == 204
    types = sigv4(s3).generate_presigned_post(bucket, "t", Fields={"Content-Type": "image/png"},
                                       Conditions=[["starts-with", "$Content-Type", "image/"]])
    assert post(types, extra={"Content-Type": "image/png,image/gif"}).status_code == 204
    assert _fails(post(types, extra={"Content-Type": "image/png,text/html"}), 403, "AccessDenied").endswith(
        '["starts-with", "$Content-Type", "image/"]')
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="user/bob/x")


def test_expired_and_bucket_conditions(s3, bucket, new_bucket) -> None:  # type: ignore[no-untyped-def]
    expired = sigv4(s3).generate_presigned_post(bucket, "k", ExpiresIn=-1)
    assert _fails(post(expired), 403, "AccessDenied") == "Invalid according to Policy: Policy expired."
    other = new_bucket()
    presigned = sigv4(s3).generate_presigned_post(bucket, "k")
    elsewhere = dict(presigned, url=presigned["url"].replace(bucket, other))
    assert _fails(post(elsewhere), 403, "AccessDenied") == (
        f'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "{bucket}"]')


def test_signature_and_form_errors(s3, bucket, endpoint: str) -> None:  # type: ignore[no-untyped-def]
    presigned = sigv4(s3).generate_presigned_post(bucket, "k")
    fields = presigned["fields"]
    tampered = assert_s3_error(post(presigned, extra={"x-amz-signature": "0" * 64}), 403, "SignatureDoesNotMatch")
    assert tampered["StringToSign"] == fields["policy"] and tampered["AWSAccessKeyId"] == ROOT_ACCESS_KEY_ID
    unknown = fields["x-amz-credential"].replace(ROOT_ACCESS_KEY_ID, "AKIAUNKNOWNKEY000000")
    assert_s3_error(post(presigned, extra={"x-amz-credential": unknown}), 403, "InvalidAccessKeyId")
    wrong = fields["x-amz-credential"].replace("/us-east-1/", "/eu-west-3/")
    region = assert_s3_error(post(presigned, extra={"x-amz-credential": wrong}), 400, "InvalidArgument")
    assert (region["Message"], region["Region"]) == ("the region 'eu-west-3' is wrong; expecting 'us-east-1'",
                                                     "us-east-1")
    without_key = {k: v for k, v in fields.items() if k != "key"}
    resp = requests.post(presigned["url"], data=without_key, files={"file": ("f", b"x")}, timeout=30)
    error = assert_s3_error(resp, 400, "InvalidArgument")
    assert (error["Message"], error["ArgumentName"]) == (
        "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
        "key")
    without_signature = {k: v for k, v in fields.items() if k != "x-amz-signature"}
    resp = requests.post(presigned["url"], data=without_signature, files={"file": ("f", b"x")}, timeout=30)
    assert "'X-Amz-Signature'" in _fails(resp, 400, "InvalidArgument")
    # the file must be there, and the body must be a form
    resp = requests.post(presigned["url"], files={k: (None, v) for k, v in fields.items()}, timeout=30)
    error = assert_s3_error(resp, 400, "InvalidArgument")
    assert (error["Message"], error["ArgumentName"], error["ArgumentValue"]) == (
        "POST requires exactly one file upload per request.", "file", "0")
    resp = requests.post(presigned["url"], data=b"key=k", headers={"Content-Type": "application/x-www-form-urlencoded"},
                         timeout=30)
    assert assert_s3_error(resp, 412, "PreconditionFailed")["Condition"] == (
        "Bucket POST must be of the enclosure-type multipart/form-data")
    bad_policy = sigv4(s3).generate_presigned_post(bucket, "k")
    bad_policy["fields"]["policy"] = base64.b64encode(b'{"conditions": []}').decode()
    assert _fails(post(bad_policy), 403, "SignatureDoesNotMatch")  # the signature covers the policy as sent
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="k")
    assert client_error(exc)[0] == 404


def _signed_v4(policy: dict[str, Any], fields: dict[str, str]) -> dict[str, str]:
    """Fields of a form whose policy is ``policy`` as given (not as botocore would write it)."""
    now = time.gmtime()
    day, stamp = time.strftime("%Y%m%d", now), time.strftime("%Y%m%dT%H%M%SZ", now)
    credential = f"{ROOT_ACCESS_KEY_ID}/{day}/us-east-1/s3/aws4_request"
    policy.setdefault("conditions", []).extend([{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
                                                {"x-amz-credential": credential}, {"x-amz-date": stamp}])
    encoded = base64.b64encode(json.dumps(policy).encode()).decode()
    key = f"AWS4{ROOT_SECRET_ACCESS_KEY}".encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return {**fields, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": credential, "x-amz-date": stamp,
            "policy": encoded, "x-amz-signature": hmac.new(key, encoded.encode(), hashlib.sha256).hexdigest()}


def test_policy_documents_s3_refuses(endpoint: str, bucket: str) -> None:
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
    cases = [
        ({"expiration": future, "conditions": [{"bucket": bucket, "key": "k"}]},
         "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified."),
        ({"expiration": future, "conditions": [["ne", "$key", "k"]]},
         "Invalid Policy: Invalid Condition: unknown operation 'ne'."),
        ({"expiration": future, "conditions": [["starts-with", "$key"]]},
         "Invalid Policy: Invalid starts-with: wrong number of arguments."),
        ({"expiration": future, "conditions": [["content-length-range", 0, 512.5]]}, "Invalid Policy: Invalid JSON."),
        ({"expiration": "2030-01-01 00:00:00", "conditions": []},
         "Invalid Policy: Invalid 'expiration' value: '2030-01-01 00:00:00'"),
        ({"conditions": []}, "Invalid Policy: Policy missing expiration."),
    ]
    for policy, message in cases:
        fields = _signed_v4(policy, {"key": "k"})
        resp = requests.post(f"{endpoint}/{bucket}", data=fields, files={"file": ("f", b"x")}, timeout=30)
        assert _fails(resp, 400, "InvalidPolicyDocument") == message


def test_signature_version_2_form(endpoint: str, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    future = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 600))
    policy = base64.b64encode(json.dumps({"expiration": future, "conditions": [
        {"bucket": bucket}, ["starts-with", "$key", "v2/"], {"success_action_status": "201"}]}).encode()).decode()
    signature = base64.b64encode(hmac.new(ROOT_SECRET_ACCESS_KEY.encode(), policy.encode(), hashlib.sha1).digest())
    fields = {"key": "v2/${filename}", "AWSAccessKeyId": ROOT_ACCESS_KEY_ID, "policy": policy,
              "signature": signature.decode(), "success_action_status": "201"}
    resp = requests.post(f"{endpoint}/{bucket}", data=fields, files={"file": ("f.bin", b"v2 bytes")}, timeout=30)
    assert resp.status_code == 201, resp.content
    assert s3.get_object(Bucket=bucket, Key="v2/f.bin")["Body"].read() == b"v2 bytes"
    fields["signature"] = base64.b64encode(b"x" * 20).decode()
    resp = requests.post(f"{endpoint}/{bucket}", data=fields, files={"file": ("f.bin", b"v2 bytes")}, timeout=30)
    assert_s3_error(resp, 403, "SignatureDoesNotMatch")
    # boto3 still signs forms this way by default in us-east-1
    v2 = s3.generate_presigned_post(bucket, "v2/boto")
    assert "AWSAccessKeyId" in v2["fields"] and post(v2).status_code == 204


def test_authorized_as_put_object_for_the_signer(s3, bucket, iam_user) -> None:  # type: ignore[no-untyped-def]
    only_prefix = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/mine/*",
         "Condition": {"StringEquals": {"s3:authtype": "POST"}}}]}
    user = iam_user(inline={"post": json.dumps(only_prefix)})
    user_s3 = user.client("s3", signature_version="s3v4")
    assert post(user_s3.generate_presigned_post(bucket, "mine/a")).status_code == 204
    denied = post(user_s3.generate_presigned_post(bucket, "theirs/a"))
    assert _fails(denied, 403, "AccessDenied").startswith(
        f"User: {user.arn} is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::{bucket}/theirs/a\"")
    with pytest.raises(ClientError) as exc:  # the same user's PUT is not a POST
        user_s3.put_object(Bucket=bucket, Key="mine/b", Body=b"x")
    assert client_error(exc) == (403, "AccessDenied")
    # anonymous forms: only where a bucket policy lets anyone write
    anonymous = {"key": "public/a"}
    url = sigv4(s3).generate_presigned_post(bucket, "x")["url"]
    assert_s3_error(requests.post(url, data=anonymous, files={"file": ("f", b"x")}, timeout=30), 403, "AccessDenied")
    s3.delete_public_access_block(Bucket=bucket)  # a public policy: new buckets block them (AWS since 2023)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/public/*"}]}))
    assert requests.post(url, data=anonymous, files={"file": ("f", b"anon")}, timeout=30).status_code == 204
    assert s3.get_object(Bucket=bucket, Key="public/a")["Body"].read() == b"anon"


def test_a_form_signed_with_temporary_credentials(endpoint: str, s3, bucket, iam_user) -> None:  # type: ignore[no-untyped-def]
    """Session credentials sign forms as they sign requests: the token rides in x-amz-security-token (boto3 adds
    it to the fields and to the policy's conditions), the request acts as the session's user."""
    only_prefix = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/mine/*"}]}
    user = iam_user(inline={"post": json.dumps(only_prefix)})
    creds = user.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    session = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"],
                           config=Config(signature_version="s3v4", retries={"max_attempts": 1}))
    presigned = session.generate_presigned_post(bucket, "mine/by-session")
    assert presigned["fields"]["x-amz-security-token"] == creds["SessionToken"]
    assert post(presigned).status_code == 204
    assert s3.get_object(Bucket=bucket, Key="mine/by-session")["Body"].read() == FILE
    denied = post(session.generate_presigned_post(bucket, "theirs/by-session"))
    assert _fails(denied, 403, "AccessDenied").startswith(f"User: {user.arn} is not authorized")
    # a token that is not ours (altered)
    forged = post(presigned, extra={"x-amz-security-token": creds["SessionToken"][:-8] + "AAAAAAAA"})
    assert_s3_error(forged, 400, "InvalidToken")
    # a token the policy does not cover is refused before anything else
    uncovered = session.generate_presigned_post(bucket, "mine/uncovered")
    fields = dict(uncovered["fields"])
    del fields["x-amz-security-token"]
    resp = requests.post(uncovered["url"], data=fields, files={"file": ("f", b"x")}, timeout=30)
    assert_s3_error(resp, 403, "InvalidAccessKeyId")


TAGGING = "<Tagging><TagSet><Tag><Key>project</Key><Value>apollo</Value></Tag><Tag><Key>tier</Key><Value></Value>" \
    "</Tag></TagSet></Tagging>"


def test_the_tagging_field_tags_the_object(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    # "tagging ... The tag-set must be encoded as XML" (RESTObjectPOST.html), as Ceph's s3-tests send it
    form = sigv4(s3).generate_presigned_post(bucket, "tagged", Fields={"tagging": TAGGING},
                                             Conditions=[["starts-with", "$tagging", ""]])
    assert post(form).status_code == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"] == [
        {"Key": "project", "Value": "apollo"}, {"Key": "tier", "Value": ""}]
    assert s3.head_object(Bucket=bucket, Key="tagged")["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-tagging-count"] == "2"
    empty = sigv4(s3).generate_presigned_post(bucket, "untagged", Fields={"tagging": "<Tagging><TagSet/></Tagging>"},
                                              Conditions=[["starts-with", "$tagging", ""]])
    assert post(empty).status_code == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="untagged")["TagSet"] == []
    # the field is read with PutObjectTagging's rules, and nothing is stored when it breaks one
    eleven = "".join(f"<Tag><Key>k{i}</Key><Value>v</Value></Tag>" for i in range(11))
    for document, status, code in (("<Tagging><TagSet>", 400, "MalformedXML"),
                                    (f"<Tagging><TagSet>{eleven}</TagSet></Tagging>", 400, "BadRequest"),
                                    ("<Tagging><TagSet><Tag><Key>aws:x</Key><Value>v</Value></Tag></TagSet>"
                                     "</Tagging>", 400, "InvalidTag")):
        bad = sigv4(s3).generate_presigned_post(bucket, "refused", Fields={"tagging": document},
                                                Conditions=[["starts-with", "$tagging", ""]])
        assert_s3_error(post(bad), status, code)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="refused")
    assert client_error(exc)[0] == 404
    # XML that is no Tagging document: stored without tags, as S3 does (LocalStack's AWS-recorded
    # test_post_object_with_tags[invalid]); it was MalformedXML
    other = sigv4(s3).generate_presigned_post(bucket, "other", Fields={"tagging": "<Other><TagSet/></Other>"},
                                              Conditions=[["starts-with", "$tagging", ""]])
    assert post(other).status_code == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="other")["TagSet"] == []
    # the field is covered by the policy like any other
    uncovered = sigv4(s3).generate_presigned_post(bucket, "k")
    assert "Extra input fields: tagging" in _fails(post(uncovered, extra={"tagging": TAGGING}), 403, "AccessDenied")


def test_form_tags_are_request_tag_condition_keys(s3, bucket, iam_user) -> None:  # type: ignore[no-untyped-def]
    only_apollo = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"s3:RequestObjectTag/project": "apollo"}}}]}
    user_s3 = iam_user(inline={"tagged": json.dumps(only_apollo)}).client("s3", signature_version="s3v4")
    allowed = user_s3.generate_presigned_post(bucket, "a", Fields={"tagging": TAGGING},
                                              Conditions=[["starts-with", "$tagging", ""]])
    assert post(allowed).status_code == 204
    assert_s3_error(post(user_s3.generate_presigned_post(bucket, "b")), 403, "AccessDenied")
    other = TAGGING.replace("apollo", "gemini")
    denied = user_s3.generate_presigned_post(bucket, "c", Fields={"tagging": other},
                                             Conditions=[["starts-with", "$tagging", ""]])
    assert_s3_error(post(denied), 403, "AccessDenied")


def test_a_form_upload_makes_a_version(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    unversioned = post(sigv4(s3).generate_presigned_post(bucket, "v"))
    assert unversioned.status_code == 204 and "x-amz-version-id" not in unversioned.headers
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = post(sigv4(s3).generate_presigned_post(bucket, "v"), data=b"one")
    form = sigv4(s3).generate_presigned_post(bucket, "v", Fields={"success_action_status": "201"},
                                             Conditions=[{"success_action_status": "201"}])
    second = post(form, data=b"two")
    assert first.status_code == 204 and second.status_code == 201
    ids = [first.headers["x-amz-version-id"], second.headers["x-amz-version-id"]]
    assert "null" not in ids and ids[0] != ids[1]
    listed = s3.list_object_versions(Bucket=bucket, Prefix="v")["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == [(ids[1], True), (ids[0], False), ("null", False)]
    assert s3.get_object(Bucket=bucket, Key="v", VersionId=ids[0])["Body"].read() == b"one"
    redirect = sigv4(s3).generate_presigned_post(bucket, "v", Fields={"success_action_redirect": "http://x.test/"},
                                                 Conditions=[{"success_action_redirect": "http://x.test/"}])
    moved = post(redirect, data=b"three")
    assert moved.status_code == 303 and moved.headers["x-amz-version-id"] not in ids
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    suspended = post(sigv4(s3).generate_presigned_post(bucket, "v"), data=b"four")
    assert "x-amz-version-id" not in suspended.headers  # the null version: named by no header, as PutObject's
    assert s3.get_object(Bucket=bucket, Key="v", VersionId="null")["Body"].read() == b"four"


def test_the_acl_field_is_judged_as_put_objects(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    public = sigv4(s3).generate_presigned_post(bucket, "k", Fields={"acl": "public-read"},
                                               Conditions=[{"acl": "public-read"}])
    assert_s3_error(post(public), 400, "AccessControlListNotSupported")  # ACLs disabled (BucketOwnerEnforced)
    owner = sigv4(s3).generate_presigned_post(bucket, "k", Fields={"acl": "bucket-owner-full-control"},
                                              Conditions=[{"acl": "bucket-owner-full-control"}])
    assert post(owner).status_code == 204
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    assert_s3_error(post(public), 403, "AccessDenied")  # BlockPublicAcls, on for new buckets
    s3.delete_public_access_block(Bucket=bucket)
    assert post(public, data=b"for everyone").status_code == 204
    assert requests.get(f"{public['url']}/k", timeout=30).content == b"for everyone"  # read anonymously
    grants = s3.get_object_acl(Bucket=bucket, Key="k")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
            "Permission": "READ"} in grants


def test_the_upload_is_audited_as_post_object(endpoint: str, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    key = unique_name("audited")
    assert post(sigv4(s3).generate_presigned_post(bucket, key)).status_code == 204
    trail = make_client(endpoint, "cloudtrail")
    deadline = time.monotonic() + 10
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = [json.loads(e["CloudTrailEvent"]) for e in trail.lookup_events(LookupAttributes=[
            {"AttributeKey": "ResourceName", "AttributeValue": f"arn:aws:s3:::{bucket}/{key}"}])["Events"]]
        if events:
            break
        time.sleep(0.2)
    assert [e["eventName"] for e in events] == ["PostObject"]
    assert events[0]["userIdentity"]["type"] == "Root"
    assert events[0]["userIdentity"]["accessKeyId"] == ROOT_ACCESS_KEY_ID
    assert events[0]["requestParameters"]["key"] == key


def _raw_post(server, bucket: str, fields: dict[str, str], size: int, *, cut: int | None = None,
              pattern: bytes = b"") -> tuple[int, bytes]:
    """A form streamed with http.client (Content-Length, no chunking), its file ``size`` bytes of ``pattern``
    repeated; ``cut`` stops sending after that many file bytes and closes."""
    boundary = "----StoreroomBoundary7MA4YWxkTrZu0gW"
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in fields.items())
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n' \
            "Content-Type: application/octet-stream\r\n\r\n"
    tail = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.putrequest("POST", f"/{bucket}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head.encode()) + size + len(tail)))
    conn.endheaders()
    conn.send(head.encode())
    block = (pattern * (MiB // max(len(pattern), 1) + 1))[:MiB] if pattern else os.urandom(MiB)
    sent = 0
    while sent < size:
        n = min(MiB, size - sent, (cut - sent) if cut is not None else MiB)
        if n <= 0:
            break
        conn.send(block[:n])
        sent += n
    if cut is not None:
        conn.close()
        return 0, b""
    conn.send(tail)
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_a_large_form_streams_in_flat_memory(fresh_server) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.test_durability import RssSampler, tree_rss_bytes

    s3 = make_client(fresh_server.endpoint)
    s3.create_bucket(Bucket="forms")
    # a file full of near-boundaries: CR LF and dashes where the parser must look twice
    pattern = b"data\r\n--\r\n------StoreroomBoundary7MA4YWxkTrZu0g\r\n-"
    assert _raw_post(fresh_server, "forms", sigv4(s3).generate_presigned_post("forms", "warm")["fields"], 4 * MiB,
                     pattern=pattern)[0] == 204
    time.sleep(0.2)
    pid = fresh_server.proc.pid
    baseline = tree_rss_bytes(pid)
    sampler = RssSampler(pid)
    sampler.start()
    size = 160 * MiB + 7
    status, body = _raw_post(fresh_server, "forms", sigv4(s3).generate_presigned_post("forms", "big")["fields"], size,
                             pattern=pattern)
    peak = sampler.stop()
    assert status == 204, body
    head = s3.head_object(Bucket="forms", Key="big")
    assert head["ContentLength"] == size
    expected = hashlib.md5()
    block = (pattern * (MiB // len(pattern) + 1))[:MiB]
    for start in range(0, size, MiB):
        expected.update(block[:min(MiB, size - start)])
    assert head["ETag"] == f'"{expected.hexdigest()}"'
    assert peak - baseline < 48 * MiB, f"server RSS grew by {(peak - baseline) / MiB:.1f} MiB"
    # a body cut off in the file stores nothing
    _raw_post(fresh_server, "forms", sigv4(s3).generate_presigned_post("forms", "cut")["fields"], 8 * MiB, cut=3 * MiB)
    time.sleep(0.5)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket="forms", Key="cut")
    assert client_error(exc)[0] == 404


def test_a_form_without_its_closing_boundary_is_malformed(endpoint: str, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    fields = sigv4(s3).generate_presigned_post(bucket, "k")["fields"]
    boundary = "b0undary"
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in fields.items())
    body += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nabc'
    resp = requests.post(f"{endpoint}/{bucket}", data=body.encode(),
                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=30)
    assert_s3_error(resp, 400, "MalformedPOSTRequest")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_a_form_with_two_files_is_refused_and_stores_nothing(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    """S3 takes exactly one file a form (a browser's ``<input type=file multiple>`` sends one part per file): a
    second ``file`` part is InvalidArgument, as S3 answers it, not a first file stored and the second dropped
    (browser probe, finding 2)."""
    presigned = sigv4(s3).generate_presigned_post(bucket, "two/${filename}")
    resp = requests.post(presigned["url"], data=presigned["fields"],
                         files=[("file", ("a.txt", b"first", "text/plain")),
                                ("file", ("b.txt", b"second", "text/plain"))],
                         allow_redirects=False, timeout=30)
    error = assert_s3_error(resp, 400, "InvalidArgument")
    assert error["Message"] == "POST requires exactly one file upload per request."
    assert (error["ArgumentName"], error["ArgumentValue"]) == ("file", "2")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="two/")
