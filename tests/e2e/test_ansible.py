"""Ansible's amazon.aws collection (the ``ansible`` package bundles it) against Storeroom, as users run it:
s3_bucket and s3_object read every bucket setting and write ACLs, iam_user reads and deletes login profiles.
Each answer must be one the modules take as they take AWS's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REGION, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY
from tests.e2e.helpers import unique_name

# SQLite only: a third-party tool; the stores are covered by the boto3 suites on both backends.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")

pytest.importorskip("ansible_collections.amazon.aws", reason="the ansible package (test extras) is not installed")


def _ansible(endpoint: str, tmp_path: Path, module: str, **args: Any) -> dict[str, Any]:
    """Runs one module on localhost (``ansible -m``) and returns its result."""
    exe = shutil.which("ansible") or str(Path(sys.executable).with_name("ansible"))
    params = {"endpoint_url": endpoint, "access_key": ROOT_ACCESS_KEY_ID, "secret_key": ROOT_SECRET_ACCESS_KEY,
              "region": REGION, **args}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(ANSIBLE_HOME=str(tmp_path / "ansible"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_NOCOLOR="1")
    done = subprocess.run(
        [exe, "localhost", "-c", "local", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
         "-m", f"amazon.aws.{module}", "-a", json.dumps(params)],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    try:
        report = json.loads(done.stdout)
        return dict(report["plays"][0]["tasks"][0]["hosts"]["localhost"])
    except (ValueError, KeyError, IndexError):
        pytest.fail(f"ansible {module} gave no result: {done.stdout}\n{done.stderr}")


def test_s3_bucket_and_s3_object(endpoint, s3, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bucket = unique_name("ansible")
    made = _ansible(endpoint, tmp_path, "s3_bucket", name=bucket, state="present")
    assert (made.get("failed"), made["changed"]) == (None, True), made
    # Again: the module reads every setting (the bucket's inventory configurations included: it warned "Failed to
    # get bucket inventory settings (not supported by cloud)" on a 501) and finds nothing to change, nor to warn of.
    again = _ansible(endpoint, tmp_path, "s3_bucket", name=bucket, state="present")
    assert (again.get("failed"), again["changed"]) == (None, False), again
    assert again.get("warnings", []) == [], again

    src = tmp_path / "f.txt"
    src.write_text("hello from ansible\n")
    # The default permission, "private", is an ACL that S3 refuses on a bucket with ACLs disabled; with the
    # bucket owner's full control (or permission: []) the upload and its PutObjectAcl go through.
    refused = _ansible(endpoint, tmp_path, "s3_object", bucket=bucket, object="f.txt", src=str(src), mode="put")
    assert refused.get("failed") and "AccessControlListNotSupported" in refused["msg"], refused
    put = _ansible(endpoint, tmp_path, "s3_object", bucket=bucket, object="f.txt", src=str(src), mode="put",
                   permission=["bucket-owner-full-control"])
    assert (put.get("failed"), put.get("warnings")) == (None, None), put
    assert s3.get_object(Bucket=bucket, Key="f.txt")["Body"].read() == b"hello from ansible\n"
    got = _ansible(endpoint, tmp_path, "s3_object", bucket=bucket, object="f.txt", dest=str(tmp_path / "g.txt"),
                   mode="get")
    assert got.get("failed") is None and (tmp_path / "g.txt").read_text() == "hello from ansible\n", got

    gone = _ansible(endpoint, tmp_path, "s3_bucket", name=bucket, state="absent", force=True)
    assert (gone.get("failed"), gone["changed"]) == (None, True), gone
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_iam_user_present_and_absent(endpoint, iam, tmp_path) -> None:  # type: ignore[no-untyped-def]
    name = unique_name("ansible")
    made = _ansible(endpoint, tmp_path, "iam_user", name=name, state="present")
    assert (made.get("failed"), made["changed"]) == (None, True), made
    gone = _ansible(endpoint, tmp_path, "iam_user", name=name, state="absent")
    assert (gone.get("failed"), gone["changed"]) == (None, True), gone
    assert name not in [u["UserName"] for u in iam.list_users()["Users"]]
