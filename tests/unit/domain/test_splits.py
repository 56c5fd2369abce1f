"""S23 random split, the pure half: the draw, the choice by weight and the checks of a split step."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.splits import choose_variant, split_draw, split_problems, split_weights
from stepwise.domain.validation import References, check_sequence

NOTHING = {"action": "nothing"}


def _split(*weights: Any) -> list[dict[str, Any]]:
    return [{"when": [{"event": "split", "weight": w}], "do": [NOTHING]} for w in weights]


def _definition(*steps: list[dict[str, Any]]) -> SequenceDefinition:
    first = [{"when": [{"event": "subscriber_added"}], "do": [NOTHING]}]
    return SequenceDefinition.model_validate(
        {"name": "t", "steps": [{"variants": first}, *[{"variants": s} for s in steps]]}
    )


def _messages(definition: SequenceDefinition) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in check_sequence("t", definition, References())]


def test_S23_the_draw_is_fixed_per_account_sequence_subscriber_pass_and_step() -> None:
    draw = split_draw(1, "welcome", 42, 1, 2)
    assert draw == split_draw(1, "welcome", 42, 1, 2)
    assert 0 <= draw < 1
    others = {
        split_draw(2, "welcome", 42, 1, 2),
        split_draw(1, "other", 42, 1, 2),
        split_draw(1, "welcome", 43, 1, 2),
        split_draw(1, "welcome", 42, 2, 2),
        split_draw(1, "welcome", 42, 1, 3),
    }
    assert draw not in others and len(others) == 5


@pytest.mark.parametrize("weights", [(50, 50), (70, 30), (1, 2, 1), (10, 0, 90), (1, 99)])
def test_S23_ten_thousand_subscribers_split_within_two_percent_of_the_weights(weights: tuple[int, ...]) -> None:
    chosen = Counter(choose_variant(weights, split_draw(7, "promo", sid, 1, 2)) for sid in range(1, 10_001))
    total = sum(weights)
    for index, weight in enumerate(weights):
        assert abs(chosen[index] / 10_000 - weight / total) <= 0.02, (index, chosen)
    assert all(chosen[index] == 0 for index, weight in enumerate(weights) if weight == 0)


def test_S23_choice_edges() -> None:
    assert choose_variant((1, 1), 0.0) == 0
    assert choose_variant((1, 1), 0.4999) == 0
    assert choose_variant((1, 1), 0.5) == 1
    assert choose_variant((0, 5, 0), 0.0) == 1
    assert choose_variant((3, 0), 0.9999999999999999) == 0  # never a weight-0 variant, even at the top
    assert choose_variant((3, 0), 1.0) == 0  # a draw rounded up to the top still picks a weighted variant


def test_S23_weights_are_integers_from_0_to_a_million() -> None:
    for bad in (-1, 1_000_001, True, 1.5, "5"):
        with pytest.raises(ValidationError):
            _definition(_split(bad, 1))
    assert split_weights(_definition(_split(0, 1_000_000)).steps[1]) == (0, 1_000_000)


def test_S23_a_valid_split_step_has_no_problems() -> None:
    assert _messages(_definition(_split(1, 3))) == []
    assert split_weights(_definition(_split(1, 3)).steps[0]) is None  # step 1 is no split


def test_S23_bad_split_steps_are_validation_problems() -> None:
    assert _messages(_definition(_split(5))) == [("$.steps[1].variants", "a split step needs at least two variants")]
    assert _messages(_definition(_split(0, 0))) == [
        ("$.steps[1].variants", "the weights of a split step must not all be 0")
    ]
    mixed = [*_split(1), {"when": [{"event": "time_passed", "after": "1d"}], "do": [NOTHING]}]
    assert _messages(_definition(mixed)) == [
        ("$.steps[1].variants", "in a split step every variant must have exactly one 'split' event and nothing else")
    ]
    doubled = [{"when": [{"event": "split", "weight": 1}, {"event": "split", "weight": 2}], "do": [NOTHING]}]
    assert (
        "$.steps[1].variants",
        "in a split step every variant must have exactly one 'split' event and nothing else",
    ) in _messages(_definition(doubled + _split(1)))


def test_S23_split_cannot_be_used_in_step_1() -> None:
    definition = SequenceDefinition.model_validate({"name": "t", "steps": [{"variants": _split(1, 1)}]})
    assert split_problems(definition.steps[0], 0) == []
    assert _messages(definition) == [
        ("$.steps[0].variants[0].when[0].event", "'split' is a wait and cannot be used in step 1"),
        ("$.steps[0].variants[1].when[0].event", "'split' is a wait and cannot be used in step 1"),
    ]
