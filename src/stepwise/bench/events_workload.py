"""Custom events through the two-step sequence: how many per second, and how late at a steady rate."""

from __future__ import annotations

import multiprocessing
import statistics
import time
from typing import Any

from stepwise.bench.figures import ms, percentile, span
from stepwise.bench.scenario import Scenario, prepare, queue_events
from stepwise.bench.workers import committed_at, run_workers, worker_loop
from stepwise.storage import inbox as inbox_store
from stepwise.storage import outbox as outbox_store
from stepwise.storage.database import Database


def events_throughput(
    database_url: str, subscribers: int, workers: int, batch_size: int, *, segments: bool = False
) -> dict[str, Any]:
    """events_per_s: queued custom events -> transition -> outbox rows committed, with N worker processes."""
    scenario = prepare(database_url, subscribers, batch_size=batch_size, segments=segments)
    queued = len(queue_events(scenario.stepwise.db, scenario.account_id, scenario.subscriber_ids))
    scenario.stepwise.close()
    results = run_workers(database_url, workers, batch_size)
    elapsed = span(results)
    processed = sum(r["events"] for r in results)
    db = Database(database_url)
    with db.read() as conn:
        left = inbox_store.depth(conn)
        outbox = outbox_store.depth(conn)
    db.dispose()
    return {
        "events_queued": queued,
        "events_processed": processed,
        "events_left": left,
        "outbox_rows": outbox,
        "seconds": round(elapsed, 3),
        "events_per_s": round(processed / elapsed, 1) if elapsed > 0 else None,
        "worker_peak_rss_mb": max(r["peak_rss_mb"] for r in results),
    }


def event_latency(database_url: str, subscribers: int, workers: int, batch_size: int, rate: float) -> dict[str, Any]:
    """p50/p99 from acceptance to committed transition, with events arriving steadily at `rate` per second."""
    scenario = prepare(database_url, subscribers, batch_size=batch_size)
    context = multiprocessing.get_context("spawn")
    duration = len(scenario.subscriber_ids) / rate
    with context.Pool(workers) as pool:
        pending = pool.starmap_async(worker_loop, [(database_url, batch_size, False, duration + 10)] * workers)
        time.sleep(3)  # let the workers start
        accepted = _inject_steadily(scenario, rate)
        results = pending.get()
    scenario.stepwise.close()
    committed = committed_at(results)
    latencies = [committed[sid] - at for sid, at in accepted.items() if sid in committed]
    return {
        "rate_per_s": rate,
        "events": len(accepted),
        "processed": len(latencies),
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "mean_ms": ms(statistics.fmean(latencies) if latencies else None),
    }


def _inject_steadily(scenario: Scenario, rate: float) -> dict[int, float]:
    """Queue one event per subscriber at `rate` per second, in 20 ms slices; return each acceptance time."""
    db = scenario.stepwise.db
    total = len(scenario.subscriber_ids)
    accepted: dict[int, float] = {}
    started = time.time()
    step = max(1, int(rate / 50))  # inject in 20 ms slices
    for index in range(0, total, step):
        target = started + index / rate
        pause = target - time.time()
        if pause > 0:
            time.sleep(pause)
        accepted.update(queue_events(db, scenario.account_id, scenario.subscriber_ids[index : index + step]))
    return accepted
