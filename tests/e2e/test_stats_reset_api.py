"""S19 (stats reset) over HTTP on both databases: history counters start from zero, on_step stays."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Api
from tests.e2e.test_versions_api import SEQUENCE  # the same three steps
from tests.support.waiting import eventually


def _settled(api: Api) -> dict[str, Any] | None:
    stats: dict[str, Any] = api.client.get("/sequences/steps/stats").json()
    return stats if stats["completed"] == 1 and [s["on_step"] for s in stats["steps"]] == [0, 1, 1] else None


def test_S19_stats_reset_zeroes_history_counters_and_keeps_on_step(api: Api) -> None:
    assert api.client.put("/sequences/steps", json=SEQUENCE).status_code == 201
    for name in ("anna", "ben", "carl"):
        assert api.client.post("/subscribers", json={"email": f"{name}@example.com"}).status_code == 201
    api.client.post("/events", json={"type": "custom", "name": "next", "email": "anna@example.com"})
    api.client.post("/events", json={"type": "custom", "name": "next", "email": "ben@example.com"})
    api.client.post("/events", json={"type": "custom", "name": "last", "email": "ben@example.com"})
    before = eventually(lambda: _settled(api), timeout=10)
    assert before["reset_at"] is None and before["entered"] == 3
    on_step = [0, 1, 1]

    reset = api.client.post("/sequences/steps/stats/reset")
    assert reset.status_code == 200
    after = reset.json()
    assert (after["entered"], after["completed"], after["stopped"]) == (0, 0, 0)
    assert all(v["fired"] == 0 for s in after["steps"] for v in s["variants"])
    assert [s["on_step"] for s in after["steps"]] == on_step
    assert after["on_steps"] == 2
    assert after["reset_at"] is not None
    assert api.client.get("/sequences/steps/stats").json()["reset_at"] == after["reset_at"]

    api.client.post("/events", json={"type": "custom", "name": "next", "email": "carl@example.com"})

    def carl_moved() -> dict[str, Any] | None:
        stats: dict[str, Any] = api.client.get("/sequences/steps/stats").json()
        return stats if stats["steps"][1]["variants"][0]["fired"] == 1 else None

    moved = eventually(carl_moved, timeout=10)
    assert moved["entered"] == 0 and [s["on_step"] for s in moved["steps"]] == [0, 0, 2]

    audit = api.client.get("/audit", params={"object": "sequence", "key": "steps"}).json()["items"]
    assert any(entry["action"] == "stats_reset" for entry in audit)


def test_S19_stats_reset_of_an_unknown_sequence_is_404(api: Api) -> None:
    refused = api.client.post("/sequences/nope/stats/reset")
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
