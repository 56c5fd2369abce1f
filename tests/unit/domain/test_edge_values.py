"""Values refused at the edge: unstorable JSON, durations, time zones, instants, data and definitions."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.durations import InvalidDuration, parse_duration
from stepwise.domain.forms import FormSpec
from stepwise.domain.instants import parse_instant, parse_offset
from stepwise.domain.jsonvalues import INT_MAX, INT_MIN, MAX_DEPTH, loads, value_problems
from stepwise.domain.predicates import Comparison
from stepwise.domain.problems import Invalid, from_validation_error
from stepwise.domain.profile import data_problems
from stepwise.domain.schedules import InvalidSchedule, zone


def nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def refused(raw: str) -> list[tuple[str, str]]:
    with pytest.raises(Invalid) as caught:
        loads(raw)
    return [(p.path, p.message) for p in caught.value.problems]


def test_storable_json_passes_unchanged() -> None:
    text = json.dumps({"a": [1, -2.5, "x", None, True, {"b": INT_MAX, "c": INT_MIN}], "d": nested(MAX_DEPTH - 1)})
    assert loads(text) == json.loads(text)
    assert loads(b'{"e": 1e308, "f": -0.0}') == {"e": 1e308, "f": -0.0}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" + "0" * 400 + ".5"])
def test_non_finite_numbers_are_refused_with_their_path(literal: str) -> None:
    [(path, message)] = refused(f'{{"steps": [{{"x": {literal}}}]}}')
    assert path == "$.steps[0].x" and "finite" in message


@pytest.mark.parametrize("number", [str(INT_MAX + 1), str(INT_MIN - 1), "1" + "0" * 30, "-1" + "0" * 5000])
def test_integers_beyond_64_bits_are_refused(number: str) -> None:
    [(path, message)] = refused(f'{{"set": {{"a.b": [{number}]}}}}')
    assert path == "$.set['a.b'][0]" and str(INT_MAX) in message


def test_nul_in_text_and_field_names_is_refused() -> None:
    problems = refused(json.dumps({"name": "a\0b", "ok": ["\0"], "bad\0key": 1}))
    assert [path for path, _ in problems] == ["$.name", "$.ok[0]", "$['bad\\x00key']"]
    assert all("NUL" in message for _, message in problems)


def test_nesting_is_bounded_and_never_recurses_out_of_hand() -> None:
    [(path, message)] = refused(json.dumps({"a": nested(MAX_DEPTH)}))
    assert path.startswith("$.a[0]") and "deeper than" in message
    [(path, message)] = refused("[" * 100_000 + "]" * 100_000)
    assert path == "$" and "deeper than" in message


def test_malformed_json_is_still_a_decode_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        loads(b'{"a": ')


def test_value_problems_name_values_that_are_not_json() -> None:
    from datetime import date

    problems = value_problems({"when": date(2024, 1, 1), 3: "x"})
    assert [(p.path, p.message) for p in problems] == [
        ("$.when", "is not a JSON value (a date)"),
        ("$['3']", "field names must be text"),
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("99999999999999999999d", "ten years"),
        ("P99999999999999999999D", "ten years"),
        ("PT" + "9" * 40 + "S", "ten years"),
        ("3661d", "ten years"),
        ("523w", "ten years"),
        ("1" * 65 + "s", "at most 64 characters"),
        ("0s", "longer than zero"),
    ],
)
def test_durations_are_bounded_to_ten_years(text: str, reason: str) -> None:
    with pytest.raises(InvalidDuration, match=reason):
        parse_duration(text)
    with pytest.raises(InvalidDuration):
        parse_offset("-" + text)


def test_the_longest_duration_is_ten_years() -> None:
    assert parse_duration("3660d") == timedelta(days=3660)
    assert parse_duration("PT1.5S") == timedelta(seconds=1.5)
    assert parse_offset("-3660d") == -timedelta(days=3660)


@pytest.mark.parametrize("name", ["A" * 300, "Europe/" + "x" * 60, "../../etc/passwd", "UTC\n", "Europe/Berlin\0"])
def test_time_zone_names_are_short_known_iana_names(name: str) -> None:
    with pytest.raises(InvalidSchedule):
        zone(name)


def test_instants_beyond_what_datetime_holds_are_not_instants() -> None:
    assert parse_instant("9999-12-31T23:59:59-05:00") is None
    assert parse_instant("0001-01-01T00:00:00+14:00") is None
    assert parse_instant("9999-12-31T00:00:00Z") is not None


def test_profile_data_refuses_what_cannot_be_stored() -> None:
    data = {"a": INT_MAX + 1, "b": ["x\0"], "c": {"d": float("inf")}, "e": nested(40)}
    assert [(p.path, p.message.split(" ")[0]) for p in data_problems(data)] == [
        ("$.data.a", "integers"),
        ("$.data.b[0]", "text"),
        ("$.data.c.d", "numbers"),
        ("$.data.e" + "[0]" * 30, "is"),
    ]
    assert data_problems({"a": INT_MAX, "b": INT_MIN, "e": nested(20)}) == []


def sequence(action: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "x",
        **extra,
        "steps": [{"variants": [{"when": [{"event": "subscriber_added"}], "do": [action]}]}],
    }


def shape_problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        SequenceDefinition.model_validate(document)
    return [(p.path, p.message) for p in from_validation_error(caught.value, document)]


DO = "$.steps[0].variants[0].do[0]"


@pytest.mark.parametrize(
    ("action", "path", "words"),
    [
        ({"action": "change_data", "increment": {"n": float("nan")}}, f"{DO}.increment.n", "finite"),
        ({"action": "change_data", "increment": {"n": float("inf")}}, f"{DO}.increment.n", "finite"),
        ({"action": "change_data", "set": {"n": float("-inf")}}, f"{DO}.set.n", "finite"),
        ({"action": "change_data", "set": {"n": [INT_MAX + 1]}}, f"{DO}.set.n", "at [0]: integers"),
        ({"action": "change_data", "set": {"n": nested(40)}}, "$", "deeper than"),
        ({"action": "call_url", "url": "https://example.com/", "body": {"a": "\0"}}, f"{DO}.body", "at a: text"),
    ],
)
def test_definitions_from_the_ui_or_files_refuse_unstorable_values(
    action: dict[str, Any], path: str, words: str
) -> None:
    [(where, message)] = shape_problems(sequence(action))
    assert where == path and words in message, (where, message)


def test_definitions_refuse_nul_anywhere_and_name_the_path() -> None:
    [(where, message)] = shape_problems(sequence({"action": "nothing"}, name="a\0"))
    assert where == "$.name" and "NUL" in message
    where_clause = {"field": "a", "op": "eq", "value": "x\0"}
    document = sequence({"action": "nothing"})
    document["steps"].append(
        {"variants": [{"when": [{"event": "data_matches", "where": where_clause}], "do": [{"action": "nothing"}]}]}
    )
    [(where, message)] = shape_problems(document)
    assert where == "$.steps[1].variants[0].when[0].where.value" and "NUL" in message
    description = sequence({"action": "nothing"}, description="x\0")
    [(where, message)] = shape_problems(description)
    assert where == "$.description" and "NUL" in message


def test_definitions_refuse_long_time_zones_and_durations() -> None:
    [(where, _)] = shape_problems(sequence({"action": "nothing"}, timezone="A" * 300))
    assert where == "$.timezone"
    document = sequence({"action": "nothing"})
    wait = {"event": "time_passed", "after": "99999999999999999999d"}
    document["steps"].append({"variants": [{"when": [wait], "do": [{"action": "nothing"}]}]})
    [(where, message)] = shape_problems(document)
    assert where == "$.steps[1].variants[0].when[0].after" and "ten years" in message


def test_predicate_values_must_be_storable() -> None:
    for value in [INT_MAX + 1, float("inf"), "a\0", [1, INT_MIN - 1]]:
        with pytest.raises(ValidationError):
            Comparison.model_validate(
                {"field": "a", "op": "eq" if not isinstance(value, list) else "in", "value": value}
            )
    assert Comparison.model_validate({"field": "a", "op": "eq", "value": INT_MAX}).value == INT_MAX


def test_forms_refuse_nul() -> None:
    with pytest.raises(ValidationError, match="NUL"):
        FormSpec.model_validate({"description": "a\0b"})
    with pytest.raises(ValidationError, match="NUL"):
        FormSpec.model_validate({"fields": [{"path": "a", "label": "x\0"}]})


def test_copy_json_is_a_deep_copy_that_shares_no_container() -> None:
    from stepwise.domain.jsonvalues import copy_json

    value = {"a": [1, {"b": "x"}], "c": None, "d": 2.5, "e": True}
    copied = copy_json(value)
    assert copied == value
    assert copied is not value and copied["a"] is not value["a"] and copied["a"][1] is not value["a"][1]
    copied["a"][1]["b"] = "changed"
    assert value["a"][1]["b"] == "x"
