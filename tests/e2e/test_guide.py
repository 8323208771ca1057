"""What a user does: the code from the user's guide, unchanged, and the AWS CLI, as subprocesses
configured only through environment variables (AWS_ENDPOINT_URL etc.), with a private HOME so no machine
config leaks in."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REGION, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY
from tests.e2e.helpers import MiB, random_bytes, unique_name

# SQLite only: test_guide_iam runs the guide on both backends.
# (Keeps the suite within CI's time budget.)
pytestmark = pytest.mark.meta_backends("sqlite")

GUIDE_CANDIDATES = [
    Path(__file__).resolve().parents[3] / "shared" / "guide.md",  # /work/main/tests/e2e -> /work/shared
    Path("/work/shared/guide.md"),
]


def guide_snippet() -> str:
    """The python block under 'Best Practice: Use Environment Variables', verbatim."""
    for path in GUIDE_CANDIDATES:
        if path.exists():
            text = path.read_text()
            break
    else:
        pytest.skip("the user's guide (shared/guide.md) is not available here")
    section = text.split("Best Practice: Use Environment Variables", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the guide's environment-variables section"
    return match.group(1)


def user_env(endpoint: str, home: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": ROOT_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": ROOT_SECRET_ACCESS_KEY,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": "",
    }
    for var in ("LANG", "LC_ALL", "PYENV_ROOT", "PYENV_VERSION", "SYSTEMROOT"):
        if var in os.environ:
            env[var] = os.environ[var]
    return env


def test_guide_code_uploads_a_file(endpoint, s3, bucket, tmp_path):
    snippet = guide_snippet()
    script = tmp_path / "app.py"
    # the guide's code, unchanged, then the upload call from the guide's first example
    upload = f"s3_client.upload_file('local_file.txt', {bucket!r}, 'uploaded_file.txt')\n"
    script.write_text(snippet + "\n" + upload)
    (tmp_path / "local_file.txt").write_text("hello from the guide\n")
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=user_env(endpoint, tmp_path),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    obj = s3.get_object(Bucket=bucket, Key="uploaded_file.txt")
    assert obj["Body"].read() == b"hello from the guide\n"


class Cli:
    def __init__(self, endpoint: str, home: Path) -> None:
        self.env = user_env(endpoint, home)
        self.cwd = home

    def __call__(self, *args: str, check: bool = True) -> str:
        p = subprocess.run([sys.executable, "-m", "awscli", *args], cwd=self.cwd, env=self.env,
                           capture_output=True, timeout=120)
        if check:
            assert p.returncode == 0, (args, p.stdout.decode(), p.stderr.decode())
        return p.stdout.decode()


@pytest.fixture
def cli(endpoint, tmp_path) -> Cli:
    return Cli(endpoint, tmp_path)


def test_cli_mb_ls_rb(cli, s3, track_bucket):
    name = track_bucket(unique_name("cli"))
    assert f"make_bucket: {name}" in cli("s3", "mb", f"s3://{name}")
    assert name in cli("s3", "ls")
    cli("s3", "rb", f"s3://{name}")
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_cli_cp_up_and_down_small_and_multipart(cli, s3, bucket, tmp_path):
    small = tmp_path / "small.txt"
    small.write_bytes(b"small file\n")
    big = tmp_path / "big.bin"
    big_data = random_bytes(20 * MiB)
    big.write_bytes(big_data)
    cli("s3", "cp", str(small), f"s3://{bucket}/small.txt")
    cli("s3", "cp", str(big), f"s3://{bucket}/dir/big.bin")
    assert s3.head_object(Bucket=bucket, Key="dir/big.bin")["ETag"].endswith('-3"')  # 8 MiB chunks
    cli("s3", "cp", f"s3://{bucket}/small.txt", str(tmp_path / "small.down"))
    cli("s3", "cp", f"s3://{bucket}/dir/big.bin", str(tmp_path / "big.down"))
    assert (tmp_path / "small.down").read_bytes() == b"small file\n"
    assert (tmp_path / "big.down").read_bytes() == big_data
    listing = cli("s3", "ls", f"s3://{bucket}/")
    assert "PRE dir/" in listing and "small.txt" in listing
    recursive = cli("s3", "ls", "--recursive", f"s3://{bucket}/")
    assert "dir/big.bin" in recursive and str(20 * MiB) in recursive


def test_cli_sync_and_rm_recursive(cli, s3, bucket, tmp_path):
    src = tmp_path / "site"
    (src / "css").mkdir(parents=True)
    (src / "index.html").write_text("<h1>hi</h1>")
    (src / "css" / "main.css").write_text("body{}")
    (src / "notes with space.txt").write_text("n")
    old = os.path.getmtime(src / "index.html") - 3600  # S3 times have 1 s resolution: avoid a same-second tie
    for f in src.rglob("*"):
        os.utime(f, (old, old))
    cli("s3", "sync", str(src), f"s3://{bucket}/site")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["site/css/main.css", "site/index.html", "site/notes with space.txt"]
    # a second sync uploads nothing
    assert "upload:" not in cli("s3", "sync", str(src), f"s3://{bucket}/site")
    down = tmp_path / "down"
    cli("s3", "sync", f"s3://{bucket}/site", str(down))
    assert (down / "css" / "main.css").read_text() == "body{}"
    cli("s3", "rm", "--recursive", f"s3://{bucket}/site")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_cli_s3api_head_object(cli, s3, bucket):
    s3.put_object(Bucket=bucket, Key="h.json", Body=b"{}", ContentType="application/json",
                  Metadata={"team": "storage"})
    out = cli("s3api", "head-object", "--bucket", bucket, "--key", "h.json")
    assert '"ContentType": "application/json"' in out
    assert '"team": "storage"' in out
    assert '"ContentLength": 2' in out


def test_cli_reports_missing_object(cli, bucket):
    p = subprocess.run([sys.executable, "-m", "awscli", "s3api", "head-object", "--bucket", bucket,
                        "--key", "nope"], env=cli.env, capture_output=True, timeout=60)
    assert p.returncode != 0
    assert b"404" in p.stderr or b"Not Found" in p.stderr
