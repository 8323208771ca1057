"""The user's guide, whole: the account root creates an IAM user with the AWS CLI (`aws iam …`), attaches
AmazonS3FullAccess, creates an access key; the guide's Python code, unchanged, uploads with that key; then
the guide's troubleshooting cases, key rotation (at most 2 keys), deactivation and deletion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.helpers import unique_name
from tests.e2e.test_guide import Cli, guide_snippet

S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"


def run_guide_code(endpoint: str, workdir: Path, bucket: str, key_id: str,
                   secret: str) -> subprocess.CompletedProcess[bytes]:
    """The guide's code, unchanged, plus its upload_file line, with the given key in the environment."""
    upload = f"s3_client.upload_file('local_file.txt', {bucket!r}, 'uploaded_file.txt')\n"
    script = workdir / "app.py"
    script.write_text(guide_snippet() + "\n" + upload)
    (workdir / "local_file.txt").write_text("uploaded by an IAM user\n")
    env = Cli(endpoint, workdir).env | {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}
    return subprocess.run([sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, timeout=60)


def test_the_guide_end_to_end_with_the_aws_cli(endpoint, s3, bucket, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = Cli(endpoint, tmp_path)
    name = unique_name("user_name")

    # Steps 1-5: create the user, attach AmazonS3FullAccess
    user = json.loads(root("iam", "create-user", "--user-name", name))["User"]
    assert user["Arn"].endswith(f":user/{name}") and user["UserId"].startswith("AIDA")
    root("iam", "attach-user-policy", "--user-name", name, "--policy-arn", S3_FULL)
    attached = json.loads(root("iam", "list-attached-user-policies", "--user-name", name))["AttachedPolicies"]
    assert attached == [{"PolicyName": "AmazonS3FullAccess", "PolicyArn": S3_FULL}]

    # Steps 7-10: an access key; the secret is shown once
    key = json.loads(root("iam", "create-access-key", "--user-name", name))["AccessKey"]
    key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]
    assert key_id.startswith("AKIA") and len(key_id) == 20 and len(secret) == 40 and key["Status"] == "Active"
    listed = json.loads(root("iam", "list-access-keys", "--user-name", name))["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key_id] and "SecretAccessKey" not in listed[0]

    # "Test the credentials": who am I, as the new user
    as_user = Cli(endpoint, tmp_path)
    as_user.env |= {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}
    assert json.loads(as_user("sts", "get-caller-identity"))["Arn"] == user["Arn"]

    # The guide's code, unchanged, uploads with the user's key
    p = run_guide_code(endpoint, tmp_path, bucket, key_id, secret)
    assert p.returncode == 0, p.stderr.decode()
    assert s3.get_object(Bucket=bucket, Key="uploaded_file.txt")["Body"].read() == b"uploaded by an IAM user\n"

    # Troubleshooting: "Invalid Credentials" (a mistyped secret), a wrong bucket name, "Access Denied"
    p = run_guide_code(endpoint, tmp_path, bucket, key_id, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert p.returncode != 0 and b"SignatureDoesNotMatch" in p.stderr
    p = run_guide_code(endpoint, tmp_path, unique_name("no-such-bucket"), key_id, secret)
    assert p.returncode != 0 and b"NoSuchBucket" in p.stderr
    root("iam", "detach-user-policy", "--user-name", name, "--policy-arn", S3_FULL)
    p = run_guide_code(endpoint, tmp_path, bucket, key_id, secret)
    assert p.returncode != 0 and b"AccessDenied" in p.stderr
    assert b"s3:PutObject" in p.stderr and b"because no identity-based policy allows" in p.stderr
    root("iam", "attach-user-policy", "--user-name", name, "--policy-arn", S3_FULL)

    # Rotation: a second key, never a third; deactivate then delete the old one
    new = json.loads(root("iam", "create-access-key", "--user-name", name))["AccessKey"]
    third = subprocess.run([sys.executable, "-m", "awscli", "iam", "create-access-key", "--user-name", name],
                           env=root.env, capture_output=True, timeout=60)
    assert third.returncode != 0 and b"LimitExceeded" in third.stderr
    root("iam", "update-access-key", "--user-name", name, "--access-key-id", key_id, "--status", "Inactive")
    p = run_guide_code(endpoint, tmp_path, bucket, key_id, secret)
    assert p.returncode != 0 and b"InvalidAccessKeyId" in p.stderr
    p = run_guide_code(endpoint, tmp_path, bucket, new["AccessKeyId"], new["SecretAccessKey"])
    assert p.returncode == 0, p.stderr.decode()
    root("iam", "delete-access-key", "--user-name", name, "--access-key-id", key_id)

    # Deleting the user: AWS refuses while keys or policies remain
    refused = subprocess.run([sys.executable, "-m", "awscli", "iam", "delete-user", "--user-name", name],
                             env=root.env, capture_output=True, timeout=60)
    assert refused.returncode != 0 and b"DeleteConflict" in refused.stderr
    root("iam", "delete-access-key", "--user-name", name, "--access-key-id", new["AccessKeyId"])
    root("iam", "detach-user-policy", "--user-name", name, "--policy-arn", S3_FULL)
    root("iam", "delete-user", "--user-name", name)
    p = run_guide_code(endpoint, tmp_path, bucket, new["AccessKeyId"], new["SecretAccessKey"])
    assert p.returncode != 0 and b"InvalidAccessKeyId" in p.stderr
