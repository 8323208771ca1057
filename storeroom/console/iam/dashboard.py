"""IAM dashboard: the account, its sign-in URL and the number of each kind of IAM resource."""

from __future__ import annotations

from starlette.responses import Response

from storeroom.console.services import ServiceError
from storeroom.console.web import Page, Routes

routes = Routes()


@routes.get("/iam")
async def dashboard(page: Page) -> Response:
    """What the caller may read: a principal without iam:GetAccountSummary still gets the page, with the
    denial explained where the numbers would be (as AWS's dashboard does)."""
    summary, denied = {}, None
    try:
        summary = (await page.caller.iam("GetAccountSummary")).get("SummaryMap", {})
    except ServiceError as err:
        denied = err
    alias = None
    try:
        aliases = (await page.caller.iam("ListAccountAliases")).get("AccountAliases", [])
        alias = aliases[0] if aliases else None
    except ServiceError as err:
        denied = denied or err
    return page.render("iam/dashboard.html", summary=summary, alias=alias, denied=denied)
