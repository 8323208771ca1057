"""The AWS CLI (``python -m awscli``) against a real server for every operation of versioning, tagging, lifecycle,
Object Ownership, ACLs and Block Public Access, with S3's error for invalid input as the CLI shows it.  (boto3
covers each in detail: test_versioning.py, test_tagging.py, test_lifecycle.py, test_acls.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import unique_name
from tests.e2e.test_guide import user_env

# SQLite only: the AWS CLI's shapes; the stores are covered by the boto3 suites on both backends.
# (Keeps the suite within CI's time budget.)
pytestmark = [pytest.mark.timeout(300), pytest.mark.meta_backends("sqlite")]


class Cli:
    def __init__(self, endpoint: str, home: Path, bucket: str) -> None:
        self.env, self.home, self.bucket = user_env(endpoint, home), home, bucket

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "awscli", *args, "--output", "json"], cwd=self.home,
                              env=self.env, capture_output=True, text=True, timeout=120)

    def __call__(self, *args: str) -> Any:
        p = self.run(*args)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else None

    def api(self, operation: str, *args: str, bucket: bool = True) -> Any:
        return self("s3api", operation, *(["--bucket", self.bucket] if bucket else []), *args)

    def error(self, operation: str, *args: str) -> str:
        """The error line the CLI prints for a refused call (``An error occurred (Code) when calling ...``)."""
        p = self.run("s3api", operation, "--bucket", self.bucket, *args)
        assert p.returncode != 0, (operation, p.stdout)
        return p.stderr.strip()

    def file(self, name: str, content: Any) -> str:
        path = self.home / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return f"file://{path}"


@pytest.fixture
def cli(endpoint: str, s3: Any, tmp_path: Path) -> Any:
    name = unique_name("cli")
    s3.create_bucket(Bucket=name)
    yield Cli(endpoint, tmp_path, name)
    from tests.conftest import empty_bucket
    empty_bucket(s3, name)


def test_versioning_with_the_cli(cli: Cli) -> None:
    assert cli.api("get-bucket-versioning") is None  # never versioned: an empty answer
    cli.api("put-bucket-versioning", "--versioning-configuration", "Status=Enabled")
    assert cli.api("get-bucket-versioning")["Status"] == "Enabled"
    body = cli.home / "body.txt"
    body.write_text("one")
    first = cli.api("put-object", "--key", "k", "--body", str(body))["VersionId"]
    body.write_text("two")
    second = cli.api("put-object", "--key", "k", "--body", str(body))["VersionId"]
    listed = cli.api("list-object-versions")
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(second, True), (first, False)]
    out = cli.home / "out.txt"
    assert cli.api("get-object", "--key", "k", "--version-id", first, str(out))["VersionId"] == first
    assert out.read_text() == "one"
    assert cli.api("head-object", "--key", "k", "--version-id", first)["ContentLength"] == 3
    marker = cli.api("delete-object", "--key", "k")
    assert marker["DeleteMarker"] is True
    copied = cli.api("copy-object", "--key", "restored", "--copy-source", f"{cli.bucket}/k?versionId={first}")
    assert copied["CopySourceVersionId"] == first
    cli.api("delete-object", "--key", "k", "--version-id", marker["VersionId"])
    deleted = cli.api("delete-objects", "--delete", json.dumps({"Objects": [{"Key": "k", "VersionId": first}]}))
    assert deleted["Deleted"] == [{"Key": "k", "VersionId": first}]
    upload = cli.api("create-multipart-upload", "--key", "mpu")["UploadId"]
    part = cli.api("upload-part-copy", "--key", "mpu", "--upload-id", upload, "--part-number", "1",
                   "--copy-source", f"{cli.bucket}/k?versionId={second}")
    assert part["CopySourceVersionId"] == second
    cli.api("abort-multipart-upload", "--key", "mpu", "--upload-id", upload)
    assert "MalformedXML" in cli.error("put-bucket-versioning", "--versioning-configuration", "Status=On")
    assert "NoSuchVersion" in cli.error("get-object", "--key", "k", "--version-id", "A" * 32, str(out))
    assert "(400)" in cli.error("head-object", "--key", "k", "--version-id", "nope")  # HEAD: no body, no code


def test_tagging_with_the_cli(cli: Cli) -> None:
    body = cli.home / "b.txt"
    body.write_text("x")
    cli.api("put-object", "--key", "k", "--body", str(body), "--tagging", "team=data&tier=hot")
    assert cli.api("head-object", "--key", "k")["TagCount"] == 2
    cli.api("put-object-tagging", "--key", "k", "--tagging", "TagSet=[{Key=team,Value=web}]")
    assert cli.api("get-object-tagging", "--key", "k")["TagSet"] == [{"Key": "team", "Value": "web"}]
    cli.api("delete-object-tagging", "--key", "k")
    assert cli.api("get-object-tagging", "--key", "k")["TagSet"] == []
    cli.api("put-bucket-tagging", "--tagging", "TagSet=[{Key=cost,Value=42}]")
    assert cli.api("get-bucket-tagging")["TagSet"] == [{"Key": "cost", "Value": "42"}]
    cli.api("delete-bucket-tagging")
    assert "NoSuchTagSet" in cli.error("get-bucket-tagging")
    assert "InvalidTag" in cli.error("put-object-tagging", "--key", "k", "--tagging", "TagSet=[{Key=aws:x,Value=1}]")
    assert "BadRequest" in cli.error("put-object", "--key", "k2", "--body", str(body), "--tagging",
                                     "&".join(f"t{i}=v" for i in range(11)))


def test_lifecycle_with_the_cli(cli: Cli) -> None:
    config = {"Rules": [{"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
                         "Expiration": {"Days": 30}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]}
    cli.api("put-bucket-lifecycle-configuration", "--lifecycle-configuration", cli.file("lc.json", config))
    assert cli.api("get-bucket-lifecycle-configuration")["Rules"] == config["Rules"]
    body = cli.home / "b.txt"
    body.write_text("x")
    assert 'rule-id="logs"' in cli.api("put-object", "--key", "logs/a", "--body", str(body))["Expiration"]
    cli.api("delete-bucket-lifecycle")
    assert "NoSuchLifecycleConfiguration" in cli.error("get-bucket-lifecycle-configuration")
    bad = {"Rules": [{"Status": "Enabled", "Filter": {}, "Expiration": {"Days": 0}}]}
    message = cli.error("put-bucket-lifecycle-configuration", "--lifecycle-configuration", cli.file("bad.json", bad))
    assert "InvalidArgument" in message and "'Days' for Expiration action must be a positive integer" in message


def test_ownership_acls_and_public_access_with_the_cli(cli: Cli) -> None:
    assert cli.api("get-bucket-ownership-controls")["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "AccessControlListNotSupported" in cli.error("put-bucket-acl", "--acl", "public-read")
    cli.api("put-bucket-ownership-controls", "--ownership-controls", "Rules=[{ObjectOwnership=ObjectWriter}]")
    assert cli.api("get-public-access-block")["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    assert "AccessDenied" in cli.error("put-bucket-acl", "--acl", "public-read")  # BlockPublicAcls
    cli.api("put-public-access-block", "--public-access-block-configuration",
            "BlockPublicAcls=false,IgnorePublicAcls=false,BlockPublicPolicy=true,RestrictPublicBuckets=true")
    cli.api("put-bucket-acl", "--acl", "public-read")
    grants = cli.api("get-bucket-acl")["Grants"]
    assert {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"} in [g["Grantee"] for g in grants]
    body = cli.home / "b.txt"
    body.write_text("x")
    cli.api("put-object", "--key", "k", "--body", str(body), "--acl", "authenticated-read")
    cli.api("put-object-acl", "--key", "k", "--acl", "private")
    assert [g["Permission"] for g in cli.api("get-object-acl", "--key", "k")["Grants"]] == ["FULL_CONTROL"]
    cli.api("put-bucket-acl", "--acl", "private")
    cli.api("delete-public-access-block")
    assert "NoSuchPublicAccessBlockConfiguration" in cli.error("get-public-access-block")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                      "Resource": f"arn:aws:s3:::{cli.bucket}/*"}]}
    cli.api("put-bucket-policy", "--policy", json.dumps(policy))
    assert cli.api("get-bucket-policy-status")["PolicyStatus"]["IsPublic"] is True
    cli.api("delete-bucket-policy")
    cli.api("delete-bucket-ownership-controls")
    assert "OwnershipControlsNotFoundError" in cli.error("get-bucket-ownership-controls")
    assert "MalformedXML" in cli.error("put-bucket-ownership-controls", "--ownership-controls",
                                       "Rules=[{ObjectOwnership=Anyone}]")
