"""Helpers the IAM pages share: every page of a paginated list, the policy catalog, who is being managed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storeroom.console.services import Caller, ServiceError
from storeroom.console.web import Page

# IAM's AttachedPoliciesPer{User,Group,Role}Quota: the wizards refuse more before making anything, as IAM would
# refuse the 11th attach after the group or role was made
MAX_ATTACHED_POLICIES = 10


async def all_pages(caller: Caller, action: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated IAM list (``Marker`` / ``IsTruncated``)."""
    items: list[dict[str, Any]] = []
    marker = None
    while True:
        found = await caller.iam(action, Marker=marker, **params)
        items.extend(found.get(key, []))
        if not found.get("IsTruncated"):
            return items
        marker = found.get("Marker")


def policy_type(arn: str) -> str:
    return "AWS managed" if arn.startswith("arn:aws:iam::aws:policy/") else "Customer managed"


async def policies(caller: Caller, scope: str = "All") -> list[dict[str, Any]]:
    """The managed policies (AWS's and the account's), sorted by name, each with its ``Type`` label."""
    found = await all_pages(caller, "ListPolicies", "Policies", Scope=scope)
    for policy in found:
        policy["Type"] = policy_type(policy["Arn"])
    return sorted(found, key=lambda p: p["PolicyName"].lower())


async def optional(coro: Any, missing: Any = None) -> Any:
    """The answer, or ``missing`` when the entity does not exist (NoSuchEntity)."""
    try:
        return await coro
    except ServiceError as err:
        if err.code == "NoSuchEntity":
            return missing
        raise


@dataclass(frozen=True, slots=True)
class Target:
    """Whose credentials a page manages: a user (``name``) or the signed-in principal itself (``None``: root's
    own MFA, or an IAM user's "My security credentials")."""

    name: str | None
    base: str                    # where its pages live: /iam/users/<name> or /iam/security-credentials

    @property
    def params(self) -> dict[str, str]:
        """``UserName`` for the IAM calls, or nothing (the caller's own)."""
        return {"UserName": self.name} if self.name else {}

    def label(self, page: Page) -> str:
        if self.name:
            return self.name
        principal = page.principal
        return "root user" if principal is None or principal.is_root else str(principal.user_name)


def target(page: Page) -> Target:
    name = page.request.path_params.get("name")
    if name:
        from urllib.parse import quote
        return Target(str(name), f"/iam/users/{quote(str(name))}")
    return Target(None, "/iam/security-credentials")
