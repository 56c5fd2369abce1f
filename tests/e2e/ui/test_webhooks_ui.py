"""The Webhooks pages in the browser (SPEC §18, S29): add an endpoint (secret shown once), deliveries to a
real receiver in the log with their reply, retry, ping, deactivate, activate, delete."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stepwise.config import Settings
from stepwise.services.subscribers import Edit, edit_one
from tests.e2e.ui.conftest import Browser
from tests.integration.delivery.servers import HttpTarget
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True),
]
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


@pytest.fixture
def receiver() -> Iterator[HttpTarget]:
    running = HttpTarget().start()
    yield running
    running.stop()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret",
        base_url="http://stepwise.test",
        poll_interval=0.02,
        allow_private_urls=True,  # the receiver listens on loopback
    )


def test_S29_webhooks_page_adds_an_endpoint_shows_the_log_and_retries(ui: Browser, receiver: HttpTarget) -> None:
    page = ui.page
    ui.sign_in()
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    page.get_by_label("Name").fill("crm")
    page.get_by_label("URL").fill(receiver.base + "/in")
    page.get_by_label("subscriber.created").check()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.get_by_test_id("secret-value").input_value()
    assert secret.startswith("whsec_")
    page.goto(ui.url("/webhooks"))
    expect(page.get_by_test_id("new-secret")).to_have_count(0)  # shown once
    assert secret not in page.content()

    stepwise = ui.server.stepwise
    edit_one(stepwise.db, ui.account_id, "anna@example.com", Edit(), source="api", now=stepwise.clock(), create=True)
    eventually(lambda: len(receiver.requests) == 1)
    first_id = receiver.requests[0].headers["webhook-id"]
    page.get_by_role("link", name="crm").click()

    def delivered_listed() -> bool:  # the reply is recorded by the worker just after the receiver has the request
        page.goto(page.url)
        return "delivered" in page.locator(f"tr[data-message='{first_id}']").inner_text()

    eventually(delivered_listed)
    expect(page.get_by_test_id("last-code")).to_have_text("200")

    page.locator(f"tr[data-message='{first_id}']").get_by_role("button", name="Retry").click()
    eventually(lambda: len(receiver.requests) == 2)
    assert receiver.requests[1].headers["webhook-id"] == first_id
    with page.expect_navigation():  # the form's POST and its redirect end before the page is read again
        page.get_by_role("button", name="Send a ping").click()
    eventually(lambda: len(receiver.requests) == 3)

    def ping_listed() -> bool:  # the log row is written when the worker records the reply, just after it
        page.goto(page.url)
        return "webhook.ping" in page.locator("tbody").inner_text()

    eventually(ping_listed)

    page.goto(ui.url("/webhooks"))
    page.get_by_role("button", name="Deactivate").click()
    expect(page.locator("[data-webhook=crm]")).to_contain_text("inactive")
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("[data-webhook=crm] .badge")).to_have_text("active")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No endpoint yet.")).to_be_visible()


def test_S29_a_bad_endpoint_is_refused_with_its_reason(ui: Browser) -> None:
    page = ui.page
    ui.expect_invalid_form_answers()
    ui.sign_in()
    page.goto(ui.url("/webhooks"))
    page.get_by_label("Name").fill("bad")
    page.get_by_label("URL").fill("ftp://example.com/x")
    page.get_by_label("run.entered").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#webhook-url-error")).to_contain_text("http")
    expect(page.get_by_text("No endpoint yet.")).to_be_visible()
