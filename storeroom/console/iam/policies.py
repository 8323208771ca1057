"""Policies: the list (AWS managed / customer managed), "Create policy" with a JSON editor, a policy's page
(its document, where it is used, its versions: new version, default version, delete)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote

from starlette.responses import Response

from storeroom.console.editor import Problem, action_warning, locate_problem
from storeroom.console.iam.common import all_pages, policies, policy_type
from storeroom.console.services import ServiceError
from storeroom.console.web import Page, Routes
from storeroom.policy import parse_policy

routes = Routes()
FILTERS = {"all": "All types", "aws": "AWS managed", "customer": "Customer managed"}
TEMPLATE = """{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Statement1",
      "Effect": "Allow",
      "Action": [],
      "Resource": []
    }
  ]
}"""


def policy_url(arn: str, **extra: str) -> str:
    query = "".join(f"&{k}={quote(v)}" for k, v in extra.items())
    return f"/iam/policies/view?arn={quote(arn, safe='')}{query}"


@routes.get("/iam/policies")
async def policy_list(page: Page) -> Response:
    kind = page.field("type") if page.field("type") in FILTERS else "all"
    scope = {"all": "All", "aws": "AWS", "customer": "Local"}[kind]
    return page.render("iam/policies.html", policies=await policies(page.caller, scope), kind=kind,
                       filters=FILTERS, url=policy_url)


def locate(err: ServiceError, text: str) -> Problem:
    """Where in ``text`` IAM's parser found the problem (storeroom/console/editor.py)."""
    return locate_problem(err, text, "MalformedPolicyDocument", lambda one: parse_policy(one, "managed"))


@routes.get("/iam/policies/create")
async def create_form(page: Page) -> Response:
    return page.render("iam/create_policy.html", name="", description="", document=TEMPLATE, problem=None,
                       error=None)


@routes.post("/iam/policies/create")
async def create(page: Page) -> Response:
    name, description = page.field("policy_name").strip(), page.field("description").strip()
    document = page.field("policy_document")
    try:
        created = (await page.caller.iam("CreatePolicy", PolicyName=name, PolicyDocument=document,
                                         Description=description or None))["Policy"]
    except ServiceError as err:
        if err.denial is not None:
            return page.render("iam/create_policy.html", status=403, name=name, description=description,
                               document=document, problem=None, error=err)
        return page.render("iam/create_policy.html", status=400, name=name, description=description,
                           document=document, problem=locate(err, document), error=None)
    return page.redirect(policy_url(created["Arn"]), flash=f"Policy {name} created.{action_warning(document)}")


# -- a policy's page ----------------------------------------------------------------------------------------

TABS = {"permissions": "Permissions", "entities": "Entities attached", "versions": "Policy versions"}


@routes.get("/iam/policies/view")
async def view(page: Page) -> Response:
    arn, caller = page.field("arn"), page.caller
    tab = page.field("tab") if page.field("tab") in TABS else "permissions"
    policy = (await caller.iam("GetPolicy", PolicyArn=arn))["Policy"]
    shown = page.field("version") or policy["DefaultVersionId"]
    version = (await caller.iam("GetPolicyVersion", PolicyArn=arn, VersionId=shown))["PolicyVersion"]
    context: dict[str, Any] = {"policy": policy, "tab": tab, "tabs": TABS, "arn": arn, "url": policy_url,
                               "type": policy_type(arn), "version": version,
                               "document": _pretty(unquote(version.get("Document", "")))}
    if tab == "entities":
        found = await caller.iam("ListEntitiesForPolicy", PolicyArn=arn)
        context.update(users=found.get("PolicyUsers", []), groups=found.get("PolicyGroups", []),
                       roles=found.get("PolicyRoles", []))
    elif tab == "versions":
        context["versions"] = await all_pages(caller, "ListPolicyVersions", "Versions", PolicyArn=arn)
    return page.render("iam/policy.html", **context)


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


@routes.get("/iam/policies/edit")
async def edit_form(page: Page) -> Response:
    arn = page.field("arn")
    policy = (await page.caller.iam("GetPolicy", PolicyArn=arn))["Policy"]
    version = (await page.caller.iam("GetPolicyVersion", PolicyArn=arn,
                                      VersionId=policy["DefaultVersionId"]))["PolicyVersion"]
    return page.render("iam/edit_policy.html", policy=policy, arn=arn, document=_pretty(unquote(
        version.get("Document", ""))), problem=None, error=None, url=policy_url)


