"""The ``storeroom`` command: ``serve`` runs the endpoint; the other commands are the owner's admin tools.

One module per command family (``serve.py``, ...), each adding its commands to the :data:`main` group.
Admin commands talk to a running Storeroom (or AWS itself) through the public APIs with boto3, like any client.
"""

from __future__ import annotations

import click

from storeroom import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="storeroom")
def main() -> None:
    """Storeroom: a self-hosted object store speaking the Amazon S3, IAM, STS and CloudTrail APIs."""


def _register() -> None:
    from storeroom.cli import audit, encryption, grant, keys, migrate, migrate_blobs, policy, role, root, scan, serve

    main.add_command(serve.serve)
    main.add_command(keys.keys)
    main.add_command(grant.grant)
    main.add_command(scan.scan)
    main.add_command(root.root)
    main.add_command(migrate.migrate)
    main.add_command(audit.audit)
    main.add_command(policy.policy)
    main.add_command(migrate_blobs.migrate_blobs)
    main.add_command(role.role)
    main.add_command(role.credentials)
    main.add_command(encryption.master_key)
    main.add_command(encryption.encrypt_existing)


_register()
