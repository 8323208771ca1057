"""The policy simulator: a user's or group's policies (SimulatePrincipalPolicy) or a pasted policy
(SimulateCustomPolicy), actions × resource ARNs with context keys → allowed / implicitly denied / explicitly
denied per action, AWS's reason, and the statement that decided it highlighted in its policy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.responses import Response

from storeroom.console.iam.common import all_pages
from storeroom.console.services import Caller, ServiceError
from storeroom.console.web import Page, Routes

routes = Routes()
DECISIONS = {"allowed": "Allowed", "implicitDeny": "Implicitly denied", "explicitDeny": "Explicitly denied"}
_IP = re.compile(r"^[0-9a-fA-F:.]+(/\d+)?$")


@dataclass(frozen=True, slots=True)
class Highlight:
    source: str
    before: str
    statement: str
    after: str


@routes.get("/iam/simulator")
async def simulator_form(page: Page) -> Response:
    return await _render(page, {"source": page.field("source"), "actions": "", "resources": "*", "context": "",
                                "policy": ""}, None, None)


async def _render(page: Page, form: dict[str, str], results: list[dict[str, Any]] | None,
                  error: ServiceError | None, status: int = 200) -> Response:
    caller = page.caller
    users = await all_pages(caller, "ListUsers", "Users")
    groups = await all_pages(caller, "ListGroups", "Groups")
    return page.render("iam/simulator.html", status=status, form=form, users=users, groups=groups,
                       results=results, error=error, decisions=DECISIONS)


MAX_SIMULATIONS = 1000


@routes.post("/iam/simulator")
async def simulate(page: Page) -> Response:
    form = {"source": page.field("source"), "actions": page.field("actions"), "resources": page.field("resources"),
            "context": page.field("context"), "policy": page.field("policy")}
    actions = [a for a in re.split(r"[\s,]+", form["actions"]) if a]
    resources = [r for r in re.split(r"[\s,]+", form["resources"]) if r] or ["*"]
    if len(actions) * len(resources) > MAX_SIMULATIONS:
        # one page shows them all: 1,500 actions × 150 resources made a 130 MB page and held the console a minute
        err = ServiceError("LimitExceeded", f"The simulator shows at most {MAX_SIMULATIONS} results on one page: "
                           f"{len(actions)} actions × {len(resources)} resources are {len(actions) * len(resources)}. "
                           "Simulate fewer at a time.", 400)
        return await _render(page, form, None, err, 400)
    params: dict[str, Any] = {"ActionNames": actions, "ResourceArns": resources,
                              "ContextEntries": context_entries(form["context"]) or None}
    caller = page.caller
    try:
        if form["source"] == "custom":
            found = await _every(caller, "SimulateCustomPolicy", PolicyInputList=[form["policy"]], **params)
            documents = {"PolicyInputList.1": form["policy"]}
        else:
            found = await _every(caller, "SimulatePrincipalPolicy", PolicySourceArn=form["source"], **params)
            documents = await _documents(caller, form["source"])
    except ServiceError as err:
        return await _render(page, form, None, err, 403 if err.denial else 400)
    return await _render(page, form, [_explained(r, documents) for r in found], None)


async def _every(caller: Caller, action: str, **params: Any) -> list[dict[str, Any]]:
    return await all_pages(caller, action, "EvaluationResults", **params)


def context_entries(text: str) -> list[dict[str, Any]]:
    """``aws:MultiFactorAuthPresent=true`` lines → ContextEntries (several values: comma-separated); the type
    from the values: true/false → boolean, addresses → ip, else string."""
    entries = []
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if not sep or not key.strip():
            continue
        values = [v.strip() for v in raw.split(",") if v.strip()]
        kind = "string"
        if values and all(v.lower() in ("true", "false") for v in values):
            kind = "boolean"
        elif values and all(_IP.match(v) and any(c in v for c in ".:") for v in values):
            kind = "ip"
        if len(values) > 1:
            kind += "List"
        entries.append({"ContextKeyName": key.strip(), "ContextKeyValues": values, "ContextKeyType": kind})
    return entries


def _explained(result: dict[str, Any], documents: dict[str, str]) -> dict[str, Any]:
    """AWS's reason sentence (as the evaluator words AccessDenied) and the matched statements' text."""
    action, decision = result["EvalActionName"], result["EvalDecision"]
    matched = result.get("MatchedStatements", [])
    if decision == "explicitDeny":
        kinds = {m.get("SourcePolicyType") for m in matched}
        where = ("a permissions boundary" if kinds == {"permissions-boundary"} else
                 "a resource-based policy" if kinds == {"resource"} else "an identity-based policy")
        reason = f"with an explicit deny in {where}"
    elif decision == "implicitDeny":
        bounded = result.get("PermissionsBoundaryDecisionDetail", {}).get("AllowedByPermissionsBoundary", True)
        reason = (f"because no permissions boundary allows the {action} action" if not bounded else
                  f"because no identity-based policy allows the {action} action")
    else:
        reason = "allowed by the statements below"
    highlights = []
    for m in matched:
        text = documents.get(m.get("SourcePolicyId", ""))
        if text is not None:
            highlights.append(_highlight(m["SourcePolicyId"], text, m["StartPosition"], m["EndPosition"]))
    return {**result, "Reason": reason, "Highlights": highlights}


def _offset(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[:line - 1]) + column - 1


def _highlight(source: str, text: str, start: dict[str, int], end: dict[str, int]) -> Highlight:
    # the simulator's start is the column just past the statement's "{": the highlight takes the brace too
    a, b = _offset(text, start["Line"], start["Column"]) - 1, _offset(text, end["Line"], end["Column"])
    return Highlight(source, text[:a], text[a:b], text[b:])


async def _documents(caller: Caller, source_arn: str) -> dict[str, str]:
    """The policies the simulation read, by the id the simulator names them with (storeroom/iam/policy_store:
    a managed policy's name, ``user_<user>_<policy>``, ``group_<group>_<policy>``)."""
    kind, _, name = source_arn.partition(":")[2].rpartition(":")[2].partition("/")
    name = name.rpartition("/")[2]
    docs: dict[str, str] = {}
    groups = [name] if kind == "group" else [g["GroupName"] for g in (await caller.iam(
        "ListGroupsForUser", UserName=name)).get("Groups", [])]
    if kind == "user":
        await _managed(caller, docs, "ListAttachedUserPolicies", UserName=name)
        for policy in await all_pages(caller, "ListUserPolicies", "PolicyNames", UserName=name):
            got = await caller.iam("GetUserPolicy", UserName=name, PolicyName=policy)
            docs[f"user_{name}_{policy}"] = unquote(got["PolicyDocument"])
        boundary = (await caller.iam("GetUser", UserName=name))["User"].get("PermissionsBoundary")
        if boundary:
            await _add_managed(caller, docs, boundary["PermissionsBoundaryArn"])
    for group in groups:
        await _managed(caller, docs, "ListAttachedGroupPolicies", GroupName=group)
        for policy in await all_pages(caller, "ListGroupPolicies", "PolicyNames", GroupName=group):
            got = await caller.iam("GetGroupPolicy", GroupName=group, PolicyName=policy)
            docs[f"group_{group}_{policy}"] = unquote(got["PolicyDocument"])
    return docs


async def _managed(caller: Caller, docs: dict[str, str], action: str, **params: str) -> None:
    for policy in await all_pages(caller, action, "AttachedPolicies", **params):
        await _add_managed(caller, docs, policy["PolicyArn"])


async def _add_managed(caller: Caller, docs: dict[str, str], arn: str) -> None:
    policy = (await caller.iam("GetPolicy", PolicyArn=arn))["Policy"]
    version = await caller.iam("GetPolicyVersion", PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    docs[policy["PolicyName"]] = unquote(version["PolicyVersion"]["Document"])
