"""``storeroom keys report | rotate | cleanup``: the guide's key hygiene (rotate every 90 days, delete unused
keys) on top of IAM's public API (ListUsers, ListAccessKeys, GetAccessKeyLastUsed, CreateAccessKey,
UpdateAccessKey, DeleteAccessKey, TagUser).

A rotation's delayed deletion is recorded on the IAM user itself, as the tag
``storeroom:delete-key:<AccessKeyId>`` = ``<ISO 8601 time>``: AWS access keys have no tags, while user tags live
in the account (not on the machine that ran the rotation), are visible to ``aws iam list-user-tags``, and work
the same against AWS.  ``storeroom keys cleanup`` (by hand or from cron) deletes the inactive keys whose time
has come; a key reactivated in the meantime (a rollback) is left alone.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from storeroom.cli import keyfiles
from storeroom.cli.common import (
    EXIT_ATTENTION,
    EXIT_INTERRUPTED,
    FiniteFloat,
    Output,
    Target,
    aws_options,
    duration_option,
    fail,
    human_age,
    iso,
    json_option,
    now,
    paginate,
    parse_iso,
    sleep,
)

ROOT_NAME = "<root_account>"  # as the credential report names the root row
# `keys rotate` rotates IAM users' keys (it names the user in every call); root's, as AWS has it done
ROOT_ROTATION = ("The root user's key: make a new one signed as root (`aws iam create-access-key` without "
                 "--user-name), switch to it, then deactivate and delete the old one.")
DELETE_TAG = "storeroom:delete-key:"
# Storeroom records a key's use at most once a minute per worker process (storeroom/identity.py), AWS with a
# coarser granularity: a key in steady use moves its LastUsedDate at least that often.
STOREROOM_LAST_USED_GRANULARITY = 60.0


@click.group()
def keys() -> None:
    """Access key hygiene: report old and unused keys, rotate a user's key safely, delete retired keys."""


# -- report --------------------------------------------------------------------------------------------------


@dataclass
class KeyInfo:
    user: str
    access_key_id: str
    status: str
    created: str
    age_days: float
    last_used: str | None
    last_used_service: str | None
    last_used_region: str | None
    delete_after: str | None
    rotate: bool
    unused: bool

    @property
    def attention(self) -> bool:
        return self.rotate or self.unused


def describe_key(iam: Any, user: str, meta: dict[str, Any], max_age: float, unused_after: float,
                 delete_after: str | None, at: datetime) -> KeyInfo:
    """A key's age and last use, and whether it is due for rotation (active, older than ``max_age`` seconds)
    or unused (never used and older than ``unused_after``, or last used longer ago than that)."""
    key_id = meta["AccessKeyId"]
    used = iam.get_access_key_last_used(AccessKeyId=key_id)["AccessKeyLastUsed"]
    created: datetime = meta["CreateDate"]
    last: datetime | None = used.get("LastUsedDate")
    age = (at - created).total_seconds()
    idle = age if last is None else (at - last).total_seconds()
    return KeyInfo(
        user=user, access_key_id=key_id, status=meta["Status"], created=iso(created) or "",
        age_days=round(age / 86400, 4), last_used=iso(last),
        last_used_service=None if last is None else used.get("ServiceName"),
        last_used_region=None if last is None else used.get("Region"),
        delete_after=delete_after,
        rotate=meta["Status"] == "Active" and age > max_age,
        unused=idle > unused_after,
    )


def pending_deletions(iam: Any, user: str) -> dict[str, str]:
    """access key id → the time after which ``keys cleanup`` deletes it (from the user's tags)."""
    tags = paginate(iam, "list_user_tags", "Tags", UserName=user)
    return {t["Key"][len(DELETE_TAG):]: t["Value"] for t in tags if t["Key"].startswith(DELETE_TAG)}


def collect_keys(target: Target, max_age: float, unused_after: float) -> list[KeyInfo]:
    iam, at = target.client("iam"), now()
    found: list[KeyInfo] = []
    caller = target.client("sts").get_caller_identity()
    if caller["Arn"].endswith(":root"):  # ListAccessKeys without UserName: the caller's (root's) own keys
        for meta in paginate(iam, "list_access_keys", "AccessKeyMetadata"):
            found.append(describe_key(iam, ROOT_NAME, meta, max_age, unused_after, None, at))
    for user in paginate(iam, "list_users", "Users"):
        name = user["UserName"]
        metas = list(paginate(iam, "list_access_keys", "AccessKeyMetadata", UserName=name))
        pending = pending_deletions(iam, name) if metas else {}
        for meta in metas:
            found.append(describe_key(iam, name, meta, max_age, unused_after,
                                      pending.get(meta["AccessKeyId"]), at))
    return found


