"""Roles: the list, "Create role" (trusted entities as a trust policy, permissions, session duration), a role's
page (permissions, trust relationships, "Revoke active sessions"), as AWS's IAM console has them."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote, unquote

from starlette.responses import Response

from storeroom.console.editor import Problem, locate_problem
from storeroom.console.iam.common import MAX_ATTACHED_POLICIES, all_pages, policies, policy_type
from storeroom.console.services import ServiceError
from storeroom.console.web import Page, Routes
from storeroom.numbers import parse_int
from storeroom.policy import parse_policy
from storeroom.sessions import REVOKE_POLICY, revocation

routes = Routes()
TABS = {"permissions": "Permissions", "trust": "Trust relationships", "sessions": "Revoke sessions"}
DURATIONS = [(3600, "1 hour"), (7200, "2 hours"), (14400, "4 hours"), (28800, "8 hours"), (43200, "12 hours")]
TEMPLATES = {
    "account": "This account: users and roles of this account whose policies allow sts:AssumeRole on the role",
    "service": "Applications (EC2's service principal): storeroom role bind, the container-credentials endpoint",
    "web": "Web identity: tokens of an OpenID Connect provider (GitHub Actions, GitLab)",
}


def role_url(name: str, tab: str | None = None) -> str:
    return f"/iam/roles/{quote(name)}" + (f"?tab={tab}" if tab else "")


def trust_template(kind: str, account: str, provider: str = "") -> str:
    """The trust policies AWS's "Select trusted entity" step writes."""
    statement: dict[str, Any]
    if kind == "service":
        statement = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    elif kind == "web":
        host = provider.partition("oidc-provider/")[2] or "token.actions.githubusercontent.com"
        statement = {"Effect": "Allow", "Principal": {"Federated": provider or
                                                      f"arn:aws:iam::{account}:oidc-provider/{host}"},
                     "Action": "sts:AssumeRoleWithWebIdentity",
                     "Condition": {"StringEquals": {f"{host}:aud": "sts.amazonaws.com"}}}
    else:
        statement = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                     "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=2)


_KINDS = {"AWS": "Account or principal", "Service": "AWS service", "Federated": "Identity provider"}


def trusted_entities(document: Any) -> str:
    """The list's "Trusted entities" column: who the trust policy names."""
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    names: list[str] = []
    for st in [statements] if isinstance(statements, dict) else statements:
        principal = st.get("Principal") if isinstance(st, dict) else None
        if principal == "*":
            names.append("Anyone")
        elif isinstance(principal, dict):
            for kind, values in principal.items():
                for value in [values] if isinstance(values, str) else values:
                    label = _KINDS.get(str(kind), str(kind))
                    names.append(f"{label}: {value}")
    return ", ".join(dict.fromkeys(names)) or "-"


