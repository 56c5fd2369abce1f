"""The stats call of a sequence among many waiting runs: the rows exist, the call reads the counters."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from stepwise.bench.figures import ms, percentile
from stepwise.bench.scenario import Scenario, prepare
from stepwise.services import sequences as sequence_service
from stepwise.storage import seeding
from stepwise.storage.codec import to_us
from stepwise.storage.seeding import WaitingRun

CHUNK = 20000  # rows per insert statement while seeding
CALLS = 20  # stats calls timed


def stats_with_waiting_runs(database_url: str, runs: int) -> dict[str, Any]:
    """Time GET stats for a sequence with `runs` runs waiting (the rows exist; counters are read)."""
    scenario = prepare(database_url, 0, account="stats")
    _plant_waiting_runs(scenario, runs)
    timings = []
    for _ in range(CALLS):
        began = time.perf_counter()
        stats = sequence_service.stats(scenario.stepwise.db, scenario.account_id, "deadlines")
        timings.append(time.perf_counter() - began)
    scenario.stepwise.close()
    assert stats.on_steps == runs
    return {"waiting_runs": runs, "stats_ms_p50": ms(percentile(timings, 0.5)), "stats_ms_max": ms(max(timings))}


def _plant_waiting_runs(scenario: Scenario, runs: int) -> None:
    """Write `runs` subscribers, each with a run at step 3 of the deadlines sequence waiting a day."""
    db = scenario.stepwise.db
    now_us = to_us(datetime.now(UTC))
    emails = [f"s{n}@stats.example" for n in range(runs)]
    with db.write() as conn:
        seeding.add_subscribers(conn, scenario.account_id, emails, "{}", now_us, chunk=CHUNK)
    with db.read() as conn:
        ids = seeding.subscriber_ids(conn, scenario.account_id)
    wake = now_us + int(timedelta(days=1).total_seconds() * 1e6)
    waiting = [WaitingRun(sid, entered_at_us=now_us, wake_at_us=wake) for sid in ids]
    with db.write() as conn:
        seeding.add_waiting_runs(conn, scenario.account_id, scenario.sequence_ids["deadlines"], 3, waiting, chunk=CHUNK)
