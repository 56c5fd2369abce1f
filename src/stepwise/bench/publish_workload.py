"""`publish_migrate`: publishing a changed definition in mode `migrate` over many open runs (S17).

Every subscriber waits at step 2 of the deadlines sequence; a new version with a longer wait on step 3
and a changed step 2 is published, and every run moves to it (deadline recomputed, timeline entry). The
figures: the whole publication's wall time, runs moved per second, and the longest single transaction
(the most the advancing loop can wait for a subscriber lock or, on SQLite, the write lock).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from stepwise.bench.scenario import DEADLINES, plant_runs, prepare
from stepwise.services import sequences as sequence_service
from stepwise.services import versions


def publish_migrate(database_url: str, runs: int) -> dict[str, Any]:
    scenario = prepare(database_url, runs)
    try:
        far = time.time() + 30 * 86400  # not due during the measurement
        plant_runs(scenario.stepwise.db, scenario, [far] * len(scenario.subscriber_ids))
        changed: dict[str, Any] = copy.deepcopy(DEADLINES)
        changed["steps"][1]["variants"][0]["when"][0]["after"] = "2s"
        changed["steps"][2]["variants"][0]["when"][0]["after"] = "2d"
        db, now = scenario.stepwise.db, scenario.stepwise.clock()
        started = time.perf_counter()
        definition = sequence_service.parse(changed)
        with db.write() as conn:
            sequence_service.save(conn, scenario.account_id, "deadlines", definition, now)
        first_ms = (time.perf_counter() - started) * 1000
        figures = versions.finish_migrations(db, scenario.account_id, now)
        seconds = time.perf_counter() - started
        live = versions.all_versions(db, scenario.account_id, "deadlines").items[0]
    finally:
        scenario.stepwise.close()
    return {
        "runs": runs,
        "seconds": round(seconds, 2),
        "runs_per_s": round(runs / seconds) if seconds else None,
        "batches": figures.batches,
        "longest_batch_ms": round(max(first_ms, figures.longest_ms), 1),
        "moved": live.runs if live.version == 2 else 0,
    }
