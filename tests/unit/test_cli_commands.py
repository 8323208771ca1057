"""storeroom/cli/__init__.py: the commands load when they run; every name in COMMANDS is one."""

from __future__ import annotations

import subprocess
import sys

import click
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
