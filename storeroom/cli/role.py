"""``storeroom role …`` and ``storeroom credentials``: roles for applications that must never hold a long-lived key.

- ``storeroom role bind ROLE --name APP`` binds a new token to the role for one application and prints the two
  variables that application is started with (``AWS_CONTAINER_CREDENTIALS_FULL_URI``,
  ``AWS_CONTAINER_AUTHORIZATION_TOKEN``); its SDK then fetches role credentials from Storeroom and refreshes them
  by itself (storeroom/container.py).  Through IAM only: the application is an instance profile holding the role,
  the token's SHA-256 a tag of it.
- ``storeroom role list-bindings`` / ``unbind`` list and revoke those tokens.
- ``storeroom role revoke-sessions ROLE`` is the IAM console's "Revoke active sessions": an inline policy
  ``AWSRevokeOlderSessions`` denying everything to sessions issued before now.
- ``storeroom credentials --role-arn ARN`` prints the ``credential_process`` JSON of a session of that role, for
  a ``~/.aws/config`` profile (``credential_process = storeroom credentials --role-arn …``).
"""

from __future__ import annotations

import json
import secrets
import string
import time
from pathlib import Path
from typing import Any

import click

from storeroom.cli.common import Output, Target, aws_options, error_code, fail, iso, json_option, paginate
from storeroom.cli.keyfiles import update_env_file
from storeroom.container import PATH, SERVICE, TAG_PREFIX, token_tag_value
from storeroom.sessions import REVOKE_POLICY, revocation

_ID_ALPHABET = string.ascii_lowercase + string.digits


@click.group()
def role() -> None:
    """Roles for applications: tokens bound to a role (the container-credentials endpoint), revoking sessions."""


def _role(iam: Any, name: str) -> dict[str, Any]:
    return dict(iam.get_role(RoleName=name.rpartition("/")[2])["Role"])


def _trusts_machines(role_info: dict[str, Any]) -> bool:
    """Whether some Allow statement of the trust policy names the service principal the endpoint acts as."""
    document = role_info["AssumeRolePolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    statements = document.get("Statement", [])
    for st in [statements] if isinstance(statements, dict) else statements:
        services = (st.get("Principal") or {}).get("Service", []) if isinstance(st.get("Principal"), dict) else []
        actions = st.get("Action", [])
        if st.get("Effect") == "Allow" and SERVICE in ([services] if isinstance(services, str) else services) \
                and any(a in ("sts:AssumeRole", "sts:*", "*") for a in ([actions] if isinstance(actions, str)
                                                                       else actions)):
            return True
    return False


def _ensure_profile(iam: Any, name: str, role_name: str) -> None:
    try:
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    except Exception as e:
        if error_code(e) != "NoSuchEntity":
            raise
        profile = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    roles = [r["RoleName"] for r in profile.get("Roles", [])]
    if roles and roles != [role_name]:
        fail(f"the application {name} is bound to the role {roles[0]}: unbind it first "
             f"(storeroom role unbind --name {name} --all)")
    if not roles:
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role_name)


@role.command()
@click.argument("role_name", metavar="ROLE")
@click.option("--name", "app", required=True, help="the application's name (an instance profile of that name)")
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path),
              help="also write the two variables to this .env file (mode 0600, other lines kept)")
@aws_options
@json_option
def bind(target: Target, role_name: str, app: str, env_file: Path | None, as_json: bool) -> None:
    """Bind a new token of application APP to ROLE, and print the variables to start APP with.

    The role's trust policy must allow ec2.amazonaws.com to assume it, as for an EC2 instance role."""
    out = Output(as_json)
    iam = target.client("iam")
    found = _role(iam, role_name)
    if not _trusts_machines(found):
        fail(f"the trust policy of {found['Arn']} does not allow {SERVICE} to assume it; add the statement "
             f'{{"Effect": "Allow", "Principal": {{"Service": "{SERVICE}"}}, "Action": "sts:AssumeRole"}} '
             f"(aws iam update-assume-role-policy)")
    _ensure_profile(iam, app, found["RoleName"])
    token_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
    secret = secrets.token_urlsafe(32)
    iam.tag_instance_profile(InstanceProfileName=app, Tags=[
        {"Key": TAG_PREFIX + token_id, "Value": token_tag_value(secret, time.time())}])
    endpoint = (target.endpoint_url or "").rstrip("/")
    values = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{endpoint}{PATH}{app}",
              "AWS_CONTAINER_AUTHORIZATION_TOKEN": f"{token_id}.{secret}"}
    if env_file is not None:
        update_env_file(env_file, values)
    if as_json:
        out.json({"Application": app, "RoleArn": found["Arn"], "TokenId": token_id, **values})
        return
    out.note(f"Bound token {token_id} of {app} to {found['Arn']}. Start {app} with (the token is shown once):")
    for name, value in values.items():
        out.line(f"{name}={value}")


