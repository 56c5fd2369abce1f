"""S24 in the simulation's stats: the same converted fields as GET /sequences/{key}/stats."""

from __future__ import annotations

from stepwise.domain.definition import SequenceDefinition
from stepwise.engine.model import SequenceInfo
from stepwise.simulation.stats import sequence_stats

NOTHING = {"action": "nothing"}


def _info() -> SequenceInfo:
    steps = [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [NOTHING]}]},
        {"variants": [{"when": [{"event": "split", "weight": 1}], "do": [NOTHING]} for _ in range(2)]},
        {"variants": [{"when": [{"event": "time_passed", "after": "1d"}], "do": [NOTHING]}]},
    ]
    goal = {"when": [{"event": "custom", "name": "purchase"}]}
    definition = SequenceDefinition.model_validate({"name": "t", "steps": steps, "goal": goal})
    return SequenceInfo(key="trial", status="active", definition=definition, timezone="UTC")


def test_S24_simulation_stats_count_conversions_per_step_and_variant() -> None:
    counters = {
        ("trial", "entered", 0, 0): 8,
        ("trial", "converted", 0, 0): 2,
        ("trial", "converted", 3, 0): 2,
        ("trial", "converted", 2, 1): 1,
        ("trial", "converted", 2, 2): 1,
    }
    stats = sequence_stats(_info(), counters)
    assert (stats["converted"], stats["conversion_rate"]) == (2, 0.25)
    assert [step["converted"] for step in stats["steps"]] == [0, 0, 2]
    assert [v["converted"] for v in stats["steps"][1]["variants"]] == [1, 1]


def test_S24_simulation_conversion_rate_is_null_when_nobody_entered() -> None:
    assert sequence_stats(_info(), {})["conversion_rate"] is None
