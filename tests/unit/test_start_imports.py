"""What a server process imports before its first request: botocore's model code waits for the first IAM, STS
or CloudTrail request (storeroom/query.py ``service_model``), so a process serving only S3 never pays for it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_app_and_its_metrics_import_no_botocore() -> None:
    code = ("import sys, storeroom.http.app, storeroom.metrics as m; r = m.RequestMetrics(); "
            "r.observe('s3', 'GetObject', 200, 0.001, 0, 4, None); "
            "print(sorted(n for n in sys.modules if n.startswith('botocore')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
