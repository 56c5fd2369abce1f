"""S24 goals, the definition half: the `goal` block is parsed, refused with JSON paths when bad, and
its references are reported like those of the steps."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.validation import References, check_sequence, referenced

NOTHING = {"action": "nothing"}


def _definition(goal: Any) -> SequenceDefinition:
    first = [{"when": [{"event": "subscriber_added"}], "do": [NOTHING]}]
    return SequenceDefinition.model_validate({"name": "t", "steps": [{"variants": first}], "goal": goal})


def _messages(definition: SequenceDefinition, refs: References | None = None) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in check_sequence("t", definition, refs or References())]


def test_S24_goal_is_parsed_with_exit_false_by_default() -> None:
    definition = _definition({"when": [{"event": "custom", "name": "purchase"}]})
    assert definition.goal is not None
    assert definition.goal.exit is False
    assert definition.dump()["goal"] == {"when": [{"event": "custom", "name": "purchase"}], "exit": False}
    assert _messages(definition) == []


def test_S24_a_definition_without_goal_dumps_as_before() -> None:
    definition = _definition(None)
    assert "goal" not in definition.dump()


@pytest.mark.parametrize(
    ("goal", "where"),
    [
        ({"when": []}, ("goal", "when")),
        ({"exit": True}, ("goal", "when")),
        ({"when": [{"event": "time_passed", "after": "1d"}]}, ("goal", "when", 0)),
        ({"when": [{"event": "split", "weight": 1}]}, ("goal", "when", 0)),
        ({"when": [{"event": "custom"}]}, ("goal", "when", 0, "custom", "name")),
        ({"when": [{"event": "custom", "name": "x"}], "exit": "yes"}, ("goal", "exit")),
        ({"when": [{"event": "custom", "name": "x"}], "extra": 1}, ("goal", "extra")),
        ("purchase", ("goal",)),
    ],
)
def test_S24_bad_goal_shapes_are_refused_at_their_path(goal: Any, where: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        _definition(goal)
    locations = [tuple(error["loc"]) for error in caught.value.errors()]
    assert any(loc[: len(where)] == where for loc in locations), locations


@pytest.mark.parametrize("event", ["subscriber_added", "never"])
def test_S24_events_that_cannot_happen_to_an_open_run_are_not_goals(event: str) -> None:
    assert _messages(_definition({"when": [{"event": event}]})) == [
        ("$.goal.when[0].event", f"'{event}' cannot be a goal event")
    ]


def test_S24_goal_references_are_checked_and_reported() -> None:
    goal = {
        "when": [
            {"event": "custom", "name": "purchase"},
            {"event": "link_clicked", "draft": "promo"},
            {"event": "form_submitted", "form": "survey"},
            {"event": "list_joined", "list": "customers"},
        ],
        "exit": True,
    }
    definition = _definition(goal)
    assert _messages(definition) == [
        ("$.goal.when[1].draft", "unknown draft 'promo'"),
        ("$.goal.when[2].form", "unknown form 'survey'"),
        ("$.goal.when[3].list", "unknown list 'customers'"),
    ]
    refs = References(drafts=frozenset({"promo"}), forms=frozenset({"survey"}), lists=frozenset({"customers"}))
    assert _messages(definition, refs) == []
    found = referenced(definition)
    assert found["drafts"] == {"promo"} and found["forms"] == {"survey"} and found["lists"] == {"customers"}
