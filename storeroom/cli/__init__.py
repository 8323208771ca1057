"""The ``storeroom`` command: ``serve`` runs the endpoint; the other commands are the owner's admin tools.

One module per command family (``serve.py``, ...), each defining its commands, which :data:`COMMANDS` names for
the :data:`main` group.
Admin commands talk to a running Storeroom (or AWS itself) through the public APIs with boto3, like any client.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from storeroom import __version__

# command name -> "module:attribute": each command's module is imported only when the command runs (or --help
# lists them all).  Importing every family up front cost ~0.2 s of every `storeroom` invocation, `serve` included.
COMMANDS = {
    "serve": "storeroom.cli.serve:serve",
    "keys": "storeroom.cli.keys:keys",
    "grant": "storeroom.cli.grant:grant",
    "scan": "storeroom.cli.scan:scan",
    "root": "storeroom.cli.root:root",
    "migrate": "storeroom.cli.migrate:migrate",
    "audit": "storeroom.cli.audit:audit",
    "policy": "storeroom.cli.policy:policy",
    "migrate-blobs": "storeroom.cli.migrate_blobs:migrate_blobs",
    "role": "storeroom.cli.role:role",
    "credentials": "storeroom.cli.role:credentials",
    "master-key": "storeroom.cli.encryption:master_key",
    "encrypt-existing": "storeroom.cli.encryption:encrypt_existing",
}


class LazyGroup(click.Group):
    """click's lazily loaded subcommands (https://click.palletsprojects.com/en/stable/complex/#lazily-loading-subcommands)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and command.name == cmd_name, target
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Ctrl-C: the shell's 130, not click's 1, which means "needs attention" here
            from storeroom.cli.common import EXIT_INTERRUPTED

            click.echo("\nAborted!", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="storeroom")
def main() -> None:
    """Storeroom: a self-hosted object store speaking the Amazon S3, IAM, STS and CloudTrail APIs."""
