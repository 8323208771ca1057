"""Running the ``storeroom`` admin commands as the owner does: ``python -m storeroom ...`` in a subprocess, with
root's keys and the test server's endpoint in the environment (and nothing else of AWS's: no profile, no
config file of the machine running the tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REGION, ROOT_ACCESS_KEY_ID, ROOT_SECRET_ACCESS_KEY

REPO = Path(__file__).resolve().parents[2]


def cli_env(endpoint: str | None, credentials: bool = True, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_REGION=REGION,
               AWS_EC2_METADATA_DISABLED="true", PYTHONPATH=str(REPO), COLUMNS="200")
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    if credentials:
        env.update(AWS_ACCESS_KEY_ID=ROOT_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=ROOT_SECRET_ACCESS_KEY)
    env.update(extra)
    return env


def storeroom(endpoint: str | None, *args: str | Path, env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m storeroom ARGS`` against ``endpoint`` as root; stdout and stderr captured."""
    return subprocess.run([sys.executable, "-m", "storeroom", *map(str, args)], cwd=REPO,
                          env=env if env is not None else cli_env(endpoint), capture_output=True, text=True,
                          timeout=timeout)


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}") from None


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error of a failed command: exit status 2, one line (the last on stderr, after any progress notes),
    no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("storeroom: "), result.stderr
    return lines[-1]
