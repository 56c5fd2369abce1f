"""Predicates over profile data and event payloads (SPEC §2.3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from stepwise.domain.predicates import Predicate, evaluate, problems, size, walk

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PREDICATE: TypeAdapter[Predicate] = TypeAdapter(Predicate)

DATA: dict[str, Any] = {
    "base": {
        "firstName": "Anna",
        "city": "Kazan",
        "age": 34,
        "ageText": "34",
        "score": 7.5,
        "zip": "01234",
        "vip": True,
        "birthday": "1990-05-17",
        "seen": "2026-02-20T10:00:00Z",
        "tags": ["news", "Sale"],
        "empty": "",
        "nothing": None,
        "none": [],
        "blank": {},
    }
}


def holds(where: dict[str, Any], data: dict[str, Any] = DATA, event: dict[str, Any] | None = None) -> bool:
    return evaluate(PREDICATE.validate_python(where), data, NOW, event)


def cmp(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    where: dict[str, Any] = {"field": f"base.{field}", "op": op, **extra}
    if value is not None:
        where["value"] = value
    return where


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # eq / ne: strings are case-sensitive unless ignore_case
        (cmp("city", "eq", "Kazan"), True),
        (cmp("city", "eq", "kazan"), False),
        (cmp("city", "eq", "kazan", ignore_case=True), True),
        (cmp("city", "ne", "Moscow"), True),
        (cmp("city", "ne", "Kazan"), False),
        (cmp("city", "ne", "KAZAN", ignore_case=True), False),
        # numbers compare as numbers, also against numeric strings
        (cmp("age", "eq", 34), True),
        (cmp("age", "eq", 34.0), True),
        (cmp("age", "eq", "34"), True),
        (cmp("ageText", "eq", 34), True),
        (cmp("ageText", "gt", 9), True),
        (cmp("ageText", "lt", "100"), True),  # as strings "34" < "100" would be false
        (cmp("age", "gte", 34), True),
        (cmp("age", "gt", 34), False),
        (cmp("age", "lte", 34), True),
        (cmp("age", "lt", 34), False),
        (cmp("score", "gt", 7), True),
        (cmp("score", "lt", "7.6"), True),
        (cmp("city", "gt", "Astana"), True),  # non-numeric strings order as strings
        (cmp("city", "lt", "astana", ignore_case=True), False),
        # booleans are neither numbers nor strings
        (cmp("vip", "eq", True), True),
        (cmp("vip", "eq", 1), False),
        (cmp("vip", "eq", "true"), False),
        (cmp("vip", "ne", False), True),
        # contains: substring of a string, element of a list
        (cmp("city", "contains", "aza"), True),
        (cmp("city", "contains", "AZA"), False),
        (cmp("city", "contains", "AZA", ignore_case=True), True),
        (cmp("tags", "contains", "news"), True),
        (cmp("tags", "contains", "sale"), False),
        (cmp("tags", "contains", "sale", ignore_case=True), True),
        (cmp("age", "contains", "3"), False),
        # starts_with / ends_with
        (cmp("firstName", "starts_with", "An"), True),
        (cmp("firstName", "starts_with", "an"), False),
        (cmp("firstName", "starts_with", "an", ignore_case=True), True),
        (cmp("firstName", "ends_with", "na"), True),
        (cmp("firstName", "ends_with", "NA", ignore_case=True), True),
        (cmp("age", "starts_with", "3"), False),
        # in / not_in: one of the values; a list field matches when any element does
        (cmp("city", "in", ["Moscow", "Kazan"]), True),
        (cmp("city", "in", ["moscow", "kazan"]), False),
        (cmp("city", "in", ["moscow", "kazan"], ignore_case=True), True),
        (cmp("age", "in", ["33", "34"]), True),
        (cmp("tags", "in", ["sale", "news"]), True),
        (cmp("city", "not_in", ["Moscow", "Omsk"]), True),
        (cmp("city", "not_in", ["Moscow", "Kazan"]), False),
        (cmp("tags", "not_in", ["Sale"]), False),
        # exists means present and not empty
        (cmp("city", "exists"), True),
        (cmp("vip", "exists"), True),
        (cmp("age", "exists"), True),
        (cmp("empty", "exists"), False),
        (cmp("nothing", "exists"), False),
        (cmp("none", "exists"), False),
        (cmp("blank", "exists"), False),
        (cmp("missing", "exists"), False),
        (cmp("missing", "not_exists"), True),
        (cmp("empty", "not_exists"), True),
        (cmp("nothing", "not_exists"), True),
        (cmp("city", "not_exists"), False),
    ],
)
def test_every_op_compares_as_documented(where: dict[str, Any], expected: bool) -> None:
    assert holds(where) is expected


@pytest.mark.parametrize(
    "op_value",
    [
        ("eq", "x"),
        ("ne", "x"),
        ("gt", 1),
        ("gte", 1),
        ("lt", 1),
        ("lte", 1),
        ("contains", "x"),
        ("starts_with", "x"),
        ("ends_with", "x"),
        ("in", ["x"]),
        ("not_in", ["x"]),
        ("exists", None),
        ("lt", {"now": "-7d"}),
    ],
)
@pytest.mark.parametrize("field", ["missing", "nothing", "deeper.path.missing"])
def test_a_missing_field_compares_false_under_every_op_but_not_exists(field: str, op_value: tuple[str, Any]) -> None:
    op, value = op_value

    assert holds(cmp(field, op, value)) is False
    assert holds(cmp(field, "not_exists")) is True


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (cmp("birthday", "lt", "2000-01-01"), True),
        (cmp("birthday", "gt", "1990-05-16T23:59:59Z"), True),
        (cmp("birthday", "eq", "1990-05-17T00:00:00Z"), True),  # a date is its UTC midnight
        (cmp("seen", "eq", "2026-02-20T13:00:00+03:00"), True),  # the same instant in another offset
        (cmp("seen", "gt", "2026-02-20T12:00:00+03:00"), True),  # 09:00Z: as strings it would be false
        (cmp("seen", "lt", "2026-02-20T10:00:01Z"), True),
        (cmp("seen", "lt", {"now": "-7d"}), True),  # seen before 2026-02-23T09:00Z
        (cmp("seen", "gt", {"now": "-7d"}), False),
        (cmp("seen", "gt", {"now": "-10d"}), True),
        (cmp("seen", "lt", {"now": "+1h"}), True),
        (cmp("seen", "gte", {"now": "0"}), False),
        (cmp("city", "lt", {"now": "-7d"}), False),  # not a date: false
        (cmp("age", "gt", {"now": "-7d"}), False),
    ],
)
def test_iso_dates_compare_as_instants_and_now_is_shifted(where: dict[str, Any], expected: bool) -> None:
    assert holds(where) is expected


def test_now_values_follow_the_evaluation_time() -> None:
    where = PREDICATE.validate_python(cmp("seen", "gt", {"now": "-7d"}))

    assert evaluate(where, DATA, datetime(2026, 2, 26, 0, 0, tzinfo=UTC)) is True
    assert evaluate(where, DATA, datetime(2026, 2, 28, 0, 0, tzinfo=UTC)) is False


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (cmp("tags", "eq", 2, fn="size"), True),
        (cmp("tags", "gt", 1, fn="size"), True),
        (cmp("firstName", "gte", 4, fn="size"), True),
        (cmp("firstName", "lt", 4, fn="size"), False),
        (cmp("none", "eq", 0, fn="size"), True),
        (cmp("blank", "eq", 0, fn="size"), True),
        (cmp("age", "eq", 2, fn="size"), False),  # a number has no size
        (cmp("missing", "eq", 0, fn="size"), False),
    ],
)
def test_fn_size_compares_the_length_of_a_list_or_string(where: dict[str, Any], expected: bool) -> None:
    assert holds(where) is expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"all": [cmp("city", "eq", "Kazan"), cmp("age", "gt", 30)]}, True),
        ({"all": [cmp("city", "eq", "Kazan"), cmp("age", "gt", 40)]}, False),
        ({"any": [cmp("city", "eq", "Omsk"), cmp("age", "gt", 30)]}, True),
        ({"any": [cmp("city", "eq", "Omsk"), cmp("age", "gt", 40)]}, False),
        ({"not": cmp("city", "eq", "Omsk")}, True),
        ({"not": cmp("missing", "eq", "x")}, True),  # "not" of a false comparison is true
        ({"not": {"any": [cmp("city", "eq", "Omsk"), {"all": [cmp("vip", "eq", True)]}]}}, False),
    ],
)
def test_all_any_and_not_combine_predicates(where: dict[str, Any], expected: bool) -> None:
    assert holds(where) is expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"field": "event.total", "op": "gt", "value": 100}, True),
        ({"field": "event.total", "op": "gt", "value": 500}, False),
        ({"field": "event.items.count", "op": "eq", "value": 3}, True),
        ({"field": "event.coupon", "op": "not_exists"}, True),
        ({"all": [{"field": "event.total", "op": "gte", "value": "250"}, cmp("city", "eq", "Kazan")]}, True),
        ({"field": "event.city", "op": "eq", "value": "Kazan"}, False),  # event fields come from the event only
    ],
)
def test_event_fields_read_the_event_payload_in_custom_filters(where: dict[str, Any], expected: bool) -> None:
    payload = {"total": 250, "items": {"count": 3}}

    assert holds(where, event=payload) is expected


def test_problems_flag_event_fields_outside_custom_filters_and_huge_predicates() -> None:
    uses_event = PREDICATE.validate_python({"not": {"field": "event.total", "op": "exists"}})
    huge = PREDICATE.validate_python({"all": [cmp("a", "exists") for _ in range(200)]})

    assert problems(uses_event, allow_event=True) == []
    assert problems(uses_event, allow_event=False) == [
        "field 'event.total': event fields are only allowed in custom filters"
    ]
    assert problems(huge, allow_event=False) == ["has more than 200 nodes"]
    assert size(huge) == 201
    assert len(walk(huge)) == 200


def test_a_predicate_dumps_to_the_json_it_was_read_from() -> None:
    source = {
        "all": [
            {"field": "base.seen", "op": "lt", "value": {"now": "-7d"}},
            {"not": {"field": "base.tags", "op": "in", "value": ["a", 1, True]}},
            {"field": "base.name", "op": "eq", "value": "x", "ignore_case": True},
        ]
    }

    dumped = PREDICATE.dump_python(PREDICATE.validate_python(source), mode="json", by_alias=True, exclude_defaults=True)

    assert dumped == source
