"""``storeroom scan``: a real git repository with a real user's key committed and removed again, the command in
a subprocess against a real server; ``--deactivate`` makes the leaked key fail."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROOT_ACCESS_KEY_ID, make_client
from tests.e2e.cli import json_of, storeroom


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=dev", "-c", "user.email=dev@example.com",
                           "-c", "commit.gpgsign=false", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def leaked(iam, new_user, tmp_path: Path) -> tuple[Path, dict[str, str], str]:  # type: ignore[no-untyped-def]
    """A repository whose history holds a real user's key (committed in config/.env, then removed)."""
    user = new_user()
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    key = iam.create_access_key(UserName=user)["AccessKey"]
    repo = tmp_path / "project"
    (repo / "config").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "app.py").write_text("import boto3\ns3 = boto3.client('s3')\n")
    (repo / "config" / ".env").write_text(
        f"DEBUG=0\nAWS_ACCESS_KEY_ID={key['AccessKeyId']}\nAWS_SECRET_ACCESS_KEY={key['SecretAccessKey']}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first version")
    added = git(repo, "rev-parse", "HEAD")
    git(repo, "rm", "-q", "config/.env")
    git(repo, "commit", "-q", "-m", "oops, no keys in git")
    return repo, key, added


def _s3_error(endpoint: str, key: dict[str, str]) -> str | None:
    try:
        make_client(endpoint, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]).list_buckets()
        return None
    except ClientError as e:
        return str(e.response["Error"]["Code"])


def test_scan_finds_a_removed_key_in_history_and_deactivates_it(endpoint: str, iam, leaked) -> None:  # type: ignore[no-untyped-def]
    repo, key, added = leaked
    key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]
    assert not (repo / "config" / ".env").exists()

    result = storeroom(endpoint, "scan", repo, "--json")
    assert result.returncode == 1, result.stderr  # an active key was found
    assert secret not in result.stdout + result.stderr  # secrets are never shown
    out = json_of(result)
    assert out["git_history"] is True
    found = {(f["location"], f["kind"], f["match"], f["access_key_id"]) for f in out["findings"]}
    assert found == {
        (f"{added[:12]}:config/.env:2", "access_key_id", key_id, key_id),
        (f"{added[:12]}:config/.env:3", "secret_access_key", secret[:4] + "*" * 36, key_id),
    }
    user = iam.get_access_key_last_used(AccessKeyId=key_id)["UserName"]
    assert out["keys"] == [{"access_key_id": key_id, "user": user, "status": "Active", "action": None,
                            "note": None, "locations": [f"{added[:12]}:config/.env:2"]}]
    assert _s3_error(endpoint, key) is None  # scanning changes nothing

    table = storeroom(endpoint, "scan", repo)
    assert table.returncode == 1 and secret not in table.stdout
    assert f"{added[:12]}:config/.env:2" in table.stdout and f"{key_id} is an active key of {user}" in table.stdout

    result = storeroom(endpoint, "scan", repo, "--deactivate", "--json")
    assert result.returncode == 1, result.stderr
    assert json_of(result)["keys"][0]["action"] == "deactivated"
    assert json_of(result)["keys"][0]["status"] == "Inactive"  # as it is now (it said Active)
    assert json_of(result)["active"] == 1  # found active
    assert _s3_error(endpoint, key) == "InvalidAccessKeyId"
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"] == "Inactive"

    again = storeroom(endpoint, "scan", repo, "--json")
    assert again.returncode == 0, again.stderr  # still in history, but no longer an active key
    assert json_of(again)["keys"][0]["status"] == "Inactive"


def test_scan_files_without_git(endpoint: str, iam, new_user, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    user = new_user()
    key = iam.create_access_key(UserName=user)["AccessKey"]
    tree = tmp_path / "tree"
    (tree / "deploy" / ".git").mkdir(parents=True)
    (tree / "deploy" / "credentials.csv").write_text(
        f"Access key ID,Secret access key\n{key['AccessKeyId']},{key['SecretAccessKey']}\n")
    (tree / "deploy" / ".git" / "config").write_text(f"key = {key['AccessKeyId']}\n")  # .git internals: skipped
    (tree / "image.bin").write_bytes(b"\0\x01" + key["AccessKeyId"].encode())  # binary: skipped
    (tree / "big.log").write_text("x" * 5000 + key["AccessKeyId"])  # over --max-file-size: skipped
    (tree / "notes.md").write_text("the example key AKIAZZZZZZZZZZZZZZZZ is not ours; a git hash "
                                   "0123456789abcdef0123456789abcdef01234567 is no secret\n")
    (tree / "link").symlink_to(tree / "deploy" / "credentials.csv")  # symlinks: not followed

    result = storeroom(endpoint, "scan", tree, "--max-file-size", "4096", "--json")
    assert result.returncode == 1, result.stderr
    out = json_of(result)
    assert out["git_history"] is False
    assert [(f["location"], f["kind"]) for f in out["findings"]] == [
        ("deploy/credentials.csv:2", "access_key_id"), ("deploy/credentials.csv:2", "secret_access_key"),
        ("notes.md:1", "access_key_id")]
    states = {k["access_key_id"]: (k["user"], k["status"]) for k in out["keys"]}
    assert states == {key["AccessKeyId"]: (user, "Active"), "AKIAZZZZZZZZZZZZZZZZ": (None, None)}

    table = storeroom(endpoint, "scan", tree, "--max-file-size", "4096")
    assert "not a key of this account" in table.stdout

    offline = storeroom(None, "scan", tree / "notes.md", "--offline")
    assert offline.returncode == 1 and "notes.md:1" in offline.stdout  # anything found counts offline

    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "README").write_text("nothing to see\n")
    nothing = storeroom(endpoint, "scan", clean)
    assert nothing.returncode == 0 and "No AWS keys found" in nothing.stdout


def test_scan_will_not_lock_out_the_key_it_runs_with(endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "admin.env").write_text(f"AWS_ACCESS_KEY_ID={ROOT_ACCESS_KEY_ID}\n")
    result = storeroom(endpoint, "scan", tmp_path, "--deactivate", "--json")
    assert result.returncode == 1, result.stderr
    state: Any = json_of(result)["keys"][0]
    assert state["user"] == "<root_account>" and state["status"] == "Active"
    assert state["action"].startswith("not deactivated: this command signs with it")
    assert make_client(endpoint, "sts").get_caller_identity()["Arn"].endswith(":root")
