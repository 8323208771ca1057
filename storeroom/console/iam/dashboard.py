"""IAM dashboard: the account, its sign-in URL, the number of each kind of IAM resource, the security
recommendations (storeroom/console/iam/recommendations.py) and a chart of the last day's requests and denials
(storeroom/console/activity.py)."""

from __future__ import annotations

from starlette.responses import Response

from storeroom.console.activity import HEIGHT, WIDTH, activity
from storeroom.console.iam.recommendations import dashboard_recommendations
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
    settings = page.services.settings
    assert page.principal is not None
    found, found_denied = await dashboard_recommendations(page.caller, page.principal.is_root,
                                                          settings.key_max_age_days, settings.key_unused_days)
    chart, chart_denied = None, None
    try:
        chart = await activity(page.caller)
    except ServiceError as err:
        chart_denied = err
    return page.render("iam/dashboard.html", summary=summary, alias=alias, denied=denied, recommendations=found,
                       recommendations_denied=found_denied, chart=chart, chart_denied=chart_denied,
                       chart_width=WIDTH, chart_height=HEIGHT)
