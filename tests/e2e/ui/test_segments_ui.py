"""The Segments pages in the browser (SPEC §15): counts, the rule in words, members, the CSV export."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepwise.services import segments
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
