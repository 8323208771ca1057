"""The README's guide section, run as written with the AWS CLI v1 (what the test extras install) in bash: the
root creates the user, the guide's code uploads with the user's key, and `aws cloudtrail lookup-events
--lookup-attributes AttributeKey=Username,AttributeValue=user_name` shows that upload under the user's name.

Only the placeholders a reader fills in are replaced: the `...` keys and the endpoint's port."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, StoreroomServer
from tests.e2e.test_guide import user_env

README = Path(__file__).resolve().parents[2] / "README.md"


def guide_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## The guide", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def _fill(block: str, key_id: str, secret: str, endpoint: str) -> str:
    block = re.sub(r"^export AWS_ACCESS_KEY_ID=\S+", f"export AWS_ACCESS_KEY_ID={key_id}", block, flags=re.M)
    block = re.sub(r"^export AWS_SECRET_ACCESS_KEY=\S+", f"export AWS_SECRET_ACCESS_KEY={secret}", block, flags=re.M)
    return block.replace("http://127.0.0.1:9000", endpoint)


def _bash(script: str, env: dict[str, str], cwd: Path) -> str:
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=cwd, capture_output=True,
                       timeout=300)
    assert p.returncode == 0, (script, p.stdout.decode(), p.stderr.decode())
    return p.stdout.decode()


def test_the_readme_guide_as_written(fresh_server: StoreroomServer, tmp_path: Path) -> None:
    root_block, user_block, trail_block = guide_blocks()
    env = {k: v for k, v in user_env(fresh_server.endpoint, tmp_path).items() if not k.startswith("AWS_")}
    env |= {"AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"), "AWS_EC2_METADATA_DISABLED": "true"}

    root = _fill(root_block, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, fresh_server.endpoint)
    out = _bash(root, env, tmp_path)
    key_id = re.search(r'"AccessKeyId": "(AKIA\w+)"', out)
    secret = re.search(r'"SecretAccessKey": "([^"]+)"', out)
    assert key_id and secret, out

    # the same shell session goes on: the region and endpoint exports of the first block still hold
    exports = "\n".join(line for line in root.splitlines() if line.startswith("export AWS_") and
                        "ACCESS_KEY" not in line)
    rest = "\n".join([exports, _fill(user_block, key_id.group(1), secret.group(1), fresh_server.endpoint),
                      "echo ---lookup---",
                      _fill(trail_block, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY, fresh_server.endpoint)])
    out = _bash(rest, env, tmp_path)
    identity, lookup = out.split("---lookup---")
    assert json.loads(identity)["Arn"].endswith(":user/user_name")
    events = json.loads(lookup)["Events"]
    [upload] = [e for e in events if e["EventName"] == "PutObject"]
    assert upload["Username"] == "user_name" and upload["AccessKeyId"] == key_id.group(1)
    assert {"ResourceType": "AWS::S3::Object",
            "ResourceName": "arn:aws:s3:::your-bucket-name/uploaded_file.txt"} in upload["Resources"]
    record = json.loads(upload["CloudTrailEvent"])
    assert record["userIdentity"]["userName"] == "user_name"
    assert record["requestParameters"]["key"] == "uploaded_file.txt"
    assert {e["EventName"] for e in events} >= {"GetCallerIdentity", "PutObject"}
