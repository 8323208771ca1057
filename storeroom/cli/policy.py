"""``storeroom policy generate``: a least-privilege identity policy from what the audit trail shows a user
actually did, as IAM Access Analyzer's policy generation does from CloudTrail
(https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-policy-generation.html).  The events are read
with LookupEvents (:mod:`storeroom.cli.trail`), mapped and generalised by :mod:`storeroom.cli.policygen`,
checked with IAM's ``SimulateCustomPolicy`` (the policy parses, and allows every action on every resource the
user used), and with ``--apply`` made a customer-managed policy attached to the user.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import click

from storeroom.audit.trail import TrailEvent, is_authorization_denial, is_denial
from storeroom.cli.audit import parse_when
from storeroom.cli.common import Output, Target, aws_options, error_code, fail, iso, json_option, paginate
from storeroom.cli.grant import MAX_POLICY_VERSIONS
from storeroom.cli.policygen import MANAGED_POLICY_MAX, Outcome, Use, build_policy, collect, policy_size
from storeroom.cli.trail import by_these_commands, lookup

POLICY_PATH = "/storeroom/generated/"
SIMULATE_BATCH = 50  # resources per SimulateCustomPolicy call


@click.group()
def policy() -> None:
    """Identity policies from the audit trail."""


@policy.command()
@click.option("--user", required=True, help="the IAM user whose activity the policy is made from")
@click.option("--since", default="30d", show_default=True, metavar="WHEN",
              help="read events from this long ago (1h, 30d; the trail keeps 90 days) or this ISO 8601 time")
@click.option("--include-denied", is_flag=True,
              help="also allow what the user tried and was denied (AccessDenied): what it needs, not only what "
                   "it had")
@click.option("--apply", "apply_it", is_flag=True,
              help="create the customer-managed policy (or a new default version of it) and attach it to the user")
@click.option("--name", default=None,
              help=f"the policy to create or update with --apply: a name (found among the account's policies, "
                   f"else created under {POLICY_PATH}) or an ARN  [default: {POLICY_PATH}USER]")
@json_option
@aws_options
def generate(target: Target, user: str, since: str, include_denied: bool, apply_it: bool, name: str | None,
             as_json: bool) -> None:
    """Print a minimal identity policy for USER made from the audit trail: every action the user performed
    (successful requests, and those failing for other reasons than a denial; with --include-denied also the
    denied ones), on the resources it used.

    \b
    - S3 actions as IAM checks them (PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload:
      s3:PutObject; GetObject, HeadObject: s3:GetObject; ListObjects(V2), HeadBucket: s3:ListBucket; ...);
      bucket ARNs for bucket actions; the objects used in a bucket as one ARN, arn:aws:s3:::BUCKET/PREFIX*
      (the keys' longest common prefix, cut back to its last /), or the object's ARN if it was only one;
    - IAM actions on the user, group or policy they named (the user itself when none), STS and CloudTrail
      actions on *; sts:GetCallerIdentity and sts:GetSessionToken need no permission and are left out;
    - actions needing the same resources share one statement.

    The policy is checked with IAM SimulateCustomPolicy: it must allow every action on every resource used.
    Against AWS, the Event history holds management events only: S3 object actions are not seen there.
    """
    out = Output(as_json)
    start = _start(since)
    events, denied = _events(target, user, start, include_denied)
    outcome = collect(events, _IamArns(target))
    if not outcome.uses:
        what = f"{len(events)} event(s), none needing a permission" if events else "no events"
        fail(f"{user} has {what} in the audit trail since {iso(start)}: nothing to generate a policy from")
    document = build_policy(outcome.uses)
    validated = _validate(target, document, outcome.uses, out)
    result: dict[str, Any] = {
        "user": user, "since": iso(start), "events": len(events), "denied_events_left_out": denied,
        "actions": sorted({u.action for u in outcome.uses}), "skipped": outcome.skipped,
        "unmapped": outcome.unmapped, "validated": validated, "size": policy_size(document), "policy": document,
    }
    if policy_size(document) > MANAGED_POLICY_MAX:
        out.note(f"Warning: the policy is {policy_size(document)} characters, over IAM's {MANAGED_POLICY_MAX} "
                 "for a managed policy.")
    if apply_it:
        result.update(_apply(target, user, name, document, out))
    _show(out, result, outcome)


def _start(since: str) -> datetime:
    try:
        return parse_when(since)
    except ValueError:
        raise click.BadParameter(f"expected a duration (30d, 12h) or an ISO 8601 time, got {since!r}",
                                 param_hint="--since") from None


def _events(target: Target, user: str, start: datetime, include_denied: bool) -> tuple[list[TrailEvent], int]:
    """The user's events that count, and how many denied ones were left out."""
    kept: list[TrailEvent] = []
    left_out = 0
    for e in lookup(target, ("Username", user), start):
        if e.username != user or e.identity.get("type") != "IAMUser":  # not the account root's ("root")
            continue
        if by_these_commands(e):  # `storeroom grant`'s own check of the new key: not what the application did
            continue
        code = e.error_code
        if is_denial(code) and not (include_denied and is_authorization_denial(code)):
            left_out += 1
            continue
        kept.append(e)
    return kept, left_out


class _IamArns:
    """ARNs of the IAM entities events name, with their paths (GetUser, GetGroup, GetRole as the admin);
    an entity that no longer exists is given path /."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.cache: dict[tuple[str, str], str] = {}

    def entity_arn(self, account: str, kind: str, name: str) -> str:
        if (kind, name) not in self.cache:
            self.cache[kind, name] = self._lookup(kind, name) or f"arn:aws:iam::{account}:{kind}/{name}"
        return self.cache[kind, name]

    def _lookup(self, kind: str, name: str) -> str | None:
        iam = self.target.client("iam")
        try:
            if kind == "user":
                return str(iam.get_user(UserName=name)["User"]["Arn"])
            if kind == "group":
                return str(iam.get_group(GroupName=name, MaxItems=1)["Group"]["Arn"])
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])
        except Exception as e:
            if error_code(e) is None:
                raise
            return None

    def key_owner_arn(self, account: str, access_key_id: str) -> str | None:
        try:
            owner = self.target.client("iam").get_access_key_last_used(AccessKeyId=access_key_id).get("UserName")
        except Exception as e:
            if error_code(e) is None:
                raise
            return None
        return self.entity_arn(account, "user", str(owner)) if owner else None


# -- proof: IAM's simulator --------------------------------------------------------------------------------------


def _validate(target: Target, document: dict[str, Any], uses: list[Use], out: Output) -> bool:
    """SimulateCustomPolicy for every action on every concrete resource it was used on: the policy must parse
    (MalformedPolicyDocument otherwise) and allow them all.  False when the caller may not simulate."""
    iam = target.client("iam")
    text = json.dumps(document)
    by_action: dict[str, list[str]] = {}
    for use in uses:
        by_action.setdefault(use.action, []).append(use.resource)
    try:
        for action, resources in sorted(by_action.items()):
            for decision in _simulate(iam, text, action, sorted(set(resources))):
                if decision["EvalDecision"] != "allowed":
                    fail(f"the generated policy does not allow {action} on {decision['EvalResourceName']} "
                         f"({decision['EvalDecision']}): please report this")
    except Exception as e:
        if error_code(e) not in ("AccessDenied", "AccessDeniedException"):
            raise
        out.note(f"Not checked with SimulateCustomPolicy (the caller may not: {e}).")
        return False
    return True


def _simulate(iam: Any, text: str, action: str, resources: list[str]) -> Iterator[dict[str, Any]]:
    for i in range(0, len(resources), SIMULATE_BATCH):
        batch = resources[i:i + SIMULATE_BATCH]
        params: dict[str, Any] = {"PolicyInputList": [text], "ActionNames": [action]}
        if batch != ["*"]:
            params["ResourceArns"] = batch
        yield from paginate(iam, "simulate_custom_policy", "EvaluationResults", **params)


# -- --apply -----------------------------------------------------------------------------------------------------


def _apply(target: Target, user: str, name: str | None, document: dict[str, Any], out: Output) -> dict[str, Any]:
    iam = target.client("iam")
    iam.get_user(UserName=user)  # NoSuchEntity before anything is made
    account = target.client("sts").get_caller_identity()["Account"]
    arn = _policy_arn(iam, account, name or user)
    version, changed = _ensure_version(iam, arn, document, user)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    others = [p["PolicyArn"] for p in paginate(iam, "list_attached_user_policies", "AttachedPolicies",
                                                 UserName=user) if p["PolicyArn"] != arn]
    out.note(f"Policy {arn} {version}{'' if changed else ' (unchanged)'} attached to {user}.")
    if others:
        out.note(f"{user}'s other attached policies still apply: {', '.join(others)} (detach them once the "
                 "generated policy is enough).")
    return {"policy_arn": arn, "policy_version": version, "policy_changed": changed, "other_policies": others}


def _policy_arn(iam: Any, account: str, name: str) -> str:
    """An ARN as given; else the account's policy of that name, if any; else a new one under POLICY_PATH."""
    if name.startswith("arn:"):
        return name
    for found in paginate(iam, "list_policies", "Policies", Scope="Local"):
        if found["PolicyName"] == name:
            return str(found["Arn"])
    return f"arn:aws:iam::{account}:policy{POLICY_PATH}{name}"


def _ensure_version(iam: Any, arn: str, document: dict[str, Any], user: str) -> tuple[str, bool]:
    """(default version, changed?): the policy created, given a new default version (the oldest non-default
    one deleted when IAM's 5 are there), or left as it is when its default version says the same."""
    text = json.dumps(document, indent=2)
    try:
        current = iam.get_policy(PolicyArn=arn)["Policy"]
    except Exception as e:
        if error_code(e) != "NoSuchEntity":
            raise
        path, _, name = arn.split(":policy", 1)[1].rpartition("/")
        made = iam.create_policy(PolicyName=name, Path=f"{path}/", PolicyDocument=text,
                                 Description=f"storeroom policy generate: what {user} used")["Policy"]
        return str(made["DefaultVersionId"]), True
    default = iam.get_policy_version(PolicyArn=arn, VersionId=current["DefaultVersionId"])["PolicyVersion"]
    stored = default["Document"]  # decoded by boto3 (older clients: URL-encoded JSON)
    if (json.loads(unquote(stored)) if isinstance(stored, str) else stored) == document:
        return str(current["DefaultVersionId"]), False
    versions = sorted(paginate(iam, "list_policy_versions", "Versions", PolicyArn=arn), key=lambda v: v["CreateDate"])
    old = [v for v in versions if not v["IsDefaultVersion"]]
    if len(versions) >= MAX_POLICY_VERSIONS and old:
        iam.delete_policy_version(PolicyArn=arn, VersionId=old[0]["VersionId"])
    made = iam.create_policy_version(PolicyArn=arn, PolicyDocument=text, SetAsDefault=True)["PolicyVersion"]
    return str(made["VersionId"]), True


# -- output ------------------------------------------------------------------------------------------------------


def _show(out: Output, result: dict[str, Any], outcome: Outcome) -> None:
    if out.as_json:
        out.json(result)
        return
    out.json(result["policy"])  # stdout: the policy alone, ready for a file or `aws iam create-policy`
    summary = f"From {result['events']} event(s) of {result['user']} since {result['since']}: " \
              f"{len(result['actions'])} action(s)"
    if result["denied_events_left_out"]:
        summary += f"; {result['denied_events_left_out']} denied event(s) left out (--include-denied adds them)"
    out.note(summary + ".")
    if outcome.skipped:
        out.note("Needing no permission: " + ", ".join(f"{k} ({n})" for k, n in sorted(outcome.skipped.items())))
    if outcome.unmapped:
        out.note("Not mapped to an IAM action (add them by hand if needed): "
                 + ", ".join(f"{k} ({n})" for k, n in sorted(outcome.unmapped.items())))
