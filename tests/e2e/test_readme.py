"""The README's guide section runs verbatim: its shell blocks, in bash, with the AWS CLI the test extras install
(v1), against a server on its default data dir (``$HOME/.local/share/storeroom``, root keys generated at first
start). Only the endpoint's port is changed, to the test server's."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import boto3

from tests.conftest import StoreroomServer

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## The guide, done with `aws iam` and boto3"


def section_shell_blocks() -> list[str]:
    text = README.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return re.findall(r"```sh\n(.*?)```", text[start:end], flags=re.S)


def test_the_guide_section_runs_verbatim(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data_dir = home / ".local" / "share" / "storeroom"
    data_dir.parent.mkdir(parents=True)
    srv = StoreroomServer(data_dir, env={"STOREROOM_ROOT_ACCESS_KEY_ID": "", "STOREROOM_ROOT_SECRET_ACCESS_KEY": ""})
    srv.start()
    try:
        blocks = section_shell_blocks()
        assert len(blocks) >= 2
        script = "\n".join(blocks).replace("127.0.0.1:9000", f"127.0.0.1:{srv.port}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STOREROOM_"))}
        env["HOME"] = str(home)
        work = tmp_path / "work"
        work.mkdir()
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        assert ":user/user_name" in result.stdout  # aws sts get-caller-identity, as the user
        root_key, root_secret = (data_dir / "root-credentials.csv").read_text().splitlines()[1].split(",")
        s3 = boto3.client("s3", endpoint_url=srv.endpoint, region_name="us-east-1",
                          aws_access_key_id=root_key, aws_secret_access_key=root_secret)
        body = s3.get_object(Bucket="your-bucket-name", Key="uploaded_file.txt")["Body"].read()
        assert body == b"hello\n"
    finally:
        srv.stop()
