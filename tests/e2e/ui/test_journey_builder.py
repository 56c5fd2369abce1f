"""S23 in the browser: the builder offers a random split with weights; the sequence picture shows it."""

from __future__ import annotations

import re
import time

import pytest

from stepwise.services import sequences
from stepwise.services.journey_stats import variant_mail
from stepwise.services.subscribers import Edit, edit_one
from tests.e2e.ui.conftest import Browser
from tests.e2e.ui.test_builder import pick_first_emails, seed

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


def test_S23_a_split_is_built_with_weights_and_shown_in_the_picture(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/new")
    page.get_by_label("Key").fill("abtest")
    page.get_by_label("Name").fill("A/B test")
    page.get_by_role("button", name="+ Step").click()
    page.locator("#f-s1-v0-w0-kind").select_option("split")
    expect(page.locator("#f-s1-v0-w0-weight")).to_have_value("50")
    page.locator("#f-s1-v0-w0-weight").fill("70")
    page.get_by_role("button", name=re.compile(r"^\+ Variant")).nth(1).click()
    page.locator("#f-s1-v1-w0-kind").select_option("split")
    page.locator("#f-s1-v1-w0-weight").fill("30")
    pick_first_emails(page)
    page.get_by_role("button", name="Save sequence").click()
    page.wait_for_url(re.compile(r".*/sequences/abtest$"))
    stored = sequences.get(ui.server.stepwise.db, ui.account_id, "abtest").definition
    assert [v["when"] for v in stored["steps"][1]["variants"]] == [
        [{"event": "split", "weight": 70}],
        [{"event": "split", "weight": 30}],
    ]
    expect(page.locator("[data-step='2'] .variant-box")).to_have_count(2)
    expect(page.locator("[data-step='2']")).to_contain_text("Random split, weight 70")
    expect(page.locator("[data-step='2']")).to_contain_text("Random split, weight 30")


def test_S23_a_split_with_one_variant_is_refused_at_its_step(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/new")
    page.get_by_label("Key").fill("lonely")
    page.get_by_label("Name").fill("Lonely split")
    page.get_by_role("button", name="+ Step").click()
    page.locator("#f-s1-v0-w0-kind").select_option("split")
    expect(page.locator("#f-s1-v0-w0-weight")).to_have_value("50")  # the form is drawn again for a split
    pick_first_emails(page)
    page.get_by_role("button", name="Save sequence").click()
    expect(page.locator("#f-s1-variants-error")).to_have_text("a split step needs at least two variants")


def test_S23_the_picture_shows_email_rates_per_split_variant_and_per_step(ui: Browser) -> None:
    seed(ui)
    stepwise = ui.server.stepwise
    split = [
        {"when": [{"event": "split", "weight": 1}], "do": [{"action": "send_email", "draft": draft}]}
        for draft in ("welcome", "reminder")
    ]
    document = {
        "name": "A/B",
        "status": "active",
        "steps": [
            {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "nothing"}]}]},
            {"variants": split},
        ],
    }
    sequences.put(stepwise.db, ui.account_id, "ab", document, stepwise.clock())
    for i in range(12):
        edit_one(
            stepwise.db, ui.account_id, f"r{i}@example.com", Edit(), source="api", now=stepwise.clock(), create=True
        )
    deadline = time.monotonic() + 20
    while True:
        mail = variant_mail(stepwise.db, ui.account_id, "ab")
        if sum(m.sent for m in mail.values()) == 12 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sum(m.sent for m in mail.values()) == 12
    ui.sign_in()
    ui.goto("/sequences/ab")
    page = ui.page
    for variant in (1, 2):
        if (2, variant) in mail:
            sent = mail[(2, variant)].sent
            expect(page.get_by_test_id(f"vmail-2-{variant}")).to_contain_text(f"sent {sent} · open 0.0 % · click 0.0 %")
    expect(page.get_by_test_id("open-rate-2")).to_have_text("0.0 %")
    expect(page.get_by_test_id("click-rate-2")).to_have_text("0.0 %")
    ui.shot("split-rates")
