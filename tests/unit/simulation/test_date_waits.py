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
