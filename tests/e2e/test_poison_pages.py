"""Poison isolation over HTTP: a sequence whose stored definition cannot be read answers no 500 (issue 10).

The API and the UI list it as broken with its error, pause it, refuse to activate it, accept a valid
definition over it and delete it; every page shows the notice of what the worker set aside, and
/metrics counts it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Api
from tests.integration.hardening.poison import COUNTING, NULL_NUMBER, WAITING, plant, quarantined, seconds_until


@pytest.fixture
def browser(api: Api) -> Iterator[httpx.Client]:
    """A client signed in to the UI with the account's key."""
    with httpx.Client(base_url=api.server.base_url, follow_redirects=False, timeout=10) as client:
        form = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        answer = client.post("/login", data={"csrf": csrf[1], **api.login(), "next": "/sequences"})
        assert answer.status_code == 303, answer.text
        yield client


def test_a_sequence_with_an_unreadable_definition_is_shown_broken_and_can_be_fixed(
    api: Api, browser: httpx.Client
) -> None:
    stepwise = api.server.stepwise
    for key, body in (("counting", COUNTING), ("waiting", WAITING)):
        assert api.client.put(f"/sequences/{key}", json=body).status_code == 201
    plant(
        stepwise,
        "UPDATE sequences SET definition = :d, version = version + 1 WHERE account_id = :a AND key = 'waiting'",
        d=NULL_NUMBER,
        a=api.account_id,
    )
    assert api.client.post("/subscribers", json={"email": "anna@example.com"}).status_code in (200, 201)
    seconds_until(lambda: len(quarantined(stepwise, api.account_id, "sequence")) == 1)  # the worker met it

    listed = {s["key"]: s for s in api.client.get("/sequences").json()["items"]}
    assert "custom.n" in listed["waiting"]["broken"] and listed["counting"]["broken"] is None
    assert api.client.get("/sequences/waiting/stats").status_code == 200
    assert api.client.post("/sequences/waiting/pause").json()["status"] == "paused"
    assert api.client.post("/sequences/waiting/activate").status_code == 422

    page = browser.get("/sequences")
    assert page.status_code == 200 and 'data-testid="broken"' in page.text
    assert "1 item was set aside by the worker: 1 sequence." in page.text
    assert browser.get("/sequences/waiting").status_code == 200
    assert browser.get("/sequences/waiting/json").status_code == 200
    assert browser.get("/sequences/waiting/edit").status_code == 200
    aside = browser.get("/set-aside")
    assert aside.status_code == 200 and "custom.n" in aside.text
    metrics = httpx.get(api.server.base_url + "/metrics").text
    assert 'stepwise_quarantined_items{kind="sequence"} 1.0' in metrics

    fixed = api.client.put("/sequences/waiting", json=WAITING)
    assert fixed.status_code == 200 and fixed.json()["broken"] is None
    assert "set aside by the worker" not in browser.get("/sequences").text
    plant(stepwise, "UPDATE sequences SET definition = 'garbage' WHERE account_id = :a", a=api.account_id)
    assert browser.get("/sequences").status_code == 200
    assert api.client.delete("/sequences/waiting").status_code == 204


def test_a_subscriber_whose_row_cannot_be_read_is_a_409_not_a_500(api: Api, browser: httpx.Client) -> None:
    for email in ("anna@example.com", "bob@example.com"):
        assert api.client.post("/subscribers", json={"email": email}).status_code == 201
    plant(
        api.server.stepwise,
        "UPDATE subscribers SET data = :d WHERE account_id = :a AND email_key = 'anna@example.com'",
        d="{not json",
        a=api.account_id,
    )
    answer = api.client.get("/subscribers/anna@example.com")
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "unreadable" and "anna@example.com" in error["message"]
    assert api.client.get("/subscribers/bob@example.com").status_code == 200
    page = browser.get("/subscribers/anna@example.com", headers={"accept": "text/html"})
    assert page.status_code == 409 and "cannot be read" in page.text
    # The damaged subscriber can be deleted, and then the account is whole again.
    assert api.client.delete("/subscribers/anna@example.com").status_code == 204
    assert api.client.get("/subscribers/anna@example.com").status_code == 404
    assert api.client.get("/subscribers").status_code == 200
