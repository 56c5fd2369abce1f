"""S24 in the browser: the builder adds, keeps and edits a sequence's goal (events and exit)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import pytest

from stepwise.services import sequences
from stepwise.services.events import PostedEvent, ingest
from stepwise.services.subscribers import Edit, edit_one
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
    ui.save_and_publish("trial")
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


def _wait(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not check() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert check()


def test_S24_the_picture_shows_conversions_and_rates_per_split_variant(ui: Browser) -> None:
    seed(ui)
    stepwise = ui.server.stepwise
    db, account_id = stepwise.db, ui.account_id
    split = [{"when": [{"event": "split", "weight": 1}], "do": [{"action": "nothing"}]} for _ in range(2)]
    document = {
        "name": "Trial",
        "status": "active",
        "steps": [
            {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "nothing"}]}]},
            {"variants": split},
            {"variants": [{"when": [{"event": "time_passed", "after": "30d"}], "do": [{"action": "nothing"}]}]},
        ],
        "goal": {"when": PURCHASE},
    }
    sequences.put(db, account_id, "trial", document, stepwise.clock())
    emails = [f"g{i}@example.com" for i in range(6)]
    for email in emails:
        edit_one(db, account_id, email, Edit(), source="api", now=stepwise.clock(), create=True)
    _wait(lambda: sequences.stats(db, account_id, "trial").steps[2].on_step == 6)
    ingest(db, account_id, [PostedEvent(type="custom", name="purchase", email=e) for e in emails[:3]], stepwise.clock())
    _wait(lambda: sequences.stats(db, account_id, "trial").converted == 3)
    stats = sequences.stats(db, account_id, "trial")
    ui.sign_in()
    ui.goto("/sequences/trial")
    page = ui.page
    expect(page.get_by_test_id("converted")).to_have_text("3")
    expect(page.get_by_test_id("conversion-rate")).to_have_text("50.0 %")
    for v in stats.steps[1].variants:
        rate = round(100 * v.converted / v.fired, 1) if v.fired else 0.0
        expect(page.get_by_test_id(f"vconv-2-{v.variant}")).to_have_text(
            f"converted {v.converted} · conversion {rate} %"
        )
