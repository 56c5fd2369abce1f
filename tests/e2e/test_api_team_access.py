"""SPEC S34 (scoped API keys) and S35 (audit log) through the live API, on both databases.

Every operation of the OpenAPI document is tried with a key of each scope (table-driven from the
document itself, so endpoints added later are covered): it is allowed or answered 403 `forbidden`,
never a 5xx, and never shows or changes another account's data.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from stepwise.domain.access import scope_allows
from stepwise.services import keys, lists, sequences
from stepwise.storage import schema as t
from tests.e2e.conftest import Api
from tests.support.server import api_client

RIVAL_MARK = "Rival secret"
RIVAL_SEQUENCE = {
    "name": RIVAL_MARK,
    "steps": [{"variants": [{"when": [{"event": "never"}], "do": [{"action": "nothing"}]}]}],
}
PARAMS = {"email": "boss@rival.example", "address": "boss@rival.example", "domain": "rival.example"}


def concrete(path: str, rival_id: int) -> str:
    """The path with each parameter filled in with one of the rival's objects (or a plausible value)."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name in PARAMS:
            return PARAMS[name]
        if name == "provider":
            return "sendgrid"
        if name.endswith("id"):
            return str(rival_id)
        return "secret"

    return re.sub(r"\{([^}]+)\}", value, path)


