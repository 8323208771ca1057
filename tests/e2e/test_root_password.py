"""The root user's console password: generated at first start (printed once, saved 0600), or given with
STOREROOM_ROOT_PASSWORD / STOREROOM_ROOT_EMAIL; ``storeroom root reset-password`` for whoever holds the data
dir, while the server runs."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest

from storeroom.signin import BadCredentials, MfaRequired, SignInRequest
from tests.conftest import StoreroomServer, make_client, meta_url_for
from tests.e2e.console_signin import sign_in


def reset(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "storeroom", "root", "reset-password", "--data-dir", str(data_dir),
                           *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_first_start_generates_prints_and_saves_the_password(tmp_path: Path) -> None:
    server = StoreroomServer(tmp_path / "data")
    server.start()
    try:
        saved = server.data_dir / "root-password.txt"
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        password = saved.read_text().strip()
        assert len(password) == 20
        log = server.log_path.read_text()
        assert log.count(password) == 1 and "root@localhost" in log
        assert sign_in(server, SignInRequest.root("root@localhost", password)).principal.is_root
        server.restart()  # later starts keep it and print nothing
        assert saved.read_text().strip() == password and server.log_path.read_text().count(password) == 1
        assert sign_in(server, SignInRequest.root("ROOT@localhost", password)).principal.is_root
    finally:
        server.stop()


def test_a_planted_link_never_receives_the_password(tmp_path: Path) -> None:
    """The password (and root's generated keys) were written through any link found where their file goes, into
    a file another user could read; the start then printed a traceback when the write failed."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    elsewhere = tmp_path / "someone-elses"
    (data / "root-password.txt").symlink_to(elsewhere)
    server = StoreroomServer(data)
    server.start()
    try:
        log = server.log_path.read_text()
        assert f"NOT saved to {data / 'root-password.txt'}" in log and "Traceback" not in log
        password = log.split("copy it now):\n", 1)[1].split()[0]
        assert sign_in(server, SignInRequest.root("root@localhost", password)).principal.is_root
        assert not elsewhere.exists()
    finally:
        server.stop()


def test_a_data_dir_every_user_may_write_is_refused(tmp_path: Path) -> None:
    for mode in (0o777, 0o1777):  # sticky too: anyone could make the files before the first start
        data = tmp_path / f"open-{mode:o}"
        data.mkdir()
        data.chmod(mode)
        started = subprocess.run([sys.executable, "-m", "storeroom", "serve", "--data-dir", str(data), "--listen",
                                  "127.0.0.1:0", "--console-listen", "off"], capture_output=True, text=True,
                                 timeout=120)
        assert started.returncode == 1
        assert started.stderr.strip() == (f"storeroom: the data dir {data} is writable by every user; use a "
                                          f"directory of the server's own (or chmod o-w {data})")
        assert list(data.iterdir()) == []


def test_password_and_email_from_the_environment(tmp_path: Path) -> None:
    env = {"STOREROOM_ROOT_EMAIL": "owner@example.com", "STOREROOM_ROOT_PASSWORD": "Env-Given-Passw0rd"}
    server = StoreroomServer(tmp_path / "data", env=env)
    server.start()
    try:
        assert not (server.data_dir / "root-password.txt").exists()
        assert "Env-Given-Passw0rd" not in server.log_path.read_text()
        assert sign_in(server, SignInRequest.root("owner@example.com", "Env-Given-Passw0rd")).principal
        with pytest.raises(BadCredentials):
            sign_in(server, SignInRequest.root("root@localhost", "Env-Given-Passw0rd"))
        server.env = {**env, "STOREROOM_ROOT_PASSWORD": "Changed-In-Env-1"}
        server.restart()
        assert sign_in(server, SignInRequest.root("owner@example.com", "Changed-In-Env-1")).principal
        with pytest.raises(BadCredentials):
            sign_in(server, SignInRequest.root("owner@example.com", "Env-Given-Passw0rd"))
    finally:
        server.stop()
    for path in server.data_dir.rglob("*"):  # only Argon2 hashes are kept, in no file the passwords
        if path.is_file() and path.name != "generations":
            data = path.read_bytes()
            assert b"Env-Given-Passw0rd" not in data and b"Changed-In-Env-1" not in data, path


def test_a_weak_password_from_the_environment_stops_the_start(tmp_path: Path) -> None:
    server = StoreroomServer(tmp_path / "data", env={"STOREROOM_ROOT_PASSWORD": "secret"})
    with pytest.raises(RuntimeError) as exc:
        server.start()
    assert "STOREROOM_ROOT_PASSWORD: Password must be at least 8 characters long." in str(exc.value)


def test_reset_password_while_the_server_runs(tmp_path: Path, request: pytest.FixtureRequest,
                                              meta_backend: str) -> None:
    server = StoreroomServer(tmp_path / "data", meta_url=meta_url_for(request, meta_backend))
    server.start()
    try:
        first = (server.data_dir / "root-password.txt").read_text().strip()
        done = reset(server.data_dir, *_meta(server))
        assert done.returncode == 0, done.stderr
        generated = done.stdout.strip()
        assert len(generated) == 20 and generated != first and "Root password reset" in done.stderr
        assert not (server.data_dir / "root-password.txt").exists()  # the old one no longer works
        with pytest.raises(BadCredentials):
            sign_in(server, SignInRequest.root("root@localhost", first))
        assert sign_in(server, SignInRequest.root("root@localhost", generated)).principal.is_root
        weak = reset(server.data_dir, *_meta(server), "--password-stdin", stdin="short\n")
        assert weak.returncode == 2 and "Password must be at least 8 characters long." in weak.stderr
        given = reset(server.data_dir, *_meta(server), "--password-stdin", stdin="Typed-Passw0rd-42\n")
        assert given.returncode == 0 and given.stdout == ""  # nothing to show: the owner typed it
        assert sign_in(server, SignInRequest.root("root@localhost", "Typed-Passw0rd-42")).principal
        # the API sees the same root password (GetLoginProfile for the caller, root)
        iam = make_client(server.endpoint, service="iam")
        assert "CreateDate" in iam.get_login_profile()["LoginProfile"]
        # a lost MFA device: --remove-mfa takes it off root
        device = iam.create_virtual_mfa_device(VirtualMFADeviceName="root-account-mfa-device")["VirtualMFADevice"]
        app, now = pyotp.TOTP(device["Base32StringSeed"].decode()), time.time()
        iam.enable_mfa_device(UserName="root", SerialNumber=device["SerialNumber"],
                              AuthenticationCode1=app.at(now - 30), AuthenticationCode2=app.at(now))
        with pytest.raises(MfaRequired):
            sign_in(server, SignInRequest.root("root@localhost", "Typed-Passw0rd-42"))
        lost = reset(server.data_dir, *_meta(server), "--password-stdin", "--remove-mfa", stdin="Typed-Passw0rd-43\n")
        assert lost.returncode == 0 and "1 MFA device(s) deactivated" in lost.stderr
        assert not sign_in(server, SignInRequest.root("root@localhost", "Typed-Passw0rd-43")).mfa_used
        assert iam.get_account_summary()["SummaryMap"]["AccountMFAEnabled"] == 0
    finally:
        server.stop()


def _meta(server: StoreroomServer) -> list[str]:
    return ["--meta", server.meta_url] if server.meta_url else []


def test_reset_password_needs_a_data_dir(tmp_path: Path) -> None:
    missing = reset(tmp_path / "nothing")
    assert missing.returncode == 2 and missing.stderr.startswith("storeroom: no Storeroom data in")  # as every
    # admin command's errors (it was click's "Error: ...", exit 1)
