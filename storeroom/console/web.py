"""What every console page shares: routing, the per-request :class:`Page`, templates, CSRF, errors.

A page family (``storeroom/console/iam.py``, ``signin.py``, …) declares its routes on a :class:`Routes`::

    routes = Routes()

    @routes.get("/iam/users")
    async def users(page: Page) -> Response:
        found = await page.caller.iam("ListUsers")          # as the signed-in principal
        return page.render("iam/users.html", users=found["Users"])

    @routes.post("/iam/users/create")                      # CSRF is checked before this runs
    async def create(page: Page) -> Response:
        name = page.field("UserName")
        ...
        return page.redirect("/iam/users", flash=f"User {name} created.")

and ``storeroom/console/app.py`` mounts it.  The wrapper around every endpoint loads the session (signed-out
visitors are sent to the sign-in page unless the route is ``public``), sends a session that must change its
password to that page first, parses a POST's form and refuses it without the right ``csrf_token``, builds the
:class:`~storeroom.console.services.Caller`, and turns a :class:`ServiceError` nobody caught into the error
page (AccessDenied explained with the deciding statement).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from storeroom.console.services import Caller, ConsoleServices, Origin, ServiceError
from storeroom.console.sessions import COOKIE, MAX_AGE, PRE_COOKIE, Sealer, Session, Sessions, new_id
from storeroom.identity import Principal
from storeroom.signin import SignedIn, session_condition_keys

log = logging.getLogger("storeroom.console")

HERE = Path(__file__).parent
FLASH_COOKIE = "storeroom-flash"
MAX_FORM_BYTES = 256 * 1024          # policy documents are at most 6 KiB; forms are small
Endpoint = Callable[["Page"], Awaitable[Response]]


class Console:
    """Application-wide state of one console process."""

    def __init__(self, services: ConsoleServices) -> None:
        self.services = services
        self.sealer = Sealer(services.master_key)
        self.sessions = Sessions(services.meta, self.sealer)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True)
        from storeroom.console import filters
        filters.install(self.templates)


@dataclass(slots=True)
class Page:
    """One browser request to one console endpoint."""

    request: Request
    console: Console
    session: Session | None = None
    principal: Principal | None = None
    form: FormData | None = None
    csrf: str = ""
    cookies: list[tuple[str, str, int]] = field(default_factory=list)   # (name, value, max-age) to set

    @property
    def services(self) -> ConsoleServices:
        return self.console.services

    @property
    def caller(self) -> Caller:
        """Acts as the signed-in principal, with the session's condition keys."""
        assert self.session is not None and self.principal is not None
        signed_in = SignedIn(self.principal, self.session.mfa, self.session.auth_time, False, False, None)
        acting = replace(self.principal, console_signin=(self.session.auth_time, self.session.mfa))
        return Caller(self.services, acting, self.origin, session_condition_keys(signed_in))

    @property
    def origin(self) -> Origin:
        client = self.request.client
        return Origin(client.host if client else "127.0.0.1", self.request.headers.get("user-agent", ""),
                      self.request.url.scheme == "https", self.request.headers.get("host", ""))

    @property
    def secure(self) -> bool:
        return self.request.url.scheme == "https"

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else self.request.query_params.get(name)
        return value if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        source = self.form if self.form is not None else self.request.query_params
        return [v for v in source.getlist(name) if isinstance(v, str)]

    def encoded_field(self, name: str) -> str:
        """A field the page's form carries percent-encoded (a key or prefix: the ``formvalue`` filter)."""
        return unquote(self.field(name))

    def encoded_fields(self, name: str) -> list[str]:
        return [unquote(v) for v in self.fields(name)]

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    # -- answers ---------------------------------------------------------------------------------------------

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        body = self.console.templates.get_template(template).render(
            page=self, principal=self.principal, session=self.session, csrf=self.csrf,
            account_id=self.services.account_id, flash=self._take_flash(), path=self.request.url.path,
            **context)
        return self._finish(HTMLResponse(body, status_code=status))

    def redirect(self, url: str, flash: str | None = None) -> Response:
        if flash:
            self.set_cookie(FLASH_COOKIE, self.console.sealer.seal({"m": flash, "s": self._anchor()}, "flash"), 60)
        return self._finish(RedirectResponse(url, status_code=303))

    def error(self, err: ServiceError, *, title: str | None = None, back: str | None = None) -> Response:
        """The page of an AWS error: titled "Not found" for what does not exist (NoSuchKey, NoSuchEntity, …),
        else "Request refused"."""
        status = 403 if err.denial is not None or err.status == 403 else err.status
        title = title or ("Not found" if status == 404 else "Request refused")
        return self.render("error.html", status=status if 400 <= status < 600 else 400, error=err, title=title,
                           back=back)

    def set_cookie(self, name: str, value: str, max_age: int) -> None:
        self.cookies.append((name, value, max_age))

    def _finish(self, response: Response) -> Response:
        for name, value, max_age in self.cookies:
            if max_age > 0:
                response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                                    secure=self.secure)
            else:
                response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=self.secure)
        self.cookies.clear()
        return response

    def _anchor(self) -> str:
        """What CSRF tokens and flash messages are bound to: the session, or the pre-session cookie."""
        if self.session is not None:
            return self.session.sid
        anchor = self.request.cookies.get(PRE_COOKIE) or ""
        if not anchor:
            anchor = new_id()
            self.set_cookie(PRE_COOKIE, anchor, 3600)
        return anchor

    def _take_flash(self) -> str | None:
        found = self.console.sealer.open(self.request.cookies.get(FLASH_COOKIE), "flash")
        if found is None:
            return None
        if not any(name == FLASH_COOKIE for name, _, _ in self.cookies):
            self.set_cookie(FLASH_COOKIE, "", 0)
        return str(found["m"]) if found.get("s") == self._anchor() else None


