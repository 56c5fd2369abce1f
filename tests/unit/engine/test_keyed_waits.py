"""S25 keyed waits: the pure comparison of an event's data with the entry event's data."""

from __future__ import annotations

from stepwise.engine.matching import same_keys_match


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
