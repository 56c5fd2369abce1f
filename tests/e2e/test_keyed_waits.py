"""S25 keyed waits over the API, on both databases: abandoned carts, each waiting for its own purchase."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Api
from tests.support.waiting import eventually

DRAFT = {
    "subject": "Your cart {{ entry.data.cart_id }} ({{ entry.name }})",
    "html": "<p>Cart {{ entry.data.cart_id }} worth {{ entry.data.total }}; this event: {{ event.cart_id }}</p>",
    "from_email": "shop@example.com",
}
CART = {
    "name": "Abandoned cart",
    "status": "active",
    "steps": [
        {
            "variants": [
                {
                    "when": [{"event": "custom", "name": "cart_abandoned"}],
                    "do": [{"action": "send_email", "draft": "cart"}],
                }
            ]
        },
        {
            "variants": [
                {
                    "when": [{"event": "custom", "name": "purchase", "same": ["cart_id"]}],
                    "do": [{"action": "nothing"}],
                },
                {"when": [{"event": "time_passed", "after": "1d"}], "do": [{"action": "send_email", "draft": "cart"}]},
            ]
        },
    ],
}


def _post(api: Api, name: str, email: str, **data: Any) -> None:
    answer = api.client.post("/events", json={"type": "custom", "name": name, "email": email, "data": data})
    assert answer.status_code == 202, answer.text


def _runs(api: Api, email: str) -> list[tuple[str, int, int]]:
    items = api.client.get(f"/subscribers/{email}/runs").json()["items"]
    return sorted((r["status"], r["pass"], r["step"]) for r in items)


def _transitions(api: Api, email: str) -> list[int]:
    items = api.client.get(f"/subscribers/{email}/timeline").json()["items"]
    return [e["step"] for e in items if e["kind"] == "transition"]


def _purchases_seen(api: Api, email: str) -> int:
    """How many purchase events the engine has processed for this subscriber (on the timeline)."""
    items = api.client.get(f"/subscribers/{email}/timeline").json()["items"]
    return sum(1 for e in items if e["kind"] == "event" and e.get("payload", {}).get("name") == "purchase")


def test_s25_purchase_of_the_other_cart_does_not_end_the_wait_but_the_same_cart_does(api: Api) -> None:
    assert api.client.put("/drafts/cart", json=DRAFT).status_code == 201
    assert api.client.put("/sequences/cart", json=CART).status_code == 201
    for email in ("ann@example.com", "bob@example.com"):
        assert api.client.post("/subscribers", json={"email": email}).status_code == 201
    _post(api, "cart_abandoned", "ann@example.com", cart_id="c1", total=30)
    _post(api, "cart_abandoned", "bob@example.com", cart_id="c2", total=50)
    eventually(lambda: len(api.client.get("/issues", params={"status": "sent"}).json()["items"]) == 2 or None)

    _post(api, "purchase", "ann@example.com", cart_id="c2")  # another cart: Ann still waits
    _post(api, "purchase", "bob@example.com", cart_id="c2")  # Bob's own cart: his wait ends
    eventually(lambda: _runs(api, "bob@example.com") == [("completed", 1, 2)] or None)
    eventually(lambda: _purchases_seen(api, "ann@example.com") == 1 or None)
    assert _runs(api, "ann@example.com") == [("active", 1, 2)]
    assert _transitions(api, "ann@example.com") == [1]

    issues = api.client.get("/issues", params={"status": "sent"}).json()["items"]
    subjects = sorted(i["subject"] for i in issues)
    assert subjects == ["Your cart c1 (cart_abandoned)", "Your cart c2 (cart_abandoned)"]
    ann = next(i for i in issues if i["email"] == "ann@example.com")
    html = api.client.get(f"/issues/{ann['id']}/message").json()["html"]
    assert "Cart c1 worth 30; this event: c1" in html

    _post(api, "purchase", "ann@example.com", cart_id="c1")
    eventually(lambda: _runs(api, "ann@example.com") == [("completed", 1, 2)] or None)
    stats = api.client.get("/sequences/cart/stats").json()
    fired = [(v["variant"], v["fired"]) for v in stats["steps"][1]["variants"]]
    assert fired == [(1, 2), (2, 0)]


def test_s25_a_run_started_by_hand_has_no_entry_event(api: Api) -> None:
    assert api.client.put("/drafts/cart", json=DRAFT).status_code == 201
    assert api.client.put("/sequences/cart", json=CART).status_code == 201
    assert api.client.post("/subscribers", json={"email": "cy@example.com"}).status_code == 201
    started = api.client.post("/sequences/cart/runs", json={"email": "cy@example.com"})
    assert started.status_code in (200, 201), started.text
    issues = eventually(lambda: api.client.get("/issues", params={"status": "sent"}).json()["items"] or None)
    assert issues[0]["subject"] == "Your cart ()"  # no entry event: `entry` renders empty
    _post(api, "purchase", "cy@example.com", cart_id="c1")
    eventually(lambda: _purchases_seen(api, "cy@example.com") == 1 or None)
    assert _runs(api, "cy@example.com") == [("active", 1, 2)]


def test_s25_same_at_step_one_is_refused_and_nothing_is_saved(api: Api) -> None:
    bad = {
        **CART,
        "steps": [
            {
                "variants": [
                    {"when": [{"event": "custom", "name": "x", "same": ["cart_id"]}], "do": [{"action": "nothing"}]}
                ]
            }
        ],
    }
    answer = api.client.put("/sequences/cart", json=bad)
    assert answer.status_code == 422
    body = answer.json()
    assert "$.steps[0].variants[0].when[0].same" in str(body)
    assert api.client.get("/sequences/cart").status_code == 404
    empty = {
        **CART,
        "steps": [
            CART["steps"][0],
            {"variants": [{"when": [{"event": "custom", "name": "p", "same": []}], "do": [{"action": "nothing"}]}]},
        ],
    }
    answer = api.client.put("/sequences/cart", json=empty)
    assert answer.status_code == 422 and "same" in answer.text
    assert api.client.get("/sequences/cart").status_code == 404
