"""S19 (stats reset) in the browser: the sequence page's Reset statistics button, confirmed."""

from __future__ import annotations

import pytest

from stepwise.services import sequences
from stepwise.services.subscribers import Edit, edit_one
from tests.e2e.ui.conftest import Browser
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

WAITING = {
    "name": "Waiting",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "nothing"}]}]},
        {"variants": [{"when": [{"event": "custom", "name": "next"}], "do": [{"action": "nothing"}]}]},
    ],
}


def test_S19_reset_statistics_from_the_sequence_page_keeps_runs_on_steps(ui: Browser) -> None:
    stepwise = ui.server.stepwise
    sequences.put(stepwise.db, ui.account_id, "waiting", WAITING, stepwise.clock())
    edit_one(stepwise.db, ui.account_id, "dora@example.com", Edit(), source="api", now=stepwise.clock(), create=True)
    eventually(lambda: sequences.stats(stepwise.db, ui.account_id, "waiting").entered == 1, timeout=15)
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/waiting")
    expect(page.get_by_test_id("entered")).to_have_text("1")
    expect(page.get_by_test_id("reset-at")).to_have_count(0)
    page.get_by_role("button", name="Reset statistics").click()  # the confirmation is accepted
    expect(page.locator(".flash.ok")).to_contain_text("Statistics reset")
    expect(page.get_by_test_id("entered")).to_have_text("0")
    expect(page.get_by_test_id("on-steps")).to_have_text("1")
    expect(page.get_by_test_id("reset-at")).to_contain_text("counting since")
