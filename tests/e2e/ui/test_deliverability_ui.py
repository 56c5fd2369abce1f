"""The deliverability pages in the browser (SPEC §19): suppressions, sending domains, bounce receivers,
bounce reports, test sends of a draft and the warning banner of a high complaint rate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stepwise.delivery.reports import Report
from stepwise.services import bounces, drafts, sequences, suppressions
from stepwise.services.drafts import DraftBody
from stepwise.services.issues import Issue
from stepwise.services.subscribers import Edit, edit_one
from stepwise.services.throttle import SendWindow
from tests.e2e.ui.conftest import Browser
from tests.e2e.ui.test_pages import WELCOME
from tests.support.archive import issues_with_status
from tests.support.clock import FakeClock
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True),
]
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

NEW_PAGES = ("/suppressions", "/sending-domains", "/bounces")


def welcome_draft(ui: Browser) -> None:
    body = DraftBody(
        subject="Welcome, {{ data.base.firstName }}!",
        html="<p>Hello {{ data.base.firstName }}!</p>",
        from_email="news@example.com",
        from_name="Example News",
    )
    drafts.put(ui.server.stepwise.db, ui.account_id, "welcome", body, ui.server.stepwise.clock())


def subscribe(ui: Browser, email: str, name: str) -> None:
    edit = Edit(data={"base": {"firstName": name}})
    stepwise = ui.server.stepwise
    edit_one(stepwise.db, ui.account_id, email, edit, source="api", now=stepwise.clock(), create=True)


def sent(ui: Browser) -> list[Issue]:
    return issues_with_status(ui.server.stepwise.db, ui.account_id, "sent")


def csrf(ui: Browser) -> str:
    value = ui.page.locator("input[name=csrf]").first.get_attribute("value")
    assert value
    return value


def test_the_new_pages_need_a_session(ui: Browser) -> None:
    for path in NEW_PAGES:
        ui.goto(path)
        ui.page.wait_for_url(re.compile(rf".*/login\?next=%2F{re.escape(path[1:])}$"))
    ui.sign_in()
    refused = ui.page.request.post(ui.url("/suppressions"), form={"csrf": "forged", "address": "a@example.com"})
    assert refused.status == 403
    assert suppressions.page(ui.server.stepwise.db, ui.account_id, cursor=None, limit=10).total == 0


def test_suppressions_are_added_removed_imported_and_exported(ui: Browser) -> None:
    db, page = ui.server.stepwise.db, ui.page
    ui.expect_invalid_form_answers()
    ui.sign_in()
    page.get_by_role("link", name="Suppressions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Suppressions")

    page.get_by_label("Address or @domain").fill("not an address")
    page.get_by_role("button", name="Add to the list").click()
    expect(page.locator("#suppression-address-error")).to_contain_text("is not an address")
    page.get_by_label("Address or @domain").fill("Anna@Example.com")
    page.get_by_label("Note").fill("asked by phone")
    page.get_by_role("button", name="Add to the list").click()
    expect(page.locator(".flash.ok")).to_contain_text("anna@example.com added to the suppression list")
    page.get_by_label("Address or @domain").fill("@spam.example")
    page.get_by_label("Reason").select_option("complaint")
    page.get_by_role("button", name="Add to the list").click()
    expect(page.locator("tr[data-suppression='@spam.example']")).to_contain_text("complaint")
    expect(page.get_by_test_id("suppression-total")).to_have_text("2 entries")
    page.locator("tr[data-suppression='@spam.example']").get_by_role("button", name="Remove").click()
    expect(page.locator(".flash.ok")).to_contain_text("@spam.example removed from the suppression list")
    expect(page.locator("tr[data-suppression]")).to_have_count(1)

    bad = "address,reason,note\nboris@example.com,bounce,\nnot-an-address,manual,\ncarla@example.com,nonsense,\n"
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    page.get_by_role("button", name="Import").click()
    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("2 row(s) of the file are invalid; nothing was imported")
    expect(problems).to_contain_text("line 3")
    expect(problems).to_contain_text("line 4: reason must be one of")
    assert suppressions.page(db, ui.account_id, cursor=None, limit=10).total == 1
    ui.shot("suppressions-import-problems", narrow=True)

    good = (
        "address,reason,note\nboris@example.com,bounce,\n@bad.example,complaint,=1+2\nanna@example.com,manual,still\n"
    )
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "good.csv", "mimeType": "text/csv", "buffer": good.encode()}]
    )
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".flash.ok")).to_contain_text("Imported good.csv: 2 added, 1 updated.")
    expect(page.get_by_test_id("suppression-total")).to_have_text("3 entries")

    page.get_by_label("Search").fill("bor")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tr[data-suppression]")).to_have_count(1)
    expect(page.locator("tr[data-suppression='boris@example.com']")).to_contain_text("bounce")
    ui.shot("suppressions", narrow=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "address,reason,note,created_at"
    rows = {tuple(line.split(",")[:3]) for line in lines[1:]}
    assert ("anna@example.com", "manual", "still") in rows
    assert ("boris@example.com", "bounce", "") in rows
    # the note "=1+2" is neutralised; the service's export also prefixes "@bad.example" (it starts with "@")
    assert {(address.removeprefix("'"), reason, note) for address, reason, note in rows} >= {
        ("@bad.example", "complaint", "'=1+2")
    }
    assert len(rows) == 3


def test_a_sending_domain_shows_its_dkim_record_and_receivers_give_their_urls(ui: Browser) -> None:
    page = ui.page
    ui.expect_invalid_form_answers()
    ui.sign_in()
    page.get_by_role("link", name="Sending domains").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sending domains")

    page.get_by_label("Domain name").fill("not a domain")
    page.get_by_role("button", name="Add domain").click()
    expect(page.locator("#domain-name-error")).to_contain_text("needs at least one dot")
    page.get_by_label("Domain name").fill("Example.com")
    page.get_by_role("button", name="Add domain").click()
    expect(page.locator(".flash.ok")).to_contain_text("Sending domain example.com added")
    domain = page.locator("[data-domain='example.com']")
    expect(domain.get_by_test_id("record-name")).to_have_text("stepwise1._domainkey.example.com")
    expect(domain.get_by_test_id("record-type")).to_have_text("TXT")
    expect(domain.get_by_test_id("record-value")).to_have_value(re.compile(r"^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$"))

    postmark = page.locator("#receiver-postmark")
    postmark.get_by_role("button", name="Create Postmark receiver").click()
    expect(page.locator(".flash.ok")).to_contain_text("Postmark receiver created")
    url_box = page.locator("#receiver-postmark").get_by_test_id("receiver-url")
    expect(url_box).to_have_value(re.compile(r"^http://stepwise\.test/hooks/acme/postmark/[A-Za-z0-9_-]{20,}$"))
    first_url = url_box.input_value()
    page.locator("#receiver-postmark").get_by_role("button", name="Make a new URL").click()
    expect(page.locator(".flash.ok")).to_contain_text("new URL")
    assert url_box.input_value() != first_url

    page.locator("#receiver-sendgrid").get_by_role("button", name="Create SendGrid receiver").click()
    expect(page.locator("#receiver-sendgrid-key-error")).to_contain_text("sendgrid signs its webhooks")
    page.locator("#receiver-mailgun").get_by_label("HTTP webhook signing key").fill("key-0123456789abcdef")
    page.locator("#receiver-mailgun").get_by_role("button", name="Create Mailgun receiver").click()
    expect(page.locator("#receiver-mailgun")).to_contain_text("key set")
    ui.shot("sending-domains", narrow=True)

    page.locator("#receiver-postmark").get_by_role("button", name="Delete").click()
    expect(page.locator(".flash.ok")).to_contain_text("The Postmark receiver was deleted")
    expect(page.locator("#receiver-postmark").get_by_test_id("receiver-url")).to_have_count(0)
    domain.get_by_role("button", name="Delete").click()
    expect(page.locator(".flash.ok")).to_contain_text("Sending domain example.com deleted")
    expect(page.get_by_text("No sending domain yet")).to_be_visible()


def test_a_draft_is_sent_as_a_test_and_lands_in_the_mailbox(ui: Browser) -> None:
    stepwise, page = ui.server.stepwise, ui.page
    welcome_draft(ui)
    subscribe(ui, "anna@example.com", "Anna")
    suppressions.put(stepwise.db, ui.account_id, "blocked@example.com", "manual", None, stepwise.clock())
    ui.sign_in()
    ui.goto("/drafts/welcome")
    page.get_by_label("Test addresses").fill("me@example.com, blocked@example.com")
    page.get_by_label("Fill in with the data of").fill("anna@example.com")
    page.get_by_role("button", name="Send test").click()
    results = page.get_by_test_id("test-results")
    expect(results.locator("li")).to_have_count(2)
    expect(results.locator("li").nth(0)).to_contain_text("me@example.com")
    expect(results.locator("li").nth(0)).to_contain_text("sent")
    expect(results.locator("li").nth(1)).to_contain_text("skipped suppressed")
    ui.shot("draft-test-send", narrow=True)

    page.get_by_label("Test addresses").fill("me@example.com, nope")
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_test_id("test-error")).to_contain_text("nope")
    page.get_by_label("Test addresses").fill(
        "a@x.example, b@x.example, c@x.example, d@x.example, e@x.example, f@x.example"
    )
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_test_id("test-error")).to_contain_text("give 1 to 5 addresses")
    stepwise.test_sends = SendWindow(limit=1)
    page.get_by_label("Test addresses").fill("me@example.com, you@example.com")
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_test_id("test-error")).to_contain_text("too many test emails; try again in")

    ui.goto("/mailbox")
    page.locator("#mail-list a", has_text="[TEST] Welcome, Anna!").click()
    expect(page.get_by_test_id("message-subject")).to_have_text("[TEST] Welcome, Anna!")
    ui.goto("/issues")
    expect(page.locator("tbody tr", has_text="me@example.com")).to_contain_text("TEST")
    expect(page.get_by_test_id("total-sent")).to_have_text("0")  # test sends are in no statistic


def test_a_complaint_rate_over_the_threshold_shows_a_warning_on_every_page(ui: Browser, clock: FakeClock) -> None:
    stepwise, page = ui.server.stepwise, ui.page
    welcome_draft(ui)
    sequences.put(stepwise.db, ui.account_id, "welcome", WELCOME, stepwise.clock())
    subscribe(ui, "anna@example.com", "Anna")
    issue = eventually(lambda: sent(ui), timeout=30, interval=0.05)[0]
    ui.sign_in()
    warning = page.get_by_test_id("deliverability-warning")
    expect(warning).to_have_count(0)

    report = Report("anna@example.com", "complaint", issue.message_id, "abuse report", None)
    intake = bounces.take_in(stepwise.db, ui.account_id, [report], source="api", now=stepwise.clock())
    assert intake.recorded == 1
    ui.goto("/lists")
    expect(warning).to_have_count(0)  # computed at most once a minute
    clock.advance(seconds=61)
    ui.goto("/lists")
    expect(warning).to_contain_text("Complaint rate over the last 7 days is 100.00%")
    ui.shot("deliverability-warning", narrow=True)

    warning.get_by_role("link", name="See the reports").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bounces and complaints")
    expect(page.get_by_test_id("complaint-rate")).to_have_text("100.00 %")
    row = page.locator("tr[data-bounce]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("complaint")
    expect(row).to_contain_text("abuse report")
    ui.shot("bounces", narrow=True)
    page.get_by_label("Address").fill("someone@example.com")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No report matches.")).to_be_visible()

    ui.goto(f"/issues/{issue.id}")
    expect(page.get_by_test_id("issue-complained")).not_to_have_text("—")
    ui.goto("/issues")
    expect(page.locator("tbody tr", has_text="anna@example.com")).to_contain_text("complained")
    ui.goto("/subscribers/anna@example.com")
    section = page.get_by_test_id("subscriber-bounces")
    expect(section).to_contain_text("complaint: abuse report")
    expect(section.get_by_test_id("suppressed")).to_contain_text("This address is on the suppression list (complaint")
    section.get_by_role("button", name="Take off the suppression list").click()
    expect(page.locator(".flash.ok")).to_contain_text("anna@example.com removed from the suppression list")
    expect(page.get_by_test_id("not-suppressed")).to_be_visible()


def test_odd_inputs_on_the_new_pages_get_no_server_error(ui: Browser) -> None:
    welcome_draft(ui)
    ui.sign_in()
    ui.allowed_errors.append(re.compile(r"status of 4(04|22)"))
    for path in (
        "/suppressions?q=%27%22%3Cscript%3E&cursor=%E2%80%AE",
        "/suppressions?cursor=" + "z" * 2000,
        "/bounces?cursor=99999999999999999999999999&email=%40%40",
        "/bounces?cursor=%C2%B2&issue=" + "x" * 500,
        "/bounces?email=not-an-address",
    ):
        response = ui.goto(path)
        assert response.status == 200, path
    token = csrf(ui)
    assert ui.goto("/bounces?email=%00").status == 422
    posts = [
        ("/suppressions", {"address": "a@example.com", "reason": "bogus"}, 422),
        ("/suppressions", {"address": "@", "reason": "manual"}, 422),
        ("/suppressions", {"address": "x" * 5000}, 422),
        ("/suppressions/remove", {"address": "nobody@example.com"}, 303),
        ("/suppressions/remove", {"address": "<not an address>"}, 303),
        ("/suppressions/import", {}, 422),
        ("/sending-domains", {"domain": "example.com", "selector": "bad selector!"}, 422),
        ("/sending-domains/not%20a%20domain/delete", {}, 303),
        ("/sending-domains/example.org/delete", {}, 303),
        ("/bounce-receivers/nope", {}, 404),
        ("/bounce-receivers/mailgun", {"key": "k" * 5000}, 422),
        ("/drafts/nope/test", {"to": "me@example.com"}, 404),
        ("/drafts/welcome/test", {"to": "me@example.com", "as": "nobody@example.com"}, 404),
        ("/bounce-receivers/ses/delete", {}, 303),
    ]
    for path, form, status in posts:
        answer = ui.page.request.post(ui.url(path), form={"csrf": token, **form}, max_redirects=0)
        assert answer.status == status, (path, answer.status, answer.text()[:300])
    ui.goto("/suppressions")
    expect(ui.page.locator(".flash.error")).to_have_text("no ses receiver")  # the last refusal's message
