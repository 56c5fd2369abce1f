"""The sending policy in the browser (SPEC §17): account settings with a send window and frequency caps,
a sequence's own window and cap action in the builder, and a held email on the archive and the timeline."""

from __future__ import annotations

from typing import Any

import pytest

from stepwise.domain.policy import Cap, SendWindow
from stepwise.services import drafts, sequences, settings
from stepwise.services.drafts import DraftBody
from stepwise.services.issues import Issue
from stepwise.services.settings import AccountSettings
from stepwise.services.subscribers import Edit, edit_one
from tests.e2e.ui.conftest import Browser
from tests.support.archive import issues_with_status
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True),
]
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

WELCOME: dict[str, Any] = {
    "name": "Welcome",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]},
        {"variants": [{"when": [{"event": "time_passed", "after": "2d"}], "do": [{"action": "nothing"}]}]},
    ],
}


def welcome(ui: Browser, *, status: str = "active") -> None:
    stepwise = ui.server.stepwise
    body = DraftBody(subject="Welcome!", html="<p>Hello!</p>", from_email="news@example.com")
    drafts.put(stepwise.db, ui.account_id, "welcome", body, stepwise.clock())
    sequences.put(stepwise.db, ui.account_id, "welcome", {**WELCOME, "status": status}, stepwise.clock())


def stored(ui: Browser) -> AccountSettings:
    return settings.get(ui.server.stepwise.db, ui.account_id)


def deferred(ui: Browser) -> list[Issue]:
    return issues_with_status(ui.server.stepwise.db, ui.account_id, "deferred")


