"""The AWS managed policy catalog."""

from __future__ import annotations

import json

from storeroom.policy.managed import AWS_MANAGED

REQUIRED = ("AmazonS3FullAccess", "AmazonS3ReadOnlyAccess", "AdministratorAccess", "IAMFullAccess",
            "IAMReadOnlyAccess", "IAMUserChangePassword")


def test_catalog_holds_the_common_policies_under_their_arns() -> None:
    for name in REQUIRED:
        policy = AWS_MANAGED[f"arn:aws:iam::aws:policy/{name}"]
        assert policy.name == name and policy.path == "/"
    for arn, policy in AWS_MANAGED.items():
        assert policy.arn == arn
        assert policy.policy_id.startswith("ANPA") and len(policy.policy_id) == 21
        assert policy.default_version_id.startswith("v")
        assert policy.create_date <= policy.update_date
        assert policy.description


def test_documents_are_valid_and_compile() -> None:
    for policy in AWS_MANAGED.values():
        assert json.loads(policy.document)["Version"] == "2012-10-17"
        assert policy.policy.statements
        assert policy.policy is policy.policy          # compiled once


def test_s3_full_access_is_awss_v2() -> None:
    policy = AWS_MANAGED["arn:aws:iam::aws:policy/AmazonS3FullAccess"]
    assert (policy.policy_id, policy.default_version_id) == ("ANPAIFIR6V6BVTRAHWINE", "v2")
    assert json.loads(policy.document)["Statement"] == [
        {"Effect": "Allow", "Action": ["s3:*", "s3-object-lambda:*"], "Resource": "*"}]
    assert policy.update_date == 1632773797.0         # 2021-09-27T20:16:37Z