@keys.command()
@click.option("--max-age-days", type=FiniteFloat(min=0), default=90, show_default=True,
              help="active keys older than this are due for rotation (the guide: every 90 days)")
@click.option("--unused-days", type=FiniteFloat(min=0), default=90, show_default=True,
              help="keys not used for this long (or never, and this old) are flagged unused")
@json_option
@aws_options
def report(target: Target, max_age_days: float, unused_days: float, as_json: bool) -> None:
    """Every access key (root's and each user's) with its age, status and last use; flags keys to rotate and
    unused keys.

    Exit status: 0 when no key needs attention, 1 when one does (for cron), 2 on errors.
    """
    out = Output(as_json)
    found = collect_keys(target, max_age_days * 86400, unused_days * 86400)
    attention = sum(k.attention for k in found)
    if as_json:
        out.json({"generated": iso(now()), "max_age_days": max_age_days, "unused_days": unused_days,
                  "attention": attention, "keys": [asdict(k) | {"attention": k.attention} for k in found]})
    else:
        rows = [[k.user, k.access_key_id, _status(k), human_age(k.age_days * 86400),
                 k.last_used or "[dim]never[/]", k.last_used_service or "", k.last_used_region or "", _flags(k)]
                for k in found]
        out.table(None, ["User", "Access key", "Status", "Age", "Last used", "Service", "Region", "Attention"],
                  rows)
        if not found:
            out.line("No access keys.")
        elif attention:
            root = any(k.user == ROOT_NAME and k.attention for k in found)
            out.line(f"[bold]{attention} key(s) need attention[/]: rotate with `storeroom keys rotate USER`, "
                     "delete unused keys with `aws iam delete-access-key`."
                     + (f" {ROOT_ROTATION}" if root else ""), markup=True)
        else:
            out.line("All keys are fresh and in use.")
    if attention:
        raise SystemExit(EXIT_ATTENTION)


def _status(k: KeyInfo) -> str:
    return k.status if k.status == "Active" else f"[dim]{k.status}[/]"


def _flags(k: KeyInfo) -> str:
    flags = []
    if k.rotate:
        flags.append("[red]rotate[/] (older than max age)")
    if k.unused:
        flags.append("[yellow]unused[/]")
    if k.delete_after:
        flags.append(f"deletion after {k.delete_after}")
    return ", ".join(flags)


# -- rotate --------------------------------------------------------------------------------------------------


class QuietWatch:
    """When has a reading (the old key's LastUsedDate) "stopped moving"?  When it has kept one value for at
    least ``settle`` seconds: polled every ``poll`` seconds, that is ceil(settle / poll) + 1 equal readings in a
    row.  The window starts with the first reading (taken just after the new key was written) and starts again
    at every change."""

    def __init__(self, settle: float) -> None:
        self.settle = settle
        self.value: object = None
        self.since: float | None = None

    def observe(self, value: object, at: float) -> bool:
        if self.since is None or value != self.value:
            self.value, self.since = value, at
        return self.quiet_for(at) >= self.settle

    def quiet_for(self, at: float) -> float:
        return 0.0 if self.since is None else at - self.since


@dataclass
class Plan:
    """The keys of a rotation: the old one (to retire) and the new one, made now or by an earlier run."""

    old: dict[str, Any]
    new_id: str | None = None
    new_secret: str | None = None
    resumed: bool = False


@keys.command()
@click.argument("user")
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path),
              help="a .env file the application reads: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are replaced "
                   "there (atomically, mode 0600; other lines kept)")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path),
              help="also (or instead) write AWS's CSV 'Access key ID,Secret access key' here (mode 0600)")
@click.option("--force", is_flag=True, help="deactivate the old key at once, without waiting for it to fall silent")
@duration_option("--settle", default="3m",
                 help="the old key counts as no longer used once its last-used time has not moved for this long "
                   "(must exceed the server's recording granularity: 1 minute on Storeroom, hours on AWS)")
@duration_option("--poll-interval", default="10s",
                 help="how often to read the old key's last use")
@duration_option("--timeout", default="1h",
                 help="give up waiting after this long: both keys stay active, exit status 1, run again to resume")
@duration_option("--grace", default="1d",
                 help="keep the deactivated old key this long before `storeroom keys cleanup` deletes it")
