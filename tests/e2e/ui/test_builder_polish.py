"""Builder polish (issue 17): pickers start empty, a saved new sequence gets its own address."""

from __future__ import annotations

import re

import pytest

from stepwise.domain.forms import FormSpec
from stepwise.services import drafts, forms, sequences
from stepwise.services.drafts import DraftBody
from tests.e2e.ui.conftest import Browser

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


def seed(ui: Browser) -> None:
    stepwise = ui.server.stepwise
    body = DraftBody(subject="Hi", html="<p>Hi</p>", from_email="news@example.com")
    drafts.put(stepwise.db, ui.account_id, "welcome", body, stepwise.clock())


def test_email_and_sequence_pickers_start_at_choose_and_saving_empty_is_an_error_there(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/new")
    page.get_by_label("Key").fill("polish")
    page.get_by_label("Name").fill("Polish")
    draft = page.locator("#f-s0-v0-d0-draft")
    expect(draft).to_have_value("")
    expect(draft.locator("option").first).to_have_text("choose an email…")
    page.get_by_role("button", name="+ Action").click()
    page.locator("#f-s0-v0-d1-kind").select_option("start_sequence")
    expect(page.locator("#f-s0-v0-d1-sequence")).to_have_value("")
    page.get_by_role("button", name="Save sequence").click()
    expect(page.locator("#f-s0-v0-d0-draft-error")).to_have_text("choose an email")
    expect(page.locator("#f-s0-v0-d1-sequence-error")).to_have_text("choose a sequence")
    expect(draft).to_have_attribute("aria-invalid", "true")
    ui.shot("builder-choose-empty")

    page.locator("#f-s0-v0-d1-kind").select_option("nothing")
    expect(page.locator("#f-s0-v0-d1-sequence")).to_have_count(0)
    page.locator("#f-s0-v0-d0-draft").select_option("welcome")
    page.get_by_role("button", name="Save sequence").click()
    page.wait_for_url(re.compile(r".*/sequences/polish$"))
    assert page.url.endswith("/sequences/polish")
    ui.shot("builder-saved-address")
    stored = sequences.get(ui.server.stepwise.db, ui.account_id, "polish").definition
    assert stored["steps"][0]["variants"][0]["do"][0] == {"action": "send_email", "draft": "welcome"}


def test_a_weekly_wait_without_weekdays_says_so_under_the_weekdays(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/new")
    page.get_by_label("Key").fill("weekly")
    page.get_by_label("Name").fill("Weekly")
    page.locator("#f-s0-v0-d0-draft").select_option("welcome")
    page.get_by_role("button", name="+ Step").click()
    page.locator("#f-s1-v0-w0-kind").select_option("schedule")
    expect(page.locator("#f-s1-v0-w0-every")).to_have_value("day")
    page.locator("#f-s1-v0-w0-every").select_option("week")
    expect(page.get_by_label("Mon")).to_be_visible()
    page.get_by_role("button", name="Save sequence").click()
    error = page.locator("#f-s1-v0-w0-weekdays-error")
    expect(error).to_have_text("choose at least one weekday")
    expect(page.locator("#f-s1-v0-w0-weekdays")).to_contain_text("choose at least one weekday")
    expect(page.locator("#errors")).not_to_contain_text("e.g.")
    ui.shot("builder-weekdays-error")


SAME = {
    "name": "Same",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]}
    ],
}


def test_saving_unchanged_content_keeps_the_version(ui: Browser) -> None:
    seed(ui)
    stepwise = ui.server.stepwise
    first, created = sequences.put(stepwise.db, ui.account_id, "same", SAME, stepwise.clock())
    again, created_again = sequences.put(stepwise.db, ui.account_id, "same", dict(SAME), stepwise.clock())
    assert created and not created_again
    assert again.version == first.version

    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/same/edit")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(r".*/sequences/same$"))
    expect(page.get_by_text("No changes: the content equals the live version")).to_be_visible()
    ui.shot("builder-no-changes")
    assert sequences.get(stepwise.db, ui.account_id, "same").version == first.version
    expect(page.get_by_test_id("draft-info")).to_contain_text("No draft")  # and nothing to publish

    ui.goto("/sequences/same/edit")
    page.get_by_label("Name").fill("Same, renamed")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(r".*/sequences/same$"))
    assert sequences.get(stepwise.db, ui.account_id, "same").version == first.version  # the live version runs on
    expect(page.get_by_test_id("draft-info")).to_contain_text("Draft (based on v1")
    ui.goto("/sequences/same/edit")  # the builder opens the draft
    expect(page.get_by_label("Name")).to_have_value("Same, renamed")
    ui.save_and_publish("same")
    assert sequences.get(stepwise.db, ui.account_id, "same").version != first.version


def test_subscriber_added_with_a_double_opt_in_form_is_warned_about(ui: Browser) -> None:
    seed(ui)
    stepwise = ui.server.stepwise
    sequences.put(stepwise.db, ui.account_id, "same", SAME, stepwise.clock())
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/same")
    expect(page.locator("#opt-in-warning")).to_have_count(0)
    forms.put(stepwise.db, ui.account_id, "signup", FormSpec.model_validate({"title": "Sign up"}), stepwise.clock())
    ui.goto("/sequences/same")
    expect(page.locator("#opt-in-warning")).to_contain_text("signup")
    expect(page.locator("#opt-in-warning")).to_contain_text("Subscription confirmed")
    ui.shot("sequence-opt-in-warning")
    ui.goto("/sequences/same/edit")
    expect(page.locator("#opt-in-warning")).to_be_visible()
    page.locator("#f-s0-v0-w0-confirmed").select_option("true")
    ui.save_and_publish("same")
    expect(page.locator("#opt-in-warning")).to_have_count(0)
