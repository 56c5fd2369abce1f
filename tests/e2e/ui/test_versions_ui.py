"""S16-S18 in Chromium, on both databases: the impact preview, publishing with a step map, the version
history with its two-column diff, Restore into the draft and publishing it again; viewers only read (S33).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from stepwise.services import publishing
from stepwise.services.users import create_user
from tests.e2e.test_versions_api import SEQUENCE
from tests.e2e.ui.conftest import Browser
from tests.support.server import api_client
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True),
]
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

SHORTER: dict[str, Any] = {**SEQUENCE, "steps": SEQUENCE["steps"][:2]}
VIEWER = "viewer@acme.example"
PASSWORD = "a long enough password"


def _waiting_runs(ui: Browser, *, draft: bool = True) -> None:
    """Version 1 with three steps: two runs wait on step 2 and one on step 3 (and a draft with two steps)."""
    with api_client(ui.server, ui.key) as client:
        assert client.put("/sequences/steps", json=SEQUENCE).status_code == 201
        for name in ("anna", "ben", "cleo"):
            assert client.post("/subscribers", json={"email": f"{name}@example.com"}).status_code == 201

        def on_steps(wanted: dict[int, int]) -> bool:
            items = client.get("/sequences/steps/runs").json()["items"]
            found: dict[int, int] = {}
            for run in items:
                found[run["step"]] = found.get(run["step"], 0) + 1
            return found == wanted

        eventually(lambda: on_steps({2: 3}) or None, timeout=15)
        client.post("/events", json={"type": "custom", "name": "next", "email": "cleo@example.com"})
        eventually(lambda: on_steps({2: 2, 3: 1}) or None, timeout=15)
        if draft:
            assert client.put("/sequences/steps/draft", json=SHORTER).status_code == 200


def test_S17_S18_publish_with_the_impact_preview_and_a_step_map_then_restore_an_older_version(ui: Browser) -> None:
    _waiting_runs(ui, draft=False)
    ui.allowed_errors.append(re.compile(r"status of 409"))
    ui.sign_in()
    ui.goto("/sequences/steps")
    ui.page.get_by_role("link", name="Start a draft").click()
    ui.page.get_by_label("Draft definition").fill(json.dumps(SHORTER))
    ui.page.get_by_role("button", name="Save draft").click()
    ui.page.wait_for_url(re.compile(r".*/sequences/steps$"))
    expect(ui.page.get_by_test_id("draft-info")).to_contain_text("based on v1")
    assert ui.page.get_by_test_id("draft-steps").locator("li").count() == 2
    assert ui.page.locator(".flow .step-box").count() == 3  # the live version runs on, unchanged
    ui.shot("sequence-draft")
    ui.page.get_by_role("link", name="Publish…").click()
    expect(ui.page.get_by_test_id("impact-runs")).to_have_text("3")
    expect(ui.page.get_by_test_id("impact-runs-2")).to_have_text("2")
    expect(ui.page.get_by_test_id("impact-runs-3")).to_have_text("1")
    expect(ui.page.get_by_test_id("impact-to-3")).to_contain_text("removed")
    ui.page.get_by_role("button", name="Publish", exact=True).click()
    expect(ui.page.get_by_test_id("map-error")).to_contain_text("map them in step_map")
    ui.page.get_by_label("Step 3 goes to").select_option("2")
    ui.page.get_by_role("button", name="Preview").click()
    expect(ui.page.get_by_test_id("impact-to-3")).to_have_text("step 2")
    expect(ui.page.get_by_label("Step 3 goes to")).to_have_value("2")
    ui.page.get_by_label("Note").fill("two steps")
    ui.shot("sequence-publish")
    ui.page.get_by_role("button", name="Publish", exact=True).click()

    ui.page.wait_for_url(re.compile(r".*/sequences/steps/versions$"))
    expect(ui.page.get_by_test_id("live-version")).to_have_text("version 2")
    expect(ui.page.get_by_test_id("runs-2")).to_have_text("3")
    expect(ui.page.get_by_test_id("version-2")).to_contain_text("two steps")
    expect(ui.page.get_by_test_id("diff-summary")).to_contain_text("1 → live")
    assert ui.page.get_by_test_id("diff-changed").count() > 0
    assert "custom" in ui.page.get_by_test_id("diff").inner_text()
    ui.shot("sequence-versions", narrow=True)

    ui.page.get_by_test_id("version-1").get_by_role("button", name="Restore").click()
    ui.page.wait_for_url(re.compile(r".*/sequences/steps/publish$"))
    expect(ui.page.get_by_test_id("impact-to-2")).to_have_text("step 2")
    ui.page.get_by_role("button", name="Publish", exact=True).click()
    ui.page.wait_for_url(re.compile(r".*/sequences/steps/versions$"))
    expect(ui.page.get_by_test_id("live-version")).to_have_text("version 3")
    with api_client(ui.server, ui.key) as client:
        assert len(client.get("/sequences/steps").json()["definition"]["steps"]) == 3
        assert sorted(run["version"] for run in client.get("/sequences/steps/runs").json()["items"]) == [3, 3, 3]
    ui.goto("/sequences/steps/draft")
    ui.page.get_by_role("button", name="Save draft").click()
    ui.page.get_by_role("button", name="Discard").click()
    expect(ui.page.get_by_test_id("draft-info")).to_contain_text("No draft")


def test_S33_viewers_see_history_diffs_and_previews_but_cannot_save_publish_or_restore(ui: Browser) -> None:
    _waiting_runs(ui)
    stepwise = ui.server.stepwise
    create_user(stepwise.db, ui.account_id, VIEWER, PASSWORD, "viewer", stepwise.clock())
    ui.allowed_errors.append(re.compile(r"status of 403"))
    ui.sign_in(VIEWER, PASSWORD)
    ui.goto("/sequences/steps/versions")
    expect(ui.page.get_by_test_id("diff-summary")).to_contain_text("live → draft")
    assert ui.page.get_by_role("button", name="Restore").count() == 0
    ui.goto("/sequences/steps/publish")
    expect(ui.page.get_by_test_id("impact-runs")).to_have_text("3")
    assert ui.page.get_by_role("button", name="Publish", exact=True).count() == 0
    assert ui.page.get_by_role("button", name="Discard the draft").count() == 0
    ui.page.get_by_label("Step 3 goes to").select_option("stop")
    ui.page.get_by_role("button", name="Preview").click()
    expect(ui.page.get_by_test_id("impact-stopped-3")).to_have_text("1")

    ui.allowed_errors.append(re.compile(r"status of 4(04|22)"))
    assert ui.goto("/sequences/steps/versions?a=nope").status == 404
    expect(ui.page.get_by_test_id("diff-error")).to_contain_text("not a version")
    assert ui.goto("/sequences/steps/publish?mode=migrate&map-3=elsewhere").status == 422
    expect(ui.page.get_by_test_id("map-error")).to_be_visible()

    csrf = ui.page.locator("input[name=csrf]").first.get_attribute("value") or ""
    for path, form in (
        ("/sequences/steps/publish", {"csrf": csrf, "mode": "pin", "action": "publish"}),
        ("/sequences/steps/versions/1/restore", {"csrf": csrf}),
        ("/sequences/steps/draft/discard", {"csrf": csrf}),
    ):
        assert ui.page.request.post(ui.url(path), form=form, max_redirects=0).status == 403, path
    assert publishing.get_draft(stepwise.db, ui.account_id, "steps").definition["steps"] == SHORTER["steps"]
    with api_client(ui.server, ui.key) as client:
        assert client.get("/sequences/steps/versions").json()["live"] == 1
