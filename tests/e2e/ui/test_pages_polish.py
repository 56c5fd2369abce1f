"""Polish of the non-builder pages (issue 17): clear notices, honest banners, readable tables and search."""

from __future__ import annotations

import re

import pytest

from tests.e2e.ui.conftest import Browser
from tests.e2e.ui.test_pages import seed
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


def test_a_preview_for_an_address_that_is_not_a_subscriber_says_so(ui: Browser) -> None:
    seed(ui, "anna@example.com")
    ui.sign_in()
    page = ui.page
    ui.goto("/drafts/welcome")
    page.get_by_label("Subscriber").fill("nobody@example.com")
    page.get_by_role("button", name="Preview").click()
    notice = page.get_by_test_id("preview-stranger")
    expect(notice).to_have_text("No subscriber with this address; previewing with empty data.")
    ui.shot("draft-preview-stranger")
    page.get_by_label("Subscriber").fill("anna@example.com")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("preview-subject")).to_have_text("Welcome, Anna!")
    expect(notice).to_have_count(0)


def test_an_import_with_failed_rows_shows_a_warning_with_the_counts_and_the_problems(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    page = ui.page
    ui.goto("/imports")
    csv = "email,base.firstName\nanna@example.com,Anna\nnot-an-address,X\nalso bad,Y\n@nope,Z\n"
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "mixed.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    page.get_by_role("button", name="Import").click()
    banner = page.get_by_test_id("import-outcome")
    expect(banner).to_have_text("Imported 1 of 4 rows from mixed.csv; 3 failed (see the problems below).")
    expect(banner).to_have_class("flash warn")
    expect(page.locator("#import-result")).to_contain_text("not-an-address")
    expect(page.locator("#import-result tbody tr")).to_have_count(3)
    ui.shot("import-partly-failed")


def test_the_timeline_is_newest_first_with_seconds_and_names_and_pages_back(
    ui: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepwise.web import subscribers as subscriber_pages

    seed(ui, "anna@example.com")
    monkeypatch.setattr(subscriber_pages, "TIMELINE_PAGE", 2)
    ui.sign_in()
    page = ui.page
    ui.goto("/subscribers/anna@example.com")
    entries = page.locator(".timeline > li")
    expect(entries).to_have_count(2)
    first = entries.nth(0).locator("time").get_attribute("datetime") or ""
    second = entries.nth(1).locator("time").get_attribute("datetime") or ""
    assert first >= second, "newest first"
    expect(entries.nth(0).locator("time")).to_have_text(re.compile(r"\d{2}:\d{2}:\d{2}$"))
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("Welcome")  # the sequence's name, not only its key
    expect(timeline).to_contain_text(re.compile(r"email: welcome “Welcome, Anna!”"))
    expect(timeline).not_to_contain_text(re.compile(r"issue: \d"))
    ui.shot("subscriber-timeline")
    seen = [first, second]
    while page.get_by_role("link", name="Older entries →").count():
        page.get_by_role("link", name="Older entries →").click()
        for i in range(entries.count()):
            seen.append(entries.nth(i).locator("time").get_attribute("datetime") or "")
    assert seen == sorted(seen, reverse=True)
    assert len(seen) >= 3


def test_the_transactional_group_is_explained_where_it_appears(ui: Browser) -> None:
    seed(ui, "anna@example.com")
    ui.sign_in()
    page = ui.page
    ui.goto("/issues")
    expect(page.get_by_test_id("group-help")).to_contain_text("sequences send with a")
    ui.shot("archive-group-help")
    page.locator("table a[href^='/issues/']").first.click()
    expect(page.get_by_test_id("group-help")).to_have_text("sent by a sequence's send-email step")
    ui.shot("issue-group-help")


def test_the_runs_of_a_sequence_are_a_full_width_table_with_pages(ui: Browser) -> None:
    from stepwise.services import runs
    from stepwise.services.subscribers import Edit, edit_one

    seed(ui)
    stepwise = ui.server.stepwise
    people = [f"person{i:02d}@example.com" for i in range(55)]
    for email in people:
        edit_one(stepwise.db, ui.account_id, email, Edit(data={}), source="api", now=stepwise.clock(), create=True)

    def started() -> int:
        items, _ = runs.of_sequence(
            stepwise.db, ui.account_id, "welcome", status=None, step=None, cursor=None, limit=100
        )
        return len(items)

    eventually(lambda: started() == len(people), timeout=30, interval=0.1)  # the worker starts the runs
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/welcome")
    table = page.locator(".runs-panel table")
    rows = table.locator("tbody tr")
    first_page = rows.count()
    assert 0 < first_page < len(people)
    box = table.bounding_box()
    assert box is not None and box["width"] > 900, box
    assert box["height"] < first_page * 80, box
    ui.shot("sequence-runs-table")
    seen = set(rows.locator("td:first-child").all_inner_texts())
    page.get_by_role("link", name=re.compile("Next|Older|More|→")).first.click()
    expect(rows.first).to_be_visible()
    later = set(rows.locator("td:first-child").all_inner_texts())
    assert not seen & later
    assert len(seen | later) == len(people)


def test_the_mailbox_and_the_archive_are_searched_and_filtered(ui: Browser) -> None:
    seed(ui, "anna@example.com", "boris@example.com", "carla@example.com")
    ui.sign_in()
    page = ui.page
    ui.goto("/mailbox")
    mails = page.locator("#mail-list li")
    expect(mails).to_have_count(3)
    page.get_by_label("Search address or subject").fill("boris")
    page.get_by_role("button", name="Search").click()
    expect(mails).to_have_count(1)
    expect(mails.first).to_contain_text("Welcome, Boris!")
    assert "q=boris" in (mails.first.locator("a").get_attribute("href") or "")
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No captured email matches.")).to_be_visible()
    page.get_by_label("Status").select_option("sent")
    page.get_by_label("Sequence").fill("welcome")
    page.get_by_role("button", name="Search").click()
    expect(mails).to_have_count(1)
    ui.shot("mailbox-search", narrow=True)

    ui.goto("/issues")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(3)
    page.get_by_label("Search address or subject").fill("CARLA!")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("carla@example.com")
    page.get_by_label("Search address or subject").fill("")
    page.get_by_label("From").fill("2999-01-01")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(0)
    page.get_by_label("From").fill("2000-01-01")
    page.get_by_label("To", exact=True).fill("2999-12-31")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(3)
    ui.shot("archive-search", narrow=True)
