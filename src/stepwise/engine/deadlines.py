"""Deadlines of a step's time waits (SPEC §2.2, S5)."""

from __future__ import annotations

from datetime import datetime

from stepwise.domain import definition as d
from stepwise.engine.model import SequenceInfo


def wait_deadline(spec: d.TimeWait, arrived: datetime, timezone: str) -> datetime:
    """Return when a time wait fires for a run that arrived at `arrived`."""
    match spec:
        case d.TimePassed():
            return arrived + spec.delay
        case d.Schedule():
            return spec.calendar(timezone).next_after(arrived)


def step_deadline(sequence: SequenceInfo, step: int, arrived: datetime) -> tuple[datetime, int] | None:
    """Return (earliest deadline, 0-based variant index) of a 1-based step; ties go to the lower index."""
    best: tuple[datetime, int] | None = None
    for index, variant in enumerate(sequence.definition.steps[step - 1].variants):
        for spec in variant.when:
            if isinstance(spec, d.TimePassed | d.Schedule):
                moment = wait_deadline(spec, arrived, sequence.timezone)
                if best is None or moment < best[0]:
                    best = (moment, index)
    return best


def has_state_waits(sequence: SequenceInfo, step: int) -> bool:
    """Tell whether a 1-based step has data_matches or list_matches waits."""
    return any(
        isinstance(spec, d.DataMatches | d.ListMatches)
        for variant in sequence.definition.steps[step - 1].variants
        for spec in variant.when
    )
