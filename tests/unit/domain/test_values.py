"""Small domain values: durations, instants, email addresses, keys, data paths and profile data."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepwise.domain.durations import InvalidDuration, parse_duration
from stepwise.domain.emails import InvalidEmail, email_key, parse_email
from stepwise.domain.instants import iso, parse_instant, parse_offset
from stepwise.domain.keys import is_key
from stepwise.domain.paths import (
    MISSING,
    InvalidPath,
    changed_paths,
    get_path,
    leaf_paths,
    merge,
    path_touches,
    set_path,
    split_path,
    unset_path,
)
from stepwise.domain.profile import data_problems

# ---------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("3h", timedelta(hours=3)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(hours=36)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        (" 2d ", timedelta(days=2)),
        ("PT90M", timedelta(minutes=90)),
        ("pt90m", timedelta(minutes=90)),
        ("P2D", timedelta(days=2)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT12H", timedelta(hours=36)),
        ("PT1.5S", timedelta(seconds=1.5)),
        ("3650d", timedelta(days=3650)),
    ],
)
def test_durations_are_compact_or_iso_8601(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("0s", "longer than zero"),
        ("PT0S", "longer than zero"),
        ("3x", "is not a duration"),
        ("1.5h", "is not a duration"),
        ("-1d", "is not a duration"),
        ("2h1d", "is not a duration"),  # units in descending order only
        ("1 d", "is not a duration"),
        ("3D", "is not a duration"),
        ("P", "is not a duration"),
        ("PT", "is not a duration"),
        ("P1DT", "is not a duration"),
        ("P1M", "is not a duration"),  # months have no fixed length
        ("P1Y", "is not a duration"),
        ("3661d", "ten years"),
    ],
)
def test_bad_durations_are_rejected_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidDuration, match=reason):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("-7d", timedelta(days=-7)), ("+3h", timedelta(hours=3)), ("2d", timedelta(days=2)), ("0", timedelta(0))],
)
def test_now_offsets_are_signed_durations(text: str, expected: timedelta) -> None:
    assert parse_offset(text) == expected


@pytest.mark.parametrize("text", ["-", "7", "--7d", "-7x"])
def test_bad_now_offsets_are_rejected(text: str) -> None:
    with pytest.raises(InvalidDuration):
        parse_offset(text)


# ---------------------------------------------------------------- instants


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-02", datetime(2026, 3, 2, tzinfo=UTC)),
        ("2026-03-02T10:00:00Z", datetime(2026, 3, 2, 10, tzinfo=UTC)),
        ("2026-03-02T10:00:00z", datetime(2026, 3, 2, 10, tzinfo=UTC)),
        ("2026-03-02T13:00:00+03:00", datetime(2026, 3, 2, 10, tzinfo=UTC)),
        ("2026-03-02T10:00:00", datetime(2026, 3, 2, 10, tzinfo=UTC)),  # no offset: UTC
        ("2026-03-02 10:00", datetime(2026, 3, 2, 10, tzinfo=UTC)),
        (datetime(2026, 3, 2, 10), datetime(2026, 3, 2, 10, tzinfo=UTC)),
        ("2026-13-01", None),
        ("2026-02-30", None),
        ("yesterday", None),
        ("34", None),
        (34, None),
        (None, None),
    ],
)
def test_iso_dates_and_times_are_read_as_utc_instants(value: object, expected: datetime | None) -> None:
    assert parse_instant(value) == expected


def test_instants_are_written_as_iso_utc_with_z() -> None:
    moscow = timezone(timedelta(hours=3))

    assert iso(datetime(2026, 3, 2, 13, 0, tzinfo=moscow)) == "2026-03-02T10:00:00Z"
    assert iso(datetime(2026, 3, 2, 10, 0, 0, 250000, tzinfo=UTC)) == "2026-03-02T10:00:00.250000Z"


# ---------------------------------------------------------------- emails


@pytest.mark.parametrize(
    ("raw", "value", "key"),
    [
        ("anna@example.com", "anna@example.com", "anna@example.com"),
        ("  Anna.Petrova@Example.COM \n", "Anna.Petrova@example.com", "anna.petrova@example.com"),
        ("ANNA+news@EXAMPLE.com", "ANNA+news@example.com", "anna+news@example.com"),
        ("o'brien@mail.example.org", "o'brien@mail.example.org", "o'brien@mail.example.org"),
        ("anna@example.com.", "anna@example.com", "anna@example.com"),
        ("анна@пример.рф", "анна@пример.рф", "анна@пример.рф"),
    ],
)
def test_emails_are_trimmed_with_the_domain_lower_cased_and_the_local_part_kept(raw: str, value: str, key: str) -> None:
    parsed = parse_email(raw)

    assert (parsed.value, parsed.key) == (value, key)


def test_emails_differing_only_in_case_are_the_same_subscriber() -> None:
    assert email_key("Anna@Example.com") == email_key("anna@EXAMPLE.COM") == "anna@example.com"
    assert parse_email("Anna@Example.com").value != parse_email("anna@EXAMPLE.COM").value


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("anna", "must look like"),
        ("@example.com", "must look like"),
        ("anna@", "must look like"),
        ("an na@example.com", "whitespace"),
        ("anna@exa\tmple.com", "whitespace"),
        ("anna\r\n@example.com", "whitespace"),
        ("anna@example", "invalid domain"),
        ("anna@-example.com", "invalid domain"),
        ("anna@example..com", "invalid domain"),
        ("anna@exa_mple.com", "invalid domain"),
        ("anna@example.123", "top-level domain"),
        ("anna..b@example.com", "invalid local part"),
        (".anna@example.com", "invalid local part"),
        ("anna.@example.com", "invalid local part"),
        ("an(na)@example.com", "invalid local part"),
        ("a" * 65 + "@example.com", "longer than 64"),
        ("a@" + "b" * 250 + ".com", "longer than 254"),
    ],
)
def test_invalid_emails_are_rejected_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidEmail, match=reason):
        parse_email(raw)


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        *[("welcome", True), ("a", True), ("0day", True), ("re-engage_2", True), ("a" * 64, True)],
        *[("a" * 65, False), ("Welcome", False), ("-lead", False), ("_lead", False), ("two words", False)],
        *[("", False), ("ключ", False)],
    ],
)
def test_keys_are_lowercase_slugs(text: str, valid: bool) -> None:
    assert is_key(text) is valid


# ---------------------------------------------------------------- data paths


@pytest.mark.parametrize("path", ["base", "base.firstName", "custom.plan-2", "a.b.c.d.e.f.g.h", "_x.0"])
def test_valid_data_paths_split_on_dots(path: str) -> None:
    assert split_path(path) == tuple(path.split("."))


@pytest.mark.parametrize("path", ["", ".base", "base.", "base..name", "base name", "a.b.c.d.e.f.g.h.i", "-x", "é"])
def test_invalid_data_paths_are_rejected(path: str) -> None:
    with pytest.raises(InvalidPath):
        split_path(path)


def test_get_path_reads_nested_values_or_missing() -> None:
    data = {"base": {"firstName": "Anna", "none": None}, "tags": ["a"]}

    assert get_path(data, "base.firstName") == "Anna"
    assert get_path(data, "base.none") is None
    assert get_path(data, "base") == {"firstName": "Anna", "none": None}
    assert get_path(data, "base.lastName") is MISSING
    assert get_path(data, "base.firstName.x") is MISSING
    assert get_path(data, "tags.0") is MISSING


def test_set_path_creates_parents_and_replaces_non_objects() -> None:
    data: dict[str, Any] = {"base": {"firstName": "Anna"}, "custom": "flat"}

    set_path(data, "base.city", "Kazan")
    set_path(data, "custom.plan", "pro")
    set_path(data, "new.deep.value", 1)

    assert data == {
        "base": {"firstName": "Anna", "city": "Kazan"},
        "custom": {"plan": "pro"},
        "new": {"deep": {"value": 1}},
    }


def test_unset_path_removes_the_value_and_parents_left_empty() -> None:
    data: dict[str, Any] = {"base": {"firstName": "Anna"}, "custom": {"a": {"b": 1}, "c": 2}}

    unset_path(data, "custom.a.b")
    unset_path(data, "base.missing.deeper")
    unset_path(data, "nothing.here")

    assert data == {"base": {"firstName": "Anna"}, "custom": {"c": 2}}
    unset_path(data, "base.firstName")
    assert data == {"custom": {"c": 2}}


def test_merge_deep_merges_objects_replaces_values_and_removes_nulls() -> None:
    before = {"base": {"firstName": "Anna", "city": "Kazan"}, "custom": {"tags": ["a"]}}

    after = merge(before, {"base": {"city": "Omsk", "lastName": None}, "custom": {"tags": ["b"], "plan": None}})

    assert after == {"base": {"firstName": "Anna", "city": "Omsk"}, "custom": {"tags": ["b"]}}
    assert before == {"base": {"firstName": "Anna", "city": "Kazan"}, "custom": {"tags": ["a"]}}  # not changed
    assert merge(before, {"base": {"city": None, "firstName": None}}) == {"custom": {"tags": ["a"]}}
    assert merge({}, {"x": {"y": None}}) == {}


def test_merge_does_not_share_nested_values_with_the_patch() -> None:
    patch = {"custom": {"tags": ["a"]}}
    after = merge({}, patch)

    after["custom"]["tags"].append("b")

    assert patch == {"custom": {"tags": ["a"]}}


@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": 1}, {"a": 2}, ["a"]),
        ({"a": 1}, {"a": 1.0}, []),
        ({"a": 1}, {"a": True}, ["a"]),  # JSON tells true from 1
        ({"a": [1]}, {"a": [True]}, ["a"]),
        ({"a": {"x": 1}}, {"a": {"x": 1, "y": 2}}, ["a.y"]),
        ({"a": {"x": 1}}, {}, ["a.x"]),
        ({"a": None}, {}, ["a"]),
        ({"a": "1"}, {"a": 1}, ["a"]),
        ({"a": {"x": 1}}, {"a": 5}, ["a", "a.x"]),
        ({"b": [1, 2]}, {"b": [2, 1]}, ["b"]),
        ({"b": {"k": {"z": 1, "y": 2}}}, {"b": {"k": {"y": 2, "z": 1}}}, []),
    ],
)
def test_changed_paths_lists_leaves_whose_value_differs(
    before: dict[str, Any], after: dict[str, Any], changed: list[str]
) -> None:
    assert changed_paths(before, after) == changed


@pytest.mark.parametrize(
    ("changed", "watched", "touches"),
    [
        (["base.city"], "base.city", True),
        (["base.city"], "base", True),  # a change inside the watched object
        (["base"], "base.city", True),  # the watched field's parent was replaced
        (["base.city"], "base.cityCode", False),
        (["base.cityCode"], "base.city", False),
        (["custom.plan"], "base", False),
        ([], "base", False),
    ],
)
def test_path_touches_tells_whether_a_change_affects_a_watched_path(
    changed: list[str], watched: str, touches: bool
) -> None:
    assert path_touches(changed, watched) is touches


def test_leaf_paths_yield_every_non_object_value() -> None:
    data = {"base": {"a": 1, "b": {"c": [1]}}, "empty": {}}

    assert dict(leaf_paths(data)) == {"base.a": 1, "base.b.c": [1], "empty": {}}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["a", "b"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(["x", "y"]), inner, max_size=2),
    max_leaves=6,
)
profiles = st.dictionaries(
    st.sampled_from(["base", "custom"]), st.dictionaries(st.sampled_from(["p", "q"]), json_values)
)


@settings(max_examples=100, deadline=None)
@given(before=profiles, patch=profiles)
def test_changed_paths_is_empty_exactly_when_a_merge_changes_nothing(
    before: dict[str, Any], patch: dict[str, Any]
) -> None:
    original = copy.deepcopy(before)
    after = merge(before, patch)

    assert before == original
    assert (changed_paths(before, after) == []) == (dict(leaf_paths(before)) == dict(leaf_paths(after)))
    assert changed_paths(after, after) == []


# ---------------------------------------------------------------- profile data


def test_profile_data_must_be_an_object_of_addressable_fields() -> None:
    assert data_problems({"base": {"firstName": "Anna"}}) == []
    assert [p.path for p in data_problems([1])] == ["$.data"]
    assert [p.path for p in data_problems({"base": {"first name": 1}})] == ["$.data.base['first name']"]
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(9):
        node["x"] = {}
        node = node["x"]
    assert [p.message for p in data_problems(deep)] == ["is nested deeper than 8 levels"]
    assert [p.message for p in data_problems({"big": "x" * 70_000})] == ["is larger than 65536 bytes"]
