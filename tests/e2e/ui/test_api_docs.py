"""The API reference page works without internet: every file it loads comes from this server."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.ui.conftest import Browser

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect


def test_api_docs_render_offline_from_local_assets(ui: Browser) -> None:
    page = ui.page
    server = urlsplit(ui.base_url).netloc
    elsewhere: list[str] = []

    def only_this_server(route: Any) -> None:
        if urlsplit(route.request.url).netloc == server:
            route.continue_()
        else:  # as if there were no internet
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    response = ui.goto("/api/v1/docs")
    assert response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Stepwise API")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert page.locator(".opblock").count() > 20
    assert elsewhere == []


def test_api_docs_assets_outside_the_list_are_not_served(ui: Browser) -> None:
    ui.allowed_errors.append(re.compile(r"status of 404"))
    assert ui.goto("/api/v1/docs/assets/redoc.standalone.js").status == 404
    assert ui.goto("/api/v1/docs/assets/..%2F..%2F__init__.py").status == 404
