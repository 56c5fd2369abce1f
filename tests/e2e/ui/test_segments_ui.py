"""The Segments pages in the browser (SPEC §15): counts, the rule in words, members, the CSV export."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepwise.services import segments, sequences
from stepwise.services.subscribers import Edit, edit_one
from tests.e2e.ui.conftest import Browser

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True),
]
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

PRO = {"field": "custom.plan", "op": "eq", "value": "pro"}


def test_S22_segments_pages_show_count_rule_members_and_export(ui: Browser) -> None:
    stepwise = ui.server.stepwise
    for email, plan in (("ann@x.com", "pro"), ("bob@x.com", "free"), ("=cy@x.com", "pro")):
        edit = Edit(data={"custom": {"plan": plan}})
        edit_one(stepwise.db, ui.account_id, email, edit, source="api", now=stepwise.clock(), create=True)
    segments.put(stepwise.db, ui.account_id, "pro", "Pro customers", PRO, stepwise.clock())
    page = ui.page
    ui.sign_in()
    page.get_by_role("link", name="Segments").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Segments")
    expect(page.get_by_test_id("count-pro")).to_have_text("2")
    page.get_by_role("link", name="Pro customers").click()
    expect(page.get_by_test_id("segment-count")).to_have_text("2")
    expect(page.get_by_test_id("segment-rule")).to_contain_text("custom.plan")
    expect(page.get_by_role("link", name="ann@x.com")).to_be_visible()
    expect(page.get_by_role("link", name="bob@x.com")).to_have_count(0)
    with page.expect_download() as caught:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(caught.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0] == "email,status,joined_at"
    assert "'=cy@x.com" in text and "ann@x.com" in text and "bob@x.com" not in text


USES_PRO = {
    "name": "Until pro",
    "steps": [{"variants": [{"when": [{"event": "segment_joined", "segment": "pro"}], "do": [{"action": "nothing"}]}]}],
}


def test_S22_segment_editor_shows_a_live_count_saves_edits_and_refuses_deleting_a_used_segment(ui: Browser) -> None:
    stepwise = ui.server.stepwise
    for email, plan, city in (
        ("ann@x.com", "pro", "Paris"),
        ("bob@x.com", "free", "Paris"),
        ("cy@x.com", "pro", "Oslo"),
    ):
        edit = Edit(data={"custom": {"plan": plan}, "base": {"city": city}})
        edit_one(stepwise.db, ui.account_id, email, edit, source="api", now=stepwise.clock(), create=True)
    page = ui.page
    ui.sign_in()
    ui.goto("/segments")
    page.get_by_test_id("new-segment").click()
    page.get_by_label("Key").fill("pro")
    page.get_by_label("Name").fill("Pro customers")
    live = page.get_by_test_id("live-count")
    expect(live).to_contain_text("write a rule")
    page.get_by_label("Field (condition 1)").fill("custom.plan")
    page.get_by_label("Value (condition 1)").fill("pro")
    expect(live).to_have_text("2")
    page.get_by_label("Value (condition 1)").fill("free")
    expect(live).to_have_text("1")
    page.get_by_label("Value (condition 1)").fill("pro")
    expect(live).to_have_text("2")
    page.get_by_role("button", name="+ Condition").click()
    page.get_by_label("Field (condition 2)").fill("base.city")
    page.get_by_label("Value (condition 2)").fill("Paris")
    expect(live).to_have_text("1")
    assert segments.all_segments(stepwise.db, ui.account_id) == []  # nothing saved while editing
    ui.shot("segment-editor")
    page.get_by_test_id("save-segment").click()
    expect(page.get_by_test_id("segment-count")).to_have_text("1")
    expect(page.get_by_role("link", name="ann@x.com")).to_be_visible()
    expect(page.get_by_role("link", name="Export CSV")).to_be_visible()

    page.get_by_test_id("edit-segment").click()
    expect(page.get_by_label("Value (condition 2)")).to_have_value("Paris")
    page.get_by_role("button", name="Remove condition 2").click()
    expect(live).to_have_text("2")
    page.get_by_test_id("save-segment").click()
    expect(page.get_by_test_id("segment-count")).to_have_text("2")
    expect(page.get_by_role("link", name="cy@x.com")).to_be_visible()

    sequences.put(stepwise.db, ui.account_id, "until-pro", USES_PRO, stepwise.clock())
    page.get_by_role("button", name="Delete segment").click()
    expect(page.locator(".flash.error")).to_contain_text("until-pro")
    assert segments.get(stepwise.db, ui.account_id, "pro").count == 2
    sequences.delete(stepwise.db, ui.account_id, "until-pro")
    page.get_by_role("button", name="Delete segment").click()
    expect(page.locator(".flash.ok")).to_contain_text("Segment pro deleted")
    assert segments.all_segments(stepwise.db, ui.account_id) == []