@click.option("--now", "delete_now", is_flag=True, help="delete the old key at once instead of after --grace")
@json_option
@aws_options
def rotate(target: Target, user: str, env_file: Path | None, csv_file: Path | None, force: bool, settle: float,
           poll_interval: float, timeout: float, grace: float, delete_now: bool, as_json: bool) -> None:
    """Rotate USER's access key without breaking the application that uses it.

    \b
    1. make a second key (refused if USER already has two, unless --env-file already holds the newer one:
       then an interrupted rotation is resumed) and check that it works (sts get-caller-identity);
    2. write it where the application reads it (--env-file, --csv; with neither, it is printed once);
    3. wait until the old key's last-used time stops moving (unchanged for --settle, read every
       --poll-interval; --force skips this);
    4. deactivate the old key;
    5. delete it at once (--now), or record its deletion after --grace on the user (the tag
       storeroom:delete-key:<id>) for `storeroom keys cleanup` to carry out; until then
       `aws iam update-access-key --status Active` undoes the rotation.

    Exit status: 0 rotated, 1 the old key was still in use at --timeout (both keys left active), 2 errors.
    """
    out = Output(as_json)
    if user == ROOT_NAME:
        fail(f"keys rotate rotates IAM users' keys. {ROOT_ROTATION}")
    for path in (env_file, csv_file):
        problem = path and keyfiles.check_writable(path)
        if problem:
            fail(problem)
    iam = target.client("iam")
    plan = _plan(iam, user, env_file)
    old_id = plan.old["AccessKeyId"]
    if old_id == target.signing_key_id:  # its own polls would keep the key in use; --force would cut it off
        fail(f"{old_id} is the key this command signs with: run it with another one (an administrator's), or "
             f"make {user}'s new key with `aws iam create-access-key` and switch to it first")
    if plan.resumed:
        out.note(f"Resuming: {env_file} already holds {plan.new_id}, the newer of {user}'s two keys.")
    else:
        plan.new_id, plan.new_secret = _make_key(target, iam, user, out)
        try:
            _write(plan, env_file, csv_file)
        except OSError as e:
            iam.delete_access_key(UserName=user, AccessKeyId=plan.new_id)
            fail(f"cannot write the new key ({e}); it was deleted again, {old_id} is unchanged")
        for path in (env_file, csv_file):
            if path:
                out.note(f"Wrote {plan.new_id} to {path}.")
        if not (env_file or csv_file) and not as_json:
            out.line(f"New key for {user} (shown once):\n  AWS_ACCESS_KEY_ID={plan.new_id}\n"
                     f"  AWS_SECRET_ACCESS_KEY={plan.new_secret}")
    unsaved = None if env_file or csv_file or plan.resumed else plan.new_secret  # shown nowhere else in JSON
    try:
        waited = _wait(iam, out, plan, user, env_file, force, settle, poll_interval, timeout, as_json, unsaved)
        iam.update_access_key(UserName=user, AccessKeyId=old_id, Status="Inactive")
        delete_after = _retire(iam, user, old_id, grace, delete_now)
    except Exception as exc:  # an API error past the new key's making (a give-up is a SystemExit: said already)
        if as_json and unsaved is not None:  # its secret is in no file: not lost with the error
            out.json({"user": user, "old_access_key_id": old_id, "new_access_key_id": plan.new_id,
                      "secret_access_key": unsaved, "error": str(exc)})
        raise
    result = {"user": user, "old_access_key_id": old_id, "new_access_key_id": plan.new_id,
              "old_key": "deleted" if delete_after is None else "inactive", "delete_after": delete_after,
              "waited_seconds": round(waited, 1), "written": [str(p) for p in (env_file, csv_file) if p]}
    if not (env_file or csv_file) and not plan.resumed:
        result["secret_access_key"] = plan.new_secret
    if as_json:
        out.json(result)
    elif delete_after is None:
        out.line(f"Rotated {user}: {plan.new_id} is in use, {old_id} was deactivated and deleted.")
    else:
        out.line(f"Rotated {user}: {plan.new_id} is in use, {old_id} is inactive and will be deleted by "
                 f"`storeroom keys cleanup` after {delete_after}.\nUndo until then with `aws iam update-access-key "
                 f"--user-name {user} --access-key-id {old_id} --status Active`.")


