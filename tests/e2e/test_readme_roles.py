"""The README's guide, role edition, runs verbatim (bash, the AWS CLI v1 and the ``storeroom`` command the test
extras install) against a server on its default data dir: a role with AmazonS3FullAccess, ``storeroom role
bind``, and the guide's Python code uploading with nothing but the two container-credentials variables (and the
endpoint) in its environment; the trail files the upload under the application's session."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3

from tests.conftest import StoreroomServer

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SECTION = "## The guide, role edition: no long-lived key in the application"
MARK = "---- lookup-events ----"


def section_shell_blocks() -> list[str]:
    text = README.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return re.findall(r"```sh\n(.*?)```", text[start:end], flags=re.S)


def test_the_role_edition_runs_verbatim(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data_dir = home / ".local" / "share" / "storeroom"
    data_dir.parent.mkdir(parents=True)
    srv = StoreroomServer(data_dir, env={"STOREROOM_ROOT_ACCESS_KEY_ID": "", "STOREROOM_ROOT_SECRET_ACCESS_KEY": ""})
    srv.start()
    try:
        blocks = section_shell_blocks()
        assert len(blocks) == 3 and "lookup-events" in blocks[-1]
        script = "\n".join([*blocks[:-1], f"echo '{MARK}'", blocks[-1]]).replace(
            "127.0.0.1:9000", f"127.0.0.1:{srv.port}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STOREROOM_"))}
        env["HOME"] = str(home)
        # `storeroom` is this checkout's, whatever an installed one elsewhere on PATH may be
        shims = tmp_path / "bin"
        shims.mkdir()
        (shims / "storeroom").write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m storeroom "$@"\n')
        (shims / "storeroom").chmod(0o755)
        env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
        work = tmp_path / "work"
        work.mkdir()
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        before, after = result.stdout.split(MARK, 1)
        assert ":assumed-role/app-role/uploader" in before
        assert (work / "uploader.env").stat().st_mode & 0o777 == 0o600
        assert "AWS_ACCESS_KEY_ID" not in (work / "uploader.env").read_text()
        root_key, root_secret = (data_dir / "root-credentials.csv").read_text().splitlines()[1].split(",")
        s3 = boto3.client("s3", endpoint_url=srv.endpoint, region_name="us-east-1",
                          aws_access_key_id=root_key, aws_secret_access_key=root_secret)
        assert s3.get_object(Bucket="your-bucket-name", Key="uploaded_file.txt")["Body"].read() == b"hello\n"
    finally:
        srv.stop()
    events = json.loads(after)["Events"]
    [upload] = [e for e in events if e["EventName"] == "PutObject"]
    identity = json.loads(upload["CloudTrailEvent"])["userIdentity"]
    assert identity["type"] == "AssumedRole" and identity["arn"].endswith(":assumed-role/app-role/uploader")
    assert identity["sessionContext"]["sessionIssuer"]["userName"] == "app-role"