def operations(client: httpx.Client) -> list[tuple[str, str]]:
    document = client.get("/openapi.json").json()
    found = [
        (method.upper(), path.removeprefix("/api/v1"))
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(found) > 40
    return sorted(found)


def test_s34_every_operation_with_each_scope_is_allowed_or_403(api: Api, other_api: Api) -> None:
    stepwise = api.server.stepwise
    now = stepwise.clock()
    sequences.put(stepwise.db, other_api.account_id, "secret", RIVAL_SEQUENCE, now)
    lists.put(stepwise.db, other_api.account_id, "secret", RIVAL_MARK, now)
    scoped = {
        scope: keys.create_key(stepwise.db, api.account_id, f"k-{scope}", scope, now).key
        for scope in ("read", "events")
    }
    scoped["write"] = api.key
    table = operations(api.client)
    rival_key = keys.list_keys(stepwise.db, other_api.account_id).items[0].id
    seen: list[tuple[str, str, str, int]] = []
    for scope in ("read", "events", "write"):
        with api_client(api.server, scoped[scope]) as client:
            for method, path in table:
                answer = client.request(method, concrete(path, rival_key), json={})
                seen.append((scope, method, path, answer.status_code))
                assert answer.status_code < 500, (scope, method, path, answer.text)
                assert RIVAL_MARK not in answer.text, (scope, method, path)
                if scope_allows(scope, method, path):
                    assert answer.status_code != 403, (scope, method, path, answer.text)
                else:
                    assert answer.status_code == 403, (scope, method, path, answer.status_code)
                    assert answer.json()["error"]["code"] == "forbidden"
    assert {s for s, *_ in seen} == {"read", "events", "write"}
    # the rival's objects and key are untouched
    assert sequences.get(stepwise.db, other_api.account_id, "secret").name == RIVAL_MARK
    assert lists.get(stepwise.db, other_api.account_id, "secret").name == RIVAL_MARK
    assert other_api.client.get("/lists").status_code == 200


def test_s34_keys_are_named_scoped_shown_once_stored_hashed_and_revocable(api: Api, other_api: Api) -> None:
    made = api.client.post("/keys", json={"name": "reporting", "scope": "read"})
    assert made.status_code == 201, made.text
    body = made.json()
    secret = body["key"]
    assert body["name"] == "reporting" and body["scope"] == "read" and body["last_used_at"] is None
    listed = api.client.get("/keys").json()["items"]
    assert secret not in str(listed) and {k["name"] for k in listed} == {"default", "reporting"}
    with api.server.stepwise.db.read() as conn:
        hashes = conn.execute(select(t.api_keys.c.key_hash)).scalars().all()
    assert hashlib.sha256(secret.encode()).hexdigest() in hashes and secret not in hashes
    with api_client(api.server, secret) as reader:
        assert reader.get("/lists").status_code == 200
        refused = reader.put("/lists/news", json={"name": "News"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        used = next(k for k in api.client.get("/keys").json()["items"] if k["name"] == "reporting")
        assert used["last_used_at"] is not None
        assert other_api.client.delete(f"/keys/{body['id']}").status_code == 404  # not the rival's to revoke
        assert reader.get("/lists").status_code == 200
        again = next(k for k in api.client.get("/keys").json()["items"] if k["name"] == "reporting")
        assert again["last_used_at"] == used["last_used_at"]  # a key's last use is written at most once a minute
        assert api.client.delete(f"/keys/{body['id']}").status_code == 200
        assert reader.get("/lists").status_code == 401
    assert api.client.delete(f"/keys/{body['id']}").status_code == 404  # revoked once
    own = next(k for k in api.client.get("/keys").json()["items"] if k["name"] == "default")
    refused = api.client.delete(f"/keys/{own['id']}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "key_in_use"
    assert api.client.get("/keys").status_code == 200
    for bad in (
        {"name": "", "scope": "read"},
        {"name": "x", "scope": "admin"},
        {"name": "x"},
        {"name": "a" * 65, "scope": "read"},
    ):
        answer = api.client.post("/keys", json=bad)
        assert answer.status_code == 422, bad


def audit_of(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/audit", params=params)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_s35_changes_are_recorded_with_who_what_and_the_definitions(api: Api, other_api: Api) -> None:
    sequence = {"name": "Welcome", "steps": RIVAL_SEQUENCE["steps"]}
    assert api.client.put("/sequences/welcome", json=sequence).status_code in (200, 201)
    assert api.client.put("/sequences/welcome", json={**sequence, "name": "Welcome 2"}).status_code == 200
    assert api.client.post("/sequences/welcome/activate").status_code == 200
    assert api.client.put("/lists/news", json={"name": "News"}).status_code in (200, 201)
    assert api.client.delete("/lists/news").status_code in (200, 204)
    entries = audit_of(api.client, object="sequence", key="welcome")
    assert [e["action"] for e in entries] == ["publish", "update", "create"]
    assert all(e["actor"] == "key:default" for e in entries)
    update = entries[1]
    assert update["before"]["name"] == "Welcome" and update["after"]["name"] == "Welcome 2"
    assert [e["action"] for e in audit_of(api.client, object="list")] == ["delete", "create"]
    theirs = audit_of(other_api.client)  # another account sees none of it: only its own owner's creation
    assert [(e["object"], e["key"]) for e in theirs] == [("user", "owner@rival.example")]
    first = api.client.get("/audit", params={"limit": 2}).json()
    second = api.client.get("/audit", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(first["items"]) == 2 and second["items"][0]["id"] < first["items"][-1]["id"]
    assert api.client.get("/audit", params={"cursor": "nonsense"}).status_code == 400
    assert api.client.get("/audit", params={"object": "Not A Type"}).status_code == 422
    for method in ("PUT", "PATCH", "DELETE", "POST"):  # append-only: no way to change the log
        assert api.client.request(method, "/audit").status_code == 405


@pytest.mark.parametrize("scope", ["read", "events"])
def test_s35_the_actor_is_the_keys_name(api: Api, scope: str) -> None:
    stepwise = api.server.stepwise
    made = keys.create_key(stepwise.db, api.account_id, "importer", "write", stepwise.clock())
    with api_client(api.server, made.key) as client:
        assert client.put("/lists/vip", json={"name": "VIP"}).status_code in (200, 201)
    created = audit_of(api.client, object="list", key="vip")
    assert created[0]["actor"] == "key:importer"
    key_entries = audit_of(api.client, object="key", key="importer")
    assert key_entries[0]["action"] == "create" and key_entries[0]["actor"] == "cli"