def _plan(iam: Any, user: str, env_file: Path | None) -> Plan:
    existing = sorted(paginate(iam, "list_access_keys", "AccessKeyMetadata", UserName=user),
                      key=lambda k: k["CreateDate"])
    if not existing:
        fail(f"{user} has no access key to rotate (make one with `storeroom grant` or "
             "`aws iam create-access-key`)")
    if len(existing) == 1:
        return Plan(old=existing[0])
    old, newer = existing
    written = keyfiles.read_env_file(env_file) if env_file else {}
    if (written.get("AWS_ACCESS_KEY_ID") == newer["AccessKeyId"] and newer["Status"] == "Active"
            and written.get("AWS_SECRET_ACCESS_KEY")):
        return Plan(old=old, new_id=newer["AccessKeyId"], new_secret=written["AWS_SECRET_ACCESS_KEY"],
                    resumed=True)
    listing = ", ".join(f"{k['AccessKeyId']} ({k['Status']}, created {iso(k['CreateDate'])})" for k in existing)
    fail(f"{user} already has 2 access keys: {listing}. IAM allows at most 2 per user and a rotation needs a "
         "free slot for the new one: delete the key nothing uses (`aws iam delete-access-key --user-name "
         f"{user} --access-key-id ...`, or `storeroom keys cleanup` for one past its grace) and run again.")


def _make_key(target: Target, iam: Any, user: str, out: Output) -> tuple[str, str]:
    key = iam.create_access_key(UserName=user)["AccessKey"]
    key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]
    out.note(f"Created {key_id} for {user}.")
    if not target.wait_until_key_works(key_id, secret):
        iam.delete_access_key(UserName=user, AccessKeyId=key_id)
        fail(f"the new key {key_id} was not accepted within a minute; it was deleted again")
    return key_id, secret


def _write(plan: Plan, env_file: Path | None, csv_file: Path | None) -> None:
    assert plan.new_id and plan.new_secret
    if env_file:
        keyfiles.update_env_file(env_file, {"AWS_ACCESS_KEY_ID": plan.new_id,
                                            "AWS_SECRET_ACCESS_KEY": plan.new_secret})
    if csv_file:
        keyfiles.write_private(csv_file, keyfiles.credentials_csv(plan.new_id, plan.new_secret))


def _last_used(iam: Any, key_id: str) -> datetime | None:
    used: datetime | None = iam.get_access_key_last_used(AccessKeyId=key_id)["AccessKeyLastUsed"].get(
        "LastUsedDate")
    return used


def _wait_until_silent(iam: Any, key_id: str, settle: float, poll: float, timeout: float,
                       out: Output) -> tuple[bool, float, bool]:
    """(settled?, seconds waited, did its last use move?): polls the key's LastUsedDate until it has not moved
    for ``settle``."""
    watch = QuietWatch(settle)
    first = _last_used(iam, key_id)  # to tell, at a timeout, whether the key was used during the wait
    start = time.monotonic()
    polls = math.ceil(settle / max(poll, 0.001)) + 1
    out.note(f"Waiting for {key_id} to fall silent: its last use unchanged for {settle:g}s "
             f"({polls} readings {poll:g}s apart); --force skips this.")
    with out.err.status("") as status:
        while True:
            at = time.monotonic()
            last = _last_used(iam, key_id)
            if watch.observe(last, at):
                return True, at - start, last != first
            if at - start >= timeout:
                return False, at - start, last != first
            status.update(f"{key_id} last used {iso(last) or 'never'}; unchanged for "
                          f"{watch.quiet_for(at):.0f}s of {settle:g}s")
            sleep(min(poll, start + timeout - at))


def _wait(iam: Any, out: Output, plan: Plan, user: str, env_file: Path | None, force: bool, settle: float,
          poll_interval: float, timeout: float, as_json: bool, unsaved: str | None) -> float:
    """Until the old key is seen unused for ``settle`` (none with --force, or an inactive key); the seconds
    waited.  Gives up (SystemExit) at the timeout or Ctrl-C, both keys left active."""
    old_id = plan.old["AccessKeyId"]
    if plan.old["Status"] != "Active":
        out.note(f"{old_id} is already inactive: nothing can be using it.")
        return 0.0
    if force:
        out.note(f"--force: not waiting for {old_id} to fall silent.")
        return 0.0
    if settle < STOREROOM_LAST_USED_GRANULARITY:
        out.note(f"[yellow]warning[/]: --settle {settle:g}s is shorter than the minute within which Storeroom "
                 "records a key's use; a key still in use may look silent.", markup=True)
    try:
        settled, waited, moved = _wait_until_silent(iam, old_id, settle, poll_interval, timeout, out)
    except KeyboardInterrupt:  # Ctrl-C while waiting: both keys stay, and the new secret is not lost
        _give_up(out, plan, user, env_file, None, as_json, False, settle, unsaved)
    if not settled:
        _give_up(out, plan, user, env_file, waited, as_json, moved, settle, unsaved)
    return waited


