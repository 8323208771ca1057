"""storeroom/cli/__init__.py: the commands load when they run; every name in COMMANDS is one."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from storeroom.cli import COMMANDS, main


def test_every_command_loads_under_its_name_and_help_lists_them_all() -> None:
    ctx = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name
    shown = CliRunner().invoke(main, ["--help"])
    assert shown.exit_code == 0
    listed = [line.split()[0] for line in shown.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)
    assert main.get_command(ctx, "no-such-command") is None


def test_a_command_imports_only_its_own_family() -> None:
    """`storeroom serve` must not pay for the admin commands' imports (boto3, aiohttp, psycopg): ~0.2 s of every
    start when every family was imported up front."""
    code = ("import sys; from storeroom.cli import main; import click; main.get_command(click.Context(main), 'serve'); "
            "print(sorted(m for m in ('storeroom.cli.keys', 'storeroom.cli.role', 'boto3', 'aiohttp', 'psycopg') "
            "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_bad_endpoints_and_listen_addresses_are_one_line_errors(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An endpoint botocore cannot take (the option or $AWS_ENDPOINT_URL) printed a ValueError traceback; a
    --listen host that names nothing was found only after the start message."""
    shown = CliRunner().invoke(main, ["audit", "--endpoint-url", "notaurl"])
    assert shown.exit_code == 2 and "invalid endpoint URL 'notaurl'" in shown.output
    assert "Traceback" not in shown.output
    monkeypatch.setenv("AWS_ENDPOINT_URL", "ftp://x")
    shown = CliRunner().invoke(main, ["keys", "report"])
    assert shown.exit_code == 2 and "invalid endpoint URL 'ftp://x'" in shown.output
    shown = CliRunner().invoke(main, ["serve", "--listen", "no-such-host.invalid:9000"])
    assert shown.exit_code == 2 and "cannot listen on 'no-such-host.invalid:9000'" in shown.output
    shown = CliRunner().invoke(main, ["keys", "report", "--endpoint-url", "http://[::1"])
    assert shown.exit_code == 2 and "invalid endpoint URL 'http://[::1'" in shown.output


@pytest.mark.parametrize("args", [["audit", "--limit", "99999999999999999999"],
                                  ["audit", "--follow", "--interval", "nan"],
                                  ["keys", "report", "--max-age-days", "inf"],
                                  ["serve", "--lifecycle-interval", "nan"]])
def test_numbers_beyond_reason_are_usage_errors(args: list[str]) -> None:
    """Each ended in a Python traceback (fuzzing, 2026-12-07)."""
    shown = CliRunner().invoke(main, args)
    assert shown.exit_code == 2 and "Invalid value" in shown.output, (shown.output, shown.exception)


def test_an_unreachable_metadata_database_is_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    shown = CliRunner().invoke(main, ["root", "reset-password", "--data-dir", str(tmp_path),
                                      "--meta", "postgresql://x@127.0.0.1:1/db"])
    assert shown.exit_code == 2 and "cannot use the metadata database postgresql://x@127.0.0.1:1/db" in shown.output
    assert isinstance(shown.exception, SystemExit), shown.exception


def test_ctrl_c_exits_130_in_every_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C is the shell's 130 (128 + SIGINT), not click's 1, which the admin commands use for "needs the
    owner's attention": a cron job must tell an interrupted `keys report` from one that found old keys."""
    import os
    import signal
    import socket
    import time

    silent = socket.socket()  # an endpoint that takes the connection and never answers: the command waits
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "x" * 40,
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{silent.getsockname()[1]}", "HOME": str(tmp_path)}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "storeroom", "keys", "report"], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(3)  # past the imports, waiting for the answer
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        silent.close()
    assert proc.returncode == 130, stderr
    assert stderr.strip().endswith("Aborted!") and "Traceback" not in stderr


def test_tables_show_control_characters_escaped() -> None:
    """An object key with an ESC sequence (SGR 8 hid every line after it) or a line break reached the admin's
    terminal as is through `storeroom audit` (fuzzing, 2026-12-07)."""
    from storeroom.cli.common import shown

    assert shown("photos/\x1b[8m\nx\x9b") == "photos/\\x1b[8m\\x0ax\\x9b"
    assert shown("plain/ünïcode key") == "plain/ünïcode key"
