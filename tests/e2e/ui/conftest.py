"""The UI in headless Debian Chromium, driven by Playwright, against a live server (SQLite by default)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.services.accounts import create_account
from stepwise.services.users import create_user
from tests.support.server import LiveServer, live_server

CHROMIUM = os.environ.get("STEPWISE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
NARROW = {"width": 390, "height": 844}
WIDE = {"width": 1280, "height": 900}
# A page load (goto, and waiting for the URL after a form post) may take longer than an action on a
# loaded 2-core machine running two test processes and Chromium: it has its own, longer, limit.
NAVIGATION_MS = 30_000
# How long actions and `expect` assertions wait (Playwright's own default for assertions is 5 s): a
# builder change is a server round trip, which a loaded two-core machine can stretch past 5 s.
WAIT_MS = 10_000
OWNER = "owner@acme.example"  # the owner of `acme` that UI tests sign in as
PASSWORD = "correct horse battery"


def _ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _missing(message: str) -> None:
    if _ci():
        pytest.fail(message + " (CI=true: browser tests must run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """UI tests run on SQLite; a test may ask for PostgreSQL too with indirect parametrization."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stepwise.db'}"
        return
    from tests.conftest import truncate_all_if_migrated

    url = request.getfixturevalue("postgres_url")
    truncate_all_if_migrated(url)
    yield url


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless (skipped when absent unless CI=true).

    Package-scoped: Playwright's sync API keeps an event loop running in this thread while it is
    open, which would break every later test that calls asyncio.run().
    """
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _missing(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[test]')")
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Browser:
    """One browser context signed in (or not) to a live server, collecting console errors."""

    server: LiveServer
    page: Any
    key: str
    account_id: int
    console_errors: list[str] = field(default_factory=list)
    allowed_errors: list[re.Pattern[str]] = field(default_factory=list)
    too_wide: list[str] = field(default_factory=list)  # pages wider than a phone screen

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str) -> Any:
        """Open a page and return its response."""
        return self.page.goto(self.url(path))

    def sign_in(self, email: str = OWNER, password: str = PASSWORD) -> None:
        """Sign in through the login page with an email and a password (the owner of `acme` by default)."""
        self.goto("/login")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        # The post checks the password (argon2, deliberately slow) and loads the next page: that is a page
        # load, under the navigation limit, not part of the click's own 10 s.
        self.page.get_by_role("button", name="Sign in").click(no_wait_after=True)
        self.page.wait_for_url(re.compile(r".*/sequences$"))

    def save_and_publish(self, key: str) -> None:
        """In the builder or the JSON page of a live sequence: save the draft, then publish it (mode migrate)."""
        self.page.get_by_role("button", name="Save draft").click()
        self.page.wait_for_url(re.compile(rf".*/sequences/{key}$"))
        self.page.get_by_role("link", name="Publish…").click()
        self.page.get_by_role("button", name="Publish", exact=True).click()
        self.page.wait_for_url(re.compile(rf".*/sequences/{key}/versions$"))
        self.goto(f"/sequences/{key}")

    def shot(self, name: str, *, narrow: bool = False) -> None:
        """Save a full-page screenshot as test-artifacts/screenshots/<name>.png (and a narrow one if asked)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        if narrow:
            self.page.set_viewport_size(NARROW)
            width = self.page.evaluate("document.documentElement.scrollWidth")
            if width > NARROW["width"]:
                self.too_wide.append(f"{name}: {width}px")
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}-narrow.png"), full_page=True)
            self.page.set_viewport_size(WIDE)

    def expect_invalid_form_answers(self) -> None:
        """Accept the console line Chromium logs when a plain form post is answered 422 (invalid input)."""
        self.allowed_errors.append(re.compile(r"status of 422 \(Unprocessable"))

    def unexpected_console_errors(self) -> list[str]:
        return [e for e in self.console_errors if not any(p.search(e) for p in self.allowed_errors)]


@pytest.fixture
def acme(stepwise: Stepwise) -> tuple[int, str]:
    """(account id, API key) of the account `acme` and its owner (OWNER, PASSWORD), made before the server starts."""
    row, key = create_account(stepwise.db, "acme", "UTC", stepwise.clock())
    create_user(stepwise.db, row.id, OWNER, PASSWORD, "owner", stepwise.clock())
    return row.id, key


@pytest.fixture
def ui_server(acme: tuple[int, str], stepwise: Stepwise) -> Iterator[LiveServer]:
    with live_server(stepwise) as running:
        yield running


@pytest.fixture
def ui(browser: Any, acme: tuple[int, str], ui_server: LiveServer) -> Iterator[Browser]:
    """A fresh browser context on a live server with an account `acme`; fails on console errors and wide pages."""
    account_id, key = acme
    context = browser.new_context(viewport=WIDE, java_script_enabled=True)
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(NAVIGATION_MS)
    page = context.new_page()
    driver = Browser(ui_server, page, key, account_id)
    page.on("console", lambda message: driver.console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: driver.console_errors.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        yield driver
    finally:
        context.close()
    assert driver.unexpected_console_errors() == []
    assert driver.too_wide == [], "pages must fit a narrow window"


@pytest.fixture
def no_js(browser: Any, acme: tuple[int, str], ui_server: LiveServer) -> Iterator[Browser]:
    """A browser context with JavaScript off, on a live server with an account `acme`."""
    account_id, key = acme
    context = browser.new_context(viewport=WIDE, java_script_enabled=False)
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(NAVIGATION_MS)
    try:
        yield Browser(ui_server, context.new_page(), key, account_id)
    finally:
        context.close()
