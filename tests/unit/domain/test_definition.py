"""Saving a sequence definition: its shape (pydantic models) and its references (check_sequence).

Every problem is reported with the JSON path of the offending value, as the API's 422 and the CLI show it.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from stepwise.domain.definition import SequenceDefinition, is_terminal
from stepwise.domain.problems import from_validation_error, json_path
from stepwise.domain.validation import References, check_sequence, referenced, targets

Json = dict[str, Any]

GO: Json = {"event": "custom", "name": "go"}
NOTHING: Json = {"action": "nothing"}
REFS = References(
    drafts=frozenset({"welcome", "reminder"}),
    lists=frozenset({"vip"}),
    forms=frozenset({"newsletter"}),
    step_one_variants={"single": 1, "double": 2},
)


def step(*variants: Json) -> Json:
    return {"variants": list(variants)}


def variant(*when: Json, do: list[Json] | None = None) -> Json:
    return {"when": list(when), "do": do or [NOTHING]}


def document(*later_steps: Json, first: Json | None = None, **settings: Any) -> Json:
    """A definition whose step 1 is `go -> nothing` unless `first` is given."""
    return {"name": "Test", "steps": [first or step(variant(GO)), *later_steps], **settings}


def shape_problems(doc: Json) -> list[tuple[str, str]]:
    """Problems pydantic finds, as (JSON path, message)."""
    try:
        SequenceDefinition.model_validate(doc)
    except ValidationError as exc:
        return [(p.path, p.message) for p in from_validation_error(exc, doc)]
    return []


def paths(doc: Json) -> list[str]:
    return [path for path, _ in shape_problems(doc)]


def reference_problems(doc: Json, key: str = "s", refs: References = REFS) -> list[tuple[str, str]]:
    """Problems check_sequence finds in a definition of valid shape."""
    return [(p.path, p.message) for p in check_sequence(key, SequenceDefinition.model_validate(doc), refs)]


def test_the_spec_example_is_valid() -> None:
    doc = {
        "name": "Welcome series",
        "timezone": "Europe/Moscow",
        "steps": [
            step(
                variant(
                    {"event": "subscriber_added"},
                    {"event": "form_confirmed", "form": "newsletter"},
                    do=[{"action": "send_email", "draft": "welcome"}],
                )
            ),
            step(
                variant(
                    {"event": "link_clicked", "draft": "welcome"},
                    do=[
                        {"action": "add_to_list", "list": "vip"},
                        {"action": "call_url", "url": "https://crm.example/hook?email={EMAIL}"},
                    ],
                ),
                variant({"event": "time_passed", "after": "3d"}, do=[{"action": "send_email", "draft": "reminder"}]),
            ),
            step(
                variant(
                    {"event": "schedule", "every": "week", "weekdays": ["mon"], "at": "10:00"},
                    do=[{"action": "change_data", "set": {"custom.onboarded": True}}],
                )
            ),
        ],
    }

    assert shape_problems(doc) == []
    assert reference_problems(doc) == []


def test_settings_have_the_documented_defaults() -> None:
    definition = SequenceDefinition.model_validate(document())

    assert (definition.timezone, definition.only_once, definition.accepting, definition.exit_on_unsubscribe) == (
        None,
        False,
        True,
        False,
    )
    assert definition.status is None  # saved paused unless it says active


def test_dump_round_trips() -> None:
    doc = document(
        step(
            variant(
                {"event": "data_matches", "where": {"field": "base.seen", "op": "lt", "value": {"now": "-7d"}}},
                do=[{"action": "call_url", "url": "https://x.example/", "method": "post"}],
            )
        )
    )
    definition = SequenceDefinition.model_validate(doc)

    assert SequenceDefinition.model_validate(definition.dump()) == definition
    assert definition.dump()["steps"][1]["variants"][0]["do"][0]["method"] == "POST"


# ---------------------------------------------------------------- where each event may be used


@pytest.mark.parametrize(
    "wait",
    [
        {"event": "time_passed", "after": "1d"},
        {"event": "schedule", "every": "day", "at": "10:00"},
        {"event": "data_matches", "where": {"field": "base.city", "op": "exists"}},
        {"event": "list_matches", "list": "vip"},
    ],
)
def test_waits_are_rejected_in_step_one(wait: Json) -> None:
    doc = document(first=step(variant(GO), variant(wait)))

    assert reference_problems(doc) == [
        ("$.steps[0].variants[1].when[0].event", f"'{wait['event']}' is a wait and cannot be used in step 1")
    ]


@pytest.mark.parametrize("kind", ["subscriber_added", "never"])
def test_subscriber_added_and_never_are_rejected_from_step_two_on(kind: str) -> None:
    doc = document(step(variant(GO)), step(variant(GO, {"event": kind})))

    assert reference_problems(doc) == [("$.steps[2].variants[0].when[1].event", f"'{kind}' can only be used in step 1")]


def test_subscriber_added_and_never_are_fine_in_step_one() -> None:
    doc = document(first=step(variant({"event": "subscriber_added", "confirmed": True}), variant({"event": "never"})))

    assert reference_problems(doc) == []


# ---------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"event": "link_clicked", "draft": "nope"}, "when[0].draft", "unknown draft 'nope'"),
        ({"event": "email_opened", "draft": "nope"}, "when[0].draft", "unknown draft 'nope'"),
        ({"event": "form_submitted", "form": "nope"}, "when[0].form", "unknown form 'nope'"),
        ({"event": "form_confirmed", "form": "nope"}, "when[0].form", "unknown form 'nope'"),
        ({"event": "list_joined", "list": "nope"}, "when[0].list", "unknown list 'nope'"),
        ({"event": "list_left", "list": "nope"}, "when[0].list", "unknown list 'nope'"),
        ({"event": "list_matches", "list": "nope"}, "when[0].list", "unknown list 'nope'"),
    ],
)
def test_events_naming_unknown_drafts_forms_or_lists_are_rejected(spec: Json, path: str, message: str) -> None:
    doc = document(step(variant(spec)))

    assert reference_problems(doc) == [(f"$.steps[1].variants[0].{path}", message)]


@pytest.mark.parametrize(
    ("action", "path", "message"),
    [
        ({"action": "send_email", "draft": "nope"}, "do[0].draft", "unknown draft 'nope'"),
        ({"action": "add_to_list", "list": "nope"}, "do[0].list", "unknown list 'nope'"),
        ({"action": "remove_from_list", "list": "nope"}, "do[0].list", "unknown list 'nope'"),
        ({"action": "stop_sequence", "sequence": "nope"}, "do[0].sequence", "unknown sequence 'nope'"),
        ({"action": "start_sequence", "sequence": "nope"}, "do[0].sequence", "unknown sequence 'nope'"),
        ({"action": "go_to_sequence", "sequence": "nope"}, "do[0].sequence", "unknown sequence 'nope'"),
    ],
)
def test_actions_naming_unknown_drafts_lists_or_sequences_are_rejected(action: Json, path: str, message: str) -> None:
    doc = document(step(variant(GO, do=[action])))

    assert reference_problems(doc) == [(f"$.steps[1].variants[0].{path}", message)]


def test_known_references_and_the_own_sequence_are_accepted() -> None:
    doc = document(
        step(
            variant({"event": "link_clicked", "draft": "welcome"}, do=[{"action": "send_email", "draft": "welcome"}]),
            variant({"event": "list_joined", "list": "vip"}, do=[{"action": "start_sequence", "sequence": "single"}]),
            variant(
                {"event": "form_submitted", "form": "newsletter"}, do=[{"action": "stop_sequence", "sequence": "s"}]
            ),
            variant({"event": "unsubscribed"}, do=[{"action": "go_to_sequence", "sequence": "s"}]),
        )
    )

    assert reference_problems(doc, key="s") == []


def test_every_problem_is_reported_not_just_the_first() -> None:
    doc = document(
        step(variant({"event": "link_clicked", "draft": "a"}, do=[{"action": "send_email", "draft": "b"}])),
        step(variant({"event": "never"}, do=[{"action": "add_to_list", "list": "c"}])),
    )

    assert [path for path, _ in reference_problems(doc)] == [
        "$.steps[1].variants[0].when[0].draft",
        "$.steps[1].variants[0].do[0].draft",
        "$.steps[2].variants[0].when[0].event",
        "$.steps[2].variants[0].do[0].list",
    ]


# ---------------------------------------------------------------- S8 and S9


@pytest.mark.parametrize(
    "terminal",
    [
        {"action": "stop_sequence"},
        {"action": "stop_sequence", "sequence": "current"},
        {"action": "stop_sequence", "sequence": "s"},
        {"action": "go_to_sequence", "sequence": "single"},
    ],
)
def test_s8_actions_after_a_terminal_one_are_rejected(terminal: Json) -> None:
    doc = document(step(variant(GO, do=[{"action": "send_email", "draft": "welcome"}, terminal, NOTHING, NOTHING])))

    problems = reference_problems(doc, key="s")

    assert [path for path, _ in problems] == ["$.steps[1].variants[0].do[2]", "$.steps[1].variants[0].do[3]"]
    assert "no action may follow stop_sequence" in problems[0][1]


def test_s8_stopping_another_sequence_is_not_terminal() -> None:
    doc = document(step(variant(GO, do=[{"action": "stop_sequence", "sequence": "single"}, NOTHING])))

    assert reference_problems(doc, key="s") == []


def test_s8_is_terminal_knows_which_actions_end_the_run() -> None:
    definition = SequenceDefinition.model_validate(
        document(
            step(
                variant(
                    GO,
                    do=[
                        {"action": "stop_sequence", "sequence": "other"},
                        {"action": "start_sequence", "sequence": "other"},
                        {"action": "stop_sequence", "sequence": "s"},
                    ],
                )
            )
        )
    )
    actions = definition.steps[1].variants[0].do

    assert [is_terminal(a, "s") for a in actions] == [False, False, True]


@pytest.mark.parametrize("kind", ["start_sequence", "go_to_sequence"])
def test_s9_a_start_target_whose_step_one_has_several_variants_is_rejected(kind: str) -> None:
    doc = document(step(variant(GO, do=[{"action": kind, "sequence": "double"}])))

    assert reference_problems(doc) == [
        (
            "$.steps[1].variants[0].do[0].sequence",
            "sequence 'double' has 2 variants in step 1; a start target needs exactly one",
        )
    ]


def test_s9_a_sequence_started_by_others_must_keep_one_variant_in_step_one() -> None:
    refs = References(step_one_variants={"a": 1, "b": 1}, targeted_by={"s": frozenset({"b", "a"})})
    doc = document(first=step(variant(GO), variant({"event": "subscriber_added"})))

    assert reference_problems(doc, key="s", refs=refs) == [
        ("$.steps[0].variants", "step 1 must have exactly one variant because sequence(s) a, b start this one")
    ]


def test_s9_a_sequence_that_starts_itself_is_checked_against_its_own_new_step_one() -> None:
    refs = References(step_one_variants={"s": 1}, targeted_by={"s": frozenset({"s"})})
    doc = document(
        step(variant(GO, do=[{"action": "start_sequence", "sequence": "s"}])),
        first=step(variant(GO), variant({"event": "subscriber_added"})),
    )

    assert [path for path, _ in reference_problems(doc, key="s", refs=refs)] == [
        "$.steps[1].variants[0].do[0].sequence"
    ]


def test_targets_and_references_of_a_definition_are_listed() -> None:
    definition = SequenceDefinition.model_validate(
        document(
            step(
                variant(
                    {"event": "link_clicked", "draft": "welcome"},
                    {"event": "list_matches", "list": "vip"},
                    {"event": "form_submitted", "form": "newsletter"},
                    {"event": "segment_matches", "segment": "pro"},
                    do=[
                        {"action": "send_email", "draft": "reminder"},
                        {"action": "start_sequence", "sequence": "a"},
                        {"action": "stop_sequence", "sequence": "c"},
                        {"action": "remove_from_list", "list": "trial"},
                        {"action": "go_to_sequence", "sequence": "b"},
                    ],
                )
            )
        )
    )

    assert targets(definition) == {"a", "b"}
    assert referenced(definition) == {
        "drafts": {"welcome", "reminder"},
        "lists": {"vip", "trial"},
        "forms": {"newsletter"},
        "sequences": {"a", "b", "c"},
        "segments": {"pro"},
    }


# ---------------------------------------------------------------- shape: JSON paths of problems


def wait_doc(wait: Json) -> Json:
    return document(step(variant(wait)))


WAIT = "$.steps[1].variants[0].when[0]"


@pytest.mark.parametrize(
    ("after", "message"),
    [
        ("3x", "'3x' is not a duration"),
        ("0s", "must be longer than zero"),
        ("PT", "'PT' is not a duration"),
        ("", "must be a non-empty string"),
        ("4000d", "must not exceed ten years"),
        ("-1d", "is not a duration"),
    ],
)
def test_bad_durations_are_rejected_at_their_path(after: str, message: str) -> None:
    problems = shape_problems(wait_doc({"event": "time_passed", "after": after}))

    assert [path for path, _ in problems] == [f"{WAIT}.after"]
    assert message in problems[0][1]


@pytest.mark.parametrize(
    ("schedule", "path", "message"),
    [
        ({"every": "day", "at": "25:00"}, ".at", "'at' must be HH:MM"),
        ({"every": "day", "at": "9:00"}, ".at", "'at' must be HH:MM"),
        ({"every": "fortnight", "at": "09:00"}, ".every", "Input should be"),
        ({"every": "week", "at": "09:00", "weekdays": ["mon", "someday"]}, ".weekdays[1]", "Input should be"),
        ({"every": "week", "at": "09:00"}, "", "every week needs 'weekdays'"),
        ({"every": "month", "at": "09:00"}, "", "every month needs 'day'"),
        ({"every": "month", "at": "09:00", "day": 32}, ".day", "less than or equal to 31"),
        ({"every": "year", "at": "09:00", "day": 1}, "", "every year needs 'month'"),
        ({"every": "year", "day": 1, "month": 13}, ".month", "less than or equal to 12"),
        ({"every": "day", "at": "09:00", "weekdays": ["mon"]}, "", "'weekdays' does not apply to every day"),
        ({"at": "09:00"}, "", "needs 'every'"),
        ({"cron": "0 9 * *"}, ".cron", "cron must have 5 fields"),
        ({"cron": "0 9 * * * *"}, ".cron", "cron must have 5 fields"),
        ({"cron": "61 9 * * *"}, ".cron", "invalid cron expression"),
        ({"cron": "0 9 * * mon", "every": "day"}, "", "'cron' cannot be combined with every"),
        ({"every": "day", "at": "09:00", "timezone": "Mars/Olympus"}, ".timezone", "unknown time zone"),
    ],
)
def test_bad_schedules_are_rejected_at_their_path(schedule: Json, path: str, message: str) -> None:
    problems = shape_problems(wait_doc({"event": "schedule", **schedule}))

    assert [p for p, _ in problems] == [WAIT + path]
    assert message in problems[0][1]


@pytest.mark.parametrize(
    "schedule",
    [
        {"every": "day", "at": "00:00"},
        {"every": "week", "weekdays": ["mon", "fri"], "at": "23:59"},
        {"every": "month", "day": 31, "at": "10:00"},
        {"every": "year", "day": 29, "month": 2, "at": "10:00", "timezone": "Europe/Berlin"},
        {"cron": "*/15 9-17 * * mon-fri"},
        {"cron": "0 0 L * *"},
    ],
)
def test_good_schedules_are_accepted(schedule: Json) -> None:
    assert shape_problems(wait_doc({"event": "schedule", **schedule})) == []


def test_a_bad_sequence_time_zone_is_rejected() -> None:
    assert shape_problems(document(timezone="Europe/Nowhere")) == [("$.timezone", "unknown time zone 'Europe/Nowhere'")]


@pytest.mark.parametrize(
    ("where", "path", "message"),
    [
        ({"field": "base.age", "op": "bigger", "value": 1}, ".where.op", "Input should be 'eq'"),
        ({"field": "base age", "op": "eq", "value": 1}, ".where.field", "is not a dotted path"),
        ({"field": "base.age", "op": "eq"}, ".where", "'eq' needs a value"),
        ({"field": "base.age", "op": "exists", "value": 1}, ".where", "'exists' takes no value"),
        ({"field": "base.age", "op": "in", "value": []}, ".where", "'in' needs a non-empty list"),
        ({"field": "base.age", "op": "eq", "value": [1]}, ".where", "takes a single value"),
        ({"field": "base.age", "op": "gt", "value": True}, ".where", "cannot compare with true/false"),
        ({"field": "base.tags", "op": "eq", "value": "x", "fn": "size"}, ".where", "value must be a number"),
        ({"field": "base.tags", "op": "eq", "value": 1, "fn": "length"}, ".where.fn", "Input should be 'size'"),
        ({"field": "base.name", "op": "starts_with", "value": 1}, ".where", "needs a string value"),
        ({"field": "base.seen", "op": "lt", "value": {"now": "-7x"}}, ".where.value", "'now' offset"),
        ({"field": "base.seen", "op": "lt", "value": {"then": "-7d"}}, ".where.value", "relative time"),
        ({"field": "base.seen", "op": "contains", "value": {"now": "-7d"}}, ".where", "cannot take a 'now' value"),
        ({"field": "base.tags", "op": "in", "value": [1, {"a": 1}]}, ".where.value", "only strings, numbers"),
        ({"all": []}, ".where.all", "at least 1 item"),
        ({"not": {"field": "x", "op": "nope"}}, ".where.not.op", "Input should be"),
        (
            {"any": [{"field": "base.a", "op": "exists"}, {"all": [{"field": "base.b", "op": "gt"}]}]},
            ".where.any[1].all[0]",
            "'gt' needs a value",
        ),
        ({"field": "base.a", "op": "eq", "value": 1, "extra": 2}, ".where.extra", "unknown field"),
    ],
)
def test_bad_predicates_are_rejected_at_their_path(where: Json, path: str, message: str) -> None:
    problems = shape_problems(wait_doc({"event": "data_matches", "where": where}))

    assert [p for p, _ in problems] == [WAIT + path]
    assert message in problems[0][1]


def test_event_fields_are_allowed_only_in_custom_filters() -> None:
    uses_event = {"field": "event.total", "op": "gt", "value": 100}
    doc = document(
        step(
            variant({"event": "custom", "name": "order", "where": uses_event}),
            variant({"event": "data_changed", "where": uses_event}),
            variant({"event": "data_matches", "where": {"not": uses_event}}),
        )
    )

    assert reference_problems(doc) == [
        (
            "$.steps[1].variants[1].when[0].where",
            "field 'event.total': event fields are only allowed in custom filters",
        ),
        (
            "$.steps[1].variants[2].when[0].where",
            "field 'event.total': event fields are only allowed in custom filters",
        ),
    ]


def test_a_predicate_with_too_many_nodes_is_rejected() -> None:
    huge = {"any": [{"field": "base.a", "op": "eq", "value": i} for i in range(200)]}

    assert [p for p, _ in reference_problems(wait_doc({"event": "data_matches", "where": huge}))] == [f"{WAIT}.where"]


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [
        ({"name": "x", "steps": []}, "$.steps", "at least 1 item"),
        ({"name": "x", "steps": [{"variants": []}]}, "$.steps[0].variants", "at least 1 item"),
        ({"name": "x", "steps": [step({"when": [], "do": [NOTHING]})]}, "$.steps[0].variants[0].when", "at least 1"),
        ({"name": "x", "steps": [step({"when": [GO], "do": []})]}, "$.steps[0].variants[0].do", "at least 1 item"),
        ({"name": "", "steps": [step(variant(GO))]}, "$.name", "at least 1 character"),
        ({"steps": [step(variant(GO))]}, "$.name", "Field required"),
        ({"name": "x", "steps": [step(variant(GO))], "colour": "red"}, "$.colour", "unknown field"),
        ({"name": "x", "status": "running", "steps": [step(variant(GO))]}, "$.status", "Input should be"),
    ],
)
def test_empty_or_malformed_definitions_are_rejected_at_their_path(doc: Json, path: str, message: str) -> None:
    problems = shape_problems(doc)

    assert [p for p, _ in problems] == [path]
    assert message in problems[0][1]


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"event": "bogus"}, "", "does not match any of the expected tags"),
        ({"name": "x"}, "", "Unable to extract tag"),
        ({"event": "custom"}, ".name", "Field required"),
        ({"event": "custom", "name": "x", "draft": "a"}, ".draft", "unknown field"),
        ({"event": "link_clicked", "url": "https://a*b"}, ".url", "prefix ending in a single '*'"),
        ({"event": "link_clicked", "scope": "everywhere"}, ".scope", "Input should be"),
        ({"event": "list_joined", "list": "Not A Key"}, ".list", "should match pattern"),
        ({"event": "data_changed", "fields": []}, ".fields", "at least 1 item"),
        ({"event": "data_changed", "fields": ["a..b"]}, ".fields[0]", "is not a dotted path"),
        ({"event": "list_matches"}, ".list", "Field required"),
        ({"event": "data_matches"}, ".where", "Field required"),
    ],
)
def test_bad_events_are_rejected_at_their_path(spec: Json, path: str, message: str) -> None:
    problems = shape_problems(wait_doc(spec))

    assert [p for p, _ in problems] == [WAIT + path]
    assert message in problems[0][1]


ACTION = "$.steps[1].variants[0].do[0]"


@pytest.mark.parametrize(
    ("action", "path", "message"),
    [
        ({"action": "explode"}, "", "does not match any of the expected tags"),
        ({"action": "send_email"}, ".draft", "Field required"),
        ({"action": "send_email", "draft": "Welcome!"}, ".draft", "should match pattern"),
        ({"action": "call_url", "url": "ftp://x.example/"}, ".url", "must start with http:// or https://"),
        ({"action": "call_url", "url": "https://x.example/\r\nX: 1"}, ".url", "line breaks"),
        ({"action": "call_url", "url": "https://x.example/", "method": "PUT"}, ".method", "Input should be"),
        ({"action": "call_url", "url": "https://x.example/", "headers": {"X\nY": "1"}}, ".headers", "bad name"),
        ({"action": "change_data"}, "", "needs at least one of 'set', 'unset', 'increment'"),
        ({"action": "change_data", "set": {"bad path": 1}}, ".set['bad path']", "is not a dotted path"),
        ({"action": "change_data", "increment": {"custom.n": True}}, ".increment", "must be a number"),
        ({"action": "change_data", "increment": {"custom.n": "x"}}, ".increment['custom.n']", "valid number"),
        ({"action": "start_sequence"}, ".sequence", "Field required"),
        ({"action": "stop_sequence", "sequence": "Current"}, ".sequence", ""),
    ],
)
def test_bad_actions_are_rejected_at_their_path(action: Json, path: str, message: str) -> None:
    problems = shape_problems(document(step(variant(GO, do=[action]))))

    assert [p for p, _ in problems][:1] == [ACTION + path]
    assert message in problems[0][1]


def test_json_path_renders_keys_that_are_not_identifiers_in_brackets() -> None:
    assert json_path(("steps", 0, "variants", 1, "do", 2, "set", "custom.plan")) == (
        "$.steps[0].variants[1].do[2].set['custom.plan']"
    )
