"""Terraform's AWS provider against Storeroom, as the guide's setup is written in Terraform: an IAM user with an
access key and a least-privilege policy, a bucket with its settings, server access logging (with target grants and
an explicit simple key format) into a bucket that lets the logging service in by ACL. ``apply`` creates everything
and a second ``plan`` finds nothing to change (every read answers what was written). (The cleanup is boto3's:
``terraform destroy`` would add ~15 s, nearly all of it Terraform's and the provider's own start-up and schema
loading, to a suite that must stay within CI's time.)

The provider is taken from a local mirror (``TF_PLUGIN_MIRROR``, default ``/opt/tf-plugins``): Terraform cannot
download here.  Without the terraform binary or the mirror the test is skipped, as the other third-party tools'.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REGION, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, empty_bucket
from tests.e2e.helpers import unique_name
from tests.e2e.iam_cleanup import best_effort, delete_policy_fully, delete_user_fully

# SQLite only: a third-party tool; the stores are covered by the boto3 suites on both backends.
pytestmark = pytest.mark.meta_backends("sqlite")

MIRROR = Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
PROVIDER = "registry.terraform.io/hashicorp/aws"
TERRAFORM = shutil.which("terraform")


def _provider_version() -> str | None:
    versions = sorted(p.name for p in (MIRROR / PROVIDER).glob("*") if p.is_dir() and p.name[:1].isdigit())
    return versions[-1] if versions else None


VERSION = _provider_version() if MIRROR.is_dir() else None

CONFIG = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "%(version)s" }
  }
}
provider "aws" {
  region                      = "%(region)s"
  access_key                  = "%(key)s"
  secret_key                  = "%(secret)s"
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {
    s3  = "%(endpoint)s"
    iam = "%(endpoint)s"
    sts = "%(endpoint)s"
  }
}
data "aws_caller_identity" "me" {}

resource "aws_s3_bucket" "storage" {
  bucket        = "%(storage)s"
  force_destroy = true
  tags          = { team = "data" }
}
resource "aws_s3_bucket_versioning" "storage" {
  bucket = aws_s3_bucket.storage.id
  versioning_configuration { status = "Enabled" }
}
resource "aws_s3_bucket_public_access_block" "storage" {
  bucket                  = aws_s3_bucket.storage.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
resource "aws_s3_bucket_request_payment_configuration" "storage" {
  bucket = aws_s3_bucket.storage.id
  payer  = "BucketOwner"
}
resource "aws_s3_object" "readme" {
  bucket       = aws_s3_bucket.storage.id
  key          = "docs/readme.txt"
  content      = "hello from terraform"
  content_type = "text/plain"
}

resource "aws_s3_bucket" "logs" {
  bucket        = "%(logs)s"
  force_destroy = true
}
resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule { object_ownership = "BucketOwnerPreferred" }
}
resource "aws_s3_bucket_acl" "logs" {
  depends_on = [aws_s3_bucket_ownership_controls.logs]
  bucket     = aws_s3_bucket.logs.id
  acl        = "log-delivery-write"
}
data "aws_canonical_user_id" "me" {}
resource "aws_s3_bucket_logging" "storage" {
  depends_on    = [aws_s3_bucket_acl.logs]
  bucket        = aws_s3_bucket.storage.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "storage/"
  target_grant {
    grantee {
      id   = data.aws_canonical_user_id.me.id
      type = "CanonicalUser"
    }
    permission = "READ"
  }
  target_object_key_format {
    simple_prefix {}
  }
}

resource "aws_iam_user" "app" {
  name = "%(user)s"
  path = "/apps/"
}
resource "aws_iam_access_key" "app" {
  user = aws_iam_user.app.name
}
resource "aws_iam_policy" "uploads" {
  name = "%(user)s-uploads"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Effect = "Allow", Action = ["s3:PutObject", "s3:GetObject"], Resource = "${aws_s3_bucket.storage.arn}/*" },
      { Effect = "Allow", Action = ["s3:ListBucket"], Resource = aws_s3_bucket.storage.arn },
    ]
  })
}
resource "aws_iam_user_policy_attachment" "app" {
  user       = aws_iam_user.app.name
  policy_arn = aws_iam_policy.uploads.arn
}
output "key_id" { value = aws_iam_access_key.app.id }
output "account" { value = data.aws_caller_identity.me.account_id }
"""


def _terraform(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    rc = workdir / "terraformrc"
    rc.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{MIRROR}"\n'
                  f'    include = ["{PROVIDER}"]\n  }}\n}}\n')
    env.update(TF_CLI_CONFIG_FILE=str(rc), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1",
               TF_DATA_DIR=str(workdir / ".terraform"))
    assert TERRAFORM is not None
    done = subprocess.run([TERRAFORM, *args, "-no-color", "-input=false"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    if check and done.returncode != 0:
        pytest.fail(f"terraform {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


@pytest.mark.skipif(TERRAFORM is None or VERSION is None,
                    reason=f"terraform or its AWS provider mirror ({MIRROR}) is not installed")
def test_terraform_applies_and_then_plans_nothing_more(endpoint, s3, iam, tmp_path) -> None:  # type: ignore[no-untyped-def]
    storage, logs, user = unique_name("tf-storage"), unique_name("tf-logs"), unique_name("tf-app")
    (tmp_path / "main.tf").write_text(CONFIG % {
        "version": VERSION, "region": REGION, "key": ROOT_ACCESS_KEY_ID, "secret": ROOT_SECRET_ACCESS_KEY,
        "endpoint": endpoint, "storage": storage, "logs": logs, "user": user})
    _terraform(tmp_path, "init")
    try:
        _terraform(tmp_path, "apply", "-auto-approve")
        logging = s3.get_bucket_logging(Bucket=storage)["LoggingEnabled"]
        assert (logging["TargetBucket"], logging["TargetPrefix"], [g["Permission"] for g in logging["TargetGrants"]],
                logging["TargetObjectKeyFormat"]) == (logs, "storage/", ["READ"], {"SimplePrefix": {}})
        assert s3.get_object(Bucket=storage, Key="docs/readme.txt")["Body"].read() == b"hello from terraform"
        keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        assert [k["Status"] for k in keys] == ["Active"]
        # every resource reads back as written: nothing to change (exit code 0, not 2)
        plan = _terraform(tmp_path, "plan", "-detailed-exitcode", check=False)
        assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
    finally:
        policies = iam.list_policies(Scope="Local")["Policies"]
        delete_user_fully(iam, user)
        for policy in policies:
            if policy["PolicyName"] == f"{user}-uploads":
                delete_policy_fully(iam, policy["Arn"])
        best_effort(lambda: s3.put_bucket_logging(Bucket=storage, BucketLoggingStatus={}))
        empty_bucket(s3, storage)
        empty_bucket(s3, logs)
