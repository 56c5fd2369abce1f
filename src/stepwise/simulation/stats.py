"""The §7 statistics shape, computed from the counters a simulation collected (no database)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stepwise.domain.statuses import END_REASONS
from stepwise.engine.model import SequenceInfo

Counters = Mapping[tuple[str, str, int, int], int]


def sequence_stats(info: SequenceInfo, counters: Counters) -> dict[str, Any]:
    """What `GET /sequences/{key}/stats` would answer after the simulated time (SPEC §7)."""
    key = info.key

    def total(metric: str) -> int:
        return counters.get((key, metric, 0, 0), 0)

    stopped_by = {reason: total(f"stopped:{reason}") for reason in END_REASONS}
    steps = [
        {
            "step": number,
            "on_step": counters.get((key, "on_step", number, 0), 0),
            "variants": [
                {
                    "variant": v,
                    "fired": counters.get((key, "fired", number, v), 0),
                    "converted": counters.get((key, "converted", number, v), 0),
                }
                for v in range(1, len(step.variants) + 1)
            ],
            "converted": counters.get((key, "converted", number, 0), 0),
        }
        for number, step in enumerate(info.definition.steps, start=1)
    ]
    return {
        "sequence": key,
        "status": info.status,
        "entered": total("entered"),
        "subscribers": total("subscribers"),
        "on_steps": sum(step["on_step"] for step in steps),
        "completed": total("completed"),
        "stopped": sum(stopped_by.values()),
        "stopped_by": stopped_by,
        "steps": steps,
        "converted": total("converted"),
        "conversion_rate": round(total("converted") / total("entered"), 4) if total("entered") else None,
    }
