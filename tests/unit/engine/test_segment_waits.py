"""segment_matches (SPEC §15): holds on membership, re-tested on segment_joined / segment_left."""

from __future__ import annotations

from datetime import UTC, datetime

from stepwise.domain import definition as d
from stepwise.engine.matching import state_holds
from stepwise.engine.model import Event
from stepwise.engine.selection import _relevant, state_event

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_S22_segment_matches_holds_on_membership() -> None:
    inside = d.SegmentMatches(event="segment_matches", segment="pro")
    outside = d.SegmentMatches(event="segment_matches", segment="pro", member=False)
    assert state_holds(inside, {}, set(), NOW, frozenset({"pro"}))
    assert not state_holds(inside, {}, {"pro"}, NOW)  # a list of the same key is not the segment
    assert state_holds(outside, {}, set(), NOW, frozenset({"other"}))
    assert state_event(inside, NOW).payload == {"segment": "pro"}


def test_S22_only_its_own_segment_events_retest_it() -> None:
    spec = d.SegmentMatches(event="segment_matches", segment="pro")
    joined = Event(kind="segment_joined", payload={"segment": "pro"}, source="segment", at=NOW)
    other = Event(kind="segment_left", payload={"segment": "free"}, source="segment", at=NOW)
    listed = Event(kind="list_joined", payload={"list": "pro"}, source="api", at=NOW)
    assert _relevant(spec, joined) and not _relevant(spec, other) and not _relevant(spec, listed)
    data = d.DataMatches(event="data_matches", where={"field": "a", "op": "exists"})  # type: ignore[arg-type]
    assert _relevant(data, Event(kind="data_changed", payload={}, source="api", at=NOW))