ONCE_MAX_AGE = 120                  # a one-time note waits two minutes for the page that shows it


def stash_once(page: Page, name: str, value: dict[str, Any]) -> None:
    """Keeps ``value`` (a new secret) for exactly one later page view: a sealed, HttpOnly cookie bound to the
    session, whose id is spent when :func:`take_once` reads it (docs/console.md, "Secrets shown once")."""
    assert page.session is not None
    note = {"id": new_id(), "sid": page.session.sid, "exp": time.time() + ONCE_MAX_AGE, "v": value}
    page.set_cookie(f"storeroom-once-{name}", page.console.sealer.seal(note, f"once:{name}"), ONCE_MAX_AGE)


async def take_once(page: Page, name: str) -> dict[str, Any] | None:
    """The note stashed under ``name``, once: None after it was shown (a reload, another tab, the back button)."""
    cookie = f"storeroom-once-{name}"
    note = page.console.sealer.open(page.request.cookies.get(cookie), f"once:{name}")
    if cookie in page.request.cookies:
        page.set_cookie(cookie, "", 0)
    if note is None or page.session is None or note.get("sid") != page.session.sid:
        return None
    if float(note.get("exp", 0)) < time.time() or not await page.console.sessions.spend(str(note["id"]),
                                                                                       float(note["exp"])):
        return None
    value = note.get("v")
    return value if isinstance(value, dict) else None


