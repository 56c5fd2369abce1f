"""S26 at step 1 (pure engine): the next due date of a profile, the event that enters by exactly that
variant (and by no other sequence or spec), and the notes of unparsable dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stepwise.domain.definition import DateReached
from stepwise.engine import date_entry
from stepwise.engine.model import Event, SequenceInfo
from tests.unit.builders import T0, World, on, send, sequence, transitions

BIRTHDAY = {"event": "date_reached", "field": "birthday", "every_year": True}
RENEWAL = {"event": "date_reached", "field": "renewal", "offset": "-7d", "at": "10:00"}


def _entering(key: str = "bday") -> SequenceInfo:
    return sequence(key, [on(BIRTHDAY, do=send("a")), on(RENEWAL, do=send("b"))])


def test_S26_the_next_step_1_date_is_the_earliest_of_the_variants() -> None:
    info = _entering()
    data = {"birthday": "1990-05-01", "renewal": "2026-03-20"}  # T0 is 2 March 2026
    moment, index, spec = date_entry.next_entry(info, data, T0) or (None, None, None)
    assert (moment, index, spec.field if spec else None) == (datetime(2026, 3, 13, 10, 0, tzinfo=UTC), 1, "renewal")
    assert date_entry.next_entry(info, {}, T0) is None
    assert date_entry.has_date_entry(info)
    assert not date_entry.has_date_entry(sequence("other", on({"event": "subscriber_added"}, do=send("a"))))
    assert date_entry.fields_read(info) == {"birthday", "renewal", "base.timezone"}


def test_S26_the_due_variant_is_found_at_its_moment_only() -> None:
    info = _entering()
    data = {"birthday": "1990-02-01"}
    moment = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    assert date_entry.due_at(info, data, moment) == (moment, 0, info.date_waits[0][0][1])
    assert date_entry.due_at(info, data, moment + timedelta(minutes=1)) is None


def test_S26_the_date_event_enters_its_sequence_by_its_variant_and_nothing_else() -> None:
    info, other = _entering(), _entering("other")
    data = {"birthday": "1990-02-01", "renewal": "2026-05-01"}
    moment = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    due = date_entry.due_at(info, data, moment)
    assert due is not None
    payload = date_entry.entry_payload(info, due, data)
    assert payload == {
        "sequence": "bday",
        "spec": {"event": "date_reached", "field": "birthday", "every_year": True},
        "field": "birthday",
        "value": "1990-02-01",
        "due_at": "2026-02-01T09:00:00Z",
    }
    world = World.of(info, other, data=data)
    out = world.feed(Event("date_reached", payload, "date", moment), now=moment)
    assert [t[0] for t in transitions(out, "bday")] == ["bday"]
    assert transitions(out, "other") == []
    assert [c.draft for c in out.commands] == ["a"]


def test_S26_an_unparsable_step_1_date_is_noted_with_its_field_and_value() -> None:
    info = _entering()
    notes = date_entry.unparsable_notes(info, {"birthday": "soon", "renewal": {"y": 1}}, T0)
    assert [(n.kind, n.detail["field"], n.detail["value"]) for n in notes] == [
        ("date_unparsable", "birthday", "soon"),
        ("date_unparsable", "renewal", "{'y': 1}"),
    ]


def test_S26_the_spec_key_leaves_out_defaults() -> None:
    spec = DateReached.model_validate({"event": "date_reached", "field": "x", "every_year": False})
    assert date_entry.spec_key(spec) == {"event": "date_reached", "field": "x"}
