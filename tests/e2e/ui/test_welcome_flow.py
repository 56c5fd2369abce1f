"""Acceptance (issue 6): a marketer builds, activates and watches a welcome sequence entirely in the browser."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.ui.conftest import Browser

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


def write_welcome_draft(ui: Browser) -> None:
    ui.goto("/drafts/new")
    page = ui.page
    page.get_by_label("Key").fill("welcome")
    page.get_by_label("Subject").fill("Welcome, {{ data.base.firstName }}!")
    page.get_by_label("From address").fill("news@example.com")
    page.get_by_label("From name").fill("Example News")
    page.get_by_label("HTML body").fill(
        '<p>Hello {{ data.base.firstName }}, <a href="https://example.com/start">start here</a>.</p>'
    )
    ui.shot("drafts-new")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".flash.ok")).to_contain_text("Draft welcome saved")


def build_two_step_sequence(ui: Browser) -> None:
    page = ui.page
    ui.goto("/sequences")
    page.get_by_role("link", name="New sequence").click()
    page.get_by_label("Key").fill("welcome")
    page.get_by_label("Name").fill("Welcome series")
    expect(page.locator("#f-s0-v0-w0-kind")).to_have_value("subscriber_added")
    expect(page.locator("#f-s0-v0-d0-kind")).to_have_value("send_email")
    # A new send_email step starts with no email chosen; the user picks one.
    expect(page.locator("#f-s0-v0-d0-draft")).to_have_value("")
    page.locator("#f-s0-v0-d0-draft").select_option("welcome")
    expect(page.locator("#f-s0-v0-d0-draft")).to_have_value("welcome")

    page.get_by_role("button", name="+ Step").click()
    expect(page.locator("#f-s1-v0-w0-kind")).to_have_value("time_passed")
    page.locator("#f-s1-v0-w0-after").fill("3d")
    page.locator("#f-s1-v0-d0-kind").select_option("change_data")
    expect(page.locator("#f-s1-v0-d0-set")).to_be_visible()
    page.locator("#f-s1-v0-d0-set").fill("custom.onboarded = true")
    expect(page.get_by_label("Key")).to_have_value("welcome")
    ui.shot("builder-two-steps", narrow=True)
    page.get_by_role("button", name="Save sequence").click()
    page.wait_for_url(re.compile(r".*/sequences/welcome$"))
    expect(page.locator(".flash.ok")).to_contain_text("Welcome series saved")


def wait_for_mail(ui: Browser, subject: str, timeout: float = 15.0) -> None:
    """Reload the mailbox until the email shows up (the worker sends it within moments)."""
    deadline = time.monotonic() + timeout
    while True:
        ui.goto("/mailbox")
        if ui.page.locator("#mail-list .subj", has_text=subject).count():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no email {subject!r} in the mailbox after {timeout}s")
        ui.page.wait_for_timeout(200)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_welcome_sequence_built_in_the_browser_sends_its_email_and_counts_the_subscriber(ui: Browser) -> None:
    page = ui.page
    ui.sign_in()
    expect(page.get_by_role("heading", name="Sequences")).to_be_visible()
    write_welcome_draft(ui)
    build_two_step_sequence(ui)

    expect(page.locator("h1 .badge")).to_have_text("paused")
    page.get_by_role("button", name="Activate").click()
    expect(page.locator(".flash.ok")).to_contain_text("Sequence activated")
    expect(page.locator("h1 .badge")).to_have_text("active")
    expect(page.get_by_test_id("on-step-2")).to_contain_text("0")

    ui.goto("/subscribers")
    page.get_by_label("Email address").fill("anna@example.com")
    page.get_by_label("Profile data").fill("base.firstName = Anna")
    page.get_by_role("button", name="Add subscriber").click()
    page.wait_for_url(re.compile(r".*/subscribers/anna@example.com$"))
    expect(page.locator(".flash.ok")).to_contain_text("anna@example.com added")

    wait_for_mail(ui, "Welcome, Anna!")
    expect(page.get_by_test_id("message-subject")).to_have_text("Welcome, Anna!")
    body = page.frame_locator("iframe.mail-frame").locator("body")
    expect(body).to_contain_text("Hello Anna, start here.")
    ui.shot("mailbox", narrow=True)

    ui.goto("/sequences/welcome")
    expect(page.get_by_test_id("entered")).to_have_text("1")
    expect(page.get_by_test_id("on-step-2")).to_contain_text("1")
    expect(page.get_by_test_id("fired-1-1")).to_have_text("1")
    expect(page.get_by_test_id("sent-1")).to_have_text("1")
    ui.shot("sequence-view", narrow=True)

    ui.goto("/sequences")
    expect(page.locator("tr[data-sequence=welcome] [data-testid=on-steps]")).to_have_text("1")
    ui.shot("sequences")
