"""S21: the pure forecast — S9 entry at the start, seeded assumed behaviour, reproducible."""

from __future__ import annotations

from datetime import timedelta

from stepwise.simulation.forecast import Assumptions, Draft, Sampled, forecast
from tests.unit.builders import T0, after, catalog, edge, on, send, sequence


def _people(n: int) -> list[Sampled]:
    return [Sampled(i, f"s{i}@example.com", "active", {"base": {"n": i}}, frozenset()) for i in range(n, 0, -1)]


SEQ = sequence(
    "s",
    on(edge("never"), do=send("a")),
    [on(edge("link_clicked", url="https://x.example/go"), do=send("yes")), on(after("2d"), do=send("no"))],
    on({"event": "custom", "name": "paid"}, do=send("paid")),
)
DRAFTS = {"a": Draft("Hi {{ data.base.n }}", ("https://x.example/go",))}


def test_S21_everyone_enters_by_S9_and_assumed_clicks_and_events_move_them() -> None:
    assume = Assumptions(open_rate=0.5, click_rate=0.5, events={"paid": (0.5, timedelta(days=4))})
    result = forecast("s", catalog(SEQ), _people(400), DRAFTS, assume, T0, timedelta(days=10), seed=3)
    assert result["entered"] == 400 and result["sample"] == 400
    yes, no = (v["fired"] for v in result["steps"][1]["variants"])
    assert yes + no == 400 and 150 < yes < 250
    assert result["emails"]["yes"] == yes and result["emails"]["a"] == 400
    assert 150 < result["completed"] < 250 and result["emails"]["paid"] == result["completed"]
    assert [t["email"] for t in result["timelines"]] == [f"s{i}@example.com" for i in range(1, 6)]
    assert any(e.get("subject") == "Hi 1" for e in result["timelines"][0]["timeline"])
    again = forecast("s", catalog(SEQ), _people(400), DRAFTS, assume, T0, timedelta(days=10), seed=3)
    assert again == result


def test_S21_nothing_assumed_means_only_deadlines_move_runs_and_the_horizon_stops_them() -> None:
    short = forecast("s", catalog(SEQ), _people(3), {}, Assumptions(), T0, timedelta(days=1), seed=1)
    assert short["on_steps"] == 3 and short["emails"] == {"a": 3}
    assert "subject" not in short["timelines"][0]["timeline"][-1]  # drafts unknown: no subject
    longer = forecast("s", catalog(SEQ), _people(3), {}, Assumptions(), T0, timedelta(days=2), seed=1)
    assert longer["emails"] == {"a": 3, "no": 3} and longer["steps"][2]["on_step"] == 3
