"""Deadlines of a step's time waits (SPEC §2.2, S5)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, assert_never

from stepwise.domain import definition as d
from stepwise.engine.model import Run, SequenceInfo, TimelineEntry

Due = tuple[datetime, int, d.TimeWait | d.DateReached]


def wait_deadline(spec: d.TimeWait, arrived: datetime, timezone: str) -> datetime:
    """Return when a time wait fires for a run that arrived at `arrived`."""
    match spec:
        case d.TimePassed():
            return arrived + spec.delay
        case d.Schedule():
            return spec.calendar(timezone).next_after(arrived)
        case _:
            assert_never(spec)


def step_deadline(
    sequence: SequenceInfo, step: int, arrived: datetime, data: Mapping[str, Any] | None = None
) -> tuple[datetime, int] | None:
    """Return (earliest deadline, 0-based variant index) of a 1-based step; ties go to the lower index.

    With the profile at arrival (`data`), date_reached waits count too (S26: fixed on arrival);
    without it they are left out.
    """
    due = due_wait(sequence, step, arrived)
    dated = date_due(sequence, step, arrived, data) if data is not None else None
    if dated is not None and (due is None or (dated[0], dated[1]) < (due[0], due[1])):
        return dated[0], dated[1]
    return None if due is None else (due[0], due[1])


def date_due(
    sequence: SequenceInfo, step: int, arrived: datetime, data: Mapping[str, Any]
) -> tuple[datetime, int, d.DateReached] | None:
    """S26: the earliest date_reached instant of a 1-based step for this profile, strictly after arrival."""
    best: tuple[datetime, int, d.DateReached] | None = None
    for index, spec in sequence.date_waits[step - 1]:
        moment = spec.due(data, sequence.timezone, arrived)
        if moment is not None and (best is None or moment < best[0]):
            best = (moment, index, spec)
    return best


def fixed_date_wait(
    sequence: SequenceInfo, step: int, wake_at: datetime | None, arrived: datetime, data: Mapping[str, Any]
) -> tuple[datetime, int, d.DateReached] | None:
    """S26: the date wait a stored deadline belongs to; the moment stays the one fixed on arrival.

    It is the wait whose instant for today's profile is that moment, else (the profile changed since)
    the step's first date wait.
    """
    waits = sequence.date_waits[step - 1]
    if wake_at is None or not waits:
        return None
    for index, spec in waits:
        if spec.due(data, sequence.timezone, arrived) == wake_at:
            return wake_at, index, spec
    index, spec = waits[0]
    return wake_at, index, spec


def earliest_due(sequence: SequenceInfo, run: Run, data: Mapping[str, Any]) -> Due | None:
    """The wait of a run's step that is due first: a time wait, or the date wait fixed on arrival (S26)."""
    due: Due | None = due_wait(sequence, run.step, run.step_entered_at)
    dated = fixed_date_wait(sequence, run.step, run.wake_at, run.step_entered_at, data)
    if dated is not None and (due is None or dated[0] < due[0]):
        return dated
    return due


def date_notes(
    sequence: SequenceInfo, step: int, data: Mapping[str, Any], pass_no: int | None, at: datetime
) -> list[TimelineEntry]:
    """S26: a timeline note for each date wait of the step whose profile value is present but not a date
    (`pass_no` None: a step-1 date, noted before any run exists)."""
    notes = []
    for _, spec in sequence.date_waits[step - 1]:
        value = spec.unparsable(data)
        if value is not None:
            shown = value if isinstance(value, str | int | float) else repr(value)[:200]
            passed = {"pass": pass_no} if pass_no is not None else {}
            detail = {**passed, "step": step, "field": spec.field, "value": shown}
            notes.append(TimelineEntry(at=at, kind="date_unparsable", sequence=sequence.key, detail=detail))
    return notes


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