def _bindings(iam: Any) -> list[dict[str, Any]]:
    rows = []
    for profile in paginate(iam, "list_instance_profiles", "InstanceProfiles"):
        tags = iam.list_instance_profile_tags(InstanceProfileName=profile["InstanceProfileName"])["Tags"]
        tokens = [(t["Key"][len(TAG_PREFIX):], t["Value"].partition(" ")[2]) for t in tags
                  if t["Key"].startswith(TAG_PREFIX)]
        role_arn = profile["Roles"][0]["Arn"] if profile.get("Roles") else None
        for token_id, created in tokens:
            rows.append({"Application": profile["InstanceProfileName"], "RoleArn": role_arn, "TokenId": token_id,
                         "Created": created})
    return rows


@role.command("list-bindings")
@aws_options
@json_option
def list_bindings(target: Target, as_json: bool) -> None:
    """Every application's tokens, and the role each is bound to."""
    out = Output(as_json)
    rows = _bindings(target.client("iam"))
    if as_json:
        out.json(rows)
        return
    out.table(None, ["Application", "Role", "Token", "Created"],
              [[r["Application"], r["RoleArn"] or "(no role)", r["TokenId"], r["Created"]] for r in rows])


@role.command()
@click.option("--name", "app", required=True, help="the application")
@click.option("--token", "token_id", default=None, help="revoke this token only")
@click.option("--all", "everything", is_flag=True, help="revoke every token and remove the binding itself")
@aws_options
def unbind(target: Target, app: str, token_id: str | None, everything: bool) -> None:
    """Revoke an application's token (--token ID), or all of them and the binding (--all).  Credentials already
    handed out stay valid until they expire (an hour at most); revoke-sessions ends them at once."""
    out = Output(False)
    iam = target.client("iam")
    if (token_id is None) == (not everything):
        fail("say which: --token ID, or --all")
    tags = iam.list_instance_profile_tags(InstanceProfileName=app)["Tags"]
    keys = [t["Key"] for t in tags if t["Key"].startswith(TAG_PREFIX)]
    if token_id is not None:
        if TAG_PREFIX + token_id not in keys:
            fail(f"{app} has no token {token_id}")
        keys = [TAG_PREFIX + token_id]
    if keys:
        iam.untag_instance_profile(InstanceProfileName=app, TagKeys=keys)
    if everything:
        for found in iam.get_instance_profile(InstanceProfileName=app)["InstanceProfile"].get("Roles", []):
            iam.remove_role_from_instance_profile(InstanceProfileName=app, RoleName=found["RoleName"])
        iam.delete_instance_profile(InstanceProfileName=app)
    out.line(f"Revoked {len(keys)} token{'s' if len(keys) != 1 else ''} of {app}"
             + (", and removed its binding." if everything else "."))


@role.command("revoke-sessions")
@click.argument("role_name", metavar="ROLE")
@aws_options
def revoke_sessions(target: Target, role_name: str) -> None:
    """Deny every session of ROLE issued before now, as the IAM console's "Revoke active sessions" does: an
    inline policy AWSRevokeOlderSessions on aws:TokenIssueTime.  Sessions issued afterwards are unaffected."""
    out = Output(False)
    iam = target.client("iam")
    name = _role(iam, role_name)["RoleName"]
    cutoff, document = revocation(time.time())
    iam.put_role_policy(RoleName=name, PolicyName=REVOKE_POLICY, PolicyDocument=document)
    out.line(f"Revoked the sessions of {name} issued before {cutoff}.")


@click.command()
@click.option("--role-arn", required=True, help="the role to assume")
@click.option("--session-name", default=None, help="the role session's name (default: storeroom-<time>)")
@click.option("--duration", type=click.IntRange(900, 43200), default=3600, show_default=True,
              help="seconds the credentials last")
@aws_options
def credentials(target: Target, role_arn: str, session_name: str | None, duration: int) -> None:
    """Print a session of ROLE-ARN as the AWS CLI's and SDKs' credential_process JSON, for a profile of
    ~/.aws/config: credential_process = storeroom credentials --role-arn ARN"""
    answer = target.client("sts").assume_role(RoleArn=role_arn, DurationSeconds=duration,
                                              RoleSessionName=session_name or f"storeroom-{int(time.time())}")
    found = answer["Credentials"]
    click.echo(json.dumps({"Version": 1, "AccessKeyId": found["AccessKeyId"],
                           "SecretAccessKey": found["SecretAccessKey"], "SessionToken": found["SessionToken"],
                           "Expiration": iso(found["Expiration"])}))
