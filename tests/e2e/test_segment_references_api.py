"""Sequences refer to segments that exist (SPEC §15, S22): unknown ones refused with a path, used ones kept."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Api

PRO = {"field": "custom.plan", "op": "eq", "value": "pro"}


def waits_for(segment: str) -> dict[str, Any]:
    return {
        "name": "Until pro",
        "status": "active",
        "steps": [
            {"variants": [{"when": [{"event": "segment_joined", "segment": segment}], "do": [{"action": "nothing"}]}]},
            {
                "variants": [
                    {
                        "when": [{"event": "segment_matches", "segment": segment, "member": False}],
                        "do": [{"action": "nothing"}],
                    }
                ]
            },
        ],
    }


def test_S22_a_sequence_naming_an_unknown_segment_gets_422_at_its_path(api: Api) -> None:
    reply = api.client.put("/sequences/until-pro", json=waits_for("nope"))
    assert reply.status_code == 422, reply.text
    paths = {d["path"] for d in reply.json()["error"]["details"]}
    assert paths == {"$.steps[0].variants[0].when[0].segment", "$.steps[1].variants[0].when[0].segment"}, paths
    assert api.client.get("/sequences/until-pro").status_code == 404


def test_S22_deleting_a_segment_a_sequence_uses_gets_409_in_use(api: Api) -> None:
    assert api.client.put("/segments/pro", json={"name": "Pro", "where": PRO}).status_code == 201
    reply = api.client.put("/sequences/until-pro", json=waits_for("pro"))
    assert reply.status_code in (200, 201), reply.text
    refused = api.client.delete("/segments/pro")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "in_use" and error["details"]["used_by"] == ["until-pro"]
    assert api.client.get("/segments/pro").status_code == 200
    assert api.client.delete("/sequences/until-pro").status_code in (200, 204)
    assert api.client.delete("/segments/pro").status_code == 204


def test_S22_a_draft_naming_an_unknown_segment_gets_422_at_its_path(api: Api) -> None:
    api.client.put("/segments/pro", json={"name": "Pro", "where": PRO})
    assert api.client.put("/sequences/until-pro", json=waits_for("pro")).status_code in (200, 201)
    reply = api.client.put("/sequences/until-pro/draft", json=waits_for("gone"))
    assert reply.status_code == 422, reply.text
    paths = {d["path"] for d in reply.json()["error"]["details"]}
    assert "$.steps[1].variants[0].when[0].segment" in paths, paths
    assert api.client.get("/sequences/until-pro/draft").status_code == 404


def test_S22_deleting_a_segment_a_sequence_draft_uses_gets_409_in_use(api: Api) -> None:
    assert api.client.put("/segments/pro", json={"name": "Pro", "where": PRO}).status_code == 201
    other = {
        "name": "Until pro",
        "steps": [{"variants": [{"when": [{"event": "never"}], "do": [{"action": "nothing"}]}]}],
    }
    made = api.client.put("/sequences/until-pro", json=other)
    assert made.status_code in (200, 201), made.text
    assert api.client.put("/sequences/until-pro/draft", json=waits_for("pro")).status_code in (200, 201)
    refused = api.client.delete("/segments/pro")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["details"]["used_by"] == ["until-pro (draft)"]
    assert api.client.delete("/sequences/until-pro/draft").status_code == 204
    assert api.client.delete("/segments/pro").status_code == 204