class Routes:
    """The routes of one page family."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def get(self, path: str, *, public: bool = False) -> Callable[[Endpoint], Endpoint]:
        return self._add(path, ["GET"], public)

    def post(self, path: str, *, public: bool = False, stream: bool = False) -> Callable[[Endpoint], Endpoint]:
        """``stream``: the body is not a form but bytes the endpoint streams on (an upload, read with
        ``page.request.stream()``); the CSRF token then comes in the ``X-CSRF-Token`` header."""
        return self._add(path, ["POST"], public, stream)

    def _add(self, path: str, methods: list[str], public: bool, stream: bool = False,
             ) -> Callable[[Endpoint], Endpoint]:
        def register(fn: Endpoint) -> Endpoint:
            async def endpoint(request: Request) -> Response:
                return await _run(request, fn, public, stream)
            self.routes.append(Route(path, endpoint, methods=methods, name=f"{fn.__module__}.{fn.__name__}"))
            return fn
        return register


# Pages a session that must change its password may still see
_WHILE_CHANGING = ("/change-password", "/signout")


async def _run(request: Request, fn: Endpoint, public: bool, stream: bool = False) -> Response:
    console: Console = request.app.state.console
    page = Page(request, console)
    sessions = console.sessions
    page.session = await sessions.load(request.cookies.get(COOKIE))
    if page.session is not None:
        page.principal = await console.services.principal(page.session.kind, page.session.principal_id,
                                                          page.session.profile_created)
        if page.principal is None:  # the user or their password was deleted: the session ends with it
            page.session = None
            page.set_cookie(COOKIE, "", 0)
    if page.session is None and not public:
        return page.redirect(_signin_url(request))
    if page.session is not None and page.session.must_change and request.url.path not in _WHILE_CHANGING:
        return page.redirect("/change-password")
    page.csrf = sessions.csrf_token(page._anchor())
    if request.method == "POST":
        refused = _check_stream(page) if stream else await _read_form(page)
        if refused is not None:
            return refused
    try:
        response = await fn(page)
    except ServiceError as err:
        response = page.error(err)
    except Exception:  # noqa: BLE001 - never a traceback to the browser; logged here
        log.error("console request %s %s failed:\n%s", request.method, request.url.path, traceback.format_exc())
        response = page.render("message.html", status=500, title="Something went wrong",
                               message="The console could not complete this request. It has been logged.")
    return _touch(page, response)


async def _read_form(page: Page) -> Response | None:
    """The POST's form, once its size, origin and CSRF token are right; otherwise the refusal to answer."""
    request = page.request
    length = request.headers.get("content-length")
    # a form's length is known up front (browsers send it): one sent chunked was read whole, past the limit
    if length is None or not (length.isascii() and length.isdigit()):
        return page.render("message.html", status=411, title="Length required",
                           message="The form was sent without its length.")
    if len(length) > 9 or int(length) > MAX_FORM_BYTES:
        return page.render("message.html", status=413, title="Request too large",
                           message="The form is larger than the console accepts.")
    if not _same_origin(request):
        return _csrf_refused(page)
    unreadable = page.render("message.html", status=400, title="Bad request", message="The form could not be read.")
    try:
        page.form = await request.form(max_files=0, max_fields=2000)
    except Exception:  # noqa: BLE001 - a malformed body is the client's fault: refuse it, never a 500
        return unreadable
    # a charset such as raw_unicode_escape spells lone surrogates, which no page, database or API call can carry
    if not all(_text(value) for _, value in page.form.multi_items()):
        return unreadable
    token = page.form.get("csrf_token")
    anchor = page.session.sid if page.session is not None else page.request.cookies.get(PRE_COOKIE)
    if not page.console.sessions.csrf_ok(anchor, token if isinstance(token, str) else None):
        return _csrf_refused(page)
    return None


def _check_stream(page: Page) -> Response | None:
    """A streamed POST (an upload from static/s3.js): same origin, and the CSRF token in its header."""
    request = page.request
    if not _same_origin(request):
        return _csrf_refused(page)
    anchor = page.session.sid if page.session is not None else None
    if not page.console.sessions.csrf_ok(anchor, request.headers.get("x-csrf-token")):
        return _csrf_refused(page)
    return None


def _same_origin(request: Request) -> bool:
    """No Origin (or "null"), or this host's: one urlsplit cannot read ("http://[") is no origin of ours (it was a
    500 to anyone)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return True
    try:
        return urlsplit(origin).netloc == request.headers.get("host", "")
    except ValueError:
        return False


def _text(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _csrf_refused(page: Page) -> Response:
    return page.render("message.html", status=403, title="Request refused",
                       message="This form was sent without a valid security token (CSRF), so nothing was done. "
                               "Go back, reload the page and try again.")


def _touch(page: Page, response: Response) -> Response:
    """Rewrites the session cookie when its last-seen time is due (idle expiry counts from it)."""
    if page.session is not None and not any(name == COOKIE for name, _, _ in page.cookies):
        touched = page.console.sessions.touched(page.session)
        if touched is not None:
            page.set_cookie(COOKIE, page.console.sessions.cookie_value(touched),
                            int(touched.auth_time + MAX_AGE - time.time()))
    return page._finish(response)


def _signin_url(request: Request) -> str:
    """The sign-in page, coming back here afterwards (a local path only: no open redirect)."""
    target = request.url.path
    if request.method != "GET" or target in ("/", "/signin"):
        return "/signin"
    from urllib.parse import quote
    return "/signin?next=" + quote(target + ("?" + request.url.query if request.url.query else ""), safe="")


def local_path(value: str) -> str:
    """``value`` if it is a path on this site (``/iam/users``), else ``/``."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"
