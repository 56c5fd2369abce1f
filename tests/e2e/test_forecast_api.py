"""S21: `POST /sequences/{key}/simulate` forecasts on a seeded sample of real subscribers, on both
databases, in under 5 s for 1,000 subscribers over 30 days, and writes nothing, sends nothing."""

from __future__ import annotations

import time

import orjson
from sqlalchemy import func, select

from stepwise.storage import schema as t  # noqa: F401  (registers every table on the metadata)
from stepwise.storage.schema_base import metadata
from stepwise.storage.seeding import add_subscribers
from tests.e2e.conftest import Api

DRAFTS = {
    "f-welcome": {
        "subject": "Welcome, {{ data.base.firstName }}!",
        "html": '<p><a href="https://example.com/start">Start</a> <a href="https://example.com/help">Help</a></p>',
        "from_email": "news@example.com",
    },
    "f-nudge": {"subject": "Still there?", "html": "<p>Nudge</p>", "from_email": "news@example.com"},
    "f-thanks": {"subject": "Thanks", "html": "<p>Thanks</p>", "from_email": "news@example.com"},
}
SEQUENCE = {
    "name": "Forecast me",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "never"}], "do": [{"action": "send_email", "draft": "f-welcome"}]}]},
        {
            "variants": [
                {
                    "when": [{"event": "link_clicked", "url": "https://example.com/start"}],
                    "do": [{"action": "send_email", "draft": "f-thanks"}],
                },
                {
                    "when": [{"event": "time_passed", "after": "3d"}],
                    "do": [{"action": "send_email", "draft": "f-nudge"}],
                },
            ]
        },
        {"variants": [{"when": [{"event": "custom", "name": "order_placed"}], "do": [{"action": "nothing"}]}]},
    ],
}
BODY = {
    "version": "live",
    "sample": 1000,
    "horizon": "30d",
    "assume": {"open_rate": 0.5, "click_rate": 0.2, "events": {"order_placed": {"probability": 0.3, "after": "5d"}}},
    "seed": 7,
}


def _prepare(api: Api, kazan: int = 1000, omsk: int = 200) -> None:
    for key, draft in DRAFTS.items():
        assert api.client.put(f"/drafts/{key}", json=draft).status_code == 201
    assert api.client.put("/sequences/forecast", json=SEQUENCE).status_code == 201
    db, now_us = api.server.stepwise.db, 1
    with db.write() as conn:
        data = orjson.dumps({"base": {"firstName": "Kim", "city": "Kazan"}}).decode()
        add_subscribers(conn, api.account_id, [f"k{i}@example.com" for i in range(kazan)], data, now_us, chunk=500)
        data = orjson.dumps({"base": {"firstName": "Olga", "city": "Omsk"}}).decode()
        add_subscribers(conn, api.account_id, [f"o{i}@example.com" for i in range(omsk)], data, now_us, chunk=500)


def _counts(api: Api) -> dict[str, int]:
    with api.server.stepwise.db.read() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in metadata.tables.items()
        }


def test_S21_forecast_of_1000_subscribers_over_30_days_is_fast_reproducible_and_writes_nothing(api: Api) -> None:
    _prepare(api)
    before = _counts(api)
    started = time.perf_counter()
    answer = api.client.post("/sequences/forecast/simulate", json=BODY, timeout=60)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    assert elapsed < 5, f"the forecast took {elapsed:.2f} s"
    body = answer.json()
    assert body["sequence"] == "forecast" and body["sample"] == 1000 and body["seed"] == 7
    assert body["entered"] == 1000 and body["subscribers"] == 1000
    assert body["emails"]["f-welcome"] == 1000
    clicked = body["steps"][1]["variants"][0]["fired"]
    waited = body["steps"][1]["variants"][1]["fired"]
    # A fifth click, half of those on the tracked link /start: about 100 thank-yous; the rest get the nudge.
    assert 60 < clicked < 140 and clicked + waited == 1000
    assert body["emails"]["f-thanks"] == clicked and body["emails"]["f-nudge"] == waited
    assert 240 < body["completed"] < 360 and body["on_steps"] == 1000 - body["completed"]
    assert len(body["timelines"]) == 5
    first = body["timelines"][0]["timeline"]
    assert any(item.get("subject") == "Welcome, Kim!" for item in first if item["kind"] == "email")
    assert _counts(api) == before  # nothing written: no runs, no outbox, no issues, no counters
    again = api.client.post("/sequences/forecast/simulate", json=BODY, timeout=60).json()
    assert again == body


def test_S21_forecast_samples_those_matching_where_and_checks_its_input(api: Api) -> None:
    _prepare(api, kazan=50, omsk=30)
    where = {"field": "base.city", "op": "eq", "value": "Omsk"}
    answer = api.client.post(
        "/sequences/forecast/simulate",
        json={
            "sample": 100,
            "where": where,
            "horizon": "2d",
            "assume": {"events": {"order_placed": {"probability": 1}}},
        },
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["sample"] == 30 and body["entered"] == 30 and body["on_steps"] == 30
    assert all(item["email"].startswith("o") for item in body["timelines"])
    # No rates assumed: nobody clicks, the nudge is 3 days away; the order at the start matches no step yet.
    assert body["emails"] == {"f-welcome": 30}
    before = _counts(api)
    bad = [
        ({"sample": 0}, 422),
        ({"sample": 10001}, 422),
        ({"horizon": "soon"}, 422),
        ({"horizon": "400d"}, 422),
        ({"assume": {"events": {"x": {"probability": 0.5, "after": "0s"}}}}, 422),
        ({"assume": {"open_rate": 2}}, 422),
        ({"where": {"field": "base.city", "op": "near", "value": 1}}, 422),
        ({"version": "draft"}, 409),
        ({"version": 3}, 404),
    ]
    for payload, status in bad:
        reply = api.client.post("/sequences/forecast/simulate", json=payload)
        assert reply.status_code == status, (payload, reply.text)
        assert reply.json()["error"]["code"], reply.text
    assert api.client.post("/sequences/absent/simulate", json={}).status_code == 404
    assert _counts(api) == before


def test_S21_forecast_of_the_draft_and_of_a_numbered_version(api: Api) -> None:
    _prepare(api, kazan=40, omsk=0)
    step = {"variants": [{"when": [{"event": "never"}], "do": [{"action": "send_email", "draft": "f-thanks"}]}]}
    changed = {**SEQUENCE, "steps": [step]}
    assert api.client.put("/sequences/forecast/draft", json=changed).status_code in (200, 201)
    body = {"sample": 40, "horizon": "1d", "seed": 3}
    draft = api.client.post("/sequences/forecast/simulate", json={**body, "version": "draft"})
    assert draft.status_code == 200, draft.text
    assert draft.json()["version"] == "draft" and draft.json()["emails"] == {"f-thanks": 40}
    first = api.client.post("/sequences/forecast/simulate", json={**body, "version": 1})
    assert first.status_code == 200, first.text
    assert first.json()["emails"] == {"f-welcome": 40}
    assert api.client.post("/sequences/forecast/simulate", json={**body, "version": 2}).status_code == 404
