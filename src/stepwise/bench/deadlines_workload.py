"""Deadlines of waiting runs: how many fire per second, and how late they fire at a steady rate."""

from __future__ import annotations

import time
from typing import Any

from stepwise.bench.figures import ms, percentile, span
from stepwise.bench.scenario import plant_runs, prepare
from stepwise.bench.workers import committed_at, run_workers


def deadlines_throughput(
    database_url: str, subscribers: int, workers: int, batch_size: int, *, segments: bool = False
) -> dict[str, Any]:
    """deadlines_per_s: runs whose deadline is already due -> fired -> next step committed."""
    scenario = prepare(database_url, subscribers, batch_size=batch_size, segments=segments)
    past = time.time() - 60
    plant_runs(scenario.stepwise.db, scenario, [past] * len(scenario.subscriber_ids))
    scenario.stepwise.close()
    results = run_workers(database_url, workers, batch_size)
    elapsed = span(results)
    fired = sum(r["transitions"] for r in results)
    return {
        "deadlines_fired": fired,
        "seconds": round(elapsed, 3),
        "deadlines_per_s": round(fired / elapsed, 1) if elapsed > 0 else None,
        "worker_peak_rss_mb": max(r["peak_rss_mb"] for r in results),
    }


def deadline_lateness(
    database_url: str, subscribers: int, workers: int, batch_size: int, rate: float
) -> dict[str, Any]:
    """p99 of (committed - deadline) for deadlines falling due steadily at `rate` per second."""
    scenario = prepare(database_url, subscribers, batch_size=batch_size)
    total = len(scenario.subscriber_ids)
    start = time.time() + 5
    wakes = [start + i / rate for i in range(total)]
    plant_runs(scenario.stepwise.db, scenario, wakes)
    scenario.stepwise.close()
    results = run_workers(database_url, workers, batch_size, stop_when_idle=False, seconds=5 + total / rate + 5)
    committed = committed_at(results)
    late = [
        committed[sid] - wake for sid, wake in zip(scenario.subscriber_ids, wakes, strict=False) if sid in committed
    ]
    return {
        "rate_per_s": rate,
        "deadlines": total,
        "fired": len(late),
        "worker_peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "p50_ms": ms(percentile(late, 0.5)),
        "p99_ms": ms(percentile(late, 0.99)),
    }
