"""Every page of the UI: subscribers, lists, drafts with preview, forms, imports, archive (screenshots of each)."""

from __future__ import annotations

import re

import pytest

from stepwise.services import drafts, lists, sequences
from stepwise.services.drafts import DraftBody
from stepwise.services.issues import Issue
from stepwise.services.subscribers import Edit, edit_one
from tests.e2e.ui.conftest import Browser
from tests.support.archive import issues_with_status
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

WELCOME = {
    "name": "Welcome",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]},
        {"variants": [{"when": [{"event": "time_passed", "after": "2d"}], "do": [{"action": "nothing"}]}]},
    ],
}


def seed(ui: Browser, *people: str) -> None:
    """A welcome draft, a list and an active welcome sequence; the given people subscribed (and mailed)."""
    stepwise = ui.server.stepwise
    now = stepwise.clock()
    body = DraftBody(
        subject="Welcome, {{ data.base.firstName }}!",
        html='<p>Hello {{ data.base.firstName }}! <a href="https://example.com/start">Start</a></p>',
        from_email="news@example.com",
        from_name="Example News",
    )
    drafts.put(stepwise.db, ui.account_id, "welcome", body, now)
    lists.put(stepwise.db, ui.account_id, "newsletter", "Newsletter", now)
    sequences.put(stepwise.db, ui.account_id, "welcome", WELCOME, now)
    for email in people:
        name = email.split("@")[0].title()
        edit = Edit(data={"base": {"firstName": name, "city": "Kazan"}}, lists_add=["newsletter"])
        edit_one(stepwise.db, ui.account_id, email, edit, source="api", now=now, create=True)
    eventually(lambda: len(_sent(ui)) == len(people), timeout=30, interval=0.05)  # the worker sends them


def _sent(ui: Browser) -> list[Issue]:
    return issues_with_status(ui.server.stepwise.db, ui.account_id, "sent")


def test_every_page_renders_without_console_errors(ui: Browser) -> None:
    seed(ui, "anna@example.com", "boris@example.com")
    ui.sign_in()
    page = ui.page
    issue_id = _sent(ui)[0].id
    pages = [
        ("sequences-list", "/sequences", "Sequences"),
        ("sequence-edit", "/sequences/welcome/edit", "Edit Welcome"),
        ("sequence-json", "/sequences/welcome/json", "Definition as JSON"),
        ("subscribers", "/subscribers", "Subscribers"),
        ("subscriber-profile", "/subscribers/anna@example.com", "anna@example.com"),
        ("subscribers-bulk", "/subscribers/bulk-update", "Bulk edit"),
        ("lists", "/lists", "Lists"),
        ("list", "/lists/newsletter", "Newsletter"),
        ("drafts", "/drafts", "Drafts"),
        ("draft-edit", "/drafts/welcome?preview=anna@example.com", "Draft welcome"),
        ("forms", "/forms", "Forms"),
        ("form-new", "/forms/new", "New form"),
        ("imports", "/imports", "Imports"),
        ("archive", "/issues", "Archive"),
        ("issue", f"/issues/{issue_id}", "Welcome, "),
        ("mailbox-list", "/mailbox", "Mailbox"),
    ]
    for name, path, heading in pages:
        response = ui.goto(path)
        assert response.status == 200, path
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        ui.shot(name, narrow=True)
    assert page.evaluate("typeof htmx") == "object"
    assert ui.too_wide == []


def test_a_draft_is_previewed_for_a_chosen_subscriber_in_a_sandboxed_frame(ui: Browser) -> None:
    seed(ui, "anna@example.com", "boris@example.com")
    ui.sign_in()
    page = ui.page
    ui.goto("/drafts")
    page.get_by_role("link", name="welcome").click()
    page.get_by_label("Subscriber").fill("boris@example.com")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("preview-subject")).to_have_text("Welcome, Boris!")
    frame = page.locator("#preview iframe")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator("#preview iframe").locator("p")).to_have_text("Hello Boris! Start")

    ui.expect_invalid_form_answers()
    page.get_by_label("Subject").fill("{% if %}")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#f-subject-error")).to_be_visible()
    page.get_by_label("Subject").fill("Hi {{ data.base.city }}")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".flash.ok")).to_contain_text("Draft welcome saved")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("preview-subject")).to_have_text("Hi Kazan")


