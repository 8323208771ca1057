"""User groups: the list, "Create group" (name, users, policies), a group's members and permissions."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from storeroom.console.iam.common import MAX_ATTACHED_POLICIES, all_pages, policies, policy_type
from storeroom.console.services import ServiceError
from storeroom.console.web import Page, Routes

routes = Routes()


def group_url(name: str) -> str:
    return f"/iam/groups/{quote(name)}"


@routes.get("/iam/groups")
async def groups(page: Page) -> Response:
    caller = page.caller
    rows = []
    for group in await all_pages(caller, "ListGroups", "Groups"):
        name = group["GroupName"]
        members = (await caller.iam("GetGroup", GroupName=name)).get("Users", [])
        attached = await all_pages(caller, "ListAttachedGroupPolicies", "AttachedPolicies", GroupName=name)
        rows.append({**group, "Members": len(members), "Policies": [p["PolicyName"] for p in attached]})
    return page.render("iam/groups.html", rows=rows)


@routes.get("/iam/groups/create")
async def create_form(page: Page) -> Response:
    return await _form(page, name="", error=None)


async def _form(page: Page, name: str, error: ServiceError | str | None, status: int = 200) -> Response:
    caller = page.caller
    return page.render("iam/create_group.html", status=status, name=name, error=error,
                       users=await all_pages(caller, "ListUsers", "Users"), policies=await policies(caller),
                       chosen_users=page.fields("user"), chosen_policies=page.fields("policy"))


@routes.post("/iam/groups/create")
async def create(page: Page) -> Response:
    name, caller = page.field("group_name").strip(), page.caller
    if not name:
        return await _form(page, name, "Enter a user group name.", 400)
    if len(page.fields("policy")) > MAX_ATTACHED_POLICIES:
        return await _form(page, name, f"You can attach up to {MAX_ATTACHED_POLICIES} policies to a user group.",
                           400)
    try:
        await caller.iam("CreateGroup", GroupName=name)
    except ServiceError as err:
        return await _form(page, name, err, 403 if err.denial else 400)
    for user in page.fields("user"):
        await caller.iam("AddUserToGroup", GroupName=name, UserName=user)
    for arn in page.fields("policy"):
        await caller.iam("AttachGroupPolicy", GroupName=name, PolicyArn=arn)
    return page.redirect(group_url(name), flash=f"{name} user group created.")


@routes.get("/iam/groups/{name}")
async def group(page: Page) -> Response:
    name, caller = page.param("name"), page.caller
    found = await caller.iam("GetGroup", GroupName=name)
    attached = await all_pages(caller, "ListAttachedGroupPolicies", "AttachedPolicies", GroupName=name)
    inline = await all_pages(caller, "ListGroupPolicies", "PolicyNames", GroupName=name)
    members = {u["UserName"] for u in found.get("Users", [])}
    others = [u for u in await all_pages(caller, "ListUsers", "Users") if u["UserName"] not in members]
    return page.render("iam/group.html", group=found["Group"], users=found.get("Users", []), others=others,
                       attached=attached, inline=inline, policies=await policies(caller),
                       attached_arns={p["PolicyArn"] for p in attached}, url=group_url(name), policy_type=policy_type)


@routes.post("/iam/groups/{name}/users")
async def members(page: Page) -> Response:
    name, caller = page.param("name"), page.caller
    if page.field("remove"):
        await caller.iam("RemoveUserFromGroup", GroupName=name, UserName=page.field("remove"))
        return page.redirect(group_url(name), flash=f"{page.field('remove')} removed from {name}.")
    for user in page.fields("user"):
        await caller.iam("AddUserToGroup", GroupName=name, UserName=user)
    return page.redirect(group_url(name), flash="Users added." if page.fields("user") else None)


@routes.post("/iam/groups/{name}/policies")
async def group_policies(page: Page) -> Response:
    name, caller = page.param("name"), page.caller
    if page.field("detach"):
        await caller.iam("DetachGroupPolicy", GroupName=name, PolicyArn=page.field("detach"))
        return page.redirect(group_url(name), flash="Policy detached.")
    for arn in page.fields("policy"):
        await caller.iam("AttachGroupPolicy", GroupName=name, PolicyArn=arn)
    return page.redirect(group_url(name), flash="Policies attached." if page.fields("policy") else None)


@routes.post("/iam/groups/{name}/delete")
async def delete(page: Page) -> Response:
    """Members and policies go first (DeleteGroup refuses while any remains), as AWS's console does."""
    name, caller = page.param("name"), page.caller
    if page.field("confirm").strip() != name:
        return page.redirect(group_url(name), flash="To delete the group, type its name to confirm.")
    for user in (await caller.iam("GetGroup", GroupName=name)).get("Users", []):
        await caller.iam("RemoveUserFromGroup", GroupName=name, UserName=user["UserName"])
    for policy in await all_pages(caller, "ListAttachedGroupPolicies", "AttachedPolicies", GroupName=name):
        await caller.iam("DetachGroupPolicy", GroupName=name, PolicyArn=policy["PolicyArn"])
    for policy_name in await all_pages(caller, "ListGroupPolicies", "PolicyNames", GroupName=name):
        await caller.iam("DeleteGroupPolicy", GroupName=name, PolicyName=policy_name)
    await caller.iam("DeleteGroup", GroupName=name)
    return page.redirect("/iam/groups", flash=f"{name} user group deleted.")
