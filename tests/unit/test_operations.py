"""The S3 operation table against botocore's S3 model, and against the compatibility doc."""

from __future__ import annotations

from pathlib import Path

import botocore.session
import pytest

from storeroom.errors import AwsError
from storeroom.s3.operations import OPERATIONS, match_operation

MODEL = botocore.session.get_session().get_service_model("s3")
DOC = (Path(__file__).resolve().parents[2] / "docs" / "s3-compatibility.md").read_text()
# Operations of the model that have no place on a self-hosted endpoint (S3 Express, Object Lambda, directory
# buckets): they fall to the plain operation of their method and level, which is fine.
NOT_APPLICABLE = {"ListDirectoryBuckets", "WriteGetObjectResponse", "GetBucketLifecycle", "PutBucketLifecycle",
                  "GetBucketNotification", "PutBucketNotification"}


def _request_of(name: str) -> tuple[str, str | None, str | None, dict[str, str], dict[str, str]]:
    op = MODEL.operation_model(name)
    method = op.http["method"]
    uri = op.http["requestUri"]
    path, _, query = uri.partition("?")
    args = {}
    for part in filter(None, query.split("&")):
        k, _, v = part.partition("=")
        args[k] = v
    headers: dict[str, str] = {}
    for member_name, member in op.input_shape.members.items() if op.input_shape else []:
        if member.serialization.get("location") == "querystring" and member_name in (
                "UploadId", "PartNumber") and name not in ("GetObject", "HeadObject"):
            args[member.serialization["name"]] = "1"
        if member.serialization.get("location") == "querystring" and member.serialization.get("name") == "id":
            args["id"] = "x"  # a configuration's id: the Get, not the List of its kind
        if member_name == "CopySource":
            headers["x-amz-copy-source"] = "/b/k"
    bucket = "bucket" if "{Bucket}" in path else None
    key = "key" if "{Key+}" in path else None
    return method, bucket, key, args, headers


@pytest.mark.parametrize("name", sorted(set(MODEL.operation_names) - NOT_APPLICABLE))
def test_every_model_operation_is_recognised(name: str) -> None:
    method, bucket, key, args, headers = _request_of(name)
    try:
        op = match_operation(method, bucket, key, args, headers)
    except AwsError as err:  # pragma: no cover - shown in the assertion
        pytest.fail(f"{name}: {err.code} {err.message}")
    assert op.name == name


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_every_row_is_documented(op) -> None:  # type: ignore[no-untyped-def]
    status = "supported" if op.handler else "not implemented"
    assert f"| {op.name} | {status} |" in DOC, f"docs/s3-compatibility.md must list {op.name} as {status}"


def test_recognised_but_unbuilt_operation_has_no_handler() -> None:
    op = match_operation("PUT", "bucket", None, {"analytics": "", "id": "x"}, {})
    assert (op.name, op.handler) == ("PutBucketAnalyticsConfiguration", None)


def test_subresource_of_another_method_is_not_treated_as_plain_operation() -> None:
    # GET /bucket/key?uploads is no S3 operation: it must not be served as GetObject (405, as for any method and
    # resource S3 has no operation for).
    with pytest.raises(AwsError) as err:
        match_operation("GET", "bucket", "key", {"uploads": ""}, {})
    assert (err.value.code, err.value.status) == ("MethodNotAllowed", 405)


def test_method_not_allowed() -> None:
    with pytest.raises(AwsError) as err:
        match_operation("PATCH", "bucket", "key", {}, {})
    assert err.value.code == "MethodNotAllowed"
