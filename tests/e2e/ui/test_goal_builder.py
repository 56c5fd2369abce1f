"""S24 in the browser: the builder adds, keeps and edits a sequence's goal (events and exit)."""

from __future__ import annotations

import json
import re

import pytest

from stepwise.services import sequences
from tests.e2e.ui.conftest import Browser
from tests.e2e.ui.test_builder import pick_first_emails, seed

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

PURCHASE = [{"event": "custom", "name": "purchase"}]


def test_S24_a_goal_is_added_in_the_builder_and_kept_on_edit(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/new")
    page.get_by_label("Key").fill("trial")
    page.get_by_label("Name").fill("Trial")
    pick_first_emails(page)
    page.locator("#f-goal_when").fill(json.dumps(PURCHASE))
    page.locator("#f-goal_exit").check()
    page.get_by_role("button", name="Save sequence").click()
    page.wait_for_url(re.compile(r".*/sequences/trial$"))
    db = ui.server.stepwise.db
    assert sequences.get(db, ui.account_id, "trial").definition["goal"] == {"when": PURCHASE, "exit": True}

    ui.goto("/sequences/trial/edit")
    expect(page.locator("#f-goal_exit")).to_be_checked()
    assert json.loads(page.locator("#f-goal_when").input_value()) == PURCHASE
    page.locator("#f-goal_exit").uncheck()
    page.get_by_role("button", name="Save sequence").click()
    page.wait_for_url(re.compile(r".*/sequences/trial$"))
    assert sequences.get(db, ui.account_id, "trial").definition["goal"] == {"when": PURCHASE, "exit": False}


def test_S24_a_bad_goal_in_the_builder_is_shown_at_the_goal_and_saves_nothing(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/new")
    page.get_by_label("Key").fill("trial")
    page.get_by_label("Name").fill("Trial")
    pick_first_emails(page)
    page.locator("#f-goal_when").fill('[{"event": "never"}]')
    page.get_by_role("button", name="Save sequence").click()
    expect(page.locator("#f-goal-error")).to_be_visible()
    page.locator("#f-goal_when").fill("[not json")
    page.get_by_role("button", name="Save sequence").click()
    expect(page.locator("#f-goal-error")).to_contain_text("not valid JSON")
    assert not [s for s in sequences.all_sequences(ui.server.stepwise.db, ui.account_id) if s.key == "trial"]
