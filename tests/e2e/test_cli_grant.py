"""``storeroom grant``: a real server, the command in a subprocess, and the .env it writes read back and used
with boto3 — the key reaches its bucket and prefix and nothing else."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from storeroom.cli.keyfiles import read_env_file
from tests.conftest import make_client
from tests.e2e.cli import json_of, one_line_error, storeroom
from tests.e2e.helpers import unique_name
from tests.e2e.iam_cleanup import delete_policy_fully, delete_user_fully


@pytest.fixture
def grantee(iam) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A user name for ``storeroom grant`` to create; the user and its grant policies are removed after."""
    name = unique_name("app")
    yield name
    policies = [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]] \
        if _exists(iam, name) else []
    delete_user_fully(iam, name)
    for arn in policies:
        delete_policy_fully(iam, arn)


def _exists(iam, name: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        iam.get_user(UserName=name)
        return True
    except ClientError:
        return False


def s3_from_env(env_file: Path):  # type: ignore[no-untyped-def]
    env = read_env_file(env_file)
    return make_client(env["AWS_ENDPOINT_URL"], "s3", access_key=env["AWS_ACCESS_KEY_ID"],
                       secret_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"])


def denied(call: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return str(e.value.response["Error"]["Code"])


def test_grant_read_write_on_a_prefix(endpoint: str, iam, s3, bucket: str, new_bucket, grantee: str,  # type: ignore[no-untyped-def]
                                      tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# settings of the app\nAPP_PORT=8080\n")
    result = storeroom(endpoint, "grant", grantee, "--bucket", bucket, "--prefix", "app/", "--env-file", env_file,
                       "--json")
    assert result.returncode == 0, result.stderr
    out = json_of(result)
    assert out["user_created"] and out["key_created"] and out["policy_version"] == "v1"
    assert out["policy_arn"].endswith(f":policy/storeroom/grant/{grantee}@{bucket}")
    assert out["check"].startswith(f"uploaded, listed and deleted s3://{bucket}/app/")
    assert "secret_access_key" not in out  # it went to the .env file only

    assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
    env = read_env_file(env_file)
    assert env["APP_PORT"] == "8080" and env_file.read_text().startswith("# settings of the app\n")
    assert env["AWS_ACCESS_KEY_ID"] == out["access_key_id"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_ENDPOINT_URL"] == endpoint
    assert make_client(endpoint, "sts", access_key=env["AWS_ACCESS_KEY_ID"],
                       secret_key=env["AWS_SECRET_ACCESS_KEY"]).get_caller_identity()["Arn"].endswith(
                           f":user/{grantee}")

    app = s3_from_env(env_file)
    app.put_object(Bucket=bucket, Key="app/report.csv", Body=b"a,b\n")
    assert app.get_object(Bucket=bucket, Key="app/report.csv")["Body"].read() == b"a,b\n"
    assert [o["Key"] for o in app.list_objects_v2(Bucket=bucket, Prefix="app/")["Contents"]] == ["app/report.csv"]
    app.delete_object(Bucket=bucket, Key="app/report.csv")
    # the check object was removed again
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0

    # outside the prefix, the bucket's full listing, another bucket: denied
    s3.put_object(Bucket=bucket, Key="private/payroll.csv", Body=b"secret")
    assert denied(lambda: app.get_object(Bucket=bucket, Key="private/payroll.csv")) == "AccessDenied"
    assert denied(lambda: app.put_object(Bucket=bucket, Key="private/x", Body=b"x")) == "AccessDenied"
    assert denied(lambda: app.list_objects_v2(Bucket=bucket)) == "AccessDenied"
    assert denied(lambda: app.list_objects_v2(Bucket=bucket, Prefix="private/")) == "AccessDenied"
    other = new_bucket()
    assert denied(lambda: app.put_object(Bucket=other, Key="app/x", Body=b"x")) == "AccessDenied"
    assert denied(lambda: app.list_objects_v2(Bucket=other, Prefix="app/")) == "AccessDenied"
    assert denied(lambda: app.list_buckets()) == "AccessDenied"


def test_grant_to_the_guides_user_says_it_allows_more(endpoint: str, iam, s3, bucket: str, grantee: str,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path) -> None:
    """The guide's user keeps AmazonS3FullAccess: a read-write grant said "Granted … access to s3://B/P" and
    exited 0 while the key could write anywhere. On a versioned bucket, the check left a version and a delete
    marker behind on every run."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    iam.create_user(UserName=grantee)
    iam.attach_user_policy(UserName=grantee, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    result = storeroom(endpoint, "grant", grantee, "--bucket", bucket, "--prefix", "reports/", "--env-file",
                       tmp_path / ".env")
    assert result.returncode == 1
    assert "could also upload outside reports/" in result.stderr and "allow more than this grant" in result.stderr
    listed = s3.list_object_versions(Bucket=bucket)
    assert "Versions" not in listed and "DeleteMarkers" not in listed  # the checks left nothing behind
    iam.detach_user_policy(UserName=grantee, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    again = storeroom(endpoint, "grant", grantee, "--bucket", bucket, "--prefix", "reports/", "--env-file",
                      tmp_path / ".env")
    assert again.returncode == 0, again.stderr


def test_grant_again_updates_the_policy_and_reuses_the_key(endpoint: str, iam, bucket: str, grantee: str,  # type: ignore[no-untyped-def]
                                                          tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    first = json_of(storeroom(endpoint, "grant", grantee, "--bucket", bucket, "--env-file", env_file, "--json"))
    again = storeroom(endpoint, "grant", grantee, "--bucket", bucket, "--env-file", env_file, "--json")
    assert again.returncode == 0, again.stderr
    same = json_of(again)
    assert not same["user_created"] and not same["key_created"] and not same["policy_changed"]
    assert same["access_key_id"] == first["access_key_id"] and same["policy_version"] == "v1"

    # read-only now: a new default version of the same policy, the same key; its proof is a denied upload
    result = storeroom(endpoint, "grant", grantee, "--bucket", bucket, "--read-only", "--env-file", env_file,
                       "--json")
    assert result.returncode == 0, result.stderr
    ro = json_of(result)
    assert ro["policy_changed"] and ro["policy_version"] == "v2" and ro["mode"] == "read-only"
    assert ro["check"] == f"listed s3://{bucket}/; an upload was denied"
    versions = iam.list_policy_versions(PolicyArn=ro["policy_arn"])["Versions"]
    assert {v["VersionId"]: v["IsDefaultVersion"] for v in versions} == {"v1": False, "v2": True}
    app = s3_from_env(env_file)
    assert denied(lambda: app.put_object(Bucket=bucket, Key="x", Body=b"x")) == "AccessDenied"
    app.list_objects_v2(Bucket=bucket)
    assert len(iam.list_access_keys(UserName=grantee)["AccessKeyMetadata"]) == 1

    # policy versions never pile up past IAM's five
    for mode in ["--read-write", "--read-only"] * 3:
        assert storeroom(endpoint, "grant", grantee, "--bucket", bucket, mode, "--env-file", env_file,
                         "--no-check").returncode == 0
    assert len(iam.list_policy_versions(PolicyArn=ro["policy_arn"])["Versions"]) == 5


def test_grant_a_prefix_with_wildcard_characters_means_them_literally(endpoint: str, bucket: str,  # type: ignore[no-untyped-def]
                                                                     grantee: str, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    result = storeroom(endpoint, "grant", grantee, "--bucket", bucket, "--prefix", "team-*/", "--env-file",
                       env_file)
    assert result.returncode == 0, result.stderr
    app = s3_from_env(env_file)
    app.put_object(Bucket=bucket, Key="team-*/notes.txt", Body=b"x")
    assert denied(lambda: app.put_object(Bucket=bucket, Key="team-red/notes.txt", Body=b"x")) == "AccessDenied"
    assert denied(lambda: app.list_objects_v2(Bucket=bucket, Prefix="team-red/")) == "AccessDenied"


def test_grant_without_env_file_prints_the_key_once(endpoint: str, bucket: str, grantee: str) -> None:
    result = storeroom(endpoint, "grant", grantee, "--bucket", bucket)
    assert result.returncode == 0, result.stderr
    assert "AWS_SECRET_ACCESS_KEY=" in result.stdout and f"AWS_ENDPOINT_URL={endpoint}" in result.stdout
    assert "Check with the new key: uploaded, listed and deleted" in result.stdout


def test_grant_writes_the_consoles_csv(endpoint: str, bucket: str, grantee: str, tmp_path: Path) -> None:
    """--csv writes the key as the console's "Download .csv file" does (the guide's step), 0600, and the key is
    then not printed."""
    import csv

    target = tmp_path / "credentials.csv"
    result = storeroom(endpoint, "grant", grantee, "--bucket", bucket, "--csv", target)
    assert result.returncode == 0, result.stderr
    assert "AWS_SECRET_ACCESS_KEY" not in result.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    rows = list(csv.reader(target.open()))
    assert rows[0] == ["Access key ID", "Secret access key"] and len(rows) == 2
    s3 = make_client(endpoint, "s3", access_key=rows[1][0], secret_key=rows[1][1])
    s3.put_object(Bucket=bucket, Key="from-csv", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="from-csv")


def test_grant_errors(endpoint: str, iam, bucket: str, grantee: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    error = one_line_error(storeroom(endpoint, "grant", grantee, "--bucket", f"{bucket}/reports"))
    assert error == (f"storeroom: --bucket '{bucket}/reports' is not a bucket name: give the bucket alone and the "
                     f"folder with --prefix (--bucket {bucket} --prefix reports/)")  # (was botocore's two lines)
    error = one_line_error(storeroom(endpoint, "grant", grantee, "--bucket", "no-such-bucket-here"))
    assert error.startswith("storeroom: NoSuchBucket: bucket no-such-bucket-here does not exist")
    assert not _exists(iam, grantee)  # nothing was made

    iam.create_user(UserName=grantee)
    for _ in range(2):
        iam.create_access_key(UserName=grantee)
    error = one_line_error(storeroom(endpoint, "grant", grantee, "--bucket", bucket, "--env-file",
                                     tmp_path / "x.env"))
    assert "already has 2 access keys" in error
    assert not (tmp_path / "x.env").exists()

    error = one_line_error(storeroom(endpoint, "grant", grantee, "--bucket", bucket, "--env-file",
                                     tmp_path / "missing" / ".env"))
    assert error == f"storeroom: {tmp_path / 'missing'} is not a folder"

    usage = storeroom(endpoint, "grant", grantee)
    assert usage.returncode == 2 and "Missing option '--bucket'" in usage.stderr


def test_a_generated_policy_leaves_out_the_grants_own_checks(endpoint: str, bucket: str, grantee: str,  # type: ignore[no-untyped-def]
                                                            tmp_path: Path) -> None:
    """`policy generate` learns what the application did: the grant's own check (an upload, a listing and a delete
    inside the prefix, an upload outside it that is refused) is the admin CLI's, not the application's — it widened
    the generated policy to the whole bucket and added s3:DeleteObject (admin CLI probe, finding 10)."""
    env_file = tmp_path / ".env"
    assert storeroom(endpoint, "grant", grantee, "--bucket", bucket, "--prefix", "app/", "--env-file",
                     env_file).returncode == 0
    env = read_env_file(env_file)
    app = make_client(endpoint, access_key=env["AWS_ACCESS_KEY_ID"], secret_key=env["AWS_SECRET_ACCESS_KEY"])
    app.put_object(Bucket=bucket, Key="app/report.csv", Body=b"1,2\n")
    time.sleep(1.5)  # the events of another worker's queue
    out = json_of(storeroom(endpoint, "policy", "generate", "--user", grantee, "--include-denied", "--json"))
    assert out["policy"]["Statement"] == [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/app/report.csv"}]
