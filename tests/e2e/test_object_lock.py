"""Object Lock against a real server, with boto3, the AWS CLI and rclone: the bucket's configuration and its
errors, retention and legal hold per version, the ``x-amz-object-lock-*`` headers on PUT, multipart, copy and POST
forms, the bucket's default retention, what GET/HEAD show and to whom, and enforcement -- a locked version is
not deleted by DELETE ?versionId, DeleteObjects or lifecycle, COMPLIANCE not even for root, GOVERNANCE only with
the bypass header and s3:BypassGovernanceRetention; retention is extended, not shortened.

Locked versions stay behind on the servers the tests use (that is the point): the bucket cleanup is best-effort.
Short retention periods (a few seconds) stand for a date that passes."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import (
    REGION,
    ROOT_ACCESS_KEY_ID,
    ROOT_SECRET_ACCESS_KEY,
    StoreroomServer,
    make_client,
    meta_url_for,
)
from tests.e2e.helpers import b64, md5_hex, sign_headers, unique_name

LOCKED = "Access Denied because object protected by object lock."
MISSING = "Bucket is missing Object Lock Configuration"


def error(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        call()
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def future(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


@pytest.fixture
def lock_bucket(s3: Any, track_bucket: Callable[[str], str]) -> str:
    name = track_bucket(unique_name("lock"))
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def put(s3: Any, bucket: str, key: str, body: bytes = b"data", **kwargs: Any) -> str:
    return str(s3.put_object(Bucket=bucket, Key=key, Body=body, **kwargs)["VersionId"])


# -- the bucket's configuration ----------------------------------------------------------------------------------

def test_lock_bucket_is_versioned_and_cannot_be_suspended(s3: Any, lock_bucket: str) -> None:
    assert s3.get_bucket_versioning(Bucket=lock_bucket)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=lock_bucket)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"}
    status, code, message = error(lambda: s3.put_bucket_versioning(
        Bucket=lock_bucket, VersioningConfiguration={"Status": "Suspended"}))
    assert (status, code) == (409, "InvalidBucketState")
    assert message == ("An Object Lock configuration is present on this bucket, so the versioning state cannot be "
                       "changed.")
    s3.put_bucket_versioning(Bucket=lock_bucket, VersioningConfiguration={"Status": "Enabled"})  # a no-op: allowed


def test_configuration_round_trip_and_errors(s3: Any, lock_bucket: str) -> None:
    config = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 3}}}
    s3.put_object_lock_configuration(Bucket=lock_bucket, ObjectLockConfiguration=config)
    assert s3.get_object_lock_configuration(Bucket=lock_bucket)["ObjectLockConfiguration"] == config
    years = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 2}}}
    s3.put_object_lock_configuration(Bucket=lock_bucket, ObjectLockConfiguration=years)
    assert s3.get_object_lock_configuration(Bucket=lock_bucket)["ObjectLockConfiguration"] == years

    def refused(conf: dict[str, Any]) -> tuple[int, str, str]:
        return error(lambda: s3.put_object_lock_configuration(Bucket=lock_bucket, ObjectLockConfiguration=conf))
    assert refused({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {
        "Mode": "GOVERNANCE", "Days": 1, "Years": 1}}})[:2] == (400, "MalformedXML")
    assert refused({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE"}}})[:2] == (
        400, "MalformedXML")
    assert refused({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "SOMETIMES",
                                                                                   "Days": 1}}})[:2] == (
        400, "MalformedXML")
    assert refused({"ObjectLockEnabled": "Disabled"})[:2] == (400, "MalformedXML")
    # no body at all (moto's AWS-verified test_put_object_lock_misconfiguration)
    assert error(lambda: s3.put_object_lock_configuration(Bucket=lock_bucket)) == (
        400, "MissingRequestBodyError", "Request Body is empty")
    assert refused({"ObjectLockEnabled": "Enabled", "Rule": {}})[:2] == (400, "MalformedXML")
    assert refused({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE",
                                                                                   "Days": 0}}}) == (
        400, "InvalidArgument", "Default retention period must be a positive integer value.")
    assert refused({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE",
                                                                                   "Years": -1}}})[:2] == (
        400, "InvalidArgument")
    # the rule stays as it was; a configuration without a rule removes the default, not the lock
    assert s3.get_object_lock_configuration(Bucket=lock_bucket)["ObjectLockConfiguration"] == years
    s3.put_object_lock_configuration(Bucket=lock_bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    assert s3.get_object_lock_configuration(Bucket=lock_bucket)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"}


def test_existing_bucket_gets_object_lock_once_versioned(s3: Any, bucket: str) -> None:
    """AWS allows Object Lock on existing buckets since November 2023, provided versioning is Enabled."""
    assert error(lambda: s3.get_object_lock_configuration(Bucket=bucket)) == (
        404, "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket")
    enable = {"ObjectLockEnabled": "Enabled"}
    assert error(lambda: s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=enable)) == (
        409, "InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert error(lambda: s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=enable))[1] == (
        "InvalidBucketState")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=enable)
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == enable
    assert error(lambda: s3.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}))[1] == "InvalidBucketState"


def test_version_lock_operations_on_a_bucket_without_lock(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    until = future(3600)
    for call in (lambda: s3.get_object_retention(Bucket=bucket, Key="k"),
                 lambda: s3.get_object_legal_hold(Bucket=bucket, Key="k"),
                 lambda: s3.put_object_retention(Bucket=bucket, Key="k", Retention={
                     "Mode": "GOVERNANCE", "RetainUntilDate": until}),
                 lambda: s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"}),
                 lambda: s3.put_object(Bucket=bucket, Key="h", Body=b"x", ObjectLockLegalHoldStatus="ON"),
                 lambda: s3.put_object(Bucket=bucket, Key="h", Body=b"x", ObjectLockMode="GOVERNANCE",
                                       ObjectLockRetainUntilDate=until)):
        assert error(call) == (400, "InvalidRequest", MISSING)
    # the governance bypass, true or false, where no lock is (LocalStack's AWS-recorded delete-object-bypass-no-lock)
    only = "x-amz-bypass-governance-retention is only applicable to Object Lock enabled buckets."
    for bypass in (True, False):
        assert error(lambda b=bypass: s3.delete_object(  # type: ignore[misc]
            Bucket=bucket, Key="k", BypassGovernanceRetention=b)) == (400, "InvalidArgument", only)
        assert error(lambda b=bypass: s3.delete_objects(  # type: ignore[misc]
            Bucket=bucket, Delete={"Objects": [{"Key": "k"}]}, BypassGovernanceRetention=b)) == (
            400, "InvalidArgument", only)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_retention_and_legal_hold_reads_and_errors(s3: Any, lock_bucket: str) -> None:
    version = put(s3, lock_bucket, "k")
    assert error(lambda: s3.get_object_retention(Bucket=lock_bucket, Key="k")) == (
        404, "NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration")
    assert error(lambda: s3.get_object_legal_hold(Bucket=lock_bucket, Key="k"))[1] == "NoSuchObjectLockConfiguration"
    assert error(lambda: s3.put_object_retention(Bucket=lock_bucket, Key="k", Retention={
        "Mode": "GOVERNANCE", "RetainUntilDate": future(-60)})) == (
        400, "InvalidArgument", "The retain until date must be in the future!")
    assert error(lambda: s3.put_object_retention(Bucket=lock_bucket, Key="k", Retention={
        "Mode": "FOREVER", "RetainUntilDate": future(60)}))[:2] == (400, "MalformedXML")
    assert error(lambda: s3.put_object_legal_hold(Bucket=lock_bucket, Key="k", LegalHold={"Status": "MAYBE"}))[:2] == (
        400, "MalformedXML")
    assert error(lambda: s3.get_object_retention(Bucket=lock_bucket, Key="nope"))[:2] == (404, "NoSuchKey")
    until = future(3600).replace(microsecond=123000)
    s3.put_object_retention(Bucket=lock_bucket, Key="k", VersionId=version,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
    got = s3.get_object_retention(Bucket=lock_bucket, Key="k", VersionId=version)["Retention"]
    assert got == {"Mode": "GOVERNANCE", "RetainUntilDate": until}
    s3.put_object_legal_hold(Bucket=lock_bucket, Key="k", LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket=lock_bucket, Key="k")["LegalHold"] == {"Status": "OFF"}
    # a delete marker has no lock: 405 as for its tags
    marker = s3.delete_object(Bucket=lock_bucket, Key="k")["VersionId"]
    assert error(lambda: s3.get_object_retention(Bucket=lock_bucket, Key="k", VersionId=marker))[:2] == (
        405, "MethodNotAllowed")


# -- enforcement ------------------------------------------------------------------------------------------------

def test_compliance_is_not_lifted_even_for_root(s3: Any, lock_bucket: str) -> None:
    version = put(s3, lock_bucket, "ledger", b"ledger-1")
    until = future(3600)
    s3.put_object_retention(Bucket=lock_bucket, Key="ledger",
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
    head = s3.head_object(Bucket=lock_bucket, Key="ledger")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert abs((head["ObjectLockRetainUntilDate"] - until).total_seconds()) < 0.001
    delete_version = lambda **kw: s3.delete_object(Bucket=lock_bucket, Key="ledger", VersionId=version, **kw)  # noqa: E731
    assert error(delete_version) == (403, "AccessDenied", LOCKED)
    assert error(lambda: delete_version(BypassGovernanceRetention=True)) == (403, "AccessDenied", LOCKED)
    answer = s3.delete_objects(Bucket=lock_bucket, BypassGovernanceRetention=True, Delete={"Objects": [
        {"Key": "ledger", "VersionId": version}]})
    assert answer["Errors"] == [{"Key": "ledger", "VersionId": version, "Code": "AccessDenied", "Message": LOCKED}]
    assert "Deleted" not in answer
    # shortened, removed, or turned into GOVERNANCE: refused, bypass or not
    for retention in ({"Mode": "COMPLIANCE", "RetainUntilDate": future(60)},
                      {"Mode": "GOVERNANCE", "RetainUntilDate": future(7200)}):
        assert error(lambda r=retention: s3.put_object_retention(  # type: ignore[misc]
            Bucket=lock_bucket, Key="ledger", Retention=r, BypassGovernanceRetention=True)) == (
            403, "AccessDenied", LOCKED)
    # extended: anyone allowed s3:PutObjectRetention may
    later = future(7200)
    s3.put_object_retention(Bucket=lock_bucket, Key="ledger",
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later})
    assert s3.get_object_retention(Bucket=lock_bucket, Key="ledger")["Retention"]["RetainUntilDate"] == later.replace(
        microsecond=later.microsecond // 1000 * 1000)
    # a DELETE without a version adds a delete marker, as usual; the version is still there and readable
    marker = s3.delete_object(Bucket=lock_bucket, Key="ledger")
    assert marker["DeleteMarker"] is True
    assert s3.get_object(Bucket=lock_bucket, Key="ledger", VersionId=version)["Body"].read() == b"ledger-1"
    s3.delete_object(Bucket=lock_bucket, Key="ledger", VersionId=marker["VersionId"])  # markers are never locked
    assert s3.get_object(Bucket=lock_bucket, Key="ledger")["Body"].read() == b"ledger-1"
    assert error(lambda: s3.delete_bucket(Bucket=lock_bucket))[1] == "BucketNotEmpty"


def test_governance_yields_only_to_the_bypass_permission(s3: Any, lock_bucket: str, iam_user: Any) -> None:
    object_arn = f"arn:aws:s3:::{lock_bucket}/*"
    worker = ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion",
              "s3:PutObjectRetention", "s3:GetObjectRetention", "s3:ListBucket"]

    def policy(*actions: str) -> dict[str, str]:
        return {"p": json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": list(actions), "Resource": [object_arn, f"arn:aws:s3:::{lock_bucket}"]}]})}
    plain = iam_user(inline=policy(*worker))
    admin = iam_user(inline=policy(*worker, "s3:BypassGovernanceRetention"))
    v1 = put(s3, lock_bucket, "doc", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=future(3600))
    v2 = put(s3, lock_bucket, "doc", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=future(3600))

    assert error(lambda: plain.s3.delete_object(Bucket=lock_bucket, Key="doc", VersionId=v1)) == (
        403, "AccessDenied", LOCKED)
    assert error(lambda: plain.s3.delete_object(Bucket=lock_bucket, Key="doc", VersionId=v1,
                                                BypassGovernanceRetention=True)) == (403, "AccessDenied", LOCKED)
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": future(60)}
    assert error(lambda: plain.s3.put_object_retention(Bucket=lock_bucket, Key="doc", VersionId=v1,
                                                       Retention=shorter, BypassGovernanceRetention=True)) == (
        403, "AccessDenied", LOCKED)
    # the permission without the header changes nothing
    assert error(lambda: admin.s3.delete_object(Bucket=lock_bucket, Key="doc", VersionId=v1))[2] == LOCKED
    admin.s3.put_object_retention(Bucket=lock_bucket, Key="doc", VersionId=v1, Retention=shorter,
                                  BypassGovernanceRetention=True)
    admin.s3.delete_object(Bucket=lock_bucket, Key="doc", VersionId=v1, BypassGovernanceRetention=True)
    answer = admin.s3.delete_objects(Bucket=lock_bucket, BypassGovernanceRetention=True,
                                     Delete={"Objects": [{"Key": "doc", "VersionId": v2}]})
    assert answer["Deleted"] == [{"Key": "doc", "VersionId": v2}] and "Errors" not in answer
    # GOVERNANCE turned into COMPLIANCE alters the lock's settings, which governance keeps to those who may bypass
    # it (ceph/ceph#42505, tried on S3; MinIO, Scality alike): else anyone allowed s3:PutObjectRetention could
    # make a version undeletable by everyone; then nobody gets past it
    v3 = put(s3, lock_bucket, "doc", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=future(3600))
    compliance = {"Mode": "COMPLIANCE", "RetainUntilDate": future(3700)}
    for caller, bypass in ((plain, False), (plain, True), (admin, False)):
        assert error(lambda c=caller, b=bypass: c.s3.put_object_retention(  # type: ignore[misc]
            Bucket=lock_bucket, Key="doc", VersionId=v3, Retention=compliance, BypassGovernanceRetention=b)) == (
            403, "AccessDenied", LOCKED)
    plain.s3.put_object_retention(Bucket=lock_bucket, Key="doc", VersionId=v3,  # extended: no bypass needed
                                  Retention={"Mode": "GOVERNANCE", "RetainUntilDate": future(3650)})
    admin.s3.put_object_retention(Bucket=lock_bucket, Key="doc", VersionId=v3, Retention=compliance,
                                  BypassGovernanceRetention=True)
    assert error(lambda: admin.s3.delete_object(Bucket=lock_bucket, Key="doc", VersionId=v3,
                                                BypassGovernanceRetention=True))[2] == LOCKED


def test_lock_headers_only_for_callers_who_may_read_them(s3: Any, lock_bucket: str, iam_user: Any) -> None:
    put(s3, lock_bucket, "k", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=future(3600),
        ObjectLockLegalHoldStatus="ON")
    reader = iam_user(inline={"p": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::{lock_bucket}/*"}]})})
    head = reader.s3.head_object(Bucket=lock_bucket, Key="k")
    assert not any(k.startswith("ObjectLock") for k in head)
    full = s3.head_object(Bucket=lock_bucket, Key="k")
    assert (full["ObjectLockMode"], full["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", "ON")
    got = s3.get_object(Bucket=lock_bucket, Key="k")
    assert got["ObjectLockMode"] == "GOVERNANCE" and got["ObjectLockLegalHoldStatus"] == "ON"


def test_legal_hold_blocks_until_removed(s3: Any, lock_bucket: str) -> None:
    version = put(s3, lock_bucket, "evidence", ObjectLockLegalHoldStatus="ON")
    assert s3.get_object_legal_hold(Bucket=lock_bucket, Key="evidence")["LegalHold"] == {"Status": "ON"}
    assert error(lambda: s3.get_object_retention(Bucket=lock_bucket, Key="evidence"))[1] == (
        "NoSuchObjectLockConfiguration")
    for bypass in (False, True):  # a legal hold knows no bypass
        assert error(lambda b=bypass: s3.delete_object(  # type: ignore[misc]
            Bucket=lock_bucket, Key="evidence", VersionId=version, BypassGovernanceRetention=b))[2] == LOCKED
    s3.put_object_legal_hold(Bucket=lock_bucket, Key="evidence", VersionId=version, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=lock_bucket, Key="evidence", VersionId=version)
    assert error(lambda: s3.head_object(Bucket=lock_bucket, Key="evidence", VersionId=version))[0] == 404


def test_retention_ends_at_its_date(s3: Any, lock_bucket: str) -> None:
    version = put(s3, lock_bucket, "brief", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=future(2))
    assert error(lambda: s3.delete_object(Bucket=lock_bucket, Key="brief", VersionId=version))[2] == LOCKED
    time.sleep(2.5)
    s3.delete_object(Bucket=lock_bucket, Key="brief", VersionId=version)
    assert "Versions" not in s3.list_object_versions(Bucket=lock_bucket, Prefix="brief")


# -- writes: headers, the default, integrity ----------------------------------------------------------------------

def test_write_headers_are_checked(s3: Any, lock_bucket: str) -> None:
    until = future(3600)
    assert error(lambda: s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE")) == (
        400, "InvalidArgument",
        "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
    assert error(lambda: s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockRetainUntilDate=until))[1] == (
        "InvalidArgument")
    assert error(lambda: s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockMode="governance",
                                       ObjectLockRetainUntilDate=until)) == (
        400, "InvalidArgument", "Unknown wormMode directive.")
    assert error(lambda: s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                                       ObjectLockRetainUntilDate=future(-10)))[1:] == (
        "InvalidArgument", "The retain until date must be in the future!")
    assert error(lambda: s3.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockLegalHoldStatus="on"))[1] == (
        "InvalidArgument")
    assert "Versions" not in s3.list_object_versions(Bucket=lock_bucket)


def test_locked_puts_need_content_md5_or_a_checksum(endpoint: str, lock_bucket: str) -> None:
    """boto3 sends a CRC32 by default; told to send none, a locked PUT is refused until Content-MD5 is given."""
    bare = make_client(endpoint, request_checksum_calculation="when_required")
    until = future(3600)
    message = ("Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock "
               "parameters")
    assert error(lambda: bare.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                                         ObjectLockRetainUntilDate=until)) == (400, "InvalidRequest", message)
    assert error(lambda: bare.put_object(Bucket=lock_bucket, Key="k", Body=b"x",
                                         ObjectLockLegalHoldStatus="OFF"))[2] == message
    bare.put_object(Bucket=lock_bucket, Key="plain", Body=b"x")  # nothing locked: nothing required
    bare.put_object(Bucket=lock_bucket, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                    ObjectLockRetainUntilDate=until, ContentMD5=b64(bytes.fromhex(md5_hex(b"x"))))
    # the bucket's default retention makes every PUT a locked one
    bare.put_object_lock_configuration(Bucket=lock_bucket, ContentMD5=b64(bytes.fromhex(md5_hex(
        b'<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled'
        b'</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days>1</Days></DefaultRetention>'
        b'</Rule></ObjectLockConfiguration>'))), ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    assert error(lambda: bare.put_object(Bucket=lock_bucket, Key="plain", Body=b"x"))[2] == message


def test_default_retention_applies_to_new_versions(s3: Any, lock_bucket: str) -> None:
    s3.put_object_lock_configuration(Bucket=lock_bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2}}})
    before = dt.datetime.now(dt.UTC)
    version = put(s3, lock_bucket, "auto")
    retention = s3.get_object_retention(Bucket=lock_bucket, Key="auto")["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    expected = before + dt.timedelta(days=2)
    assert abs((retention["RetainUntilDate"] - expected).total_seconds()) < 60
    assert error(lambda: s3.delete_object(Bucket=lock_bucket, Key="auto", VersionId=version,
                                          BypassGovernanceRetention=True))[2] == LOCKED
    # explicit headers win over the default
    until = future(600)
    put(s3, lock_bucket, "explicit", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    assert s3.get_object_retention(Bucket=lock_bucket, Key="explicit")["Retention"]["Mode"] == "GOVERNANCE"


def test_multipart_and_copy_carry_their_own_lock(endpoint: str, s3: Any, lock_bucket: str) -> None:
    until = future(3600)
    upload = s3.create_multipart_upload(Bucket=lock_bucket, Key="big", ObjectLockMode="COMPLIANCE",
                                        ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")
    bare = make_client(endpoint, request_checksum_calculation="when_required")
    part = b"p" * (5 * 1024 * 1024)
    assert error(lambda: bare.upload_part(Bucket=lock_bucket, Key="big", UploadId=upload["UploadId"], PartNumber=1,
                                          Body=part)) == (
        400, "InvalidRequest",
        "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Part requests with Object Lock parameters")
    etags = [s3.upload_part(Bucket=lock_bucket, Key="big", UploadId=upload["UploadId"], PartNumber=n, Body=part)["ETag"]
             for n in (1, 2)]
    done = s3.complete_multipart_upload(Bucket=lock_bucket, Key="big", UploadId=upload["UploadId"], MultipartUpload={
        "Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, 1)]})
    head = s3.head_object(Bucket=lock_bucket, Key="big")
    assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("COMPLIANCE", "ON")
    assert error(lambda: s3.delete_object(Bucket=lock_bucket, Key="big", VersionId=done["VersionId"]))[2] == LOCKED
    # a copy does not inherit the source's lock; it takes its own headers
    s3.copy_object(Bucket=lock_bucket, Key="copy", CopySource={"Bucket": lock_bucket, "Key": "big"})
    assert error(lambda: s3.get_object_retention(Bucket=lock_bucket, Key="copy"))[1] == "NoSuchObjectLockConfiguration"
    copied = s3.copy_object(Bucket=lock_bucket, Key="copy2", CopySource={"Bucket": lock_bucket, "Key": "big"},
                            ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    assert s3.get_object_retention(Bucket=lock_bucket, Key="copy2")["Retention"]["Mode"] == "GOVERNANCE"
    assert error(lambda: s3.delete_object(Bucket=lock_bucket, Key="copy2", VersionId=copied["VersionId"]))[2] == LOCKED


def test_post_form_fields_lock_the_upload(s3: Any, lock_bucket: str) -> None:
    until = future(3600).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    fields = {"x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": until,
              "x-amz-object-lock-legal-hold": "ON"}
    post = s3.generate_presigned_post(lock_bucket, "form.txt", Fields=fields,
                                      Conditions=[{k: v} for k, v in fields.items()])
    answer = requests.post(post["url"], data=post["fields"], files={"file": ("form.txt", b"from a form")}, timeout=30)
    assert answer.status_code == 204, answer.text
    head = s3.head_object(Bucket=lock_bucket, Key="form.txt")
    assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", "ON")


def test_condition_keys_bound_the_retention_a_user_may_set(s3: Any, lock_bucket: str, iam_user: Any) -> None:
    """The classic guard rail: no retention longer than 10 days (s3:object-lock-remaining-retention-days), and
    legal holds only ON (s3:object-lock-legal-hold)."""
    arn = f"arn:aws:s3:::{lock_bucket}/*"
    user = iam_user(inline={"p": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectRetention", "s3:PutObjectLegalHold"],
         "Resource": arn},
        {"Effect": "Deny", "Action": ["s3:PutObjectRetention", "s3:PutObject"], "Resource": arn,
         "Condition": {"NumericGreaterThan": {"s3:object-lock-remaining-retention-days": "10"}}},
        {"Effect": "Deny", "Action": "s3:PutObjectLegalHold", "Resource": arn,
         "Condition": {"StringEquals": {"s3:object-lock-legal-hold": "OFF"}}}]})})
    put(s3, lock_bucket, "k")
    user.s3.put_object_retention(Bucket=lock_bucket, Key="k", Retention={
        "Mode": "GOVERNANCE", "RetainUntilDate": future(5 * 86400)})
    assert error(lambda: user.s3.put_object_retention(Bucket=lock_bucket, Key="k", Retention={
        "Mode": "GOVERNANCE", "RetainUntilDate": future(30 * 86400)}))[:2] == (403, "AccessDenied")
    assert error(lambda: user.s3.put_object(Bucket=lock_bucket, Key="h", Body=b"x", ObjectLockMode="GOVERNANCE",
                                            ObjectLockRetainUntilDate=future(30 * 86400)))[:2] == (403, "AccessDenied")
    user.s3.put_object_legal_hold(Bucket=lock_bucket, Key="k", LegalHold={"Status": "ON"})
    assert error(lambda: user.s3.put_object_legal_hold(Bucket=lock_bucket, Key="k",
                                                       LegalHold={"Status": "OFF"}))[:2] == (403, "AccessDenied")


def test_aws_cli(endpoint: str, s3: Any, lock_bucket: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ROOT_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=ROOT_SECRET_ACCESS_KEY,
               AWS_REGION=REGION, AWS_ENDPOINT_URL=endpoint, AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, HOME=str(tmp_path))

    def aws(*args: str) -> Any:
        done = subprocess.run([sys.executable, "-m", "awscli", "s3api", *args, "--output", "json"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None
    aws("put-object-lock-configuration", "--bucket", lock_bucket, "--object-lock-configuration",
        '{"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}')
    assert aws("get-object-lock-configuration", "--bucket", lock_bucket)["ObjectLockConfiguration"]["Rule"] == {
        "DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}
    (tmp_path / "f").write_bytes(b"cli")
    version = aws("put-object", "--bucket", lock_bucket, "--key", "cli", "--body", str(tmp_path / "f"))["VersionId"]
    aws("put-object-legal-hold", "--bucket", lock_bucket, "--key", "cli", "--legal-hold", "Status=ON")
    assert aws("get-object-legal-hold", "--bucket", lock_bucket, "--key", "cli")["LegalHold"] == {"Status": "ON"}
    assert aws("get-object-retention", "--bucket", lock_bucket, "--key", "cli")["Retention"]["Mode"] == "GOVERNANCE"
    refused = subprocess.run([sys.executable, "-m", "awscli", "s3api", "delete-object", "--bucket", lock_bucket,
                              "--key", "cli", "--version-id", version, "--bypass-governance-retention"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and LOCKED in refused.stderr


# -- lifecycle ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lc_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
              meta_backend: str) -> Iterator[StoreroomServer]:
    srv = StoreroomServer(tmp_path_factory.mktemp("lock-lifecycle") / "data", workers=1,
                          extra_args=["--lifecycle-interval", "0"], meta_url=meta_url_for(request, meta_backend))
    srv.start()
    yield srv
    srv.stop()


def test_lifecycle_never_expires_a_locked_version(lc_server: StoreroomServer) -> None:
    """A run evaluated days ahead expires the noncurrent versions its rule selects, but not a locked one (judged
    by the real time, not the run's), and puts a delete marker over a locked current version, as S3 does; once
    the retention ended, the next run expires it."""
    s3 = make_client(lc_server.endpoint)
    bucket = unique_name("locklc")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "old", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})
    ends = time.time() + 4
    locked = put(s3, bucket, "k", b"locked", ObjectLockMode="COMPLIANCE",
                 ObjectLockRetainUntilDate=dt.datetime.fromtimestamp(ends, dt.UTC))
    free = put(s3, bucket, "k", b"free")
    held = put(s3, bucket, "k", b"held", ObjectLockLegalHoldStatus="ON")

    def run(days_ahead: int) -> dict[str, Any]:
        url = f"{lc_server.endpoint}/_storeroom/lifecycle?now={time.time() + days_ahead * 86400}"
        answer = requests.post(url, headers=sign_headers("POST", url), timeout=60)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    run(3)  # expires the current version (a marker over it), then...
    run(6)  # ...the noncurrent ones a day later: all but the locked two
    versions = s3.list_object_versions(Bucket=bucket)
    assert sorted(v["VersionId"] for v in versions["Versions"]) == sorted([locked, held])
    assert free not in [v["VersionId"] for v in versions["Versions"]]
    assert len(versions["DeleteMarkers"]) == 1
    time.sleep(max(0.0, ends + 0.5 - time.time()))
    run(6)
    remaining = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket).get("Versions", [])]
    assert remaining == [held]  # the legal hold still stands


# -- a backup tool -------------------------------------------------------------------------------------------------

def test_rclone_writes_locked_backups(endpoint: str, s3: Any, track_bucket: Callable[[str], str],
                                      tmp_path: Path) -> None:
    """rclone makes the bucket with Object Lock, uploads under a GOVERNANCE retention it names, and cannot
    purge them afterwards; with --s3-bypass-governance-retention (root may) it can."""
    from tests.e2e.test_clients import _rclone
    rclone = _rclone(endpoint, tmp_path)
    bucket = track_bucket(unique_name("rclonelock"))
    until = future(3600).strftime("%Y-%m-%dT%H:%M:%SZ")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("backup a\n")
    (src / "b.bin").write_bytes(os.urandom(64 * 1024))
    lock = ["--s3-object-lock-mode=GOVERNANCE", f"--s3-object-lock-retain-until-date={until}"]
    rclone("mkdir", "--s3-bucket-object-lock-enabled", f"sr:{bucket}")
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    rclone("copy", *lock, str(src), f"sr:{bucket}/snap")
    for key in ("snap/a.txt", "snap/b.bin"):
        assert s3.get_object_retention(Bucket=bucket, Key=key)["Retention"]["Mode"] == "GOVERNANCE"
    # deleting the file hides it behind a delete marker (allowed); its locked version then lists under its version
    # name, and deleting that one is refused -- until rclone says to bypass GOVERNANCE (root may)
    rclone("deletefile", f"sr:{bucket}/snap/a.txt")
    old = [name for name in rclone("lsf", "--s3-versions", f"sr:{bucket}/snap").split() if name.startswith("a-v")]
    assert len(old) == 1
    with pytest.raises(AssertionError, match="AccessDenied"):
        rclone("deletefile", "--s3-versions", f"sr:{bucket}/snap/{old[0]}")
    assert len(s3.list_object_versions(Bucket=bucket, Prefix="snap/a.txt")["Versions"]) == 1
    rclone("deletefile", "--s3-versions", "--s3-bypass-governance-retention", f"sr:{bucket}/snap/{old[0]}")
    assert [v["Key"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]] == ["snap/b.bin"]


@pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed (apt-get install restic)")
def test_restic_repository_survives_a_hostile_prune(endpoint: str, s3: Any, track_bucket: Callable[[str], str],
                                                    tmp_path: Path, iam_user: Any) -> None:
    """restic (minio-go) backs up into a bucket whose default retention locks every version it writes; someone
    holding restic's (non-bypassing) credentials runs ``forget --prune`` and then deletes every version they can
    list: the locked versions stay, so removing the delete markers brings the snapshot back whole."""
    from tests.e2e.test_clients import _base_env, _run
    bucket = track_bucket(unique_name("resticlock"))
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    user = iam_user(inline={"p": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["s3:*"], "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}, {
        "Effect": "Deny", "Action": ["s3:BypassGovernanceRetention", "s3:PutBucketObjectLockConfiguration"],
        "Resource": "*"}]})})
    env = _base_env(tmp_path)
    env.update({"AWS_ACCESS_KEY_ID": user.key_id, "AWS_SECRET_ACCESS_KEY": user.secret,
                "RESTIC_PASSWORD": "correct horse battery staple", "RESTIC_CACHE_DIR": str(tmp_path / "cache"),
                "RESTIC_REPOSITORY": f"s3:{endpoint}/{bucket}/repo"})

    def restic(*args: str) -> str:
        return _run(["restic", "-o", "s3.bucket-lookup=path", "-o", "s3.region=us-east-1", *args], env=env,
                    cwd=tmp_path, what=f"restic {args[0]}")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_bytes(b"alpha\n")
    (data / "b.bin").write_bytes(os.urandom(300_000))
    restic("init")
    restic("backup", "--host", "test", str(data))
    snapshot = json.loads(restic("snapshots", "--json"))[0]["short_id"]
    restic("forget", "--prune", snapshot)
    listing = [v for page in user.s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
               for v in page.get("Versions", [])]
    answer = user.s3.delete_objects(Bucket=bucket, BypassGovernanceRetention=True, Delete={"Objects": [
        {"Key": v["Key"], "VersionId": v["VersionId"]} for v in listing]})
    assert {e["Code"] for e in answer.get("Errors", [])} == {"AccessDenied"} and "Deleted" not in answer
    markers = [{"Key": m["Key"], "VersionId": m["VersionId"]} for page in s3.get_paginator(
        "list_object_versions").paginate(Bucket=bucket) for m in page.get("DeleteMarkers", [])
        if not m["Key"].startswith("repo/locks/")]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": markers})
    assert [s["short_id"] for s in json.loads(restic("snapshots", "--json"))] == [snapshot]
    restic("check", "--read-data")
