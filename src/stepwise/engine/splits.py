"""S23: which variant of a split step a run fires on arrival (pure: a hash, no stored state)."""

from __future__ import annotations

from datetime import datetime

from stepwise.domain.splits import choose_variant, split_draw
from stepwise.engine.model import Event, Run, SequenceInfo


def split_variant(seq: SequenceInfo, subscriber_id: int, pass_no: int, step: int) -> int | None:
    """The 0-based variant a split step fires for this subscriber and pass, or None if the step is no split."""
    weights = seq.split_steps.get(step)
    if weights is None:
        return None
    return choose_variant(weights, split_draw(seq.account_id, seq.key, subscriber_id, pass_no, step))


def split_met(run: Run, seq: SequenceInfo, subscriber_id: int, at: datetime) -> tuple[int, Event] | None:
    """The variant a run at a split step fires, with the event it fires by."""
    index = split_variant(seq, subscriber_id, run.pass_no, run.step)
    if index is None:
        return None
    weight = seq.split_steps[run.step][index]
    return index, Event(kind="split", payload={"weight": weight}, source="engine", at=at)
