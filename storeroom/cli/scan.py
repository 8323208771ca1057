"""``storeroom scan PATH``: leaked AWS-style keys in files and git history, checked against the server's keys
(ListUsers + ListAccessKeys; root's own keys with ListAccessKeys when the command runs as root), and turned off
with ``--deactivate`` (UpdateAccessKey ``Status=Inactive``: the key fails at its very next request, and can
be reactivated if it was a false alarm).  What is searched, and how: :mod:`storeroom.cli.secrets_scan`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from storeroom.cli.common import EXIT_ATTENTION, Output, Target, aws_options, json_option, paginate
from storeroom.cli.keys import ROOT_NAME
from storeroom.cli.secrets_scan import Finding, git_dir, scan_files, scan_history

MiB = 1024 * 1024


@dataclass
class KeyState:
    access_key_id: str
    user: str | None = None  # None: not a key of this account (or not checked)
    status: str | None = None
    action: str | None = None
    note: str | None = None  # why it has no owner
    locations: list[str] = field(default_factory=list)


def account_keys(target: Target) -> tuple[dict[str, tuple[str, str]], bool]:
    """access key id → (user name, status) of every key in the account the command can see, and whether
    root's keys are among them (only root may list its own)."""
    iam = target.client("iam")
    keys: dict[str, tuple[str, str]] = {}
    as_root = target.client("sts").get_caller_identity()["Arn"].endswith(":root")
    if as_root:
        for meta in paginate(iam, "list_access_keys", "AccessKeyMetadata"):
            keys[meta["AccessKeyId"]] = (ROOT_NAME, meta["Status"])
    for user in paginate(iam, "list_users", "Users"):
        for meta in paginate(iam, "list_access_keys", "AccessKeyMetadata", UserName=user["UserName"]):
            keys[meta["AccessKeyId"]] = (user["UserName"], meta["Status"])
    return keys, as_root


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--deactivate", is_flag=True,
              help="set every active key found to Inactive (not the key this command itself signs with)")
@click.option("--no-history", is_flag=True, help="do not search git history, only the files as they are")
@click.option("--offline", is_flag=True, help="only search: do not ask the server which keys are real")
@click.option("--max-file-size", type=click.IntRange(min=1), default=2 * MiB, show_default=True,
              help="skip files larger than this many bytes")
@json_option
@aws_options
def scan(target: Target, path: Path, deactivate: bool, no_history: bool, offline: bool, max_file_size: int,
         as_json: bool) -> None:
    """Find AWS access keys and secrets in the files under PATH and, when PATH is in a git repository, in its
    history (every commit of every branch, tag, stash and reflog entry).

    Reports each finding as file:line (commit:file:line in history) with secrets masked, and which key ids are
    keys of the target account and active. --deactivate turns those off.

    Skipped: .git internals, symlinks, binary files, files over --max-file-size.

    Exit status: 0 no active key found, 1 an active key was found (deactivated or not; with --offline: anything
    was found), 2 errors.
    """
    if offline and deactivate:
        raise click.UsageError("--deactivate needs the server: it cannot be used with --offline")
    out = Output(as_json)
    findings = scan_files(path, max_file_size)
    history = not no_history and git_dir(path)
    if history:
        findings += scan_history(path)
    states = _key_states(findings)
    if not offline and states:
        _check(target, states, deactivate, out)
    active = [s for s in states.values() if s.status == "Active"]
    _show(out, path, history, findings, states, offline)
    if active or (offline and findings):
        raise SystemExit(EXIT_ATTENTION)


def _key_states(findings: list[Finding]) -> dict[str, KeyState]:
    states: dict[str, KeyState] = {}
    for f in findings:
        if f.kind == "access_key_id":
            state = states.setdefault(f.value, KeyState(f.value))
            state.locations.append(f.location)
    return states


def _check(target: Target, states: dict[str, KeyState], deactivate: bool, out: Output) -> None:
    known, as_root = account_keys(target)
    unknown = "not a key of this account" if as_root else "not a user's key of this account (root's are not listed)"
    signing = target.signing_key_id
    iam = target.client("iam")
    for key_id, state in states.items():
        if key_id not in known:
            state.note = "temporary (STS)" if key_id.startswith("ASIA") else unknown
            continue
        state.user, state.status = known[key_id]
        if not deactivate or state.status != "Active":
            continue
        if key_id == signing:
            state.action = ("not deactivated: this command signs with it (rotate it"
                            + (": root's, with `aws iam create-access-key` signed as root)" if state.user == ROOT_NAME
                               else ")"))
            continue
        params = {} if state.user == ROOT_NAME else {"UserName": state.user}
        iam.update_access_key(AccessKeyId=key_id, Status="Inactive", **params)
        state.action = "deactivated"
        out.note(f"Deactivated {key_id} ({state.user}).")


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _show(out: Output, path: Path, history: bool, findings: list[Finding], states: dict[str, KeyState],
          offline: bool) -> None:
    if out.as_json:
        out.json({
            "path": str(path), "git_history": history, "checked": not offline,
            "findings": [{"location": f.location, "path": f.path, "line": f.line, "commit": f.commit,
                          "kind": f.kind, "match": f.masked, "access_key_id": f.access_key_id or
                          (f.value if f.kind == "access_key_id" else None)} for f in findings],
            # status: as the key is now (a key this run deactivated is Inactive); active: the keys found active
            "keys": [{"access_key_id": s.access_key_id, "user": s.user,
                      "status": "Inactive" if s.action == "deactivated" else s.status, "action": s.action,
                      "note": s.note, "locations": s.locations} for s in states.values()],
            "active": sum(s.status == "Active" for s in states.values()),
        })
        return
    where = f"{path} and its git history" if history else str(path)
    if not findings:
        out.line(f"No AWS keys found in {where}.")
        return
    out.table(f"Found in {where}", ["Location", "What", "Match", "Key"],
              [[escape(f.location), "access key id" if f.kind == "access_key_id" else "secret access key",
                f.masked, _key_label(states, f, offline)] for f in findings])
    for s in states.values():
        if s.status == "Active":
            action = f"; {s.action}" if s.action else "; deactivate it with --deactivate, then rotate"
            out.line(f"[bold red]{s.access_key_id}[/] is an active key of {escape(s.user or '')}{escape(action)}",
                     markup=True)


def _key_label(states: dict[str, KeyState], f: Finding, offline: bool) -> str:
    key_id = f.value if f.kind == "access_key_id" else f.access_key_id
    if key_id is None:
        return "no key id nearby"
    state = states.get(key_id)
    if offline or state is None:
        return key_id if f.kind == "secret_access_key" else ""
    if state.user is None:
        return state.note or ""
    status = state.status or ""
    if state.action == "deactivated":
        status = "Active → Inactive"
    label = f"{escape(state.user)}, {status}"
    prefix = f"{key_id}: " if f.kind == "secret_access_key" else ""
    return f"{prefix}[red]{label}[/]" if state.status == "Active" else prefix + label