@routes.post("/iam/policies/edit")
async def edit(page: Page) -> Response:
    """Saving a change is CreatePolicyVersion as the default (IAM keeps five: the oldest non-default one goes
    first when asked)."""
    arn, document, caller = page.field("arn"), page.field("policy_document"), page.caller
    policy = (await caller.iam("GetPolicy", PolicyArn=arn))["Policy"]
    try:
        if page.field("delete_oldest") == "on":
            versions = await all_pages(caller, "ListPolicyVersions", "Versions", PolicyArn=arn)
            old = [v for v in versions if not v["IsDefaultVersion"]]
            if len(versions) >= 5 and old:
                oldest = min(old, key=lambda v: v["CreateDate"])
                await caller.iam("DeletePolicyVersion", PolicyArn=arn, VersionId=oldest["VersionId"])
        await caller.iam("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)
    except ServiceError as err:
        problem = None if err.denial is not None else locate(err, document)
        return page.render("iam/edit_policy.html", status=403 if err.denial else 400, policy=policy, arn=arn,
                           document=document, problem=problem, error=err if err.denial else None, url=policy_url)
    return page.redirect(policy_url(arn, tab="versions"),
                         flash=f"Policy {policy['PolicyName']} updated.{action_warning(document)}")


@routes.post("/iam/policies/versions")
async def versions(page: Page) -> Response:
    arn, version, caller = page.field("arn"), page.field("version"), page.caller
    if page.field("action") == "default":
        await caller.iam("SetDefaultPolicyVersion", PolicyArn=arn, VersionId=version)
        message = f"Version {version} is now the default."
    else:
        await caller.iam("DeletePolicyVersion", PolicyArn=arn, VersionId=version)
        message = f"Version {version} deleted."
    return page.redirect(policy_url(arn, tab="versions"), flash=message)


@routes.post("/iam/policies/delete")
async def delete(page: Page) -> Response:
    """Detached from everything, older versions deleted, then the policy (DeletePolicy refuses otherwise)."""
    arn, caller = page.field("arn"), page.caller
    policy = (await caller.iam("GetPolicy", PolicyArn=arn))["Policy"]
    if page.field("confirm").strip() != policy["PolicyName"]:
        return page.redirect(policy_url(arn), flash="To delete the policy, type its name to confirm.")
    async def entities(key: str, kind: str, usage: str) -> list[dict[str, Any]]:
        return await all_pages(caller, "ListEntitiesForPolicy", key, PolicyArn=arn, EntityFilter=kind,
                               PolicyUsageFilter=usage)

    # a permissions boundary is not detached: DeletePolicy would refuse after everything else was undone
    bounded = [u["UserName"] for u in await entities("PolicyUsers", "User", "PermissionsBoundary")] + \
        [r["RoleName"] for r in await entities("PolicyRoles", "Role", "PermissionsBoundary")]
    if bounded:
        return page.redirect(policy_url(arn), flash=f"Policy {policy['PolicyName']} is the permissions boundary "
                             f"of {', '.join(bounded)}: remove it from them first. Nothing was changed.")
    users = await entities("PolicyUsers", "User", "PermissionsPolicy")
    groups = await entities("PolicyGroups", "Group", "PermissionsPolicy")
    roles = await entities("PolicyRoles", "Role", "PermissionsPolicy")
    for user in users:
        await caller.iam("DetachUserPolicy", UserName=user["UserName"], PolicyArn=arn)
    for group in groups:
        await caller.iam("DetachGroupPolicy", GroupName=group["GroupName"], PolicyArn=arn)
    for role in roles:
        await caller.iam("DetachRolePolicy", RoleName=role["RoleName"], PolicyArn=arn)
    for version in await all_pages(caller, "ListPolicyVersions", "Versions", PolicyArn=arn):
        if not version["IsDefaultVersion"]:
            await caller.iam("DeletePolicyVersion", PolicyArn=arn, VersionId=version["VersionId"])
    await caller.iam("DeletePolicy", PolicyArn=arn)
    return page.redirect("/iam/policies?type=customer", flash=f"Policy {policy['PolicyName']} deleted.")
