"""The "application" of the key rotation test: a real process that uploads with boto3 in a loop, reading its
keys from a .env file before every request (as an app that re-reads its environment would), and logs each
request as one JSON line: time, access key id, outcome.

    python tests/e2e/cli_uploader.py ENV_FILE BUCKET LOG_FILE STOP_FILE [INTERVAL]

It stops when STOP_FILE exists.  A request that fails is logged with its error code and the loop goes on.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            values[name.removeprefix("export ").strip()] = value.strip()  # as python-dotenv reads it
    return values


def main() -> None:
    env_file, bucket, log_file, stop_file = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    interval = float(sys.argv[5]) if len(sys.argv) > 5 else 0.2
    clients: dict[str, object] = {}
    n = 0
    with log_file.open("a") as log:
        while not stop_file.exists():
            env = read_env(env_file)
            key_id = env["AWS_ACCESS_KEY_ID"]
            if key_id not in clients:  # a new key: a new client, as an app restarted with new settings would
                clients[key_id] = boto3.client(
                    "s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                    aws_access_key_id=key_id, aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                    config=Config(retries={"max_attempts": 1}))
            n += 1
            try:
                clients[key_id].put_object(Bucket=bucket, Key=f"uploads/{n}.txt", Body=b"x" * 100)  # type: ignore[attr-defined]
                outcome = "ok"
            except ClientError as e:
                outcome = e.response["Error"]["Code"]
            except Exception as e:  # noqa: BLE001 - a connection error is a failed request too
                outcome = type(e).__name__
            log.write(json.dumps({"t": time.time(), "key": key_id, "outcome": outcome}) + "\n")
            log.flush()
            time.sleep(interval)


if __name__ == "__main__":
    main()
