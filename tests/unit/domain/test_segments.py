"""Segment predicates (SPEC §15): parsing with JSON-path problems, evaluation over facts, re-test moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stepwise.domain.segments import (
    CLICKED,
    EVERYTHING,
    OPENED,
    SENT,
    Facts,
    Touch,
    concerns,
    list_keys,
    lower,
    matcher,
    matches,
    needs_activity,
    next_change,
    parse_where,
    uses_now,
    view_of,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FACTS = Facts(status="active", lists=frozenset({"vip"}), created_at="2026-02-20T12:00:00Z")


def parsed(raw: dict[str, Any]) -> Any:
    predicate, problems = parse_where(raw)
    assert problems == [] and predicate is not None
    return predicate


def test_S22_not_contains_on_lists_is_a_negated_contains() -> None:
    raw = {"field": "subscriber.lists", "op": "not_contains", "value": "vip"}
    assert lower(raw) == {"not": {"field": "subscriber.lists", "op": "contains", "value": "vip"}}
    assert lower([{"any": [raw]}]) == [{"any": [lower(raw)]}]
    assert not matches(parsed(raw), {}, FACTS, NOW)
    assert matches(parsed({**raw, "value": "news"}), {}, FACTS, NOW)


def test_S22_facts_are_laid_over_the_profile() -> None:
    where = {
        "all": [
            {"field": "subscriber.status", "op": "eq", "value": "active"},
            {"field": "subscriber.lists", "op": "contains", "value": "vip"},
            {"field": "subscriber.created_at", "op": "gte", "value": {"now": "-30d"}},
            {"field": "base.city", "op": "eq", "value": "Paris"},
        ]
    }
    data = {"base": {"city": "Paris"}, "subscriber": {"status": "forged"}}
    assert matches(parsed(where), data, FACTS, NOW)
    assert not matches(parsed(where), data, Facts("unsubscribed", FACTS.lists, FACTS.created_at), NOW)


def test_S22_activity_instants_are_missing_until_known() -> None:
    opened = parsed({"field": "subscriber.last_opened_at", "op": "gte", "value": {"now": "-7d"}})
    never = parsed({"field": "subscriber.last_clicked_at", "op": "not_exists"})
    assert needs_activity(opened) and not needs_activity(parsed({"field": "a", "op": "exists"}))
    assert not matches(opened, {}, FACTS, NOW) and matches(never, {}, FACTS, NOW)
    active = Facts("active", frozenset(), FACTS.created_at, last_opened_at="2026-02-28T00:00:00Z")
    assert matches(opened, {}, active, NOW)
    sent = Facts("active", frozenset(), FACTS.created_at, last_sent_at="2026-02-28T00:00:00Z")
    assert matches(parsed({"field": "subscriber.last_sent_at", "op": "exists"}), {}, sent, NOW)


@pytest.mark.parametrize(
    ("raw", "path", "text"),
    [
        ({"field": "subscriber.shoe", "op": "eq", "value": 1}, "$.where", "a segment knows"),
        ({"field": "subscriber.lists", "op": "eq", "value": "vip"}, "$.where", "only the ops"),
        ({"field": "subscriber.lists", "op": "contains", "value": 3}, "$.where", "list key"),
        ({"field": "event.x", "op": "exists"}, "$.where", "event fields"),
        ({"any": [{"field": "a", "op": "eq"}]}, "$.where.any[0]", "needs a value"),
        ("nope", "$.where", "predicate"),
    ],
)
def test_S22_invalid_predicates_are_refused_with_their_path(raw: Any, path: str, text: str) -> None:
    predicate, problems = parse_where(raw)
    assert predicate is None and problems
    assert any(p.path.startswith(path) and text in p.message for p in problems), problems


def test_S22_re_test_moment_is_when_now_crosses_the_instant() -> None:
    recent = parsed({"field": "subscriber.created_at", "op": "gte", "value": {"now": "-30d"}})
    assert uses_now(recent) and not uses_now(parsed({"field": "a", "op": "exists"}))
    assert next_change(recent, view_of({}, FACTS), NOW) == datetime(2026, 3, 22, 12, 0, tzinfo=UTC)
    assert next_change(recent, view_of({}, FACTS), NOW + timedelta(days=30)) is None  # already past
    renews = parsed(
        {
            "any": [
                {"field": "custom.renews", "op": "lt", "value": {"now": "-1d"}},
                {"field": "custom.x", "op": "lt", "value": {"now": "-1d"}},
            ]
        }
    )
    data = {"custom": {"renews": "2026-03-05T00:00:00Z", "x": "not a date"}}
    assert next_change(renews, view_of(data, FACTS), NOW) == datetime(2026, 3, 6, 0, 0, tzinfo=UTC)


def test_S22_list_keys_named() -> None:
    where = {
        "any": [
            {"field": "subscriber.lists", "op": "not_contains", "value": "a"},
            {"field": "x", "op": "eq", "value": "b"},
        ]
    }
    assert list_keys(parsed(where)) == frozenset({"a"})


def test_S22_a_change_concerns_only_segments_reading_what_it_touched() -> None:
    city = parsed({"field": "base.city", "op": "eq", "value": "Paris"})
    lists_ = parsed({"field": "subscriber.lists", "op": "contains", "value": "vip"})
    status = parsed({"field": "subscriber.status", "op": "eq", "value": "active"})
    opened = parsed({"field": "subscriber.last_opened_at", "op": "exists"})
    created = parsed({"field": "subscriber.created_at", "op": "exists"})
    assert concerns(created, EVERYTHING) and not concerns(
        created, Touch(activity=frozenset({SENT, OPENED, CLICKED}), status=True)
    )
    assert concerns(city, Touch(data=frozenset({"base"}))) and concerns(city, Touch(data=frozenset({"base.city.x"})))
    assert not concerns(city, Touch(data=frozenset({"base.cityx", "custom"}), lists=True, status=True))
    assert concerns(lists_, Touch(lists=True)) and not concerns(lists_, Touch(status=True))
    assert concerns(status, Touch(status=True)) and not concerns(status, Touch(lists=True))
    assert (
        concerns(opened, Touch(activity=frozenset({OPENED})))
        and not concerns(opened, Touch(activity=frozenset({SENT})))
        and not concerns(opened, Touch(data=frozenset({"subscriber"})))
    )
    assert matcher(city)(view_of({"base": {"city": "Paris"}}, FACTS), NOW)
