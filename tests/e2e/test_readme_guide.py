"""The README's guide section, run verbatim as tests/e2e/test_readme.py runs it (bash, the AWS CLI v1 the test
extras install), checked for what its last block promises: `aws cloudtrail lookup-events --lookup-attributes
AttributeKey=Username,AttributeValue=user_name` lists the guide's upload under the user's name."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import StoreroomServer
from tests.e2e.test_readme import section_shell_blocks

MARK = "---- lookup-events ----"


def test_the_guides_upload_is_found_under_the_users_name(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data_dir = home / ".local" / "share" / "storeroom"
    data_dir.parent.mkdir(parents=True)
    srv = StoreroomServer(data_dir, env={"STOREROOM_ROOT_ACCESS_KEY_ID": "", "STOREROOM_ROOT_SECRET_ACCESS_KEY": ""})
    srv.start()
    try:
        blocks = section_shell_blocks()
        assert "aws cloudtrail lookup-events --lookup-attributes AttributeKey=Username,AttributeValue=user_name" \
            in blocks[-1]
        script = "\n".join([*blocks[:-1], f"echo '{MARK}'", blocks[-1]]).replace(
            "127.0.0.1:9000", f"127.0.0.1:{srv.port}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STOREROOM_"))}
        env["HOME"] = str(home)
        work = tmp_path / "work"
        work.mkdir()
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        srv.stop()
    events = json.loads(result.stdout.split(MARK, 1)[1])["Events"]
    [upload] = [e for e in events if e["EventName"] == "PutObject"]
    assert upload["Username"] == "user_name" and upload["AccessKeyId"].startswith("AKIA")
    assert {"ResourceType": "AWS::S3::Object",
            "ResourceName": "arn:aws:s3:::your-bucket-name/uploaded_file.txt"} in upload["Resources"]
    record = json.loads(upload["CloudTrailEvent"])
    assert record["userIdentity"]["type"] == "IAMUser" and record["userIdentity"]["userName"] == "user_name"
    assert record["requestParameters"]["key"] == "uploaded_file.txt"
    assert {e["EventName"] for e in events} >= {"GetCallerIdentity", "PutObject"}
