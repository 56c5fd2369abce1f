"""S26 in the browser: the builder offers date_reached (at step 1 and as a wait) with its fields; the picture
describes it; the sequence page counts the subscribers with a step-1 date ahead."""

from __future__ import annotations

import re

import pytest

from stepwise.errors import NotFound
from stepwise.services import sequences
from stepwise.services.subscribers import Edit, edit_one
from tests.e2e.ui.conftest import Browser
from tests.e2e.ui.test_builder import pick_first_emails, seed

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


def _date_step(ui: Browser, key: str, offset: str) -> None:
    page = ui.page
    ui.goto("/sequences/new")
    page.get_by_label("Key").fill(key)
    page.get_by_label("Name").fill("Renewal")
    page.get_by_role("button", name="+ Step").click()
    page.locator("#f-s1-v0-w0-kind").select_option("date_reached")
    page.locator("#f-s1-v0-w0-field").fill("custom.renewal")
    page.locator("#f-s1-v0-w0-offset").fill(offset)
    page.locator("#f-s1-v0-w0-at").fill("10:30")
    page.locator("#f-s1-v0-w0-every_year").select_option("true")
    page.locator("#f-s1-v0-w0-timezone").fill("Europe/Berlin")
    pick_first_emails(page)
    page.get_by_role("button", name="Save sequence").click()


def test_S26_the_builder_builds_a_date_reached_wait_and_the_picture_describes_it(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    _date_step(ui, "renewal", "-7d")
    ui.page.wait_for_url(re.compile(r".*/sequences/renewal$"))
    stored = sequences.get(ui.server.stepwise.db, ui.account_id, "renewal").definition
    assert stored["steps"][1]["variants"][0]["when"] == [
        {
            "event": "date_reached",
            "field": "custom.renewal",
            "offset": "-7d",
            "at": "10:30",
            "every_year": True,
            "timezone": "Europe/Berlin",
        }
    ]
    expect(ui.page.locator("[data-step='2']")).to_contain_text(
        "Every year 7d before the date in custom.renewal, at 10:30 (Europe/Berlin)"
    )


def test_S26_a_bad_offset_is_shown_at_its_input_and_nothing_is_saved(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    _date_step(ui, "renewal", "a week early")
    expect(ui.page.locator("#f-s1-v0-w0-offset-error")).to_contain_text("offset")
    with pytest.raises(NotFound):  # nothing was stored
        sequences.get(ui.server.stepwise.db, ui.account_id, "renewal")


def test_S26_the_builder_offers_a_date_at_step_1_and_the_page_counts_the_dates_ahead(ui: Browser) -> None:
    seed(ui)
    stepwise = ui.server.stepwise
    for n, day in enumerate(("1990-05-01", "1984-11-30", "not a date")):
        edit_one(
            stepwise.db,
            ui.account_id,
            f"s{n}@example.com",
            Edit(data={"birthday": day}),
            source="api",
            now=stepwise.clock(),
            create=True,
        )
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/new")
    page.get_by_label("Key").fill("birthday")
    page.get_by_label("Name").fill("Birthday")
    page.locator("#f-s0-v0-w0-kind").select_option("date_reached")
    expect(page.locator("#f-s0-v0-w0-field")).to_be_visible()  # the form is drawn again for a date
    page.locator("#f-s0-v0-w0-field").fill("birthday")
    page.locator("#f-s0-v0-w0-every_year").select_option("true")
    pick_first_emails(page)
    page.get_by_role("button", name="Save sequence").click()
    page.wait_for_url(re.compile(r".*/sequences/birthday$"))
    stored = sequences.get(stepwise.db, ui.account_id, "birthday").definition
    assert stored["steps"][0]["variants"][0]["when"] == [
        {"event": "date_reached", "field": "birthday", "every_year": True}
    ]
    expect(page.locator("[data-step='1']")).to_contain_text("Every year the date in birthday, at 09:00")
    expect(page.get_by_test_id("dates-ahead")).to_have_count(0)  # saved paused: nobody is waited for yet
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_test_id("dates-ahead")).to_contain_text("2 subscribers with a date ahead")
    ui.shot("date-at-step-1")
