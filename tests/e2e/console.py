"""Shared pieces of the console's browser tests (tests/e2e/test_console_*.py): a server with its console, one
Chromium per module (Debian's, /usr/bin/chromium: no browser download), signed-in pages, screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import StoreroomServer, meta_url_for

ROOT_EMAIL = "root@localhost"
ROOT_PASSWORD = "Console-Root-Pa55!"
CHROMIUM = os.environ.get("STOREROOM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
                   meta_backend: str) -> Iterator[StoreroomServer]:
    srv = StoreroomServer(tmp_path_factory.mktemp("console") / "data", workers=1, console=True,
                          env={"STOREROOM_ROOT_PASSWORD": ROOT_PASSWORD, "STOREROOM_ROOT_EMAIL": ROOT_EMAIL},
                          meta_url=meta_url_for(request, meta_backend))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_page(browser, server: StoreroomServer, **context: object):  # type: ignore[no-untyped-def]
    """A page in a fresh browser context (its own cookies), 1280×800, downloads allowed."""
    ctx = browser.new_context(base_url=server.console_url, viewport=VIEWPORT, accept_downloads=True, **context)
    ctx.set_default_timeout(15_000)
    return ctx.new_page()


def sign_in_root(browser, server: StoreroomServer, password: str = ROOT_PASSWORD):  # type: ignore[no-untyped-def]
    page = new_page(browser, server)
    page.goto("/signin")
    page.get_by_label("Root user").check()
    page.get_by_label("Email address").fill(ROOT_EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    return page


def sign_in_user(browser, server: StoreroomServer, account: str, user: str, password: str):  # type: ignore[no-untyped-def]
    page = new_page(browser, server)
    page.goto("/signin")
    page.get_by_label("IAM user", exact=True).check()
    page.get_by_label("Account ID (12 digits) or account alias").fill(account)
    page.get_by_label("IAM user name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    return page


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """A picture of the page, always taken (it must render); kept as docs/console/<name>.png, the README's
    pictures, only when STOREROOM_SCREENSHOTS=1 (a test run must not change tracked files)."""
    png = page.screenshot()
    assert png.startswith(b"\x89PNG")
    if os.environ.get("STOREROOM_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(png)
