"""Values at the edges of what S3 reads, each found by fuzzing to be accepted and stored, after which every read of
the object or bucket failed (500, or no answer at all): a date past the year 9999, a number of days beyond a Java
int, a control character in a lifecycle rule's ID or in a POST form's field, a digit that is no ASCII digit."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import assert_s3_error, b64, client_error, signed_request, unique_name

LAST_HTTP_DATE = "Fri, 31 Dec 9999 23:59:59 GMT"


def _md5(body: bytes) -> dict[str, str]:
    return {"Content-MD5": b64(hashlib.md5(body).digest())}


def test_a_retain_until_date_past_the_year_9999_is_no_date(endpoint: str, s3: Any, track_bucket: Any) -> None:
    bucket = track_bucket(unique_name("edge-lock"))
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    late = "9999-12-31T23:59:59-23:59"  # 10000-01-01T23:58:59Z
    r = signed_request("PUT", f"{endpoint}/{bucket}/b", {**_md5(b"x"), "x-amz-object-lock-mode": "GOVERNANCE",
                                                          "x-amz-object-lock-retain-until-date": late}, b"x")
    assert r.status_code == 400, r.content
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    body = f"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>{late}</RetainUntilDate></Retention>".encode()
    r = signed_request("PUT", f"{endpoint}/{bucket}/a?retention", _md5(body), body)
    assert r.status_code == 400, r.content
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x"
    assert s3.list_object_versions(Bucket=bucket)["Versions"][0]["Key"] == "a"  # "b" was never stored
    # a default retention's period is an ASCII number
    for days in ("1_0", "\u0663"):
        body = (f"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>"
                f"<Mode>GOVERNANCE</Mode><Days>{days}</Days></DefaultRetention></Rule></ObjectLockConfiguration>"
                ).encode()
        assert_s3_error(signed_request("PUT", f"{endpoint}/{bucket}?object-lock", _md5(body), body), 400,
                        "MalformedXML")


def test_lifecycle_days_are_a_java_int_and_far_dates_are_written(s3: Any, bucket: str) -> None:
    def rules(days: int) -> dict[str, Any]:
        return {"Rules": [{"ID": "far", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": days},
                           "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days}}]}
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules(2**31))
    assert client_error(exc) == (400, "MalformedXML")
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=rules(2**31 - 1))
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert put["Expiration"] == f'expiry-date="{LAST_HTTP_DATE}", rule-id="far"'
    assert s3.head_object(Bucket=bucket, Key="k")["Expiration"] == put["Expiration"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    s3.copy_object(Bucket=bucket, Key="k2", CopySource={"Bucket": bucket, "Key": "k"})
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")
    assert upload["ResponseMetadata"]["HTTPHeaders"]["x-amz-abort-date"] == LAST_HTTP_DATE
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=upload["UploadId"])


def test_a_rule_id_with_a_line_break_is_percent_encoded_in_headers(endpoint: str, s3: Any, bucket: str) -> None:
    body = (b"<LifecycleConfiguration><Rule><ID>a&#13;&#10;b&#x7F;</ID><Filter></Filter><Status>Enabled</Status>"
            b"<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>"
            b"</AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>")
    r = signed_request("PUT", f"{endpoint}/{bucket}?lifecycle", _md5(body), body)
    assert r.status_code == 200, r.content
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m")  # there was no answer at all
    assert upload["ResponseMetadata"]["HTTPHeaders"]["x-amz-abort-rule-id"] == "a%0D%0Ab%7F"
    parts = s3.list_parts(Bucket=bucket, Key="m", UploadId=upload["UploadId"])
    assert parts["AbortRuleId"] == "a%0D%0Ab%7F"
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=upload["UploadId"])


def test_a_post_forms_header_field_cannot_hold_a_control_character(s3: Any, bucket: str) -> None:
    from tests.e2e.test_post_object import post, sigv4

    for field in ("Content-Type", "Cache-Control", "x-amz-meta-note"):
        presigned = sigv4(s3).generate_presigned_post(bucket, "posted", Fields={field: "a\r\nb"},
                                                      Conditions=[{field: "a\r\nb"}])
        resp = post(presigned)
        assert resp.status_code == 400 and b"<Code>InvalidArgument</Code>" in resp.content, resp.content
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="posted")
    assert client_error(exc) == (404, "404")
    # a policy's content-length-range with more digits than a size has is no bound: the condition fails (was 500)
    presigned = sigv4(s3).generate_presigned_post(bucket, "sized", Conditions=[
        ["content-length-range", "0", "9" * 5000]])
    resp = post(presigned)
    assert resp.status_code == 403 and b"<Code>AccessDenied</Code>" in resp.content, resp.content


def test_a_restore_for_days_beyond_a_java_int_is_refused_and_far_expiries_are_written(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="cold", Body=b"x", StorageClass="GLACIER")
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={"Days": 2**31})
    assert client_error(exc) == (400, "InvalidArgument")
    s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={"Days": 2**31 - 1})
    assert s3.head_object(Bucket=bucket, Key="cold")["Restore"] == (
        f'ongoing-request="false", expiry-date="{LAST_HTTP_DATE}"')
    assert s3.get_object(Bucket=bucket, Key="cold")["Body"].read() == b"x"
    listed = s3.list_objects_v2(Bucket=bucket, OptionalObjectAttributes=["RestoreStatus"])["Contents"][0]
    assert listed["RestoreStatus"]["RestoreExpiryDate"].year == 9999


@pytest.mark.parametrize("max_age", ["\u00b2", "--5", str(2**31)])
def test_cors_max_age_is_an_ascii_java_int(endpoint: str, bucket: str, max_age: str) -> None:
    body = (f"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            f"<MaxAgeSeconds>{max_age}</MaxAgeSeconds></CORSRule></CORSConfiguration>").encode()
    assert_s3_error(signed_request("PUT", f"{endpoint}/{bucket}?cors", _md5(body), body), 400, "MalformedXML")


def test_a_stored_control_character_is_percent_encoded_not_dropped() -> None:
    """The edge's last guard, for values stored before they were refused at the door: the server (uvicorn)
    drops the connection rather than send a header holding a line break."""
    import asyncio

    from storeroom.http.types import Response, send_response

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(send_response(send, Response(200, [("content-type", "a\r\nb\x00"), ("x-amz-meta-ok", "fine")], b""),
                              []))
    assert dict(sent[0]["headers"])[b"content-type"] == b"a%0D%0Ab%00"
    assert dict(sent[0]["headers"])[b"x-amz-meta-ok"] == b"fine"
