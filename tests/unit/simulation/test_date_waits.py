"""S26 in the offline simulator: a date_reached wait fires on the virtual clock at its moment."""

from __future__ import annotations

from stepwise.simulation.offline import simulate
from stepwise.simulation.script import parse_script
from tests.unit.builders import catalog, edge, on, send, sequence


def test_S26_a_date_reached_wait_fires_on_the_virtual_clock() -> None:
    wait = {"event": "date_reached", "field": "custom.renewal", "offset": "-2d"}
    seq = sequence("s", on(edge("subscriber_added"), do=send("a")), on(wait, do=send("b")))
    script = parse_script(
        {
            "start": "2026-03-02T09:00:00Z",
            "until": "+10d",
            "subscribers": [{"email": "anna@example.com", "data": {"custom": {"renewal": "2026-03-07"}}}],
            "events": [{"at": "+1h", "email": "anna@example.com", "event": "subscriber_added"}],
        }
    )
    result = simulate(catalog(seq), {"a": "A", "b": "B"}, script)
    emails = [(e["at"], e["subject"]) for e in result.timelines["anna@example.com"] if e["kind"] == "email"]
    assert [subject for _, subject in emails] == ["A", "B"]
    assert emails[1][0].startswith("2026-03-05T09:00")


def test_S26_a_step_1_date_enters_on_the_virtual_clock_every_year() -> None:
    when = {"event": "date_reached", "field": "birthday", "every_year": True, "at": "10:00"}
    seq = sequence("bday", on(when, do=send("a")))
    script = parse_script(
        {
            "start": "2026-03-02T09:00:00Z",
            "until": "+700d",
            "subscribers": [
                {"email": "anna@example.com", "data": {"birthday": "1990-03-05"}},
                {"email": "boris@example.com", "data": {"birthday": "sometime"}},
            ],
            "events": [],
        }
    )
    result = simulate(catalog(seq), {"a": "A"}, script)
    sent = [e["at"] for e in result.timelines["anna@example.com"] if e["kind"] == "email"]
    assert [at[:16] for at in sent] == ["2026-03-05T10:00", "2027-03-05T10:00"]
    assert not [e for e in result.timelines["boris@example.com"] if e["kind"] == "email"]