def test_a_subscribers_data_lists_and_runs_are_managed_on_the_profile(ui: Browser) -> None:
    seed(ui, "anna@example.com")
    ui.sign_in()
    page = ui.page
    ui.goto("/subscribers")
    page.get_by_label("Search addresses").fill("anna")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="anna@example.com").click()

    page.get_by_role("textbox", name="base.city", exact=True).fill("Moscow")
    page.get_by_label("Remove base.firstName").check()
    page.get_by_label("New field 1: path").fill("custom.orders")
    page.get_by_label("New field 1: value").fill("3")
    page.get_by_role("button", name="Save data").click()
    expect(page.locator(".flash.ok")).to_contain_text("Profile data saved")
    expect(page.get_by_role("textbox", name="custom.orders", exact=True)).to_have_value("3")
    expect(page.get_by_role("textbox", name="base.firstName", exact=True)).to_have_count(0)
    stepwise = ui.server.stepwise
    from stepwise.services import subscribers

    assert subscribers.get(stepwise.db, ui.account_id, "anna@example.com").data == {
        "base": {"city": "Moscow"},
        "custom": {"orders": 3},
    }

    page.get_by_role("checkbox", name=re.compile("Newsletter")).uncheck()
    page.get_by_role("button", name="Save lists").click()
    expect(page.locator(".flash.ok")).to_contain_text("Lists saved")
    expect(page.get_by_role("checkbox", name=re.compile("Newsletter"))).not_to_be_checked()

    runs = page.get_by_role("region", name="Runs")
    runs.get_by_role("button", name="Pause").click()
    expect(page.locator(".flash.ok")).to_contain_text("Run paused")
    page.get_by_role("region", name="Runs").get_by_role("button", name="Resume").click()
    expect(page.locator(".flash.ok")).to_contain_text("Run resumed")
    page.get_by_role("region", name="Runs").get_by_role("button", name="Stop").click()
    expect(page.locator(".flash.ok")).to_contain_text("Run stopped")
    expect(page.get_by_role("region", name="Runs").locator(".badge")).to_have_text("stopped")
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline).to_contain_text("subscriber added")
    expect(timeline).to_contain_text("list left")
    ui.shot("subscriber-after-edits")


def test_a_bulk_edit_changes_the_chosen_subscribers_and_shows_problems_at_the_inputs(ui: Browser) -> None:
    seed(ui, "anna@example.com", "boris@example.com", "vera@example.com")
    stepwise = ui.server.stepwise
    from stepwise.services import subscribers

    edit_one(
        stepwise.db,
        ui.account_id,
        "vera@example.com",
        Edit(data={"base": {"city": "Omsk"}}),
        source="api",
        now=stepwise.clock(),
        create=False,
    )
    ui.expect_invalid_form_answers()
    ui.sign_in()
    page = ui.page
    ui.goto("/subscribers")
    page.get_by_role("link", name="Bulk edit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bulk edit")

    # A broken predicate is shown at its input, and nothing changes.
    page.get_by_label("Predicate (JSON)").fill('{"field": "base.city", "op": "equals", "value": "Kazan"}')
    page.get_by_label("Set fields").fill("custom.segment = spring")
    page.get_by_role("button", name="Apply to the chosen subscribers").click()
    expect(page.locator("#bulk-where-error")).to_be_visible()
    expect(page.get_by_label("Set fields")).to_have_value("custom.segment = spring")  # kept for correction
    ui.shot("subscribers-bulk-errors")

    page.get_by_label("Predicate (JSON)").fill('{"field": "base.city", "op": "eq", "value": "Kazan"}')
    page.get_by_role("button", name="Apply to the chosen subscribers").click()
    expect(page.locator(".flash.ok")).to_contain_text("2 subscribers matched; 2 changed")
    page.get_by_role("button", name="Apply to the chosen subscribers").click()  # the form is empty again
    expect(page.locator("#bulk-where-error")).to_be_visible()

    page.get_by_label("these addresses").check()
    page.get_by_label("Email addresses").fill("anna@example.com\nvera@example.com, nobody@example.com")
    page.get_by_label("Set fields").fill("custom.segment = spring")
    page.get_by_label("Remove fields").fill("base.city")
    page.get_by_role("button", name="Apply to the chosen subscribers").click()
    expect(page.locator(".flash.ok")).to_contain_text("2 subscribers matched; 2 changed")
    data = {n: subscribers.get(stepwise.db, ui.account_id, f"{n}@example.com").data for n in ("anna", "boris", "vera")}
    assert data == {
        "anna": {"base": {"firstName": "Anna"}, "custom": {"segment": "spring"}},
        "boris": {"base": {"firstName": "Boris", "city": "Kazan"}, "custom": {"segment": "spring"}},
        "vera": {"base": {"firstName": "Vera"}, "custom": {"segment": "spring"}},
    }


