"""GET/PUT /settings over HTTP (SPEC §17): defaults, replacement, refusals that change nothing."""

from __future__ import annotations

from tests.e2e.conftest import Api

GOOD = {
    "timezone": "Europe/Berlin",
    "default_from_email": "News@Example.com",
    "default_from_name": "Example",
    "reply_to": "help@example.com",
    "send_window": {"days": ["mon", "fri"], "from": "09:00", "to": "18:00", "timezone": "subscriber"},
    "caps": [{"emails": 1, "per": "1d"}, {"emails": 3, "per": "7d"}],
    "soft_bounce_limit": 5,
}


def test_settings_start_at_their_defaults_and_are_replaced_as_a_whole(api: Api, other_api: Api) -> None:
    defaults = api.client.get("/settings").json()
    assert defaults == {
        "timezone": "UTC",
        "default_from_email": None,
        "default_from_name": None,
        "reply_to": None,
        "send_window": None,
        "caps": [],
        "soft_bounce_limit": 3,
    }
    saved = api.client.put("/settings", json=GOOD)
    assert saved.status_code == 200, saved.text
    assert saved.json()["default_from_email"] == "News@example.com"
    assert saved.json()["send_window"] == GOOD["send_window"]
    assert api.client.get("/settings").json() == saved.json()
    assert other_api.client.get("/settings").json() == defaults
    assert api.client.put("/settings", json={"timezone": "Europe/Berlin"}).json()["caps"] == []


def test_bad_settings_are_refused_with_their_path_and_change_nothing(api: Api) -> None:
    assert api.client.put("/settings", json=GOOD).status_code == 200
    before = api.client.get("/settings").json()
    bad = [
        ({"timezone": "Mars/Olympus"}, "$.timezone"),
        ({"default_from_email": "not an address"}, "$.default_from_email"),
        ({"send_window": {"from": "09:00", "to": "09:00"}}, "$.send_window"),
        ({"send_window": {"from": "25:00", "to": "09:00"}}, "$.send_window.from"),
        ({"send_window": {"from": "09:00", "to": "10:00", "days": ["someday"]}}, "$.send_window.days[0]"),
        ({"send_window": {"from": "09:00", "to": "10:00", "timezone": "Nowhere/City"}}, "$.send_window.timezone"),
        ({"caps": [{"emails": 0, "per": "1d"}]}, "$.caps[0].emails"),
        ({"caps": [{"emails": 1, "per": "forever"}]}, "$.caps[0].per"),
        ({"caps": [{"emails": 1, "per": "1d"}] * 11}, "$.caps"),
        ({"soft_bounce_limit": 0}, "$.soft_bounce_limit"),
        ({"surprise": True}, "$.surprise"),
    ]
    for body, path in bad:
        response = api.client.put("/settings", json=body)
        assert response.status_code == 422, (body, response.text)
        paths = [d["path"] for d in response.json()["error"]["details"]]
        assert any(p.startswith(path) for p in paths), (body, paths)
    assert (
        api.client.put("/settings", content=b"{nope", headers={"content-type": "application/json"}).status_code == 400
    )
    assert api.client.get("/settings").json() == before
