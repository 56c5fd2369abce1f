"""S20: the simulator's world and script, pure (no I/O): state carried between engine calls as storage does."""

from __future__ import annotations

from typing import Any

import pytest

from stepwise.simulation.offline import simulate
from stepwise.simulation.script import ScriptError, parse_script
from stepwise.simulation.world import World
from tests.unit.builders import T0, add_to, after, catalog, days, edge, hours, on, send, sequence, set_data, where


def _script(events: list[dict[str, Any]], **extra: Any) -> Any:
    return parse_script(
        {
            "start": "2026-03-02T09:00:00Z",
            "until": "+10d",
            "subscribers": [{"email": "anna@example.com", "data": {"base": {"city": "Kazan"}}}, "boris@example.com"],
            "events": events,
            **extra,
        }
    )


def test_S20_list_and_data_events_change_the_subscriber_and_waits_see_it() -> None:
    seq = sequence(
        "s",
        on(edge("list_joined", list="vip"), do=set_data(**{"custom.vip": True})),
        on({"event": "data_matches", "where": where("base.city", "eq", "Omsk")}, do=send("moved")),
    )
    script = _script(
        [
            {"at": "+1h", "email": "anna@example.com", "event": "list_joined", "list": "vip"},
            {"at": "+2h", "email": "anna@example.com", "event": "list_joined", "list": "vip"},  # no change
            {"at": "+3h", "email": "anna@example.com", "event": "data_changed", "set": {"base.city": "Omsk"}},
        ]
    )
    result = simulate(catalog(seq), {"moved": "Now in {{ data.base.city }}"}, script)
    anna = result.timelines["anna@example.com"]
    assert [e["subject"] for e in anna if e["kind"] == "email"] == ["Now in Omsk"]
    assert sum(1 for e in anna if e["kind"] == "entered") == 1
    assert result.stats[0]["completed"] == 1
    assert result.timelines["boris@example.com"] == []


def test_S20_ticks_and_until_fire_deadlines_on_the_virtual_clock() -> None:
    seq = sequence("s", on(edge("subscriber_added"), do=send("a")), on(after("2d"), do=send("b")))
    world = World(catalog(seq), {"a": "A", "b": "B"})
    life = world.add("anna@example.com", "active", {}, set())
    world.happen(life, "subscriber_added", {}, T0)
    world.step(life, [], T0 + days(1))
    assert world.emails == {"a": 1}
    world.step(life, [], T0 + days(2))
    assert world.emails == {"a": 1, "b": 1}
    assert [e["at"] for e in life.timeline if e["kind"] == "email"] == ["2026-03-02T09:00:00Z", "2026-03-04T09:00:00Z"]


def test_S20_clicks_and_opens_belong_to_the_latest_email_sent() -> None:
    seq = sequence(
        "s",
        on(edge("subscriber_added"), do=send("a")),
        on(edge("email_opened", draft="a"), do=add_to("openers")),
    )
    world = World(catalog(seq), None, keep_timelines=False)
    life = world.add("anna@example.com", "active", {}, set())
    world.happen(life, "email_opened", {}, T0)  # nothing sent yet: matches no run
    world.happen(life, "subscriber_added", {}, T0 + hours(1))
    world.happen(life, "email_opened", {}, T0 + hours(2))
    assert life.sub.lists == {"openers"}
    assert life.timeline == []  # not kept when asked not to
    assert world.counters[("s", "completed", 0, 0)] == 1


def test_S20_start_enters_by_S9_and_unsubscribe_ends_the_run() -> None:
    seq = sequence("s", on(edge("never"), do=send("a")), on(after("1d"), do=send("b")), exit_on_unsubscribe=True)
    world = World(catalog(seq))
    life = world.add("anna@example.com", "active", {}, set())
    world.start(life, "s", T0)
    world.happen(life, "unsubscribed", {}, T0 + hours(1))
    world.step(life, [], T0 + days(3))
    assert world.emails == {"a": 1}
    assert world.counters[("s", "stopped:unsubscribed", 0, 0)] == 1
    assert life.sub.status == "unsubscribed"


