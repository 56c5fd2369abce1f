"""S19 (test runs) in the browser: the sequence page's "Start a test run" form and the "test" badge."""

from __future__ import annotations

import pytest

from stepwise.services import sequences
from stepwise.services.subscribers import Edit, edit_one
from tests.e2e.ui.conftest import Browser

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

WAITING = {
    "name": "Waiting",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "custom", "name": "go"}], "do": [{"action": "nothing"}]}]},
        {"variants": [{"when": [{"event": "custom", "name": "next"}], "do": [{"action": "nothing"}]}]},
    ],
}


def test_S19_start_a_test_run_from_the_sequence_page_marks_it_test_and_counts_nothing(ui: Browser) -> None:
    stepwise = ui.server.stepwise
    sequences.put(stepwise.db, ui.account_id, "waiting", WAITING, stepwise.clock())
    edit_one(stepwise.db, ui.account_id, "erin@example.com", Edit(), source="api", now=stepwise.clock(), create=True)
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/waiting")
    page.locator("#test-run-email").fill("erin@example.com")
    page.get_by_role("button", name="Start a test run").click()
    expect(page.locator(".flash.ok")).to_contain_text("as a test run")
    row = page.locator(".runs-panel tbody tr", has_text="erin@example.com")
    expect(row.get_by_test_id("test-badge")).to_have_text("test")
    expect(page.get_by_test_id("entered")).to_have_text("0")
    expect(page.get_by_test_id("on-steps")).to_have_text("0")
    ui.goto("/subscribers/erin@example.com")
    expect(page.get_by_test_id("test-badge")).to_have_text("test")