def _give_up(out: Output, plan: Plan, user: str, env_file: Path | None, waited: float | None, as_json: bool,
             moved: bool, settle: float, secret: str | None) -> NoReturn:
    """Both keys left active, said; ``waited`` None: interrupted (Ctrl-C).  ``secret``: the new key's, when no
    file holds it — the JSON document is then the only place it is shown."""
    old_id = plan.old["AccessKeyId"]
    again = ("run the same command again to resume" + ("" if env_file else " (with --env-file holding the new key)"))
    if waited is None:
        message = f"interrupted while waiting for {old_id} to fall silent; both keys are left active: {again}."
    elif moved:
        message = (f"{old_id} was still being used after {waited:.0f}s; both keys are left active. Find what still "
                   f"uses it, then {again}, or with --force.")
    else:
        message = (f"--timeout ended after {waited:.0f}s, before {old_id} could be seen unused for --settle "
                   f"{settle:g}s (it was not used meanwhile); both keys are left active: {again} with a --timeout "
                   "longer than --settle, or with --force.")
    if as_json:
        document = {"user": user, "old_access_key_id": old_id, "new_access_key_id": plan.new_id,
                    "old_key": "active", "waited_seconds": None if waited is None else round(waited, 1),
                    "error": message}
        if secret is not None:
            document["secret_access_key"] = secret
        out.json(document)
    out.note(f"storeroom: {message}")
    raise SystemExit(EXIT_INTERRUPTED if waited is None else EXIT_ATTENTION)


def _retire(iam: Any, user: str, key_id: str, grace: float, delete_now: bool) -> str | None:
    """Deletes the (inactive) key now, or records when cleanup may; returns that time (None: deleted)."""
    if delete_now or grace <= 0:
        iam.delete_access_key(UserName=user, AccessKeyId=key_id)
        return None
    when = iso(now() + timedelta(seconds=grace))
    iam.tag_user(UserName=user, Tags=[{"Key": DELETE_TAG + key_id, "Value": when}])
    return when


# -- cleanup -------------------------------------------------------------------------------------------------


@keys.command()
@click.option("--user", "only_user", default=None, help="only this user's keys")
@click.option("--dry-run", is_flag=True, help="say what would be deleted, delete nothing")
@json_option
@aws_options
def cleanup(target: Target, only_user: str | None, dry_run: bool, as_json: bool) -> None:
    """Delete the keys that `storeroom keys rotate` deactivated, once their grace has passed.

    Only keys recorded by a rotation (the user tag storeroom:delete-key:<id>) are touched, and only while they
    are still inactive: a key reactivated since (a rollback) is kept and its record removed. Run it daily
    from cron.
    """
    out = Output(as_json)
    iam = target.client("iam")
    users = [only_user] if only_user else [u["UserName"] for u in paginate(iam, "list_users", "Users")]
    done: list[dict[str, Any]] = []
    for user in users:
        for key_id, when in pending_deletions(iam, user).items():
            done.append({"user": user, "access_key_id": key_id, "delete_after": when,
                         "action": _clean_one(iam, user, key_id, when, dry_run)})
    if as_json:
        out.json({"dry_run": dry_run, "keys": done})
        return
    if not done:
        out.line("No key is waiting for deletion.")
        return
    out.table(None, ["User", "Access key", "Delete after", "Action"],
              [[d["user"], d["access_key_id"], d["delete_after"], d["action"]] for d in done])


def _clean_one(iam: Any, user: str, key_id: str, when: str, dry_run: bool) -> str:
    due = parse_iso(when)
    status = {k["AccessKeyId"]: k["Status"]
              for k in paginate(iam, "list_access_keys", "AccessKeyMetadata", UserName=user)}.get(key_id)
    if status is not None and (due is None or due > now()):
        return "waiting" if due is not None else f"kept (unreadable time {when!r})"
    if dry_run:
        return "would be deleted" if status == "Inactive" else "record would be removed"
    if status == "Inactive":
        iam.delete_access_key(UserName=user, AccessKeyId=key_id)
    iam.untag_user(UserName=user, TagKeys=[DELETE_TAG + key_id])
    if status == "Inactive":
        return "deleted"
    return "already gone" if status is None else "kept: active again (rotation undone)"
