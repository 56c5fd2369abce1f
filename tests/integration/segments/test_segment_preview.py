"""The segment editor's live count (SPEC S22): an unsaved rule counted as the backfill would, bounded in time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.errors import Unprocessable
from stepwise.services import lists, segment_preview, segments
from stepwise.services.segment_preview import Preview
from stepwise.services.subscribers import Edit, edit_one

PRO = {"field": "custom.plan", "op": "eq", "value": "pro"}


def _people(stepwise: Stepwise, account_id: int, plans: list[str]) -> None:
    lists.put(stepwise.db, account_id, "vip", "VIP", stepwise.clock())
    for n, plan in enumerate(plans):
        edit = Edit(data={"custom": {"plan": plan}}, lists_add=["vip"] if n % 2 else [])
        edit_one(stepwise.db, account_id, f"p{n}@x.com", edit, source="api", now=stepwise.clock(), create=True)


def test_S22_live_count_equals_the_saved_count_and_saves_nothing(stepwise: Stepwise, account: tuple[int, str]) -> None:
    account_id = account[0]
    _people(stepwise, account_id, ["pro", "free", "pro", "pro"])
    rule = {"all": [PRO, {"field": "subscriber.lists", "op": "contains", "value": "vip"}]}
    found = segment_preview.preview_count(stepwise.db, account_id, rule, stepwise.clock())
    assert found == Preview(count=1, checked=4, complete=True)
    assert segments.all_segments(stepwise.db, account_id) == []
    saved, _ = segments.put(stepwise.db, account_id, "pro-vip", "Pro VIP", rule, stepwise.clock())
    assert saved.count == found.count


def test_S22_live_count_of_a_wrong_rule_is_refused_with_its_path(stepwise: Stepwise, account: tuple[int, str]) -> None:
    with pytest.raises(Unprocessable) as caught:
        segment_preview.preview_count(
            stepwise.db, account[0], {"field": "event.x", "op": "eq", "value": 1}, stepwise.clock()
        )
    assert str(caught.value.details[0]["path"]).startswith("$.where")


def test_S22_live_count_stops_at_its_time_budget_and_says_it_is_a_lower_bound(
    stepwise: Stepwise, account: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id = account[0]
    _people(stepwise, account_id, ["pro"] * 5)
    monkeypatch.setattr(segment_preview, "PREVIEW_BATCH", 2)
    ticks: Iterator[float] = iter([0.0, 0.5, 3.0, 9.0])
    found = segment_preview.preview_count(stepwise.db, account_id, PRO, stepwise.clock(), clock=lambda: next(ticks))
    assert found == Preview(count=4, checked=4, complete=False)
