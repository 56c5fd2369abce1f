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
from datetime import datetime
from typing import Any, Protocol

from stepwise.domain.statuses import EndReason
from stepwise.engine.matching import edge_matches
from stepwise.engine.model import Event, Outcome, Run, SequenceInfo, Subscriber


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


class GoalHost(Protocol):
    """What `offer_goal` needs of the processor (engine/processor.py)."""

    sub: Subscriber
    out: Outcome

    def end(self, run: Run, reason: EndReason, at: datetime) -> None: ...

    def record(self, at: datetime, kind: str, sequence: str | None, detail: dict[str, Any]) -> None: ...


def offer_goal(host: GoalHost, run: Run, seq: SequenceInfo, event: Event) -> bool:
    """Record the conversion this event brings to the run (counters, timeline); True if it ended the run.

    Counters: ("converted", 0, 0) in all, ("converted", step, 0) at the step the run waited at, and
    ("converted", step - 1, variant) for the variant that fired last (the one that brought it there).
    """
    found = conversion(
        seq, run, event, host.sub.data, converted=run.converted_at is not None, last_variant=run.last_variant
    )
    if found is None:
        return False
    run.converted_at, run.converted_step, run.converted_variant = event.at, found.step, found.variant
    host.out.runs[(run.sequence, run.pass_no)] = run
    counters = host.out.counters
    counters[(seq.key, "converted", 0, 0)] += 1
    counters[(seq.key, "converted", found.step, 0)] += 1
    if found.variant is not None and found.step > 1:
        counters[(seq.key, "converted", found.step - 1, found.variant)] += 1
    detail = {"pass": run.pass_no, "step": found.step, "variant": found.variant, "trigger": event.kind}
    host.record(event.at, "converted", seq.key, {**detail, "exit": found.exit})
    if found.exit:
        host.end(run, "goal", event.at)
    return found.exit