def test_S20_custom_events_and_confirmations() -> None:
    seq = sequence(
        "s",
        on(edge("subscription_confirmed"), do=send("a")),
        on({"event": "custom", "name": "paid"}, do=send("b")),
    )
    script = _script(
        [
            {"at": "+0h", "email": "boris@example.com", "event": "subscription_confirmed"},
            {"at": "2026-03-03T09:00:00Z", "email": "boris@example.com", "event": "custom", "name": "paid"},
            {"at": "+5d", "event": "tick"},
        ]
    )
    result = simulate(catalog(seq), {"a": "{{ event.method }}", "b": "{{ 1 // 0 }}"}, script)
    emails = [e for e in result.timelines["boris@example.com"] if e["kind"] == "email"]
    assert emails[0]["subject"] == "link"
    assert emails[1]["subject"].startswith("(cannot render")
    assert result.as_json()["stats"][0]["completed"] == 1


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ([], "$: a script is a mapping"),
        ({"until": "+1d"}, "$.start: required"),
        ({"start": "2026-01-01", "until": "+1d", "subscribers": [], "x": 1}, "$.x: unknown field"),
        ({"start": "2026-01-01", "until": "-1d", "subscribers": ["a@b.c"]}, "$.until: must not be before start"),
        ({"start": "2026-01-01", "until": "+1q", "subscribers": ["a@b.c"]}, "$.until:"),
        ({"start": "2026-01-01", "until": "+1d", "subscribers": [{"email": "x"}]}, "$.subscribers[0].email"),
        ({"start": "2026-01-01", "until": "+1d", "subscribers": ["a@b.c", "A@b.c"]}, "listed twice"),
        ({"start": "2026-01-01", "until": "+1d", "subscribers": [{"email": "a@b.c", "status": "x"}]}, "status"),
        ({"start": "2026-01-01", "until": "+1d", "subscribers": [{"email": "a@b.c", "lists": [1]}]}, "lists"),
        ({"start": "2026-01-01", "until": "+1d", "subscribers": [{"email": "a@b.c", "data": 1}]}, "data"),
        ({"start": "2026-01-01", "until": "+1d", "subscribers": [3]}, "$.subscribers[0]: must be"),
        ({"start": "2026-01-01", "until": "+1d", "subscribers": ["a@b.c"], "events": {}}, "$.events: must be"),
        ({"start": "2026-01-01", "until": "+1d", "subscribers": ["a@b.c"], "events": [1]}, "$.events[0]: must be"),
    ],
)
def test_S20_bad_scripts_name_each_problem(script: Any, problem: str) -> None:
    with pytest.raises(ScriptError) as caught:
        parse_script(script)
    assert any(problem in found for found in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"event": "list_joined"}, ".list: required"),
        ({"event": "custom"}, ".name: required"),
        ({"event": "custom", "name": "x", "data": 1}, ".data: must be"),
        ({"event": "data_changed"}, ".set: required"),
        ({"event": "tick", "at": "2025-01-01T00:00:00Z"}, ".at: before start"),
    ],
)
def test_S20_bad_events_name_each_problem(event: dict[str, Any], problem: str) -> None:
    item = {"at": "+1h", "email": "anna@example.com", **event}
    with pytest.raises(ScriptError) as caught:
        _script([item])
    assert any(problem in found for found in caught.value.problems), caught.value.problems


def test_s25_the_simulator_renders_entry_and_keys_waits_to_the_entry_event() -> None:
    seq = sequence(
        "cart",
        on({"event": "custom", "name": "cart_abandoned"}, do=send("first")),
        [
            on({"event": "custom", "name": "purchase", "same": ["cart_id"]}, do=send("thanks")),
            on(after("1d"), do=send("reminder")),
        ],
    )
    cart = {"at": "+1h", "email": "anna@example.com", "event": "custom", "name": "cart_abandoned"}
    script = _script(
        [
            {**cart, "data": {"cart_id": "c1"}},
            {
                "at": "+2h",
                "email": "anna@example.com",
                "event": "custom",
                "name": "purchase",
                "data": {"cart_id": "c2"},
            },
            {**cart, "email": "boris@example.com", "data": {"cart_id": "c2"}},
            {
                "at": "+3h",
                "email": "boris@example.com",
                "event": "custom",
                "name": "purchase",
                "data": {"cart_id": "c2"},
            },
        ]
    )
    drafts = {
        "first": "Cart {{ entry.data.cart_id }}",
        "thanks": "Paid {{ entry.data.cart_id }}",
        "reminder": "Still {{ entry.name }}",
    }
    result = simulate(catalog(seq), drafts, script)
    subjects = {email: [e["subject"] for e in t if e["kind"] == "email"] for email, t in result.timelines.items()}
    assert subjects == {
        "anna@example.com": ["Cart c1", "Still cart_abandoned"],
        "boris@example.com": ["Cart c2", "Paid c2"],
    }
