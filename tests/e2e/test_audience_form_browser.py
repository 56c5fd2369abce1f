"""The hosted form in headless Chromium (SPEC §5): labelled fields, an unseen spam trap, a usable flow."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Api

CHROMIUM = os.environ.get("STEPWISE_TEST_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.browser


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The browser checks the page, not the database: SQLite is enough."""
    yield f"sqlite:///{tmp_path / 'stepwise.db'}"


@pytest.fixture
def page(api: Api) -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Chromium is not installed at {CHROMIUM}", pytrace=False)
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        context = browser.new_context(viewport={"width": 390, "height": 844})
        opened = context.new_page()
        errors: list[str] = []
        opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        yield opened
        browser.close()
        # The re-shown form answers 422 on purpose; anything else (a CSP violation, say) is a fault.
        assert [e for e in errors if "status of 422" not in e] == []


def test_the_form_works_for_a_person_in_a_browser(api: Api, page: Any, tmp_path: Path) -> None:
    api.client.put("/lists/news", json={"name": "News"}).raise_for_status()
    form = {
        "title": "The Weekly",
        "fields": ["base.firstName", {"path": "base.city", "required": True}],
        "lists": ["news"],
    }
    api.client.put("/forms/newsletter", json=form).raise_for_status()
    page.goto(f"{api.server.base_url}/f/shop/newsletter")

    assert page.title() == "The Weekly"
    assert page.get_by_role("heading", level=1).inner_text() == "The Weekly"
    email = page.get_by_label("Email address")
    assert email.get_attribute("type") == "email"
    assert not page.locator("input[name=website]").is_visible() or page.locator(".trap").bounding_box()["x"] < 0
    assert page.get_by_role("textbox", name="Leave this field empty").count() == 0  # out of the accessibility tree
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.screenshot(path=str(tmp_path / "form.png"), full_page=True)

    email.fill("not an address")
    page.get_by_role("button", name="Subscribe").click()
    assert page.title() == "Error: The Weekly"
    alert = page.get_by_role("alert")
    assert "Enter an email address like name@example.com." in alert.inner_text()
    assert "This field is required." in alert.inner_text()
    assert page.get_by_label("Email address").get_attribute("aria-invalid") == "true"
    page.screenshot(path=str(tmp_path / "form-errors.png"), full_page=True)

    page.get_by_label("Email address").fill("ann@x.com")
    page.get_by_label("First name").fill("Ann")
    page.get_by_label("City").fill("Oslo")
    page.get_by_role("button", name="Subscribe").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Check your inbox"
    subscriber = api.client.get("/subscribers/ann@x.com").json()
    assert (subscriber["status"], subscriber["data"]) == ("unconfirmed", {"base": {"firstName": "Ann", "city": "Oslo"}})
    if os.environ.get("STEPWISE_TEST_SCREENSHOTS"):
        for name in ("form.png", "form-errors.png"):
            shutil.copy(tmp_path / name, Path(os.environ["STEPWISE_TEST_SCREENSHOTS"]) / name)