def test_settings_with_a_window_and_caps_are_saved_and_shown_again(ui: Browser) -> None:
    page = ui.page
    ui.sign_in()
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    expect(page.get_by_label("Time zone", exact=True)).to_have_value("UTC")

    page.get_by_label("Time zone", exact=True).fill("Europe/Berlin")
    page.get_by_label("Default sender email").fill("news@example.com")
    page.get_by_label("Default sender name").fill("Example News")
    page.get_by_label("Send only within a window").check()
    page.get_by_label("Sa", exact=True).uncheck()
    page.get_by_label("Su", exact=True).uncheck()
    page.get_by_label("Window opens at").fill("09:00")
    page.get_by_label("Window closes at").fill("17:30")
    page.get_by_label("This time zone").check()
    page.get_by_label("Window time zone").fill("America/New_York")
    page.get_by_label("Cap 1: emails").fill("2")
    page.get_by_label("Cap 1: per").fill("1d")
    page.get_by_label("Cap 2: emails").fill("5")
    page.get_by_label("Cap 2: per").fill("7d")
    page.get_by_label("Soft-bounce limit").fill("4")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash.ok")).to_contain_text("Settings saved.")

    found = stored(ui)
    assert found.timezone == "Europe/Berlin"
    assert (found.default_from_email, found.default_from_name, found.reply_to) == (
        "news@example.com",
        "Example News",
        None,
    )
    assert found.send_window == SendWindow.model_validate(
        {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:30", "timezone": "America/New_York"}
    )
    assert found.caps == [Cap(emails=2, per="1d"), Cap(emails=5, per="7d")]
    assert found.soft_bounce_limit == 4

    page.reload()
    expect(page.get_by_label("Time zone", exact=True)).to_have_value("Europe/Berlin")
    expect(page.get_by_label("Default sender email")).to_have_value("news@example.com")
    expect(page.get_by_label("Default sender name")).to_have_value("Example News")
    expect(page.get_by_label("Send only within a window")).to_be_checked()
    expect(page.get_by_label("Mo", exact=True)).to_be_checked()
    expect(page.get_by_label("Sa", exact=True)).not_to_be_checked()
    expect(page.get_by_label("Window opens at")).to_have_value("09:00")
    expect(page.get_by_label("Window closes at")).to_have_value("17:30")
    expect(page.get_by_label("This time zone")).to_be_checked()
    expect(page.get_by_label("Window time zone")).to_have_value("America/New_York")
    expect(page.get_by_label("Cap 1: emails")).to_have_value("2")
    expect(page.get_by_label("Cap 2: per")).to_have_value("7d")
    expect(page.get_by_label("Cap 3: emails")).to_have_value("")
    expect(page.get_by_label("Soft-bounce limit")).to_have_value("4")
    ui.shot("settings", narrow=True)

    page.get_by_role("button", name="Remove cap 1").click()  # re-shown, not saved
    expect(page.get_by_label("Cap 1: emails")).to_have_value("5")
    assert len(stored(ui).caps) == 2
    page.get_by_label("Send only within a window").uncheck()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash.ok")).to_contain_text("Settings saved.")
    assert stored(ui).send_window is None
    assert stored(ui).caps == [Cap(emails=5, per="7d")]


def test_a_bad_value_shows_its_error_at_the_field_and_changes_nothing(ui: Browser) -> None:
    stepwise, page = ui.server.stepwise, ui.page
    before = AccountSettings(
        timezone="UTC",
        default_from_email="news@example.com",
        send_window=SendWindow.model_validate({"from": "09:00", "to": "17:00"}),
        caps=[Cap(emails=3, per="1d")],
    )
    settings.put(stepwise.db, ui.account_id, before, stepwise.clock())
    before = stored(ui)
    ui.expect_invalid_form_answers()
    ui.sign_in()
    cases = [
        ("Time zone", "Mars/Olympus", "#f-timezone-error", "Mars/Olympus"),
        ("Window closes at", "09:00", "#f-send_window-error", "the same time"),
        ("Cap 1: emails", "0", "#f-caps-0-emails-error", "greater than or equal to 1"),
        ("Cap 1: per", "soon", "#f-caps-0-per-error", "soon"),
        ("Default sender email", "not an address", "#f-default_from_email-error", "address"),
        ("Soft-bounce limit", "500", "#f-soft_bounce_limit-error", "less than or equal to 100"),
    ]
    for label, value, error, text in cases:
        ui.goto("/settings")
        page.get_by_label(label, exact=True).fill(value)
        page.get_by_role("button", name="Save settings").click()
        expect(page.locator(error)).to_contain_text(text)
        expect(page.locator("#errors")).to_contain_text("The settings were not saved")
        expect(page.get_by_label(label, exact=True)).to_have_value(value)
        expect(page.get_by_label(label, exact=True)).to_have_attribute("aria-invalid", "true")
        assert stored(ui) == before, label
    ui.shot("settings-errors", narrow=True)

    token = page.locator("input[name=csrf]").first.get_attribute("value")
    for form in (
        {"timezone": "UTC", "caps.0.emails": "x" * 5000, "caps.0.per": "1d"},
        {"timezone": "UTC", "send_window.on": "on", "send_window.days": "funday", "send_window.from": "25:99"},
        {"timezone": "UTC", "send_window.on": "on", "send_window.zone_mode": "fixed", "send_window.zone": ""},
        {"timezone": "\u202e", "soft_bounce_limit": "1.5", "reply_to": "@"},
        {
            "timezone": "UTC",
            **{f"caps.{i}.emails": "1" for i in range(12)},
            **{f"caps.{i}.per": "1h" for i in range(12)},
        },
        {"timezone": "UTC", "op": "del_cap:99"},
    ):
        answer = page.request.post(ui.url("/settings"), form={"csrf": token or "", **form}, max_redirects=0)
        assert answer.status in (200, 422), (form, answer.status, answer.text()[:300])
        assert stored(ui) == before
    refused = page.request.post(ui.url("/settings"), form={"csrf": "forged", "timezone": "Asia/Tokyo"})
    assert refused.status == 403
    assert stored(ui) == before


def test_a_sequence_gets_its_own_window_and_cap_action_in_the_builder(ui: Browser) -> None:
    db, page = ui.server.stepwise.db, ui.page
    welcome(ui, status="paused")
    ui.expect_invalid_form_answers()
    ui.sign_in()
    ui.goto("/sequences/welcome")
    expect(page.get_by_test_id("sending-policy")).to_contain_text("Send window: the account's")
    expect(page.get_by_test_id("sending-policy")).to_contain_text("skipped")
    ui.goto("/sequences/welcome/edit")
    expect(page.get_by_label("Respect the account's frequency caps")).to_be_checked()
    expect(page.get_by_label("When a cap is reached")).to_have_value("skip")

    page.get_by_label("Send only within a window").check()
    page.get_by_label("Window opens at").fill("22:00")
    page.get_by_label("Window closes at").fill("22:00")
    page.get_by_label("When a cap is reached").select_option("defer")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#errors")).to_contain_text("Send window")
    expect(page.locator("#f-send_window-error")).to_contain_text("the same time")
    assert "send_window" not in sequences.get(db, ui.account_id, "welcome").definition

    page.get_by_label("Window closes at").fill("06:00")
    page.get_by_label("Su", exact=True).uncheck()
    ui.save_and_publish("welcome")
    definition = sequences.get(db, ui.account_id, "welcome").definition
    assert definition["send_window"] == {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
        "from": "22:00",
        "to": "06:00",
        "timezone": "subscriber",
    }
    assert definition["cap_action"] == "defer"
    assert "respect_caps" not in definition  # the default: caps hold
    policy = page.get_by_test_id("sending-policy")
    expect(policy).to_contain_text("22:00–06:00")
    expect(policy).to_contain_text("held")

    ui.goto("/sequences/welcome/edit")
    expect(page.get_by_label("Send only within a window")).to_be_checked()
    expect(page.get_by_label("Su", exact=True)).not_to_be_checked()
    expect(page.get_by_label("When a cap is reached")).to_have_value("defer")
    page.get_by_label("Respect the account's frequency caps").uncheck()
    page.get_by_label("Send only within a window").uncheck()
    ui.save_and_publish("welcome")
    definition = sequences.get(db, ui.account_id, "welcome").definition
    assert definition["respect_caps"] is False
    assert "send_window" not in definition
    expect(page.get_by_test_id("sending-policy")).to_contain_text("ignores the account's frequency caps")


def test_an_email_held_by_the_send_window_says_until_when_on_the_archive_and_the_timeline(ui: Browser) -> None:
    stepwise, page = ui.server.stepwise, ui.page
    # The tests' clock stands at Monday 2026-01-05 09:00 UTC: a window from 10:00 is closed.
    window = SendWindow.model_validate({"from": "10:00", "to": "17:00", "timezone": "UTC"})
    settings.put(stepwise.db, ui.account_id, AccountSettings(send_window=window), stepwise.clock())
    welcome(ui)
    edit = Edit(data={"base": {"firstName": "Anna"}})
    edit_one(stepwise.db, ui.account_id, "anna@example.com", edit, source="api", now=stepwise.clock(), create=True)
    held = eventually(lambda: deferred(ui), timeout=30, interval=0.05)[0]
    assert held.deliver_after == "2026-01-05T10:00:00Z"

    ui.sign_in()
    ui.goto("/issues")
    row = page.locator("tbody tr", has_text="anna@example.com")
    expect(row).to_contain_text("deferred")
    expect(row.get_by_test_id("held-until")).to_have_text("held until 05 Jan 10:00")
    expect(row).to_contain_text("outside the send window")
    expect(page.get_by_test_id("total-deferred")).to_have_text("1")
    page.get_by_label("Status").select_option("deferred")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    ui.shot("archive-deferred", narrow=True)

    row = page.locator("tbody tr", has_text="anna@example.com")
    row.get_by_role("link").first.click()
    expect(page.get_by_test_id("held-until")).to_have_text("held until 05 Jan 10:00")
    expect(page.get_by_test_id("issue-status")).to_contain_text("deferred — outside the send window")
    expect(page.get_by_test_id("issue-status")).to_contain_text("send_window: held until 2026-01-05T10:00:00Z")

    ui.goto("/subscribers/anna@example.com")
    expect(page.get_by_test_id("timeline-held")).to_have_text("Email welcome held until 05 Jan 10:00 (send window)")
    ui.shot("timeline-deferred", narrow=True)
