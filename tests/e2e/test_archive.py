"""Archived objects (GLACIER, DEEP_ARCHIVE) and RestoreObject, as S3 documents them
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/archived-objects.html): HEAD answers, GET and copies are
``403 InvalidObjectState`` until a restored copy exists, which RestoreObject makes (at once here) for some days.
Before, such objects were labels only: readable at once, and RestoreObject answered 501."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import StoreroomServer, make_client
from tests.e2e.helpers import assert_s3_error, client_error, later, signed_request

MiB = 1024 * 1024


def _expiry(restore: str) -> dt.datetime:
    assert restore.startswith('ongoing-request="false", expiry-date="'), restore
    return email.utils.parsedate_to_datetime(restore.split('expiry-date="')[1].rstrip('"'))


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_an_archived_object_is_read_after_its_restore(s3, bucket, storage_class) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="cold", Body=b"frozen", StorageClass=storage_class)
    head = s3.head_object(Bucket=bucket, Key="cold")
    assert head["StorageClass"] == storage_class and "Restore" not in head
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="cold")
    assert client_error(exc) == (403, "InvalidObjectState")
    assert exc.value.response["Error"]["StorageClass"] == storage_class
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="warm", CopySource={"Bucket": bucket, "Key": "cold"})
    assert client_error(exc) == (403, "InvalidObjectState")

    answer = s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={
        "Days": 2, "GlacierJobParameters": {"Tier": "Standard"}})
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    expiry = _expiry(s3.head_object(Bucket=bucket, Key="cold")["Restore"])
    now = dt.datetime.now(dt.UTC)
    # "adding the number of days ... and then rounding to the next day at midnight UTC"
    assert (expiry.hour, expiry.minute, expiry.second) == (0, 0, 0)
    assert now + dt.timedelta(days=2) <= expiry <= now + dt.timedelta(days=3)
    assert s3.get_object(Bucket=bucket, Key="cold")["Body"].read() == b"frozen"
    s3.copy_object(Bucket=bucket, Key="warm", CopySource={"Bucket": bucket, "Key": "cold"})
    assert s3.head_object(Bucket=bucket, Key="warm").get("StorageClass") is None  # the copy is STANDARD
    again = s3.restore_object(Bucket=bucket, Key="cold", RestoreRequest={"Days": 5})
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200  # a restored copy exists: its days are extended
    assert _expiry(s3.head_object(Bucket=bucket, Key="cold")["Restore"]) >= now + dt.timedelta(days=5)


def test_a_multipart_copy_from_an_archived_object_is_refused(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="cold", Body=b"x" * 100, StorageClass="GLACIER")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "cold"})
    assert client_error(exc) == (403, "InvalidObjectState")
    s3.abort_multipart_upload(Bucket=bucket, Key="dst", UploadId=upload)


def test_restore_of_what_is_not_archived_and_malformed_requests(endpoint, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    for storage_class in ("STANDARD", "GLACIER_IR", "STANDARD_IA"):
        s3.put_object(Bucket=bucket, Key="warm", Body=b"x", StorageClass=storage_class)
        assert s3.get_object(Bucket=bucket, Key="warm")["Body"].read() == b"x"  # readable at once
        with pytest.raises(ClientError) as exc:
            s3.restore_object(Bucket=bucket, Key="warm", RestoreRequest={"Days": 1})
        assert client_error(exc) == (403, "InvalidObjectState")
    s3.put_object(Bucket=bucket, Key="cold", Body=b"x", StorageClass="GLACIER")
    url = f"{endpoint}/{bucket}/cold?restore"
    assert_s3_error(signed_request("POST", url, {}, b"<RestoreRequest/>"), 400, "MalformedXML")
    assert_s3_error(signed_request("POST", url, {}, b"<RestoreRequest><Days>0</Days></RestoreRequest>"), 400,
                    "InvalidArgument")
    assert_s3_error(signed_request("POST", url, {}, b"<RestoreRequest><Days>1</Days><GlacierJobParameters>"
                                   b"<Tier>Fast</Tier></GlacierJobParameters></RestoreRequest>"), 400, "MalformedXML")
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket=bucket, Key="missing", RestoreRequest={"Days": 1})
    assert client_error(exc) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="cold")
    assert client_error(exc)[1] == "InvalidObjectState"  # nothing of the refused requests restored it


def test_a_restored_copy_expires(clocked_server: StoreroomServer, clock_file: Path) -> None:
    """Past its expiry date the object is archived again (the server's test clock moved three days on)."""
    s3 = make_client(clocked_server.endpoint)
    s3.create_bucket(Bucket="expiring")
    s3.put_object(Bucket="expiring", Key="cold", Body=b"x", StorageClass="DEEP_ARCHIVE")
    s3.restore_object(Bucket="expiring", Key="cold", RestoreRequest={"Days": 1})
    assert s3.get_object(Bucket="expiring", Key="cold")["Body"].read() == b"x"
    with later(clock_file, 3 * 86_400):
        assert "Restore" not in s3.head_object(Bucket="expiring", Key="cold")
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket="expiring", Key="cold")
        assert client_error(exc) == (403, "InvalidObjectState")
        assert s3.restore_object(Bucket="expiring", Key="cold", RestoreRequest={"Days": 1})[
            "ResponseMetadata"]["HTTPStatusCode"] == 202


