"""Segments over HTTP (SPEC §15, S22) against a live server, on both databases."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.e2e.conftest import Api
from tests.support.waiting import eventually

PRO = {"field": "custom.plan", "op": "eq", "value": "pro"}


def subscribe(api: Api, email: str, plan: str, lists: list[str] | None = None) -> None:
    body = {"email": email, "data": {"custom": {"plan": plan}}, "lists": lists or []}
    reply = api.client.post("/subscribers", json=body)
    assert reply.status_code in (200, 201), reply.text


def test_S22_segment_crud_count_members_and_filters(api: Api) -> None:
    subscribe(api, "ann@x.com", "pro")
    subscribe(api, "bob@x.com", "free")
    reply = api.client.put("/segments/pro", json={"name": "Pro", "where": PRO})
    assert reply.status_code == 201, reply.text
    assert reply.json()["count"] == 1 and reply.json()["where"] == PRO
    assert api.client.put("/segments/pro", json={"name": "Pro plan", "where": PRO}).status_code == 200
    listed = api.client.get("/segments").json()["items"]
    assert [(s["key"], s["name"], s["count"]) for s in listed] == [("pro", "Pro plan", 1)]
    subscribe(api, "cy@x.com", "pro")  # upkeep in the transaction of the change
    assert api.client.get("/segments/pro").json()["count"] == 2
    page = api.client.get("/segments/pro/members", params={"limit": 1}).json()
    assert [m["email"] for m in page["items"]] == ["ann@x.com"] and page["next_cursor"]
    rest = api.client.get("/segments/pro/members", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert [m["email"] for m in rest["items"]] == ["cy@x.com"]
    filtered = api.client.get("/subscribers", params={"segment": "pro"}).json()["items"]
    assert [s["email"] for s in filtered] == ["ann@x.com", "cy@x.com"]
    assert api.client.get("/subscribers", params={"segment": "nope"}).status_code == 404
    assert api.client.delete("/segments/pro").status_code == 204
    assert api.client.get("/segments/pro").status_code == 404
    assert api.client.delete("/segments/pro").status_code == 404


def test_S22_bulk_update_by_segment_moves_membership(api: Api) -> None:
    subscribe(api, "ann@x.com", "pro")
    subscribe(api, "bob@x.com", "free")
    api.client.put("/segments/pro", json={"name": "Pro", "where": PRO})
    reply = api.client.post("/subscribers/bulk-update", json={"segment": "pro", "set": {"custom.plan": "gold"}})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"matched": 1, "changed": 1}
    assert api.client.get("/segments/pro").json()["count"] == 0
    missing = api.client.post("/subscribers/bulk-update", json={"segment": "nope", "set": {"a": 1}})
    assert missing.status_code == 404
    both = api.client.post("/subscribers/bulk-update", json={"segment": "pro", "emails": ["a@x.com"], "set": {"a": 1}})
    assert both.status_code == 422


def test_S22_export_is_streamed_csv_with_neutralised_cells(api: Api) -> None:
    subscribe(api, "=cmd@x.com", "pro")
    subscribe(api, "ann@x.com", "pro")
    api.client.put("/segments/pro", json={"name": "Pro", "where": PRO})
    reply = api.client.get("/segments/pro/export.csv")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0] == ["email", "status", "joined_at"]
    assert sorted(r[0] for r in rows[1:]) == ["'=cmd@x.com", "ann@x.com"]
    assert api.client.get("/segments/nope/export.csv").status_code == 404


def test_S22_bad_segments_get_422_with_paths_and_change_nothing(api: Api) -> None:
    bad = [
        {"name": "X", "where": {"field": "subscriber.shoe_size", "op": "eq", "value": 3}},
        {"name": "X", "where": {"field": "subscriber.lists", "op": "gt", "value": "vip"}},
        {"name": "X", "where": {"all": []}},
        {"name": "X"},
        {"name": "", "where": PRO},
        {"name": "X", "where": PRO, "extra": 1},
    ]
    for body in bad:
        reply = api.client.put("/segments/bad", json=body)
        assert reply.status_code == 422, (body, reply.text)
        details = reply.json()["error"]["details"]
        assert details and all(d["path"].startswith("$") for d in details), details
    assert api.client.get("/segments").json()["items"] == []


def test_S22_a_sequence_is_entered_by_segment_joined_at_any_step(api: Api) -> None:
    api.client.put("/segments/pro", json={"name": "Pro", "where": PRO})
    sequence = {
        "name": "Pro welcome",
        "status": "active",
        "steps": [
            {
                "variants": [
                    {
                        "when": [{"event": "segment_joined", "segment": "pro"}],
                        "do": [{"action": "change_data", "set": {"custom.pro_since": "yes"}}],
                    }
                ]
            },
            {
                "variants": [
                    {
                        "when": [{"event": "segment_left", "segment": "pro"}],
                        "do": [{"action": "change_data", "set": {"custom.pro_left": "yes"}}],
                    }
                ]
            },
        ],
    }
    reply = api.client.put("/sequences/pro-welcome", json=sequence)
    assert reply.status_code in (200, 201), reply.text
    subscribe(api, "ann@x.com", "pro")

    def custom() -> dict[str, Any]:
        data: dict[str, Any] = api.client.get("/subscribers/ann@x.com").json()["data"]["custom"]
        return data

    eventually(lambda: custom().get("pro_since") == "yes", timeout=20)
    api.client.post("/subscribers", json={"email": "ann@x.com", "data": {"custom": {"plan": "free"}}})
    eventually(lambda: custom().get("pro_left") == "yes", timeout=20)


def test_S22_segment_matches_waits_like_list_matches(api: Api) -> None:
    api.client.put("/segments/pro", json={"name": "Pro", "where": PRO})
    sequence = {
        "name": "Until pro",
        "status": "active",
        "steps": [
            {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "nothing"}]}]},
            {
                "variants": [
                    {
                        "when": [{"event": "segment_matches", "segment": "pro"}],
                        "do": [{"action": "change_data", "set": {"custom.upgraded": "yes"}}],
                    }
                ]
            },
        ],
    }
    assert api.client.put("/sequences/until-pro", json=sequence).status_code in (200, 201)
    api.client.post("/subscribers", json={"email": "ann@x.com", "data": {"custom": {"plan": "free"}}})
    api.client.post("/subscribers", json={"email": "bob@x.com", "data": {"custom": {"plan": "pro"}}})

    def custom(email: str) -> dict[str, Any]:
        data: dict[str, Any] = api.client.get(f"/subscribers/{email}").json()["data"]["custom"]
        return data

    eventually(lambda: custom("bob@x.com").get("upgraded") == "yes", timeout=20)  # holds on arrival
    api.client.post("/subscribers", json={"email": "ann@x.com", "data": {"custom": {"plan": "pro"}}})
    eventually(lambda: custom("ann@x.com").get("upgraded") == "yes", timeout=20)  # after segment_joined
