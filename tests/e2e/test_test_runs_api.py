"""S19 (test runs) over HTTP on both databases, with the live worker, a real SMTP sink and a webhook receiver.

A test run's email is kept for the capture mailbox (issue `transport: capture`) and never reaches the
SMTP sink; nothing of it reaches the webhook receiver; it is marked `test` and counted in no statistic.
"""

from __future__ import annotations

from typing import Any

from tests.e2e import live_peers
from tests.e2e.conftest import Api
from tests.integration.delivery.servers import HttpTarget, SmtpServer
from tests.support.waiting import eventually

sink, receiver, settings = live_peers.sink, live_peers.receiver, live_peers.settings  # shared fixtures

HELLO = {
    "name": "Hello",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "custom", "name": "go"}], "do": [{"action": "send_email", "draft": "hi"}]}]},
        {"variants": [{"when": [{"event": "custom", "name": "never"}], "do": [{"action": "nothing"}]}]},
    ],
}
DRAFT = {"subject": "Hi there", "html": "<p>Hello</p>", "from_email": "news@shop.example"}
HOOKED = ["run.entered", "run.step", "run.completed", "run.stopped", "email.queued", "email.sent"]


def _setup(api: Api) -> None:
    assert api.client.put("/drafts/hi", json=DRAFT).status_code == 201
    assert api.client.put("/sequences/hello", json=HELLO).status_code == 201
    for name in ("anna", "bob"):
        assert api.client.post("/subscribers", json={"email": f"{name}@example.com"}).status_code == 201


def _issues(api: Api, email: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.client.get("/issues", params={"email": email}).json()["items"]
    return items


def _sent(api: Api, email: str) -> dict[str, Any] | None:
    found = [i for i in _issues(api, email) if i["status"] == "sent"]
    return found[0] if found else None


def test_S19_test_run_email_goes_to_the_capture_mailbox_only_and_no_webhook(
    api: Api, sink: SmtpServer, receiver: HttpTarget
) -> None:
    hook = api.client.put("/webhooks/crm", json={"url": receiver.base + "/in", "events": HOOKED})
    assert hook.status_code == 201, hook.text
    _setup(api)
    started = api.client.post("/sequences/hello/runs", json={"email": "anna@example.com", "test": True})
    assert started.status_code == 201, started.text
    assert started.json()["test"] is True and started.json()["step"] == 2
    real = api.client.post("/sequences/hello/runs", json={"email": "bob@example.com"})
    assert real.status_code == 201 and real.json()["test"] is False

    captured = eventually(lambda: _sent(api, "anna@example.com"), timeout=10)
    assert captured["transport"] == "capture" and captured["test"] is True and captured["subject"] == "Hi there"
    delivered = eventually(lambda: _sent(api, "bob@example.com"), timeout=10)
    assert delivered["transport"] == "smtp" and delivered["test"] is False
    received = sink.recorder.wait_for(1)
    assert [r.recipients for r in received] == [["bob@example.com"]]

    # Bob's run entered, moved to step 2, his email was queued and sent: four facts, none of Anna's test run.
    eventually(lambda: len(receiver.requests) >= 4, timeout=10)
    bodies = [r.body.decode() for r in receiver.requests]
    assert all("anna@example.com" not in body for body in bodies)
    logged = api.client.get("/webhooks/crm/deliveries").json()["items"]
    assert sorted(m["type"] for m in logged) == ["email.queued", "email.sent", "run.entered", "run.step"]
    assert [r.recipients for r in sink.recorder.received] == [["bob@example.com"]]


def test_S19_test_run_is_marked_test_and_left_out_of_every_statistic(api: Api) -> None:
    _setup(api)
    assert api.client.post("/sequences/hello/runs", json={"email": "anna@example.com", "test": True}).status_code == 201
    eventually(lambda: _sent(api, "anna@example.com"), timeout=10)

    stats = api.client.get("/sequences/hello/stats").json()
    assert (stats["entered"], stats["subscribers"], stats["on_steps"], stats["completed"]) == (0, 0, 0, 0)
    assert [s["on_step"] for s in stats["steps"]] == [0, 0]
    assert all(v["fired"] == 0 for s in stats["steps"] for v in s["variants"])
    assert all(v["entered"] == 0 and v["on_steps"] == 0 for v in stats["versions"])
    by_version = api.client.get("/sequences/hello/stats", params={"version": 1}).json()
    assert by_version["entered"] == 0 and by_version["subscribers"] == 0
    issue_stats = api.client.get("/issues/stats", params={"sequence": "hello"}).json()
    assert all(row["sent"] == 0 for row in issue_stats.get("items", [])), issue_stats

    runs = api.client.get("/sequences/hello/runs").json()["items"]
    assert [(r["email"], r["test"]) for r in runs] == [("anna@example.com", True)]
    mine = api.client.get("/subscribers/anna@example.com/runs").json()["items"]
    assert [r["test"] for r in mine] == [True]
    timeline = api.client.get("/subscribers/anna@example.com/timeline").json()["items"]
    of_run = [e for e in timeline if e.get("sequence") == "hello"]
    assert of_run and all(e.get("test") is True for e in of_run), of_run

    # A real run after the test run ended counts as usual.
    assert api.client.post("/sequences/hello/runs/anna@example.com/stop").status_code == 200
    assert api.client.post("/sequences/hello/runs", json={"email": "bob@example.com"}).status_code == 201
    counted = api.client.get("/sequences/hello/stats").json()
    assert (counted["entered"], counted["on_steps"], counted["stopped"]) == (1, 1, 0)


def test_S19_test_run_refuses_bad_input_and_conflicts_like_a_real_start(api: Api) -> None:
    _setup(api)
    for bad in ({"email": "anna@example.com", "test": "yes"}, {"email": "anna@example.com", "test": 1}):
        refused = api.client.post("/sequences/hello/runs", json=bad)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid"
    unknown_key = api.client.post("/sequences/nope/runs", json={"email": "anna@example.com", "test": True})
    assert unknown_key.status_code == 404
    unknown_email = api.client.post("/sequences/hello/runs", json={"email": "zed@example.com", "test": True})
    assert unknown_email.status_code == 404
    assert api.client.get("/sequences/hello/runs").json()["items"] == []
    assert api.client.post("/sequences/hello/runs", json={"email": "anna@example.com"}).status_code == 201
    again = api.client.post("/sequences/hello/runs", json={"email": "anna@example.com", "test": True})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_running"
