"""IAM dashboard: the account, its sign-in URL and the number of each kind of IAM resource."""

from __future__ import annotations

from starlette.responses import Response

from storeroom.console.web import Page, Routes

routes = Routes()


@routes.get("/iam")
async def dashboard(page: Page) -> Response:
    summary = (await page.caller.iam("GetAccountSummary")).get("SummaryMap", {})
    aliases = (await page.caller.iam("ListAccountAliases")).get("AccountAliases", [])
    return page.render("iam/dashboard.html", summary=summary, alias=aliases[0] if aliases else None)
