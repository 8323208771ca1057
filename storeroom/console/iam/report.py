"""IAM "Credential report": GenerateCredentialReport, then GetCredentialReport, downloaded as AWS's CSV."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from starlette.responses import Response

from storeroom.console.services import ServiceError
from storeroom.console.web import Page, Routes

routes = Routes()
WAIT = 30.0           # a report of a few thousand users takes well under a second; give up after this


@routes.get("/iam/credential-report")
async def report_page(page: Page) -> Response:
    return page.render("iam/credential_report.html", error=None)


@routes.post("/iam/credential-report")
async def download(page: Page) -> Response:
    """Starts a report if none younger than four hours exists (IAM's rule), waits for it, answers the CSV."""
    caller, deadline = page.caller, time.monotonic() + WAIT
    try:
        while (await caller.iam("GenerateCredentialReport")).get("State") != "COMPLETE":
            if time.monotonic() > deadline:
                raise ServiceError("ReportInProgress", "The credential report is still being generated; try "
                                   "again in a moment.", 410)
            await asyncio.sleep(0.2)
        report = await caller.iam("GetCredentialReport")
    except ServiceError as err:
        return page.render("iam/credential_report.html", status=403 if err.denial else 400, error=err)
    content = report.get("Content", b"")
    generated = report.get("GeneratedTime")
    stamp = datetime.fromtimestamp(float(generated) if generated else time.time(), UTC)
    name = f"status_reports_{stamp.strftime('%Y-%m-%dT%H_%M_%S')}+00_00.csv"
    return Response(content if isinstance(content, bytes) else str(content).encode(), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="{name}"'})
