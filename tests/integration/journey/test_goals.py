"""S24 goals, the definition on both databases: a goal is saved and shown as given; bad goals are
refused with JSON paths and change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.errors import NotFound, Unprocessable
from stepwise.services import sequences
from tests.support.clock import FakeClock

BASE: dict[str, Any] = {
    "name": "Trial",
    "steps": [{"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "nothing"}]}]}],
}


def test_S24_goal_is_saved_and_shown_as_given(stepwise: Stepwise, account: tuple[int, str], clock: FakeClock) -> None:
    account_id, _ = account
    goal = {"when": [{"event": "custom", "name": "purchase"}], "exit": True}
    sequences.put(stepwise.db, account_id, "trial", {**BASE, "goal": goal}, clock())
    assert sequences.get(stepwise.db, account_id, "trial").definition["goal"] == goal


@pytest.mark.parametrize(
    ("goal", "path"),
    [
        ({"when": [{"event": "time_passed", "after": "1d"}]}, "$.goal.when[0]"),
        ({"when": [{"event": "custom", "name": "x"}], "exit": "yes"}, "$.goal.exit"),
        ({"when": [{"event": "never"}]}, "$.goal.when[0].event"),
        ({"when": [{"event": "link_clicked", "draft": "nope"}]}, "$.goal.when[0].draft"),
    ],
)
def test_S24_bad_goals_are_refused_with_their_path_and_change_nothing(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock, goal: dict[str, Any], path: str
) -> None:
    account_id, _ = account
    with pytest.raises(Unprocessable) as caught:
        sequences.put(stepwise.db, account_id, "trial", {**BASE, "goal": goal}, clock())
    assert [p["path"] for p in caught.value.details] == [path], caught.value.details
    with pytest.raises(NotFound):
        sequences.get(stepwise.db, account_id, "trial")
