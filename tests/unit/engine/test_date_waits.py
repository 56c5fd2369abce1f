"""S26 date_reached as a wait at step >= 2 (pure engine): fixed on arrival, earliest wait wins, bad dates noted."""

from __future__ import annotations

from datetime import UTC, datetime

from stepwise.engine.model import SequenceInfo
from tests.unit.builders import (
    NOTHING,
    T0,
    World,
    after,
    custom,
    custom_event,
    days,
    entries,
    on,
    send,
    sequence,
    transitions,
)


def _dated(*waits: dict[str, object]) -> SequenceInfo:
    return sequence("d", on(custom("go"), do=NOTHING), [on(w, do=send(f"m{i}")) for i, w in enumerate(waits)])


def test_S26_the_wait_fires_at_the_date_plus_offset_at_local_time() -> None:
    world = World.of(
        _dated({"event": "date_reached", "field": "renewal", "offset": "-7d"}), data={"renewal": "2026-03-20"}
    )
    world.feed(custom_event("go", T0))
    assert world.runs[("d", 1)].wake_at == datetime(2026, 3, 13, 9, 0, tzinfo=UTC)
    fired = world.advance(days(11))
    assert transitions(fired) == [("d", 2, 1)]
    assert [e.detail["trigger"] for e in entries(fired, "transition")] == ["date_reached"]


def test_S26_the_earlier_of_a_date_wait_and_a_time_wait_fires() -> None:
    seq = _dated({"event": "date_reached", "field": "renewal"}, after("3d"))
    world = World.of(seq, data={"renewal": "2026-03-04"})
    world.feed(custom_event("go", T0))
    assert transitions(world.advance(days(3))) == [("d", 2, 1)]  # 4 March 09:00 is before 5 March 09:00
    world = World.of(seq, data={"renewal": "2026-04-04"})
    world.feed(custom_event("go", T0))
    assert transitions(world.advance(days(3))) == [("d", 2, 2)]


def test_S26_a_changed_profile_does_not_move_the_deadline_fixed_on_arrival() -> None:
    world = World.of(_dated({"event": "date_reached", "field": "renewal"}), data={"renewal": "2026-03-04"})
    world.feed(custom_event("go", T0))
    world.subscriber.data = {"renewal": "2026-09-01"}
    assert transitions(world.advance(days(2))) == [("d", 2, 1)]


def test_S26_a_date_past_on_arrival_never_fires_and_a_bad_date_is_noted() -> None:
    world = World.of(_dated({"event": "date_reached", "field": "renewal"}), data={"renewal": "2026-03-01"})
    world.feed(custom_event("go", T0))
    assert world.runs[("d", 1)].wake_at is None
    bad = World.of(_dated({"event": "date_reached", "field": "renewal"}), data={"renewal": "31/12/2026"})
    outcome = bad.feed(custom_event("go", T0))
    assert [e.detail["value"] for e in entries(outcome, "date_unparsable")] == ["31/12/2026"]
    assert bad.runs[("d", 1)].wake_at is None
    assert not entries(bad.advance(days(400)), "date_unparsable")
