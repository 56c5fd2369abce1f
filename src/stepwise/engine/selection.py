"""Which variant an event fires (S2, S4, S6), whether a sequence may be entered (S9), and event values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from stepwise.domain import definition as d
from stepwise.domain.instants import iso
from stepwise.engine.matching import edge_matches, entry_data, same_keys_match, state_holds, template_event
from stepwise.engine.model import Event, Run, SequenceInfo, Subscriber

STATE_CHANGES = ("data_changed", "list_joined", "list_left", "segment_joined", "segment_left")


def select_variant(run: Run, seq: SequenceInfo, event: Event, sub: Subscriber) -> int | None:
    """Return the 0-based index of the first variant of the run's step matched by event (S4)."""
    state_change = event.kind in STATE_CHANGES
    kinds = seq.step_kinds[run.step - 1]
    if event.kind not in kinds and not (state_change and seq.state_wait_steps):
        return None  # nothing at this step listens for this kind of event
    variants = seq.definition.steps[run.step - 1].variants
    for index, variant in enumerate(variants):
        for spec in variant.when:
            if isinstance(spec, d.DataMatches | d.ListMatches | d.SegmentMatches):
                relevant = _relevant(spec, event)
                if state_change and relevant and state_holds(spec, sub.data, sub.lists, event.at, sub.segments):
                    return index
            elif (
                not isinstance(spec, d.TimePassed | d.Schedule | d.DateReached)
                and edge_matches(spec, event, step=run.step, sequence=seq.key, pass_no=run.pass_no, data=sub.data)
                and _same_entry(spec, event, run)
            ):
                return index
    return None


def _same_entry(spec: d.EventSpec, event: Event, run: Run) -> bool:
    """S25: a keyed spec matches only an event whose listed fields equal the run's entry event's."""
    same = getattr(spec, "same", None)
    return not same or same_keys_match(same, template_event(event), entry_data(run.entry))


def _relevant(spec: d.StateWait, event: Event) -> bool:
    """Whether a change event can change the state wait's answer."""
    if isinstance(spec, d.DataMatches):
        return event.kind == "data_changed"
    if isinstance(spec, d.ListMatches):
        return event.kind in ("list_joined", "list_left") and event.payload.get("list") == spec.list
    return event.kind in ("segment_joined", "segment_left") and event.payload.get("segment") == spec.segment


def entry_variant(seq: SequenceInfo, event: Event, sub: Subscriber, passes: Mapping[str, int]) -> int | None:
    """S2: the 0-based step-1 variant an edge event enters the sequence by, if any."""
    if event.kind not in seq.entry_kinds or not seq.definition.accepting:
        return None
    if seq.definition.only_once and passes.get(seq.key, 0) > 0:
        return None
    for index, variant in enumerate(seq.definition.steps[0].variants):
        if any(
            edge_matches(spec, event, step=1, sequence=seq.key, pass_no=None, data=sub.data) for spec in variant.when
        ):
            return index
    return None


def state_wait_met(run: Run, seq: SequenceInfo, sub: Subscriber, at: datetime) -> tuple[int, Event] | None:
    """S6: the first variant of the run's step whose state wait holds, with the event it fires by."""
    for index, variant in enumerate(seq.definition.steps[run.step - 1].variants):
        for spec in variant.when:
            if isinstance(spec, d.StateWait) and state_holds(spec, sub.data, sub.lists, at, sub.segments):
                return index, state_event(spec, at)
    return None


def start_refusal(
    seq: SequenceInfo | None, running: bool, passes: Mapping[str, int], leaving: bool = False
) -> str | None:
    """S9: why a start (or a go_to leaving `leaving`) cannot enter `seq`, or None when it can."""
    if seq is None:
        return "unknown sequence"
    if seq.status != "active":
        return "sequence is paused"
    if not seq.definition.accepting:
        return "sequence is not accepting"
    if running and not leaving:
        return "already running"
    if seq.definition.only_once and passes.get(seq.key, 0) > 0:
        return "only_once and already passed"
    if len(seq.definition.steps[0].variants) != 1:
        return "step 1 has more than one variant"
    return None


def event_detail(event: Event) -> dict[str, Any]:
    """The timeline detail of an event."""
    detail: dict[str, Any] = {"event": event.kind, "source": event.source}
    if event.occurred_at is not None and event.occurred_at != event.at:
        detail["occurred_at"] = iso(event.occurred_at)  # the client's time, shown beside `at`; never used (S13)
    payload = {k: v for k, v in event.payload.items() if k != "data" or event.kind == "custom"}
    if payload:
        detail["payload"] = payload
    return detail


def state_event(spec: d.StateWait, at: datetime) -> Event:
    """The event a state wait fires by."""
    payload: dict[str, Any] = {"list": spec.list} if isinstance(spec, d.ListMatches) else {}
    if isinstance(spec, d.SegmentMatches):
        payload = {"segment": spec.segment}
    return Event(kind=spec.event, payload=payload, source="engine", at=at)
