"""Deadlines of a step's time waits (SPEC §2.2, S5)."""

from __future__ import annotations

from datetime import datetime
from typing import assert_never

from stepwise.domain import definition as d
from stepwise.engine.model import SequenceInfo


def wait_deadline(spec: d.TimeWait, arrived: datetime, timezone: str) -> datetime:
    """Return when a time wait fires for a run that arrived at `arrived`."""
    match spec:
        case d.TimePassed():
            return arrived + spec.delay
        case d.Schedule():
            return spec.calendar(timezone).next_after(arrived)
        case _:
            assert_never(spec)


def step_deadline(sequence: SequenceInfo, step: int, arrived: datetime) -> tuple[datetime, int] | None:
    """Return (earliest deadline, 0-based variant index) of a 1-based step; ties go to the lower index."""
    due = due_wait(sequence, step, arrived)
    return None if due is None else (due[0], due[1])


def due_wait(sequence: SequenceInfo, step: int, arrived: datetime) -> tuple[datetime, int, d.TimeWait] | None:
    """Return (earliest deadline, 0-based variant index, the wait itself) of a 1-based step.

    Ties go to the lower variant, then to the wait written first.
    """
    best: tuple[datetime, int, d.TimeWait] | None = None
    for index, spec in sequence.time_waits[step - 1]:
        moment = wait_deadline(spec, arrived, sequence.timezone)
        if best is None or moment < best[0]:
            best = (moment, index, spec)
    return best


def has_state_waits(sequence: SequenceInfo, step: int) -> bool:
    """Tell whether a 1-based step is tested on arrival: data_matches or list_matches waits, or a split (S23)."""
    return step in sequence.state_wait_steps or step in sequence.split_steps
