"""Sign-in, sign-out, CSRF and account isolation in the browser (SPEC §9, §12 security)."""

from __future__ import annotations

import re

import pytest

from stepwise.services import drafts, lists, sequences
from stepwise.services.accounts import create_account
from stepwise.services.drafts import DraftBody
from stepwise.services.subscribers import Edit, edit_one
from tests.e2e.ui.conftest import OWNER, PASSWORD, Browser

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

RIVAL_SEQUENCE = {
    "name": "Rival secret",
    "steps": [{"variants": [{"when": [{"event": "never"}], "do": [{"action": "nothing"}]}]}],
}


def test_pages_need_a_session_and_sign_in_returns_to_the_page_asked_for(ui: Browser) -> None:
    page = ui.page
    ui.goto("/lists")
    page.wait_for_url(re.compile(r".*/login\?next=%2Flists$"))
    ui.shot("login", narrow=True)
    page.get_by_label("Email").fill(OWNER)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That email and password do not match.")
    ui.allowed_errors.append(re.compile(r"status of 401"))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/lists$"))

    cookie = next(c for c in page.context.cookies() if c["name"] == "stepwise_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert ui.key not in cookie["value"] and PASSWORD not in cookie["value"]

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/login$"))
    ui.goto("/sequences")
    page.wait_for_url(re.compile(r".*/login\?next=%2Fsequences$"))
    page.context.add_cookies([cookie])  # the old cookie, put back: the session ended on the server
    ui.goto("/sequences")
    page.wait_for_url(re.compile(r".*/login\?next=%2Fsequences$"))


def test_s33_twenty_wrong_passwords_in_a_row_get_a_clear_message(ui: Browser) -> None:
    page = ui.page
    ui.allowed_errors.append(re.compile(r"status of 4(01|29)"))
    ui.goto("/login")
    for attempt in range(20):
        page.get_by_label("Email").fill(OWNER)
        page.get_by_label("Password").fill(f"wrong password {attempt}")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("That email and password do not match.")
    page.get_by_label("Email").fill(OWNER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Too many failed sign-ins. Try again in 1 minute.")
    ui.shot("login-rate-limited")
    assert not any(c["name"] == "stepwise_session" for c in page.context.cookies())


def test_a_signed_in_account_gets_404_for_another_accounts_objects(ui: Browser) -> None:
    stepwise = ui.server.stepwise
    now = stepwise.clock()
    rival, _ = create_account(stepwise.db, "rival", "UTC", now)
    sequences.put(stepwise.db, rival.id, "secret", RIVAL_SEQUENCE, now)
    drafts.put(stepwise.db, rival.id, "offer", DraftBody(subject="Offer", html="<p>x</p>"), now)
    lists.put(stepwise.db, rival.id, "vip", "VIP", now)
    edit_one(stepwise.db, rival.id, "boss@rival.example", Edit(), source="api", now=now, create=True)
    ui.allowed_errors.append(re.compile(r"status of 404"))
    ui.sign_in()

    for path in (
        "/sequences/secret",
        "/sequences/secret/edit",
        "/drafts/offer",
        "/lists/vip",
        "/subscribers/boss@rival.example",
    ):
        response = ui.goto(path)
        assert response.status == 404, path
        expect(ui.page.get_by_role("heading", name="Not found")).to_be_visible()
    ui.shot("not-found")
    ui.goto("/sequences")
    expect(ui.page.get_by_text("Rival secret")).to_have_count(0)

    response = ui.page.request.post(ui.url("/sequences/secret/activate"), form={"csrf": _csrf(ui)})
    assert response.status == 404
    assert sequences.get(stepwise.db, rival.id, "secret").status == "paused"


def _csrf(ui: Browser) -> str:
    value = ui.page.locator("input[name=csrf]").first.get_attribute("value")
    assert value
    return value


def test_a_post_without_the_session_csrf_token_is_refused(ui: Browser) -> None:
    stepwise = ui.server.stepwise
    lists.put(stepwise.db, ui.account_id, "news", "News", stepwise.clock())
    ui.sign_in()
    refused = ui.page.request.post(ui.url("/lists/news/delete"), form={"csrf": "forged"})
    assert refused.status == 403
    assert "did not come from this site" in refused.text()
    assert lists.get(stepwise.db, ui.account_id, "news").key == "news"

    accepted = ui.page.request.post(ui.url("/lists/news/delete"), form={"csrf": _csrf(ui)}, max_redirects=0)
    assert accepted.status == 303
    assert [row.key for row in lists.all_lists(stepwise.db, ui.account_id)] == []
