"""The sequence builder: inputs per kind, reordering, the predicate editor, errors at the field, no-JS use."""

from __future__ import annotations

import re
from typing import Any

import pytest

from stepwise.services import drafts, lists, sequences
from stepwise.services.drafts import DraftBody
from tests.e2e.ui.conftest import Browser

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


def seed(ui: Browser) -> None:
    stepwise = ui.server.stepwise
    now = stepwise.clock()
    body = DraftBody(subject="Hi", html="<p>Hi</p>", from_email="news@example.com")
    drafts.put(stepwise.db, ui.account_id, "welcome", body, now)
    drafts.put(stepwise.db, ui.account_id, "reminder", body, now)
    lists.put(stepwise.db, ui.account_id, "engaged", "Engaged", now)


def pick_first_emails(page: Any) -> None:
    """Choose the first email in every "Send an email" action still at "choose an email…"."""
    for select in page.locator("select[name*='.d'][name$='.draft']").all():
        if select.input_value() == "":
            select.select_option(index=1)


def test_the_api_validation_errors_are_shown_at_the_inputs_that_caused_them(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/new")
    page.get_by_label("Key").fill("Bad Key")
    page.get_by_role("button", name="+ Step").click()
    expect(page.locator("#f-s1-v0-w0-after")).to_be_visible()
    page.locator("#f-s1-v0-w0-after").fill("soon")
    page.locator("#f-s1-v0-d0-kind").select_option("call_url")
    expect(page.locator("#f-s1-v0-d0-url")).to_be_visible()
    page.locator("#f-s1-v0-d0-url").fill("ftp://crm.example/hook")
    page.get_by_role("button", name="Save sequence").click()

    summary = page.locator("#errors")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Key")
    expect(page.locator("#f-key-error")).to_contain_text("lowercase letters")
    expect(page.locator("#f-name-error")).to_be_visible()
    expect(page.locator("#f-s1-v0-w0-after")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-s1-v0-w0-after-error")).to_contain_text("not a duration")
    expect(page.locator("#f-s1-v0-d0-url-error")).to_contain_text("http:// or https://")
    expect(page.locator("#f-s1-v0-w0-after")).to_have_value("soon")
    ui.shot("builder-errors")

    page.get_by_role("link", name=re.compile(r"Step 2 · Variant 1 · Event 1 · Wait for")).click()
    page.get_by_label("Key").fill("welcome")
    page.get_by_label("Name").fill("Welcome")
    page.locator("#f-s1-v0-w0-after").fill("2d")
    page.locator("#f-s1-v0-d0-url").fill("https://crm.example/hook?email={EMAIL}")
    pick_first_emails(page)
    page.get_by_role("button", name="Save sequence").click()
    page.wait_for_url(re.compile(r".*/sequences/welcome$"))
    stored = sequences.get(ui.server.stepwise.db, ui.account_id, "welcome").definition
    assert stored["steps"][1]["variants"][0] == {
        "when": [{"event": "time_passed", "after": "2d"}],
        "do": [{"action": "call_url", "url": "https://crm.example/hook?email={EMAIL}", "method": "GET"}],
    }


def test_steps_variants_and_actions_are_added_moved_and_removed(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/new")
    page.get_by_label("Key").fill("branching")
    page.get_by_label("Name").fill("Branching")
    page.get_by_role("button", name="+ Step").click()
    expect(page.locator("#f-s1-v0-w0-kind")).to_be_focused()

    # Step 2: a click on the welcome email, or three days without one.
    page.locator("#f-s1-v0-w0-kind").select_option("link_clicked")
    expect(page.locator("#f-s1-v0-w0-draft")).to_be_visible()
    page.locator("#f-s1-v0-w0-draft").select_option("welcome")
    page.locator("#f-s1-v0-d0-kind").select_option("add_to_list")
    expect(page.locator("#f-s1-v0-d0-list")).to_have_value("engaged")
    page.get_by_role("button", name="+ Action").nth(1).click()
    expect(page.locator("#f-s1-v0-d1-kind")).to_be_focused()
    page.locator("#f-s1-v0-d1-draft").select_option("reminder")
    page.get_by_role("button", name="Move action 2 up").click()
    expect(page.locator("#up-s1-v0-d0")).to_be_disabled()
    expect(page.locator("#f-s1-v0-d0-kind")).to_have_value("send_email")
    page.get_by_role("button", name=re.compile(r"^\+ Variant")).nth(1).click()
    expect(page.locator("#f-s1-v1-w0-after")).to_have_value("1d")
    page.locator("#f-s1-v1-w0-after").fill("3d")

    # A third step, moved before the second, then removed again.
    page.get_by_role("button", name="+ Step").click()
    expect(page.locator("#f-s2-v0-w0-kind")).to_be_focused()
    page.locator("#f-s2-v0-w0-kind").select_option("schedule")
    expect(page.locator("#f-s2-v0-w0-every")).to_have_value("day")
    page.locator("#f-s2-v0-w0-every").select_option("week")
    expect(page.get_by_role("group", name=re.compile("Step 3, variant 1, event 1")).get_by_label("Mon")).to_be_visible()
    page.get_by_label("Mon").check()
    page.get_by_role("button", name="Move step 3 up").click()
    expect(page.locator("#f-s1-v0-w0-kind")).to_have_value("schedule")
    expect(page.get_by_label("Mon")).to_be_checked()
    ui.shot("builder-three-steps")
    page.get_by_role("button", name="Remove step 2").click()
    expect(page.locator("#f-s2-v0-w0-kind")).to_have_count(0)

    pick_first_emails(page)
    page.get_by_role("button", name="Save sequence").click()
    page.wait_for_url(re.compile(r".*/sequences/branching$"))
    stored = sequences.get(ui.server.stepwise.db, ui.account_id, "branching").definition
    assert stored["steps"][1]["variants"] == [
        {
            "when": [{"event": "link_clicked", "draft": "welcome"}],
            "do": [{"action": "send_email", "draft": "reminder"}, {"action": "add_to_list", "list": "engaged"}],
        },
        {"when": [{"event": "time_passed", "after": "3d"}], "do": [{"action": "send_email", "draft": "reminder"}]},
    ]
    expect(page.locator("[data-step='2'] .variant-box")).to_have_count(2)
    expect(page.locator("[data-step='2']")).to_contain_text("Clicked a link in welcome")


def test_predicates_are_edited_as_rows_or_as_json_and_checked_on_save(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/new")
    page.get_by_label("Key").fill("vip")
    page.get_by_label("Name").fill("VIP")
    page.locator("#f-s0-v0-w0-kind").select_option("data_changed")
    rows = page.get_by_role("group", name="Condition 1")
    expect(rows).to_be_visible()
    rows.get_by_label("Field (condition 1)").fill("custom.plan")
    rows.get_by_label("Value (condition 1)").fill("pro")
    page.get_by_role("button", name="+ Condition").click()
    second = page.get_by_role("group", name="Condition 2")
    expect(second.get_by_label("Field (condition 2)")).to_be_focused()
    second.get_by_label("Field (condition 2)").fill("custom.orders")
    second.get_by_label("Comparison (condition 2)").select_option("gte")
    second.get_by_label("Value (condition 2)").fill("3")
    page.get_by_role("button", name="Edit as JSON").click()
    json_box = page.locator("#f-s0-v0-w0-where-json")
    expect(json_box).to_be_focused()
    expect(json_box).to_contain_text('"op": "gte"')
    json_box.fill(
        '{"any": [{"field": "custom.plan", "op": "eq", "value": "pro"}, {"not": {"field": "x", "op": "bogus"}}]}'
    )
    page.get_by_role("button", name="Save sequence").click()
    expect(page.locator("#f-s0-v0-w0-where-error")).to_be_visible()
    expect(page.locator("#errors")).to_contain_text("Only when")

    json_box = page.locator("#f-s0-v0-w0-where-json")
    json_box.fill(
        '{"all": [{"field": "custom.plan", "op": "eq", "value": "pro"}, {"field": "custom.orders", "op": "gte", "value": 3}]}'
    )
    page.get_by_role("button", name="Edit as rows").click()
    expect(page.get_by_role("group", name="Condition 2").get_by_label("Value (condition 2)")).to_have_value("3")
    pick_first_emails(page)
    page.get_by_role("button", name="Save sequence").click()
    page.wait_for_url(re.compile(r".*/sequences/vip$"))
    stored = sequences.get(ui.server.stepwise.db, ui.account_id, "vip").definition
    assert stored["steps"][0]["variants"][0]["when"] == [
        {
            "event": "data_changed",
            "where": {
                "all": [
                    {"field": "custom.plan", "op": "eq", "value": "pro", "ignore_case": False},
                    {"field": "custom.orders", "op": "gte", "value": 3, "ignore_case": False},
                ]
            },
        }
    ]
    expect(page.locator("[data-step='1']")).to_contain_text("custom.plan is “pro” and custom.orders ≥ 3")


def test_the_builder_works_without_javascript(no_js: Browser) -> None:
    seed(no_js)
    no_js.sign_in()
    page = no_js.page
    no_js.goto("/sequences/new")
    page.get_by_label("Key").fill("plain")
    page.get_by_label("Name").fill("Plain HTML")
    page.get_by_role("button", name="+ Step").click()
    page.locator("#f-s1-v0-d0-kind").select_option("add_to_list")
    page.locator("#f-s1-v0-d0-kind ~ noscript, #f-s1-v0-d0 button[value^='refresh']").first.click()
    expect(page.locator("#f-s1-v0-d0-list")).to_have_value("engaged")
    pick_first_emails(page)
    page.get_by_role("button", name="Save sequence").click()
    page.wait_for_url(re.compile(r".*/sequences/plain$"))
    page.get_by_role("button", name="Activate").click()
    expect(page.locator("h1 .badge")).to_have_text("active")