def test_listings_name_a_restored_copy_when_asked(endpoint, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """x-amz-optional-object-attributes: RestoreStatus adds each restored object's RestoreStatus to ListObjects(V2)
    and ListObjectVersions (ceph/s3-tests test_list_objects_restore_status: present for a restored copy, absent
    otherwise); another attribute name is InvalidArgument.  It was ignored."""
    s3.put_object(Bucket=bucket, Key="a-cold", Body=b"x", StorageClass="GLACIER")
    s3.put_object(Bucket=bucket, Key="b-restored", Body=b"x", StorageClass="GLACIER")
    s3.put_object(Bucket=bucket, Key="c-warm", Body=b"x")
    s3.restore_object(Bucket=bucket, Key="b-restored", RestoreRequest={"Days": 1})
    for listed in (s3.list_objects_v2(Bucket=bucket, OptionalObjectAttributes=["RestoreStatus"])["Contents"],
                   s3.list_objects(Bucket=bucket, OptionalObjectAttributes=["RestoreStatus"])["Contents"],
                   s3.list_object_versions(Bucket=bucket, OptionalObjectAttributes=["RestoreStatus"])["Versions"]):
        status = {o["Key"]: o.get("RestoreStatus") for o in listed}
        assert status["a-cold"] is None and status["c-warm"] is None
        assert status["b-restored"]["IsRestoreInProgress"] is False
        assert status["b-restored"]["RestoreExpiryDate"] > dt.datetime.now(dt.UTC)
    assert all("RestoreStatus" not in o for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    r = signed_request("GET", f"{endpoint}/{bucket}?list-type=2", {"x-amz-optional-object-attributes": "Bogus"})
    assert assert_s3_error(r, 400, "InvalidArgument")["Message"] == "Invalid attribute name specified"


def test_restore_names_a_version_and_needs_its_permission(s3, bucket, iam_user) -> None:  # type: ignore[no-untyped-def]
    """RestoreObject ?versionId= restores that version only; a key whose current version is a delete marker is
    404 NoSuchKey; a caller without s3:RestoreObject is refused and restores nothing."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=bucket, Key="v", Body=b"old", StorageClass="GLACIER")["VersionId"]
    s3.put_object(Bucket=bucket, Key="v", Body=b"new", StorageClass="GLACIER")
    reader = iam_user(inline={"read": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": f"arn:aws:s3:::{bucket}/*"}]})})
    with pytest.raises(ClientError) as exc:
        reader.s3.restore_object(Bucket=bucket, Key="v", VersionId=old, RestoreRequest={"Days": 1})
    assert client_error(exc) == (403, "AccessDenied")
    assert s3.restore_object(Bucket=bucket, Key="v", VersionId=old, RestoreRequest={"Days": 1})[
        "ResponseMetadata"]["HTTPStatusCode"] == 202
    assert s3.get_object(Bucket=bucket, Key="v", VersionId=old)["Body"].read() == b"old"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="v")  # the current version is still archived
    assert client_error(exc) == (403, "InvalidObjectState")
    s3.delete_object(Bucket=bucket, Key="v")
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket=bucket, Key="v", RestoreRequest={"Days": 1})
    assert client_error(exc) == (404, "NoSuchKey")
