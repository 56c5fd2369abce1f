"""Simulation figures (SPEC S20-S21): a forecast of 1,000 subscribers over 30 days on the database, and
the offline simulator with 10,000 subscribers over 90 days in memory (goal: under 30 s)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from stepwise.bench.scenario import prepare
from stepwise.domain.definition import SequenceDefinition
from stepwise.engine.model import SequenceInfo
from stepwise.services import forecast as forecast_service
from stepwise.services import sequences as sequence_service
from stepwise.simulation.offline import simulate
from stepwise.simulation.script import Happening, Person, Script

SEND = [{"action": "send_email", "draft": "welcome"}]
FLOW: dict[str, Any] = {
    "name": "Forecast bench",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": SEND}]},
        {
            "variants": [
                {
                    "when": [{"event": "link_clicked"}],
                    "do": [{"action": "change_data", "set": {"custom.engaged": True}}],
                },
                {
                    "when": [{"event": "time_passed", "after": "3d"}],
                    "do": [{"action": "send_email", "draft": "welcome"}],
                },
            ]
        },
        {
            "variants": [
                {"when": [{"event": "custom", "name": "order_placed"}], "do": [{"action": "nothing"}]},
                {
                    "when": [{"event": "time_passed", "after": "7d"}],
                    "do": [{"action": "send_email", "draft": "welcome"}],
                },
            ]
        },
        {"variants": [{"when": [{"event": "time_passed", "after": "30d"}], "do": [{"action": "nothing"}]}]},
    ],
}


def forecast_1k_30d(database_url: str) -> dict[str, Any]:
    """Time `POST /sequences/{key}/simulate`'s service: 1,000 sampled subscribers over 30 days."""
    scenario = prepare(database_url, 1000, account="forecast")
    db, account_id = scenario.stepwise.db, scenario.account_id
    sequence_service.put(db, account_id, "forecast", FLOW, scenario.stepwise.clock())
    body = forecast_service.ForecastRequest.model_validate(
        {
            "sample": 1000,
            "horizon": "30d",
            "seed": 1,
            "assume": {"open_rate": 0.4, "click_rate": 0.1, "events": {"order_placed": {"probability": 0.2}}},
        }
    )
    began = time.perf_counter()
    result = forecast_service.simulate(db, account_id, "forecast", body, scenario.stepwise.clock())
    elapsed = time.perf_counter() - began
    scenario.stepwise.close()
    return {"forecast_1k_30d_s": round(elapsed, 3), "forecast_entered": result.entered}


def simulator_10k_90d(subscribers: int = 10_000) -> dict[str, Any]:
    """Time the offline simulator: every subscriber added at the start, a tenth clicking, over 90 days."""
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    people = tuple(Person(f"s{n}@sim.example", "active", {"base": {"n": n}}, frozenset()) for n in range(subscribers))
    events = [Happening(start, "subscriber_added", person.email) for person in people]
    events += [Happening(start + timedelta(hours=5), "link_clicked", p.email) for p in people[::10]]
    script = Script(start, start + timedelta(days=90), people, tuple(sorted(events, key=lambda e: e.at)))
    info = SequenceInfo("forecast", "active", SequenceDefinition.model_validate(FLOW), "UTC")
    began = time.perf_counter()
    result = simulate({"forecast": info}, {"welcome": "Welcome {{ data.base.n }}"}, script)
    elapsed = time.perf_counter() - began
    return {"simulator_10k_90d_s": round(elapsed, 3), "simulator_emails": sum(result.emails.values())}
