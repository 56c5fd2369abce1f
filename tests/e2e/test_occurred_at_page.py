"""S13 over HTTP: a client's occurred_at comes back on the timeline, in the API and beside the accepted time in the UI."""

from __future__ import annotations

import re

import httpx

from tests.e2e.conftest import Api
from tests.support.waiting import eventually


def test_s13_occurred_at_is_shown_beside_the_accepted_time(api: Api) -> None:
    assert api.client.post("/subscribers", json={"email": "anna@example.com"}).status_code == 201
    event = {"type": "custom", "name": "order", "email": "anna@example.com", "occurred_at": "2001-02-03T04:05:06Z"}
    assert api.client.post("/events", json=event).status_code == 202

    def customs() -> list[dict[str, object]]:
        items = api.client.get("/subscribers/anna@example.com/timeline").json()["items"]
        return [e for e in items if e.get("event") == "custom"]

    eventually(lambda: len(customs()) == 1, timeout=10)
    [entry] = customs()
    assert entry["occurred_at"] == "2001-02-03T04:05:06Z" and entry["at"] != entry["occurred_at"]

    with httpx.Client(base_url=api.server.base_url, follow_redirects=False, timeout=10) as browser:
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/login").text)
        assert csrf
        browser.post("/login", data={"csrf": csrf[1], **api.login(), "next": "/subscribers"})
        profile = browser.get("/subscribers/anna@example.com").text
    assert "occurred 03 Feb 2001 04:05" in profile
