"""Outbound webhooks over HTTP, with a live server, its worker and a real HTTP receiver (SPEC §18, S29).

Both databases (the `database_url` fixture). Signatures are checked by an implementation of the
Standard Webhooks scheme written here, independent of the product's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from tests.e2e import live_peers
from tests.e2e.conftest import Api
from tests.integration.delivery.servers import HttpRequest, HttpTarget
from tests.support.clock import FakeClock
from tests.support.waiting import eventually

sink, receiver, settings = live_peers.sink, live_peers.receiver, live_peers.settings  # shared fixtures

WELCOME = {
    "name": "Welcome",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]}
    ],
}
DRAFT = {"subject": "Hi", "html": "<p>Hello</p>", "from_email": "news@shop.example"}
EVENTS = ["subscriber.created", "run.entered", "run.step", "run.completed", "email.queued", "email.sent"]


def verify(secret: str, request: HttpRequest) -> dict[str, Any]:
    """Standard Webhooks verification, written from the scheme: HMAC-SHA256 over "{id}.{timestamp}.{body}"."""
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_") :])
    headers = {k.lower(): v for k, v in request.headers.items()}
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    content = f"{msg_id}.{timestamp}.".encode() + request.body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    signatures = [part.split(",", 1)[1] for part in headers["webhook-signature"].split(" ") if part.startswith("v1,")]
    assert any(hmac.compare_digest(expected, s) for s in signatures), "the signature does not verify"
    payload: dict[str, Any] = json.loads(request.body)
    assert payload["id"] == msg_id
    return payload


def create(api: Api, key: str, url: str, events: list[str]) -> dict[str, Any]:
    reply = api.client.put(f"/webhooks/{key}", json={"url": url, "events": events})
    assert reply.status_code == 201, reply.text
    created: dict[str, Any] = reply.json()
    return created


def attempted(api: Api, key: str, attempts: int) -> bool:
    """Whether the newest message of the endpoint has been attempted that many times."""
    return bool(deliveries(api, key)[0]["attempts"] == attempts)


def deliveries(api: Api, key: str) -> list[dict[str, Any]]:
    reply = api.client.get(f"/webhooks/{key}/deliveries")
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def test_S29_facts_reach_the_receiver_signed_and_in_order(api: Api, receiver: HttpTarget) -> None:
    created = create(api, "crm", receiver.base + "/in", EVENTS)
    secret = created["secret"]
    assert (created["active"] is True and "secret" not in api.client.get("/webhooks/crm").json()) or (
        api.client.get("/webhooks/crm").json()["secret"] is None
    )
    assert api.client.put("/drafts/welcome", json=DRAFT).status_code == 201
    assert api.client.put("/sequences/welcome", json=WELCOME).status_code == 201
    assert api.client.post("/subscribers", json={"email": "anna@example.com"}).status_code == 201

    wanted = ["subscriber.created", "run.entered", "email.queued", "run.completed", "email.sent"]
    eventually(lambda: len(receiver.requests) >= len(wanted), timeout=10)
    payloads = [verify(secret, r) for r in receiver.requests]
    assert sorted(p["type"] for p in payloads) == sorted(wanted)
    assert [p["type"] for p in payloads].index("email.queued") < [p["type"] for p in payloads].index("email.sent")
    for p in payloads:
        assert set(p) == {"id", "type", "occurred_at", "account", "data"} and p["account"] == "shop"
        assert p["data"]["subscriber"]["email"] == "anna@example.com"
    tampered = HttpRequest("POST", "/in", receiver.requests[0].headers, receiver.requests[0].body + b" ")
    with pytest.raises(AssertionError):
        verify(secret, tampered)

    def delivered() -> list[dict[str, Any]]:
        done = [d for d in deliveries(api, "crm") if d["status"] == "delivered"]
        return done if len(done) == len(wanted) else []

    log = eventually(delivered)
    assert {(d["attempts"], d["last_code"]) for d in log} == {(1, 200)}
    assert api.client.get("/webhooks").json()["items"][0]["key"] == "crm"


def test_S29_retries_on_5xx_fails_other_4xx_at_once_and_retry_and_ping_send_again(
    api: Api, receiver: HttpTarget, clock: FakeClock
) -> None:
    create(api, "down", receiver.base + "/status/503", ["subscriber.created"])
    create(api, "gone", receiver.base + "/status/404", ["subscriber.created"])
    assert api.client.post("/subscribers", json={"email": "bob@example.com"}).status_code == 201

    [failed] = eventually(lambda: [d for d in deliveries(api, "gone") if d["status"] == "failed"])
    assert (failed["attempts"], failed["last_code"]) == (1, 404)
    [pending] = eventually(lambda: [d for d in deliveries(api, "down") if d["attempts"] == 1])
    assert (pending["status"], pending["last_code"]) == ("pending", 503)
    clock.advance(timedelta(minutes=1, seconds=1))  # the call_url schedule: 1 min, 5, 30, 2 h, then failed
    eventually(lambda: deliveries(api, "down")[0]["attempts"] == 2)
    for wait in (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)):
        attempts = deliveries(api, "down")[0]["attempts"]
        clock.advance(wait + timedelta(seconds=1))
        eventually(partial(attempted, api, "down", attempts + 1))
    assert deliveries(api, "down")[0]["status"] == "failed"

    before = len(receiver.requests)
    again = api.client.post(f"/webhooks/gone/deliveries/{failed['id']}/retry")
    assert again.status_code == 200 and again.json()["status"] == "pending"
    eventually(lambda: len(receiver.requests) == before + 1)
    assert receiver.requests[-1].headers["webhook-id"] == failed["id"]  # the same id

    assert (
        api.client.put("/webhooks/gone", json={"url": receiver.base + "/ok", "events": ["email.sent"]}).status_code
        == 200
    )
    ping = api.client.post("/webhooks/gone/ping")
    assert ping.status_code == 202 and ping.json()["type"] == "webhook.ping"
    eventually(lambda: receiver.requests[-1].path == "/ok")


def test_S29_an_endpoint_failing_for_3_days_is_deactivated_and_resumes(
    api: Api, receiver: HttpTarget, clock: FakeClock
) -> None:
    create(api, "flaky", receiver.base + "/status/500", ["subscriber.created"])
    assert api.client.post("/subscribers", json={"email": "a@example.com"}).status_code == 201
    eventually(lambda: deliveries(api, "flaky")[0]["attempts"] == 1)
    clock.advance(timedelta(days=3, minutes=1))
    assert api.client.post("/subscribers", json={"email": "b@example.com"}).status_code == 201

    def inactive() -> dict[str, Any]:
        shown: dict[str, Any] = api.client.get("/webhooks/flaky").json()
        return shown if shown["active"] is False else {}

    shown = eventually(inactive)
    assert shown["deactivated_reason"] and shown["deactivated_at"]
    assert any(d["status"] == "pending" for d in deliveries(api, "flaky"))  # kept

    fixed = {"url": receiver.base + "/ok", "events": ["subscriber.created"], "active": True}
    assert api.client.put("/webhooks/flaky", json=fixed).json()["active"] is True
    eventually(lambda: all(d["status"] == "delivered" for d in deliveries(api, "flaky")))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "http://x.example/h", "events": ["run.flew"]}, 422, "invalid"),
        ({"url": "ftp://x.example/h", "events": ["run.entered"]}, 422, "invalid"),
        ({"url": "not a url", "events": ["run.entered"]}, 422, "invalid"),
        ({"url": "http://x.example/h", "events": ["run.entered"], "colour": "red"}, 422, None),
        ({"url": "http://x.example/h", "events": []}, 422, None),
    ],
)
def test_S29_bad_input_is_refused_and_changes_nothing(
    api: Api, other_api: Api, body: dict[str, Any], status: int, code: str | None
) -> None:
    reply = api.client.put("/webhooks/bad", json=body)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["message"]
    if code:
        assert reply.json()["error"]["code"] == code
    assert api.client.get("/webhooks").json()["items"] == []
    create(api, "mine", "http://x.example/h", ["run.entered"])
    for method, path in (("GET", "/webhooks/mine"), ("DELETE", "/webhooks/mine"), ("POST", "/webhooks/mine/ping")):
        assert other_api.client.request(method, path).status_code == 404
    assert api.client.get("/webhooks/mine").status_code == 200


def test_S29_subscriber_facts_unsubscribed_bounced_complained_reach_the_receiver(
    api: Api, receiver: HttpTarget
) -> None:
    kinds = ["subscriber.unsubscribed", "subscriber.bounced", "subscriber.complained"]
    secret = create(api, "crm", receiver.base + "/in", kinds)["secret"]
    for address in ("u@example.com", "b@example.com", "c@example.com"):
        assert api.client.post("/subscribers", json={"email": address}).status_code == 201
    assert api.client.post("/subscribers/u@example.com/unsubscribe").status_code in (200, 204)
    assert api.client.post("/bounces", json={"email": "b@example.com", "type": "hard"}).status_code == 202
    assert api.client.post("/bounces", json={"email": "c@example.com", "type": "complaint"}).status_code == 202

    def seen() -> set[str]:
        return {verify(secret, r)["type"] for r in receiver.requests}

    try:
        eventually(lambda: seen() >= set(kinds), timeout=10)
    except AssertionError:
        raise AssertionError(f"seen {seen()}; log {deliveries(api, 'crm')}") from None
    by_type: dict[str, list[str]] = {}
    for r in receiver.requests:
        payload = verify(secret, r)
        by_type.setdefault(payload["type"], []).append(payload["data"]["subscriber"]["email"])
    assert by_type["subscriber.bounced"] == ["b@example.com"]
    assert by_type["subscriber.complained"] == ["c@example.com"]
    assert "u@example.com" in by_type["subscriber.unsubscribed"]
