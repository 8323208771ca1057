"""The console's ASGI application (Starlette): page families mounted, static files, security headers.

Served by ``storeroom serve`` on its own listener (``--console-listen``, storeroom/console/server.py), in its
own process, so the S3 endpoint's workers and their edge are untouched by it.  Every page family is a module
with a :class:`~storeroom.console.web.Routes` (see docs/console.md); add its routes to ``FAMILIES`` below.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storeroom.config import Settings
from storeroom.console import cloudtrail, home, iam, s3, signin
from storeroom.console.services import ConsoleServices
from storeroom.console.web import HERE, Console
from storeroom.http.proxy import Trust, TrustedProxyHeaders, parse_networks

FAMILIES = (signin.routes, home.routes, iam.routes, s3.routes, cloudtrail.routes)

# No inline script or style anywhere: everything the pages run or wear comes from /static (this origin).
# QR codes are data: images.  Nothing may frame the console (clickjacking), forms post only here.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """Adds the security headers to every answer, and ``Cache-Control: no-store`` to every page (a page may
    hold a secret shown once: no cache, no back-button copy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if scope.get("scheme") == "https":
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    title = "Page not found" if status == 404 else "Request refused"
    body = (f"<!doctype html><html lang=en><head><title>{title} - Storeroom</title>"
            f"<link rel=stylesheet href=/static/console.css></head><body><main class=narrow><h1>{title}</h1>"
            f"<p><a href=/>Console home</a></p></main></body></html>")
    return HTMLResponse(body, status_code=status)


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The console application; uvicorn's factory (settings from the environment ``storeroom serve`` set)."""
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = ConsoleServices(settings)
        console = Console(services)
        console.sessions.prepare()
        services.start()
        app.state.console = console
        try:
            yield
        finally:
            await services.close()

    routes: list[BaseRoute] = [route for family in FAMILIES for route in family.routes]
    routes.append(Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"))
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found, 405: not_found})
    # behind a load balancer: the browser's address and scheme from --trusted-proxies only (storeroom/http/proxy.py)
    trust = Trust(parse_networks(settings.trusted_proxies), settings.forwarded_header)
    return TrustedProxyHeaders(SecurityHeaders(app), trust)
