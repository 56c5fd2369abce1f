"""The REST API as a new user meets it: a draft, a sequence, a subscriber, the email and the stats."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Api
from tests.support.waiting import eventually

DRAFT = {
    "subject": "Welcome, {{ data.base.firstName }}!",
    "html": "<p>Hi [% anketa.base.firstName %]</p>",
    "from_email": "news@example.com",
    "from_name": "Example",
}
SEQUENCE = {
    "name": "Welcome",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]},
        {
            "variants": [
                {"when": [{"event": "custom", "name": "purchase"}], "do": [{"action": "nothing"}]},
                {"when": [{"event": "time_passed", "after": "3d"}], "do": [{"action": "nothing"}]},
            ]
        },
    ],
}


def test_welcome_email_appears_in_the_archive_once_the_worker_has_run(api: Api) -> None:
    assert api.client.put("/drafts/welcome", json=DRAFT).status_code == 201
    assert api.client.put("/sequences/welcome", json=SEQUENCE).status_code == 201
    created = api.client.post(
        "/subscribers", json={"email": "Anna@Example.COM", "data": {"base": {"firstName": "Anna"}}}
    )
    assert created.status_code == 201
    assert created.json()["email"] == "Anna@example.com"

    def sent() -> list[dict[str, object]]:
        items = api.client.get("/issues", params={"status": "sent"}).json()["items"]
        return list(items)

    issues = eventually(sent, timeout=10)  # bounded only so that a hang fails; the worker is woken at once
    assert issues[0]["subject"] == "Welcome, Anna!"
    message = api.client.get(f"/issues/{issues[0]['id']}/message").json()
    assert message["to"] == "Anna@example.com"
    assert message["html"] == "<p>Hi Anna</p>"
    assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    stats = api.client.get("/sequences/welcome/stats").json()
    assert (stats["entered"], stats["subscribers"], stats["on_steps"], stats["completed"]) == (1, 1, 1, 0)
    assert stats["steps"][0] == {
        "step": 1,
        "on_step": 0,
        "variants": [
            {
                "variant": 1,
                "fired": 1,
                "converted": 0,
                "conversion_rate": 0.0,
                **{"sent": 1, "opened": 0, "clicked": 0, "open_rate": 0.0, "click_rate": 0.0},  # its email
            }
        ],
        "converted": 0,  # S24: no goal, no conversions
    }
    assert (stats["converted"], stats["conversion_rate"]) == (0, 0.0)

    accepted = api.client.post("/events", json={"type": "custom", "name": "purchase", "email": "anna@example.com"})
    assert accepted.status_code == 202 and accepted.json() == {"accepted": 1, "duplicates": 0, "unknown": 0}

    def completed() -> dict[str, object] | None:
        body = api.client.get("/sequences/welcome/stats").json()
        return body if body["completed"] == 1 else None

    stats = eventually(completed)
    assert stats["on_steps"] == 0
    no_mail = {"sent": 0, "opened": 0, "clicked": 0, "open_rate": None, "click_rate": None}
    assert stats["steps"][1]["variants"] == [
        {"variant": 1, "fired": 1, "converted": 0, "conversion_rate": 0.0, **no_mail},
        {"variant": 2, "fired": 0, "converted": 0, "conversion_rate": None, **no_mail},
    ]
    runs = api.client.get("/subscribers/anna@example.com/runs").json()["items"]
    assert [(r["status"], r["pass"], r["step"]) for r in runs] == [("completed", 1, 2)]
    timeline = api.client.get("/subscribers/anna@example.com/timeline").json()["items"]
    kinds = [entry["kind"] for entry in timeline]
    assert kinds[:3] == ["event", "entered", "transition"]
    assert "email_sent" in kinds


def test_events_are_idempotent_by_id_and_unknown_addresses_create_nothing(api: Api) -> None:
    api.client.post("/subscribers", json={"email": "bob@example.com"})
    batch = {
        "events": [
            {"type": "custom", "name": "ping", "email": "bob@example.com", "id": "evt-1"},
            {"type": "custom", "name": "ping", "email": "bob@example.com", "id": "evt-1"},
            {"type": "custom", "name": "ping", "email": "ghost@example.com", "id": "evt-2"},
        ]
    }
    assert api.client.post("/events", json=batch).json() == {"accepted": 1, "duplicates": 1, "unknown": 1}
    again = api.client.post(
        "/events", json={"type": "custom", "name": "ping", "email": "bob@example.com", "id": "evt-1"}
    )
    assert again.json() == {"accepted": 0, "duplicates": 1, "unknown": 0}
    assert api.client.get("/subscribers/ghost@example.com").status_code == 404
    # An unknown address's event created nothing, so its id is free once the subscriber exists.
    api.client.post("/subscribers", json={"email": "ghost@example.com"})
    retried = api.client.post(
        "/events", json={"type": "custom", "name": "ping", "email": "ghost@example.com", "id": "evt-2"}
    )
    assert retried.json() == {"accepted": 1, "duplicates": 0, "unknown": 0}


def test_run_control_start_pause_resume_stop(api: Api) -> None:
    api.client.put("/drafts/welcome", json=DRAFT)
    manual = {
        "name": "Manual",
        "status": "active",
        "steps": [
            {
                "variants": [
                    {"when": [{"event": "never"}], "do": [{"action": "change_data", "set": {"custom.started": True}}]}
                ]
            },
            {"variants": [{"when": [{"event": "time_passed", "after": "1d"}], "do": [{"action": "nothing"}]}]},
        ],
    }
    assert api.client.put("/sequences/manual", json=manual).status_code == 201
    api.client.post("/subscribers", json={"email": "carol@example.com"})
    started = api.client.post("/sequences/manual/runs", json={"email": "carol@example.com"})
    assert started.status_code == 201, started.text
    assert (started.json()["status"], started.json()["step"]) == ("active", 2)
    assert api.client.get("/subscribers/carol@example.com").json()["data"] == {"custom": {"started": True}}
    twice = api.client.post("/sequences/manual/runs", json={"email": "carol@example.com"})
    assert twice.status_code == 409
    paused = api.client.post("/sequences/manual/runs/carol@example.com/pause")
    assert paused.json()["status"] == "paused"
    resumed = api.client.post("/sequences/manual/runs/carol@example.com/resume")
    assert resumed.json()["status"] == "active"
    stopped = api.client.post("/sequences/manual/runs/carol@example.com/stop")
    assert (stopped.json()["status"], stopped.json()["end_reason"]) == ("stopped", "manual")
    stats = api.client.get("/sequences/manual/stats").json()
    assert stats["stopped_by"]["manual"] == 1 and stats["on_steps"] == 0


def test_lists_pages_and_cursors(api: Api) -> None:
    assert api.client.put("/lists/vip", json={"name": "VIP"}).status_code == 201
    for n in range(5):
        api.client.post("/subscribers", json={"email": f"user{n}@example.com", "lists": ["vip"] if n % 2 else []})
    first = api.client.get("/subscribers", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = api.client.get("/subscribers", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert {i["email"] for i in first["items"]}.isdisjoint({i["email"] for i in second["items"]})
    members = api.client.get("/lists/vip/members").json()["items"]
    assert sorted(m["email"] for m in members) == ["user1@example.com", "user3@example.com"]
    assert api.client.get("/subscribers", params={"list": "vip"}).json()["items"][0]["lists"] == ["vip"]
    assert api.client.get("/lists/vip").json()["members"] == 2


def test_definition_lists_page_by_key(api: Api) -> None:
    for key in ["c", "a", "b"]:
        api.client.put(f"/lists/{key}", json={"name": key.upper()})
    first = api.client.get("/lists", params={"limit": 2}).json()
    assert [i["key"] for i in first["items"]] == ["a", "b"]
    second = api.client.get("/lists", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [i["key"] for i in second["items"]] == ["c"] and second["next_cursor"] is None


def test_concurrent_upserts_of_one_new_address_create_it_once(api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def upsert(n: int) -> int:
        body = {"email": "race@example.com", "data": {"custom": {f"k{n}": n}}}
        return api.client.post("/subscribers", json=body).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(upsert, range(16)))
    assert sorted(set(codes)) == [200, 201] and codes.count(201) == 1
    assert len(api.client.get("/subscribers/race@example.com").json()["data"]["custom"]) == 16


def test_metrics_report_events_transitions_backlog_and_deliveries(api: Api) -> None:
    api.client.put("/drafts/welcome", json=DRAFT)
    api.client.put("/sequences/welcome", json=SEQUENCE)
    api.client.post("/subscribers", json={"email": "m@example.com"})
    eventually(lambda: api.client.get("/issues", params={"status": "sent"}).json()["items"])
    text = httpx.get(api.server.base_url + "/metrics").text
    for series in (
        "stepwise_events_accepted_total",
        "stepwise_events_processed_total",
        "stepwise_transitions_total",
        "stepwise_events_backlog",
        "stepwise_outbox_depth",
        "stepwise_oldest_overdue_deadline_seconds",
        'stepwise_deliveries_total{outcome="email_sent"}',
    ):
        assert series in text, series
