"""``storeroom serve`` with certificate files it cannot serve stops at once with one line naming the problem (no
traceback, no worker started); with a certificate that expired it starts, serves it and warns."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.cli import REPO, cli_env
from tests.tls_certs import CertAuthority, key_pem, new_key, now


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "storeroom", "serve", "--data-dir", str(tmp_path / "data"),
                           "--listen", f"127.0.0.1:{free_port()}", "--console-listen", "off", "--workers", "1",
                           *args], cwd=REPO, env={**cli_env(None), **(env or {})}, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def ca() -> CertAuthority:
    return CertAuthority.create()


@pytest.mark.parametrize("case, expected", [
    ("missing", "storeroom: --tls-cert {d}/missing.pem: no such file"),
    ("missing-env", "storeroom: --tls-cert {d}/missing.pem: no such file"),
    ("other-key", "storeroom: --tls-key {d}/other.pem is not the key of the certificate in --tls-cert "
                  "{d}/cert.pem (server)"),
    ("encrypted", "storeroom: --tls-key {d}/locked.pem: the key is protected by a passphrase"),
    ("not-pem", "storeroom: --tls-cert {d}/key.pem: not a PEM certificate"),
    ("both", "storeroom: --tls-self-signed makes its own certificate: give it or --tls-cert, not both"),
    ("key-alone", "storeroom: --tls-key needs --tls-cert"),
    ("tls-dir-blocked", "storeroom: --tls-self-signed: cannot write {d}/data/tls"),
])
def test_unusable_files_stop_the_start_with_a_clear_message(tmp_path: Path, ca: CertAuthority, case: str,
                                                            expected: str) -> None:
    cert, key, _ = ca.write_server(tmp_path, "server")
    (tmp_path / "other.pem").write_bytes(key_pem(new_key("ec")))
    (tmp_path / "locked.pem").write_bytes(key_pem(new_key("ec"), password=b"passphrase"))
    args = {
        "missing": ["--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(key)],
        "missing-env": [],
        "other-key": ["--tls-cert", str(cert), "--tls-key", str(tmp_path / "other.pem")],
        "encrypted": ["--tls-cert", str(cert), "--tls-key", str(tmp_path / "locked.pem")],
        "not-pem": ["--tls-cert", str(key), "--tls-key", str(key)],
        "both": ["--tls-self-signed", "--tls-cert", str(cert)],
        "key-alone": ["--tls-key", str(key)],
        "tls-dir-blocked": ["--tls-self-signed"],
    }[case]
    if case == "tls-dir-blocked":
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "tls").write_text("a file where the CA's folder would go")
    env = {"STOREROOM_TLS_CERT": str(tmp_path / "missing.pem")} if case == "missing-env" else None
    result = serve(tmp_path, *args, env=env)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(expected.format(d=tmp_path)), result.stderr


def test_an_expired_certificate_is_served_with_a_warning(tmp_path: Path, ca: CertAuthority) -> None:
    cert, key, _ = ca.write_server(tmp_path, "lapsed", not_before=now() - dt.timedelta(days=60),
                                   not_after=now() - dt.timedelta(days=1))
    log = tmp_path / "log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "storeroom", "serve", "--data-dir", str(tmp_path / "data"),
                                 "--listen", f"127.0.0.1:{free_port()}", "--console-listen", "off", "--workers", "1",
                                 "--tls-cert", str(cert), "--tls-key", str(key)], cwd=REPO, env=cli_env(None),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "endpoint https://" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        time.sleep(0.5)
        assert proc.poll() is None  # still serving
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    text = log.read_text()
    assert f"Storeroom: warning: the certificate in {cert} expired on" in text
    assert "Traceback" not in text
