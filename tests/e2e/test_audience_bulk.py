"""POST /subscribers/bulk-update over HTTP (SPEC §8): replies, and 422 for every malformed edit."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Api


def test_a_bulk_update_reports_matched_and_changed(api: Api) -> None:
    for name, plan in (("ann", "pro"), ("bob", "free")):
        api.client.post("/subscribers", json={"email": f"{name}@x.com", "data": {"custom": {"plan": plan}}})
    reply = api.client.post(
        "/subscribers/bulk-update",
        json={"where": {"field": "custom.plan", "op": "in", "value": ["pro", "free"]}, "set": {"custom.plan": "pro"}},
    )
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"matched": 2, "changed": 1}
    assert api.client.get("/subscribers/bob@x.com").json()["data"] == {"custom": {"plan": "pro"}}


MALFORMED: list[dict[str, Any]] = [
    {"emails": ["a@x.com"], "set": {"a": 1}, "extra": True},
    {"emails": ["a@x.com"], "where": {"field": "a", "op": "exists"}, "set": {"a": 1}},
    {"set": {"a": 1}},
    {"emails": ["a@x.com"]},
    {"emails": ["a@x.com"], "set": {"not a path": 1}},
    {"where": {"field": "a", "op": "bogus"}, "set": {"a": 1}},
    {"emails": "a@x.com", "set": {"a": 1}},
]


def test_malformed_bulk_updates_get_422(api: Api) -> None:
    for body in MALFORMED:
        reply = api.client.post("/subscribers/bulk-update", json=body)
        assert reply.status_code == 422, (body, reply.text)
        assert reply.json()["error"]["details"]
