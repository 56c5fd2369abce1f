"""S26 at step 1: when a profile date enters a subscriber into a sequence, and the event that does it.

The due-date finder (services/date_triggers.py) keeps, per sequence and subscriber, the next instant
one of the step-1 `date_reached` variants falls due; when it comes it queues the event built here,
which matches that variant (engine/matching.py) and nothing else. The offline simulator uses the
same two functions, so a simulated birthday enters as a stored one does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from stepwise.domain.dates import DateReached
from stepwise.domain.instants import iso
from stepwise.engine.deadlines import date_notes
from stepwise.engine.model import SequenceInfo, TimelineEntry

Due = tuple[datetime, int, DateReached]  # (instant, 0-based variant, the spec)
_TICK = timedelta(microseconds=1)


def spec_key(spec: DateReached) -> dict[str, Any]:
    """The spec as the event carries it: an event matches the variant whose spec is equal to this."""
    return spec.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {"event": "date_reached"}


def has_date_entry(seq: SequenceInfo) -> bool:
    """Whether step 1 has a `date_reached` variant (the finder keeps due instants for it)."""
    return bool(seq.date_waits[0])


def next_entry(seq: SequenceInfo, data: Mapping[str, Any], after: datetime) -> Due | None:
    """The first step-1 date of this profile strictly after `after` (ties: the lower variant), or None."""
    best: Due | None = None
    for index, spec in seq.date_waits[0]:
        moment = spec.due(data, seq.timezone, after)
        if moment is not None and (best is None or moment < best[0]):
            best = (moment, index, spec)
    return best


def due_at(seq: SequenceInfo, data: Mapping[str, Any], moment: datetime) -> Due | None:
    """The step-1 date wait that falls due exactly at `moment` for this profile (the lower variant), or None."""
    for index, spec in seq.date_waits[0]:
        if spec.due(data, seq.timezone, moment - _TICK) == moment:
            return moment, index, spec
    return None


def entry_payload(seq: SequenceInfo, due: Due, data: Mapping[str, Any]) -> dict[str, Any]:
    """The payload of the `date_reached` event that enters `seq` by this variant."""
    moment, _, spec = due
    value = spec.value(data)
    shown = value if isinstance(value, str | int | float) else None
    return {"sequence": seq.key, "spec": spec_key(spec), "field": spec.field, "value": shown, "due_at": iso(moment)}


def unparsable_notes(seq: SequenceInfo, data: Mapping[str, Any], at: datetime) -> list[TimelineEntry]:
    """A timeline note per step-1 date variant whose profile value is present but not a date."""
    return date_notes(seq, 1, data, None, at)


def fields_read(seq: SequenceInfo) -> frozenset[str]:
    """The profile paths the step-1 dates read (their field, and the zone a subscriber may set)."""
    return frozenset({spec.field for _, spec in seq.date_waits[0]} | {"base.timezone"})
