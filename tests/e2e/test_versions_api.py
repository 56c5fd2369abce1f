"""S16 over HTTP on both databases: PUT publishes versions, step_map, the versions endpoints, bad input."""

from __future__ import annotations

import copy
from typing import Any

from tests.e2e.conftest import Api
from tests.support.waiting import eventually

NOTHING = [{"action": "nothing"}]
SEQUENCE: dict[str, Any] = {
    "name": "Steps",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": NOTHING}]},
        {"variants": [{"when": [{"event": "custom", "name": "next"}], "do": NOTHING}]},
        {"variants": [{"when": [{"event": "custom", "name": "last"}], "do": NOTHING}]},
    ],
}


def test_S16_put_publishes_versions_over_http(api: Api) -> None:
    assert api.client.put("/sequences/steps", json=SEQUENCE).json()["version"] == 1
    assert api.client.post("/subscribers", json={"email": "anna@example.com"}).status_code == 201
    api.client.post("/events", json={"type": "custom", "name": "next", "email": "anna@example.com"})

    def at_step_3() -> list[Any] | None:
        items = api.client.get("/sequences/steps/runs").json()["items"]
        return items if items and items[0]["step"] == 3 else None

    eventually(at_step_3, timeout=10)
    assert api.client.put("/sequences/steps", json=SEQUENCE).json()["version"] == 1  # identical: no version
    assert api.client.post("/sequences/steps/pause").json()["version"] == 1

    shorter = copy.deepcopy(SEQUENCE)
    shorter["steps"] = shorter["steps"][:2]
    refused = api.client.put("/sequences/steps", json=shorter)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "runs_on_removed_steps"
    bad = api.client.put("/sequences/steps", json={**shorter, "step_map": {"3": "elsewhere"}})
    assert bad.status_code == 422
    bad = api.client.put("/sequences/steps", json={**shorter, "step_map": {"9": 1}})
    assert bad.status_code == 422
    assert api.client.get("/sequences/steps").json()["version"] == 1  # nothing changed

    moved = api.client.put("/sequences/steps", json={**shorter, "step_map": {"3": 2}})
    assert moved.status_code == 200 and moved.json()["version"] == 2
    run = api.client.get("/sequences/steps/runs").json()["items"][0]
    assert (run["step"], run["version"]) == (2, 2)

    listed = api.client.get("/sequences/steps/versions").json()
    assert listed["live"] == 2
    assert [(v["version"], v["runs"], v["mode"]) for v in listed["items"]] == [(2, 1, "migrate"), (1, 0, "migrate")]
    assert listed["items"][0]["who"].startswith("key:")
    first = api.client.get("/sequences/steps/versions/1").json()
    assert len(first["definition"]["steps"]) == 3
    assert api.client.get("/sequences/steps/versions/7").status_code == 404
    assert api.client.get("/sequences/nope/versions").status_code == 404
    assert api.client.get("/sequences/steps/versions/0").status_code == 422


def test_S17_S18_draft_preview_publish_and_restore_over_http(api: Api) -> None:
    assert api.client.put("/sequences/steps", json=SEQUENCE).status_code == 201
    assert api.client.post("/sequences/steps/publish", json={"mode": "pin"}).json()["error"]["code"] == "no_draft"
    assert api.client.get("/sequences/steps/draft").status_code == 404
    assert api.client.put("/sequences/steps/draft", json={"name": "x"}).status_code == 422
    assert api.client.put("/sequences/nope/draft", json=SEQUENCE).status_code == 404
    assert api.client.post("/subscribers", json={"email": "anna@example.com"}).status_code == 201
    eventually(lambda: api.client.get("/sequences/steps/runs").json()["items"] or None, timeout=10)

    shorter = {**SEQUENCE, "steps": SEQUENCE["steps"][:1]}
    draft = api.client.put("/sequences/steps/draft", json=shorter)
    assert draft.status_code == 200 and draft.json()["based_on"] == 1
    assert api.client.get("/sequences/steps/draft").json()["definition"]["steps"] == shorter["steps"]

    preview = api.client.post("/sequences/steps/publish", json={"mode": "migrate", "dry_run": True})
    assert preview.status_code == 200
    body = preview.json()
    assert (body["from_version"], body["to_version"], body["runs"]) == (1, 2, 1)
    assert body["steps"] == [{"step": 2, "runs": 1, "to": None, "deadline_changes": 0, "stopped": 0}]
    assert body["problems"]
    bad = api.client.post("/sequences/steps/publish", json={"mode": "sideways"})
    assert bad.status_code == 422
    bad = api.client.post("/sequences/steps/publish", json={"mode": "migrate", "step_map": {"2": 0}})
    assert bad.status_code == 422

    done = api.client.post("/sequences/steps/publish", json={"mode": "pin", "note": "one step"})
    assert done.status_code == 200 and done.json() == {
        "sequence": "steps",
        "version": 2,
        "mode": "pin",
        "created": True,
    }
    assert api.client.get("/sequences/steps/draft").status_code == 404
    run = api.client.get("/sequences/steps/runs").json()["items"][0]
    assert (run["step"], run["version"], run["status"]) == (2, 1, "active")  # pinned on version 1

    restored = api.client.post("/sequences/steps/versions/1/restore")
    assert restored.status_code == 200 and len(restored.json()["definition"]["steps"]) == 3
    assert api.client.post("/sequences/steps/versions/5/restore").status_code == 404
    assert api.client.delete("/sequences/steps/draft").status_code == 204
    assert api.client.delete("/sequences/steps/draft").status_code == 404


def test_S16_stats_by_version_over_http(api: Api) -> None:
    assert api.client.put("/sequences/steps", json=SEQUENCE).status_code == 201
    stats = api.client.get("/sequences/steps/stats").json()
    assert stats["versions"] == [{"version": 1, "entered": 0, "on_steps": 0, "completed": 0}]
    assert api.client.get("/sequences/steps/stats", params={"version": 1}).json()["version"] == 1
    assert api.client.get("/sequences/steps/stats", params={"version": 2}).status_code == 404
    assert api.client.get("/sequences/steps/stats", params={"version": 0}).status_code == 422
