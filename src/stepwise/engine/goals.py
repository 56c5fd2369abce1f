"""S24 goals, the pure decision: does an edge event convert an open run, and does it end it?

Decided rules (docs/journeys.md, "Goals"):
- only a run that was open (active or paused) when the event happened can convert; the caller offers
  an event only to runs open before it, so the event that creates a run never converts that run;
- a paused run converts too, and `exit: true` ends it (the subscriber reached the goal all the same);
- a run converts at most once; a run that has ended (completed or stopped) never converts;
- a click or an open named in a goal counts from any email unless the spec says `scope: sequence`,
  which then means an email of this very run (its sequence and pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stepwise.engine.matching import edge_matches
from stepwise.engine.model import Event, Run, SequenceInfo


@dataclass(frozen=True, slots=True)
class Conversion:
    """A conversion to record on a run: the step it waited at, the last variant fired, and whether it ends."""

    step: int
    variant: int | None  # 1-based variant of the last transition of the run; None if none fired
    exit: bool


def is_goal_event(seq: SequenceInfo, run: Run, event: Event, data: dict[str, Any]) -> bool:
    """Tell whether the event matches one of the sequence's goal specs for this run."""
    goal = seq.definition.goal
    if goal is None:
        return False
    return any(
        edge_matches(spec, event, step=1, sequence=seq.key, pass_no=run.pass_no, data=data) for spec in goal.when
    )


def conversion(
    seq: SequenceInfo,
    run: Run,
    event: Event,
    data: dict[str, Any],
    *,
    converted: bool,
    last_variant: int | None,
) -> Conversion | None:
    """The conversion this event brings to the run, or None (no goal, not open, converted, no match)."""
    if converted or run.status not in ("active", "paused"):
        return None
    if event.at < run.entered_at or not is_goal_event(seq, run, event, data):
        return None
    goal = seq.definition.goal
    return Conversion(step=run.step, variant=last_variant, exit=bool(goal and goal.exit))