def _document(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(unquote(value))
        except ValueError:
            return {}
    return value


def locate(err: ServiceError, text: str) -> Problem:
    return locate_problem(err, text, "MalformedPolicyDocument", lambda one: parse_policy(one, "trust"))


async def _account(page: Page) -> str:
    principal = page.principal
    return principal.account_id if principal is not None else ""


@routes.get("/iam/roles")
async def roles(page: Page) -> Response:
    rows = []
    for role in await all_pages(page.caller, "ListRoles", "Roles"):
        rows.append({**role, "Trusted": trusted_entities(_document(role.get("AssumeRolePolicyDocument")))})
    return page.render("iam/roles.html", rows=rows)


@routes.get("/iam/roles/create")
async def create_form(page: Page) -> Response:
    kind = page.field("template") if page.field("template") in TEMPLATES else "account"
    providers = await page.caller.iam("ListOpenIDConnectProviders")
    arns = [p["Arn"] for p in providers.get("OpenIDConnectProviderList", [])]
    document = trust_template(kind, await _account(page), arns[0] if arns else "")
    return await _form(page, name="", description="", duration=3600, document=document, kind=kind,
                       problem=None, error=None)


async def _form(page: Page, *, name: str, description: str, duration: int, document: str, kind: str,
                problem: Problem | None, error: ServiceError | str | None, status: int = 200) -> Response:
    return page.render("iam/create_role.html", status=status, name=name, description=description,
                       duration=duration, durations=DURATIONS, document=document, kind=kind, templates=TEMPLATES,
                       problem=problem, error=error, policies=await policies(page.caller),
                       chosen_policies=page.fields("policy"))


@routes.post("/iam/roles/create")
async def create(page: Page) -> Response:
    name, description = page.field("role_name").strip(), page.field("description").strip()
    document, caller = page.field("policy_document"), page.caller
    duration = parse_int(page.field("max_session"), signed=False) or 3600  # "²" is a digit to isdigit() only
    state: dict[str, Any] = {"name": name, "description": description, "duration": duration, "document": document,
             "kind": page.field("template") or "account"}
    if not name:
        return await _form(page, **state, problem=None, error="Enter a role name.", status=400)
    if len(page.fields("policy")) > MAX_ATTACHED_POLICIES:
        return await _form(page, **state, problem=None, status=400,
                           error=f"You can attach up to {MAX_ATTACHED_POLICIES} policies to a role.")
    try:
        await caller.iam("CreateRole", RoleName=name, AssumeRolePolicyDocument=document,
                         Description=description or None, MaxSessionDuration=duration)
    except ServiceError as err:
        if err.denial is not None or err.code != "MalformedPolicyDocument":
            return await _form(page, **state, problem=None, error=err, status=403 if err.denial else 400)
        return await _form(page, **state, problem=locate(err, document), error=None, status=400)
    try:
        for arn in page.fields("policy"):
            await caller.iam("AttachRolePolicy", RoleName=name, PolicyArn=arn)
    except ServiceError as err:
        return page.error(err, title=f"Role {name} was created, but not all of it", back=role_url(name))
    return page.redirect(role_url(name), flash=f"Role {name} created.")


@routes.get("/iam/roles/{name}")
async def role(page: Page) -> Response:
    name, caller = page.param("name"), page.caller
    tab = page.field("tab") if page.field("tab") in TABS else "permissions"
    found = (await caller.iam("GetRole", RoleName=name))["Role"]
    choices = dict(DURATIONS)
    current = int(found.get("MaxSessionDuration", 3600))
    choices.setdefault(current, f"{current // 60} minutes")   # a duration set through the API, kept selectable
    context: dict[str, Any] = {"role": found, "tab": tab, "tabs": TABS, "url": role_url(name),
                               "durations": dict(sorted(choices.items())), "policy_type": policy_type}
    if tab == "permissions":
        attached = await all_pages(caller, "ListAttachedRolePolicies", "AttachedPolicies", RoleName=name)
        context.update(attached=attached, inline=await all_pages(caller, "ListRolePolicies", "PolicyNames",
                                                                 RoleName=name),
                       policies=await policies(caller), attached_arns={p["PolicyArn"] for p in attached})
    elif tab == "trust":
        context.update(document=json.dumps(_document(found.get("AssumeRolePolicyDocument")), indent=2),
                       problem=None, error=None)
    else:
        names: list[Any] = await all_pages(caller, "ListRolePolicies", "PolicyNames", RoleName=name)
        context["revoked"] = REVOKE_POLICY in names
    return page.render("iam/role.html", **context)


@routes.post("/iam/roles/{name}/settings")
async def settings(page: Page) -> Response:
    """The role's summary "Edit", as AWS's console has it: its description and maximum session duration
    (UpdateRole, which answers IAM's own refusals of either)."""
    name = page.param("name")
    duration = page.field("max_session")
    try:
        await page.caller.iam("UpdateRole", RoleName=name, Description=page.field("description").strip(),
                              MaxSessionDuration=parse_int(duration, signed=False) or 0)
    except ServiceError as err:
        if err.denial is not None:
            raise
        return page.redirect(role_url(name), flash=f"{err.code}: {err.message}")
    return page.redirect(role_url(name), flash=f"Role {name} updated.")


@routes.post("/iam/roles/{name}/policies")
async def role_policies(page: Page) -> Response:
    name, caller = page.param("name"), page.caller
    if page.field("detach"):
        await caller.iam("DetachRolePolicy", RoleName=name, PolicyArn=page.field("detach"))
        return page.redirect(role_url(name), flash="Policy detached.")
    if page.field("delete_inline"):
        await caller.iam("DeleteRolePolicy", RoleName=name, PolicyName=page.field("delete_inline"))
        return page.redirect(role_url(name), flash=f"Policy {page.field('delete_inline')} deleted.")
    for arn in page.fields("policy"):
        await caller.iam("AttachRolePolicy", RoleName=name, PolicyArn=arn)
    return page.redirect(role_url(name), flash="Policies attached." if page.fields("policy") else None)


@routes.post("/iam/roles/{name}/trust")
async def trust(page: Page) -> Response:
    name, caller, document = page.param("name"), page.caller, page.field("policy_document")
    try:
        await caller.iam("UpdateAssumeRolePolicy", RoleName=name, PolicyDocument=document)
    except ServiceError as err:
        found = (await caller.iam("GetRole", RoleName=name))["Role"]
        problem = None if err.denial is not None else locate(err, document)
        return page.render("iam/role.html", status=403 if err.denial else 400, role=found, tab="trust", tabs=TABS,
                           url=role_url(name), durations=dict(DURATIONS), policy_type=policy_type,
                           document=document, problem=problem, error=err if err.denial else None)
    return page.redirect(role_url(name, "trust"), flash="Trust policy updated.")


@routes.post("/iam/roles/{name}/revoke")
async def revoke(page: Page) -> Response:
    """AWS's "Revoke active sessions": an inline policy AWSRevokeOlderSessions denying every action to sessions
    whose aws:TokenIssueTime is before now (https://docs.aws.amazon.com/IAM/latest/UserGuide/
    id_roles_use_revoke-sessions.html); sessions issued afterwards are not affected."""
    name = page.param("name")
    if not page.field("acknowledge"):
        return page.redirect(role_url(name, "sessions"),
                             flash="Confirm that you are revoking all active sessions for this role.")
    cutoff, document = revocation(time.time())
    await page.caller.iam("PutRolePolicy", RoleName=name, PolicyName=REVOKE_POLICY, PolicyDocument=document)
    return page.redirect(role_url(name, "sessions"), flash=f"Revoked the sessions of {name} issued before {cutoff}.")


@routes.post("/iam/roles/{name}/delete")
async def delete(page: Page) -> Response:
    """Instance profiles, attached and inline policies go first (DeleteRole refuses while any remains), as
    AWS's console does."""
    name, caller = page.param("name"), page.caller
    if page.field("confirm").strip() != name:
        return page.redirect(role_url(name), flash="To delete the role, type its name to confirm.")
    for profile in await all_pages(caller, "ListInstanceProfilesForRole", "InstanceProfiles", RoleName=name):
        await caller.iam("RemoveRoleFromInstanceProfile", InstanceProfileName=profile["InstanceProfileName"],
                         RoleName=name)
    for policy in await all_pages(caller, "ListAttachedRolePolicies", "AttachedPolicies", RoleName=name):
        await caller.iam("DetachRolePolicy", RoleName=name, PolicyArn=policy["PolicyArn"])
    for policy_name in await all_pages(caller, "ListRolePolicies", "PolicyNames", RoleName=name):
        await caller.iam("DeleteRolePolicy", RoleName=name, PolicyName=policy_name)
    await caller.iam("DeleteRole", RoleName=name)
    return page.redirect("/iam/roles", flash=f"Role {name} deleted.")
