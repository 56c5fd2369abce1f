"""S25 keyed waits in definitions: `same` on edge events at step >= 2 only, a non-empty list of data paths."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from stepwise.domain.definition import SequenceDefinition
from stepwise.domain.validation import References, check_sequence


def _doc(step1: dict[str, Any], step2: dict[str, Any] | None = None) -> dict[str, Any]:
    steps = [{"variants": [{"when": [step1], "do": [{"action": "nothing"}]}]}]
    if step2 is not None:
        steps.append({"variants": [{"when": [step2], "do": [{"action": "nothing"}]}]})
    return {"name": "Cart", "steps": steps}


def _problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in check_sequence("cart", SequenceDefinition.model_validate(doc), References())]


def test_s25_same_at_step_two_is_accepted() -> None:
    doc = _doc({"event": "custom", "name": "cart_abandoned"}, {"event": "custom", "name": "buy", "same": ["cart_id"]})
    assert _problems(doc) == []
    parsed = SequenceDefinition.model_validate(doc)
    assert parsed.dump()["steps"][1]["variants"][0]["when"][0]["same"] == ["cart_id"]


def test_s25_same_at_step_one_is_refused_with_its_path() -> None:
    doc = _doc({"event": "custom", "name": "cart_abandoned", "same": ["cart_id"]})
    assert _problems(doc) == [
        (
            "$.steps[0].variants[0].when[0].same",
            "'same' compares with the run's entry event and cannot be used in step 1",
        )
    ]


@pytest.mark.parametrize(
    "same",
    [[], ["bad path!"], "cart_id", [1], ["a." * 9 + "b"], [f"f{i}" for i in range(17)]],
)
def test_s25_same_must_be_a_short_non_empty_list_of_data_paths(same: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        SequenceDefinition.model_validate(_doc({"event": "never"}, {"event": "custom", "name": "b", "same": same}))
    assert any("same" in [str(part) for part in err["loc"]] for err in raised.value.errors())


def test_s25_waits_do_not_take_same() -> None:
    with pytest.raises(ValidationError):
        SequenceDefinition.model_validate(
            _doc({"event": "never"}, {"event": "time_passed", "after": "1d", "same": ["a"]})
        )


def test_s25_the_sequence_page_describes_a_keyed_wait() -> None:
    from stepwise.web.describe import event

    assert event({"event": "custom", "name": "purchase", "same": ["cart_id", "shop.id"]}) == (
        "Event “purchase”, same cart_id, shop.id as the entry event"
    )
    assert event({"event": "custom", "name": "purchase"}) == "Event “purchase”"
