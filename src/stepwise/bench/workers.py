"""Worker processes for the workloads: each runs the advancing loop and reports what it committed, and when."""

from __future__ import annotations

import multiprocessing
import resource
import time
from datetime import UTC, datetime
from typing import Any

from stepwise.bench.scenario import settings_for
from stepwise.bootstrap import build

# Set in each worker process by the pool's initializer: the workers start their loops together, once all
# are built, so that a late spawn does not leave the first worker alone for part of a run of a second.
_start_together: Any = None


def _share_barrier(barrier: Any) -> None:
    global _start_together
    _start_together = barrier


def worker_loop(database_url: str, batch_size: int, stop_when_idle: bool, seconds: float) -> dict[str, Any]:
    """One worker process: run the advancing loop; record commit times per subscriber; report peak RSS."""
    from stepwise.services.advancing_store import DatabaseAdvanceStore
    from stepwise.worker.advancing import Advancer
    from stepwise.worker.runner import tune_interpreter

    stepwise = build(settings_for(database_url, batch_size), migrate=False)
    tune_interpreter()  # as `stepwise worker` and `serve` do once they are built
    if _start_together is not None:
        _start_together.wait(timeout=120)
    advancer = Advancer(
        DatabaseAdvanceStore(stepwise.db, stepwise.catalog), lambda: datetime.now(UTC), batch_size=batch_size
    )
    events = transitions = idle = 0
    first = last = 0.0
    committed: dict[int, float] = {}
    deadline = time.time() + seconds
    while time.time() < deadline and not (stop_when_idle and idle >= 3):
        began = time.time()
        result = advancer.run_once()
        if result.subscribers == 0:
            idle += 1
            time.sleep(0.005)
            continue
        done = time.time()
        first = first or began
        last = done
        idle = 0
        events += result.events
        transitions += result.transitions
        committed.update(dict.fromkeys(result.outcomes, done))
    stepwise.close()
    rss_mb = peak_rss_mb()
    return {
        "events": events,
        "transitions": transitions,
        "first": first,
        "last": last,
        "committed": committed,
        "peak_rss_mb": round(rss_mb, 1),
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory.

    /proc's VmHWM belongs to the process image; getrusage's ru_maxrss on Linux would carry over the
    parent's peak through fork and exec, and the bench parent holds far more than a worker does.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_workers(
    database_url: str, workers: int, batch_size: int, *, stop_when_idle: bool = True, seconds: float = 600.0
) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    with context.Pool(workers, initializer=_share_barrier, initargs=(barrier,)) as pool:
        return pool.starmap(worker_loop, [(database_url, batch_size, stop_when_idle, seconds)] * workers)


def committed_at(results: list[dict[str, Any]]) -> dict[int, float]:
    """When each subscriber's transition was committed, over every worker's report."""
    committed: dict[int, float] = {}
    for result in results:
        committed.update(result["committed"])
    return committed
