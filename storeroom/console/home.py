"""Console home and the services search at the top of every page (the guide's "type IAM in the search bar")."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response

from storeroom.console.web import Page, Routes

routes = Routes()


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    title: str
    url: str
    summary: str
    words: tuple[str, ...] = ()


# The services this console has pages for; a new page family adds its entry here (docs/console.md).
SERVICES = [
    Service("IAM", "IAM", "/iam", "Manage access to AWS resources: users, groups, roles, policies, access keys, MFA.",
            ("identity", "access", "management", "users", "roles", "policies", "keys", "mfa", "simulator")),
    Service("S3", "S3", "/s3/buckets", "Object storage: buckets, folders, uploads, downloads, presigned URLs.",
            ("storage", "buckets", "objects", "files", "upload", "download", "share")),
    Service("CloudTrail", "CloudTrail", "/cloudtrail/events", "Event history: who did what, when, from where; "
            "denied requests; the credential report.", ("audit", "events", "history", "trail", "log", "denied")),
]


@routes.get("/")
async def home(page: Page) -> Response:
    return page.render("home.html", services=SERVICES)


@routes.get("/search")
async def search(page: Page) -> Response:
    query = page.field("q").strip()
    words = query.lower().split()
    found = [s for s in SERVICES if words and all(
        w in s.name.lower() or w in s.title.lower() or any(w in x for x in s.words) for w in words)]
    return page.render("search.html", query=query, found=found, services=SERVICES)