def test_a_form_is_defined_with_fields_lists_and_validation(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    page = ui.page
    ui.goto("/forms")
    page.get_by_role("link", name="New form").click()
    ui.expect_invalid_form_answers()
    page.get_by_label("Key").fill("newsletter")
    page.get_by_label("Title").fill("Our newsletter")
    page.get_by_label("Fields").fill("base.firstName | First name | required\nbad path!")
    page.get_by_label("Newsletter").check()
    page.get_by_label("After subscribing, go to").fill("javascript:alert(1)")
    page.get_by_role("button", name="Save form").click()
    expect(page.locator("#f-fields-error")).to_contain_text("line 2")
    expect(page.locator("#f-success_url-error")).to_contain_text("http")
    page.get_by_label("Fields").fill("base.firstName | First name | required\nbase.city | City")
    page.get_by_label("After subscribing, go to").fill("https://example.com/thanks")
    page.get_by_role("button", name="Save form").click()
    expect(page.locator(".flash.ok")).to_contain_text("Form newsletter saved")
    expect(page.get_by_label("Fields")).to_have_value("base.firstName | First name | required\nbase.city | City")
    expect(page.locator(".sub a")).to_have_text(re.compile(r"/f/acme/newsletter$"))
    ui.shot("form-edit")


def test_a_csv_import_shows_progress_and_its_report(ui: Browser) -> None:
    seed(ui)
    ui.sign_in()
    page = ui.page
    ui.goto("/imports")
    csv = "email,base.firstName,lists\nanna@example.com,Anna,newsletter\nnot-an-address,X,\nboris@example.com,Boris,\n"
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    page.get_by_label("Add every row to list").select_option("newsletter")
    page.get_by_role("button", name="Import").click()
    result = page.locator("#import-result")
    expect(result).to_contain_text("Imported 2 of 3 rows from people.csv; 1 failed")
    expect(page.get_by_test_id("import-created")).to_have_text("2")
    expect(page.get_by_test_id("import-failed")).to_have_text("1")
    expect(result).to_contain_text("not-an-address")
    ui.shot("imports-done")
    page.get_by_role("link", name="Open the report").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("people.csv")
    expect(page.get_by_role("cell", name="3", exact=True)).to_be_visible()
    ui.shot("import-report")
    ui.goto("/lists/newsletter")
    expect(page.get_by_role("link", name="boris@example.com")).to_be_visible()


def test_a_csv_import_works_without_javascript(no_js: Browser) -> None:
    no_js.sign_in()
    page = no_js.page
    no_js.goto("/imports")
    csv = "email,base.city\ncarla@example.com,Rome\n"
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "one.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r".*/imports/[0-9a-f]+$"))
    expect(page.get_by_test_id("import-created")).to_have_text("1")
    expect(page.locator(".flash.ok")).to_contain_text("Imported one.csv")


def test_a_subscriber_is_started_in_a_sequence_by_hand_then_deleted(ui: Browser) -> None:
    seed(ui)
    stepwise = ui.server.stepwise
    manual = {
        "name": "Manual",
        "status": "active",
        "steps": [
            {"variants": [{"when": [{"event": "never"}], "do": [{"action": "add_to_list", "list": "newsletter"}]}]},
            {"variants": [{"when": [{"event": "custom", "name": "order_placed"}], "do": [{"action": "nothing"}]}]},
        ],
    }
    sequences.put(stepwise.db, ui.account_id, "manual", manual, stepwise.clock())
    sequences.set_status(stepwise.db, ui.account_id, "welcome", "paused", stepwise.clock())
    edit_one(stepwise.db, ui.account_id, "dora@example.com", Edit(), source="api", now=stepwise.clock(), create=True)
    ui.sign_in()
    page = ui.page
    ui.goto("/sequences/manual")
    page.get_by_label("Email address").fill("dora@example.com")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator(".flash.ok")).to_contain_text("dora@example.com started in manual")
    expect(page.get_by_test_id("on-step-2")).to_contain_text("1")
    page.get_by_label("Email address").fill("dora@example.com")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator(".flash.error")).to_contain_text("already in sequence")

    page.get_by_role("link", name="dora@example.com").click()
    expect(page.get_by_role("checkbox", name=re.compile("Newsletter"))).to_be_checked()
    page.get_by_label("Event name").fill("order_placed")
    page.get_by_label("Data (JSON object)").fill('{"total": 42}')
    page.get_by_role("button", name="Post event").click()
    expect(page.locator(".flash.ok")).to_contain_text("Event order_placed posted")

    def run_completed() -> bool:
        page.reload()
        return "completed" in (page.get_by_role("region", name="Runs").text_content() or "")

    eventually(run_completed, timeout=30, interval=0.1)  # the worker applies the event; the page shows it on reload
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r".*/subscribers$"))
    expect(page.locator(".flash.ok")).to_contain_text("dora@example.com deleted")
