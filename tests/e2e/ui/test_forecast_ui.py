"""S21 in the UI: the Forecast panel of a sequence's page draws predicted counts on the picture of the steps."""

from __future__ import annotations

import orjson
import pytest

from stepwise.storage.seeding import add_subscribers
from tests.e2e.test_forecast_api import DRAFTS, SEQUENCE
from tests.e2e.ui.conftest import Browser
from tests.support.server import api_client

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


def _prepare(ui: Browser, count: int) -> None:
    with api_client(ui.server, ui.key) as client:
        for key, draft in DRAFTS.items():
            assert client.put(f"/drafts/{key}", json=draft).status_code == 201
        assert client.put("/sequences/forecast", json=SEQUENCE).status_code == 201
    with ui.server.stepwise.db.write() as conn:
        data = orjson.dumps({"base": {"firstName": "Kim"}}).decode()
        add_subscribers(conn, ui.account_id, [f"k{i}@example.com" for i in range(count)], data, 1, chunk=500)


def test_S21_the_forecast_panel_shows_predicted_counts_on_the_steps(ui: Browser) -> None:
    _prepare(ui, 200)
    ui.sign_in()
    ui.goto("/sequences/forecast")
    panel = ui.page.locator("#forecast")
    panel.get_by_label("Sample size").fill("150")
    panel.get_by_label("Horizon").fill("10d")
    panel.get_by_label("Open rate, %").fill("50")
    panel.get_by_label("Click rate, %").fill("20")
    panel.get_by_label("Seed").fill("11")
    panel.get_by_role("button", name="Forecast").click()
    entered = ui.page.get_by_test_id("forecast-entered")
    entered.wait_for()
    assert entered.inner_text() == "150"
    with api_client(ui.server, ui.key) as client:
        body = {
            "sample": 150,
            "horizon": "10d",
            "assume": {"open_rate": 0.5, "click_rate": 0.2},
            "seed": 11,
        }
        expected = client.post("/sequences/forecast/simulate", json=body).json()
    for step in expected["steps"]:
        for variant in step["variants"]:
            shown = ui.page.get_by_test_id(f"forecast-fired-{step['step']}-{variant['variant']}").inner_text()
            assert shown == f"{variant['fired']:,}"
    waiting = ui.page.get_by_test_id("forecast-on-step-3").inner_text().split()
    assert waiting == [f"{expected['steps'][2]['on_step']:,}", "waiting"]
    assert "f-welcome 150" in ui.page.get_by_test_id("forecast-emails").inner_text()
    assert ui.page.get_by_test_id("entered").inner_text() == "0"  # the live counts: nothing entered for real
    ui.shot("sequence-forecast")

    ui.expect_invalid_form_answers()
    panel = ui.page.locator("#forecast")
    panel.get_by_label("Sample size").fill("0")
    panel.get_by_role("button", name="Forecast").click()
    error = ui.page.get_by_test_id("forecast-error")
    error.wait_for()
    assert "Sample size" in error.inner_text()


def test_S21_the_forecast_works_without_javascript(no_js: Browser) -> None:
    _prepare(no_js, 20)
    no_js.sign_in()
    no_js.goto("/sequences/forecast")
    no_js.page.locator("#forecast").get_by_label("Seed").fill("5")
    no_js.page.locator("#forecast").get_by_role("button", name="Forecast").click()
    no_js.page.wait_for_url("**/sequences/forecast/forecast")
    assert no_js.page.get_by_role("heading", name="Forecast", exact=True).count() >= 1
    assert no_js.page.get_by_test_id("forecast-entered").inner_text() == "20"


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_S21_the_forecast_panel_forecasts_the_chosen_version_draft_live_or_number(ui: Browser) -> None:
    _prepare(ui, 30)
    draft = {**SEQUENCE, "steps": SEQUENCE["steps"][:2]}
    with api_client(ui.server, ui.key) as client:
        assert client.put("/sequences/forecast/draft", json=draft).status_code == 200
    ui.sign_in()
    ui.goto("/sequences/forecast")
    panel = ui.page.locator("#forecast")
    panel.get_by_label("Version").fill("draft")
    panel.get_by_label("Seed").fill("3")
    panel.get_by_role("button", name="Forecast").click()
    shown = ui.page.get_by_test_id("forecast-version-shown")
    shown.wait_for()
    assert shown.inner_text() == "draft"
    assert ui.page.locator("#forecast .flow .step-box").count() == 2  # the draft's two steps, not the live three
    panel = ui.page.locator("#forecast")
    panel.get_by_label("Version").fill("live")
    panel.get_by_role("button", name="Forecast").click()
    expect(ui.page.get_by_test_id("forecast-version-shown")).to_have_text("live")  # no eval: the CSP forbids it
    assert ui.page.locator("#forecast .flow .step-box").count() == len(SEQUENCE["steps"])

    ui.expect_invalid_form_answers()
    panel = ui.page.locator("#forecast")
    panel.get_by_label("Version").fill("99")
    panel.get_by_role("button", name="Forecast").click()
    error = ui.page.get_by_test_id("forecast-error")
    error.wait_for()
    assert "no version 99" in error.inner_text()
