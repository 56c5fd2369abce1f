"""S25 keyed waits: the pure comparison of an event's data with the entry event's data."""

from __future__ import annotations

from stepwise.engine.matching import entry_data, same_keys_match
from stepwise.engine.model import MAX_ENTRY_BYTES, EmailCommand, Event, SequenceInfo, StartRun
from tests.unit.builders import (
    NOTHING,
    T0,
    World,
    after,
    custom,
    custom_event,
    days,
    edge,
    emails,
    event,
    hours,
    on,
    send,
    sequence,
    transitions,
)


def test_s25_same_cart_matches() -> None:
    assert same_keys_match(["cart_id"], {"cart_id": "c1", "total": 5}, {"cart_id": "c1"})


def test_s25_other_cart_does_not_match() -> None:
    assert not same_keys_match(["cart_id"], {"cart_id": "c2"}, {"cart_id": "c1"})


def test_s25_every_listed_field_must_be_equal() -> None:
    entry = {"cart_id": "c1", "shop": {"id": 7}}
    assert same_keys_match(["cart_id", "shop.id"], {"cart_id": "c1", "shop": {"id": 7}}, entry)
    assert not same_keys_match(["cart_id", "shop.id"], {"cart_id": "c1", "shop": {"id": 8}}, entry)


def test_s25_missing_field_on_either_side_does_not_match() -> None:
    assert not same_keys_match(["cart_id"], {}, {"cart_id": "c1"})
    assert not same_keys_match(["cart_id"], {"cart_id": "c1"}, {})
    assert not same_keys_match(["cart_id"], {"cart_id": None}, {"cart_id": None})


def test_s25_run_without_entry_event_never_matches_a_keyed_spec() -> None:
    assert not same_keys_match(["cart_id"], {"cart_id": "c1"}, None)
    assert not same_keys_match(["cart_id"], None, {"cart_id": "c1"})


def test_s25_no_same_list_always_matches() -> None:
    assert same_keys_match(None, None, None)
    assert same_keys_match([], {"cart_id": "c2"}, {"cart_id": "c1"})


def test_s25_equality_is_json_equality() -> None:
    assert not same_keys_match(["k"], {"k": True}, {"k": 1})
    assert not same_keys_match(["k"], {"k": "1"}, {"k": 1})
    assert same_keys_match(["k"], {"k": {"a": 1, "b": 2}}, {"k": {"b": 2, "a": 1}})


# ---------------------------------------------------------------- through the engine


def _cart(*, wait: dict[str, object] | None = None) -> SequenceInfo:
    """Abandoned cart: entered by cart_abandoned; purchase of the same cart ends it, else a reminder in 1d."""
    step2 = [
        on(wait or custom("purchase", same=["cart_id"]), do=NOTHING),
        on(after("1d"), do=send("reminder")),
    ]
    return sequence("cart", on(custom("cart_abandoned"), do=send("first")), step2)


def test_s25_purchase_of_another_cart_does_not_end_the_wait() -> None:
    world = World.of(_cart())
    world.feed(custom_event("cart_abandoned", T0, cart_id="c1"))
    outcome = world.feed(custom_event("purchase", T0 + hours(1), cart_id="c2"))
    assert transitions(outcome) == []
    assert world.run("cart") is not None and world.run("cart").step == 2  # type: ignore[union-attr]
    due = world.advance(days(1))
    assert transitions(due) == [("cart", 2, 2)] and emails(due.commands) == ["reminder"]


def test_s25_purchase_of_the_same_cart_ends_the_wait() -> None:
    world = World.of(_cart())
    world.feed(custom_event("cart_abandoned", T0, cart_id="c1"))
    outcome = world.feed(custom_event("purchase", T0 + hours(1), cart_id="c1"))
    assert transitions(outcome) == [("cart", 2, 1)]
    assert world.last_run("cart").status == "completed"


def test_s25_the_run_keeps_its_entry_event_and_emails_carry_it() -> None:
    world = World.of(_cart())
    outcome = world.feed(
        Event(
            kind="custom",
            payload={"name": "cart_abandoned", "data": {"cart_id": "c1"}},
            source="api",
            at=T0,
            occurred_at=T0 - hours(2),
        )
    )
    run = world.last_run("cart")
    assert run.entry == {
        "type": "custom",
        "name": "cart_abandoned",
        "source": "api",
        "at": "2026-03-02T09:00:00Z",
        "occurred_at": "2026-03-02T07:00:00Z",
        "data": {"cart_id": "c1"},
    }
    [command] = outcome.commands
    assert isinstance(command, EmailCommand) and command.entry == run.entry
    due = world.advance(days(1))
    [reminder] = due.commands
    assert isinstance(reminder, EmailCommand) and reminder.entry["data"] == {"cart_id": "c1"}


def test_s25_a_new_pass_has_its_own_entry_event() -> None:
    world = World.of(_cart())
    world.feed(custom_event("cart_abandoned", T0, cart_id="c1"))
    world.feed(custom_event("purchase", T0 + hours(1), cart_id="c1"))
    world.feed(custom_event("cart_abandoned", T0 + hours(2), cart_id="c2"))
    assert world.last_run("cart").pass_no == 2
    assert transitions(world.feed(custom_event("purchase", T0 + hours(3), cart_id="c1"))) == []
    assert transitions(world.feed(custom_event("purchase", T0 + hours(4), cart_id="c2"))) == [("cart", 2, 1)]


def test_s25_a_run_started_by_hand_never_matches_a_keyed_wait() -> None:
    world = World.of(_cart())
    world.feed(StartRun(sequence="cart", at=T0))
    assert world.last_run("cart").entry is None
    assert transitions(world.feed(custom_event("purchase", T0 + hours(1), cart_id="c1"))) == []


def test_s25_keyed_other_edge_events_compare_their_fields() -> None:
    seq = sequence(
        "lists",
        on(edge("list_joined"), do=NOTHING),
        on(edge("list_left", same=["list"]), do=NOTHING),
    )
    world = World.of(seq)
    world.feed(event("list_joined", T0, list="vip"))
    assert transitions(world.feed(event("list_left", T0 + hours(1), list="news"))) == []
    assert transitions(world.feed(event("list_left", T0 + hours(2), list="vip"))) == [("lists", 2, 1)]


def test_s25_oversized_entry_data_is_not_kept_and_never_matches() -> None:
    big = "x" * (MAX_ENTRY_BYTES + 1)
    entry = custom_event("cart_abandoned", T0, cart_id="c1", blob=big).entry()
    assert entry["data"] == {} and entry["data_dropped"] is True
    assert entry_data(entry) is None and entry_data(None) is None
    world = World.of(_cart())
    world.feed(custom_event("cart_abandoned", T0, cart_id="c1", blob=big))
    assert transitions(world.feed(custom_event("purchase", T0 + hours(1), cart_id="c1"))) == []
