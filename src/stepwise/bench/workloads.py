"""Benchmark workloads. Each builds its own data on a scratch database, measures one path, returns figures."""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from stepwise.bootstrap import Stepwise, build
from stepwise.config import Settings
from stepwise.services import drafts as draft_service
from stepwise.services import sequences as sequence_service
from stepwise.services.accounts import create_account
from stepwise.services.drafts import DraftBody
from stepwise.storage import counters as counter_store
from stepwise.storage import schema as t
from stepwise.storage.codec import to_us
from stepwise.storage.database import Database

TWO_STEPS = {
    "name": "Bench welcome",
    "status": "active",
    "steps": [
        {
            "variants": [
                {"when": [{"event": "custom", "name": "signup"}], "do": [{"action": "send_email", "draft": "welcome"}]}
            ]
        },
        {"variants": [{"when": [{"event": "time_passed", "after": "1d"}], "do": [{"action": "nothing"}]}]},
    ],
}
# Runs are planted at step 2; its deadline fires and they move to step 3, which waits a day.
DEADLINES = {
    "name": "Bench deadlines",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "never"}], "do": [{"action": "nothing"}]}]},
        {"variants": [{"when": [{"event": "time_passed", "after": "1s"}], "do": [{"action": "nothing"}]}]},
        {"variants": [{"when": [{"event": "time_passed", "after": "1d"}], "do": [{"action": "nothing"}]}]},
    ],
}


@dataclass
class Scenario:
    """A prepared account: subscribers exist and both sequences are active."""

    stepwise: Stepwise
    account_id: int
    subscriber_ids: list[int]
    sequence_ids: dict[str, int]


def settings_for(database_url: str, batch_size: int) -> Settings:
    return Settings(database_url=database_url, secret_key="bench", batch_size=batch_size, log_level="warning")


def prepare(database_url: str, subscribers: int, *, batch_size: int = 500, account: str = "bench") -> Scenario:
    """Create an account, a draft, the bench sequences and `subscribers` subscribers (no events)."""
    stepwise = build(settings_for(database_url, batch_size))
    now = stepwise.clock()
    row, _ = create_account(stepwise.db, account, "UTC", now)
    draft_service.put(
        stepwise.db,
        row.id,
        "welcome",
        DraftBody(subject="Welcome {{ data.base.firstName }}", html="<p>Hello!</p>", from_email="bench@example.com"),
        now,
    )
    sequence_service.put(stepwise.db, row.id, "welcome", TWO_STEPS, now)
    sequence_service.put(stepwise.db, row.id, "deadlines", DEADLINES, now)
    now_us = to_us(now)
    rows = [
        {
            "account_id": row.id,
            "email": f"user{n}@{account}.example",
            "email_key": f"user{n}@{account}.example",
            "status": "active",
            "data": '{"base":{"firstName":"User"}}',
            "created_at": now_us,
            "updated_at": now_us,
        }
        for n in range(subscribers)
    ]
    with stepwise.db.write() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(t.subscribers), rows[start : start + 5000])
        ids = [
            r[0]
            for r in conn.execute(
                select(t.subscribers.c.id).where(t.subscribers.c.account_id == row.id).order_by(t.subscribers.c.id)
            )
        ]
        seqs = {
            r[0]: r[1]
            for r in conn.execute(select(t.sequences.c.key, t.sequences.c.id).where(t.sequences.c.account_id == row.id))
        }
    return Scenario(stepwise, row.id, ids, seqs)


def queue_events(db: Database, account_id: int, subscriber_ids: list[int], name: str = "signup") -> dict[int, float]:
    """Accept one custom event per subscriber straight into the inbox; return wall time of acceptance per id."""
    accepted: dict[int, float] = {}
    for start in range(0, len(subscriber_ids), 1000):
        chunk = subscriber_ids[start : start + 1000]
        now = time.time()
        now_us = int(now * 1e6)
        rows = [
            {
                "account_id": account_id,
                "subscriber_id": sid,
                "kind": "custom",
                "payload": f'{{"name":"{name}","data":{{}}}}',
                "source": "api",
                "occurred_at": now_us,
                "accepted_at": now_us,
            }
            for sid in chunk
        ]
        with db.write() as conn:
            conn.execute(insert(t.inbox), rows)
        accepted.update(dict.fromkeys(chunk, now))
    return accepted


def plant_runs(db: Database, scenario: Scenario, wake_at: list[float], *, step: int = 2) -> None:
    """Put one run per subscriber at `step` of the deadlines sequence, due at the given wall times."""
    seq_id = scenario.sequence_ids["deadlines"]
    rows = []
    for sid, wake in zip(scenario.subscriber_ids, wake_at, strict=False):
        wake_us = int(wake * 1e6)
        entered = wake_us - 1_000_000
        rows.append(
            {
                "account_id": scenario.account_id,
                "sequence_id": seq_id,
                "subscriber_id": sid,
                "pass_no": 1,
                "status": "active",
                "step": step,
                "entered_at": entered,
                "step_entered_at": entered,
                "wake_at": wake_us,
                "claimable_at": wake_us,
                "recheck": False,
            }
        )
    with db.write() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(t.runs), rows[start : start + 5000])
        counter_store.add(
            conn,
            [
                (scenario.account_id, seq_id, "on_step", step, 0, len(rows)),
                (scenario.account_id, seq_id, "entered", 0, 0, len(rows)),
            ],
        )


def worker_loop(database_url: str, batch_size: int, stop_when_idle: bool, seconds: float) -> dict[str, Any]:
    """One worker process: run the advancing loop; record commit times per subscriber; report peak RSS."""
    from stepwise.worker.advancing import Advancer
    from stepwise.worker.runner import tune_garbage_collector

    stepwise = build(settings_for(database_url, batch_size), migrate=False)
    tune_garbage_collector()  # as `stepwise worker` and `serve` do once they are built
    advancer = Advancer(stepwise.db, stepwise.catalog, lambda: datetime.now(UTC), batch_size=batch_size)
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
    with context.Pool(workers) as pool:
        return pool.starmap(worker_loop, [(database_url, batch_size, stop_when_idle, seconds)] * workers)


def _span(results: list[dict[str, Any]]) -> float:
    busy = [r for r in results if r["first"]]
    return max(r["last"] for r in busy) - min(r["first"] for r in busy) if busy else 0.0


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def events_throughput(database_url: str, subscribers: int, workers: int, batch_size: int) -> dict[str, Any]:
    """events_per_s: queued custom events -> transition -> outbox rows committed, with N worker processes."""
    scenario = prepare(database_url, subscribers, batch_size=batch_size)
    queued = len(queue_events(scenario.stepwise.db, scenario.account_id, scenario.subscriber_ids))
    scenario.stepwise.close()
    results = run_workers(database_url, workers, batch_size)
    elapsed = _span(results)
    processed = sum(r["events"] for r in results)
    db = Database(database_url)
    with db.read() as conn:
        left = conn.execute(select(func.count()).select_from(t.inbox)).scalar_one()
        outbox = conn.execute(select(func.count()).select_from(t.outbox)).scalar_one()
    db.dispose()
    return {
        "events_queued": queued,
        "events_processed": processed,
        "events_left": int(left),
        "outbox_rows": int(outbox),
        "seconds": round(elapsed, 3),
        "events_per_s": round(processed / elapsed, 1) if elapsed > 0 else None,
        "worker_peak_rss_mb": max(r["peak_rss_mb"] for r in results),
    }


def deadlines_throughput(database_url: str, subscribers: int, workers: int, batch_size: int) -> dict[str, Any]:
    """deadlines_per_s: runs whose deadline is already due -> fired -> next step committed."""
    scenario = prepare(database_url, subscribers, batch_size=batch_size)
    past = time.time() - 60
    plant_runs(scenario.stepwise.db, scenario, [past] * len(scenario.subscriber_ids))
    scenario.stepwise.close()
    results = run_workers(database_url, workers, batch_size)
    elapsed = _span(results)
    fired = sum(r["transitions"] for r in results)
    return {
        "deadlines_fired": fired,
        "seconds": round(elapsed, 3),
        "deadlines_per_s": round(fired / elapsed, 1) if elapsed > 0 else None,
        "worker_peak_rss_mb": max(r["peak_rss_mb"] for r in results),
    }


def event_latency(database_url: str, subscribers: int, workers: int, batch_size: int, rate: float) -> dict[str, Any]:
    """p50/p99 from acceptance to committed transition, with events arriving steadily at `rate` per second."""
    scenario = prepare(database_url, subscribers, batch_size=batch_size)
    db = scenario.stepwise.db
    context = multiprocessing.get_context("spawn")
    total = len(scenario.subscriber_ids)
    duration = total / rate
    accepted: dict[int, float] = {}
    with context.Pool(workers) as pool:
        pending = pool.starmap_async(worker_loop, [(database_url, batch_size, False, duration + 10)] * workers)
        time.sleep(3)  # let the workers start
        started = time.time()
        step = max(1, int(rate / 50))  # inject in 20 ms slices
        for index in range(0, total, step):
            target = started + index / rate
            pause = target - time.time()
            if pause > 0:
                time.sleep(pause)
            accepted.update(queue_events(db, scenario.account_id, scenario.subscriber_ids[index : index + step]))
        results = pending.get()
    scenario.stepwise.close()
    committed: dict[int, float] = {}
    for result in results:
        committed.update(result["committed"])
    latencies = [committed[sid] - at for sid, at in accepted.items() if sid in committed]
    return {
        "rate_per_s": rate,
        "events": len(accepted),
        "processed": len(latencies),
        "p50_ms": _ms(_percentile(latencies, 0.50)),
        "p99_ms": _ms(_percentile(latencies, 0.99)),
        "mean_ms": _ms(statistics.fmean(latencies) if latencies else None),
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
    committed: dict[int, float] = {}
    for result in results:
        committed.update(result["committed"])
    late = [
        committed[sid] - wake for sid, wake in zip(scenario.subscriber_ids, wakes, strict=False) if sid in committed
    ]
    return {
        "rate_per_s": rate,
        "deadlines": total,
        "fired": len(late),
        "worker_peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "p50_ms": _ms(_percentile(late, 0.5)),
        "p99_ms": _ms(_percentile(late, 0.99)),
    }


def stats_with_waiting_runs(database_url: str, runs: int) -> dict[str, Any]:
    """Time GET stats for a sequence with `runs` runs waiting (the rows exist; counters are read)."""
    scenario = prepare(database_url, 0, account="stats")
    db = scenario.stepwise.db
    now_us = to_us(datetime.now(UTC))
    seq_id = scenario.sequence_ids["deadlines"]
    subs = [
        {
            "account_id": scenario.account_id,
            "email": f"s{n}@stats.example",
            "email_key": f"s{n}@stats.example",
            "status": "active",
            "data": "{}",
            "created_at": now_us,
            "updated_at": now_us,
        }
        for n in range(runs)
    ]
    with db.write() as conn:
        for begin in range(0, runs, 20000):
            conn.execute(insert(t.subscribers), subs[begin : begin + 20000])
    with db.read() as conn:
        ids = [
            r[0]
            for r in conn.execute(select(t.subscribers.c.id).where(t.subscribers.c.account_id == scenario.account_id))
        ]
    wake = now_us + int(timedelta(days=1).total_seconds() * 1e6)
    with db.write() as conn:
        for begin in range(0, runs, 20000):
            conn.execute(
                insert(t.runs),
                [
                    {
                        "account_id": scenario.account_id,
                        "sequence_id": seq_id,
                        "subscriber_id": sid,
                        "pass_no": 1,
                        "status": "active",
                        "step": 3,
                        "entered_at": now_us,
                        "step_entered_at": now_us,
                        "wake_at": wake,
                        "claimable_at": wake,
                        "recheck": False,
                    }
                    for sid in ids[begin : begin + 20000]
                ],
            )
        counter_store.add(
            conn,
            [
                (scenario.account_id, seq_id, "on_step", 3, 0, runs),
                (scenario.account_id, seq_id, "entered", 0, 0, runs),
            ],
        )
    timings = []
    for _ in range(20):
        began = time.perf_counter()
        stats = sequence_service.stats(db, scenario.account_id, "deadlines")
        timings.append(time.perf_counter() - began)
    scenario.stepwise.close()
    assert stats["on_steps"] == runs
    return {"waiting_runs": runs, "stats_ms_p50": _ms(_percentile(timings, 0.5)), "stats_ms_max": _ms(max(timings))}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def floor_writes(database_url: str, subscribers: int, batch_size: int) -> dict[str, Any]:
    """The raw write rate of this database for the rows one event's transition writes, without the engine.

    Per event the engine deletes the inbox row and inserts a run, two timeline entries, an issue and an
    outbox row, and adds to counters; here the same rows are written with plain executemany batches of
    the same size, one transaction per batch.
    """
    from stepwise.ids import new_id
    from stepwise.storage.dialects import fast_delete, fast_insert

    scenario = prepare(database_url, subscribers, batch_size=batch_size, account="floor")
    db = scenario.stepwise.db
    queue_events(db, scenario.account_id, scenario.subscriber_ids)
    with db.read() as conn:
        inbox_ids = [r[0] for r in conn.execute(select(t.inbox.c.id).order_by(t.inbox.c.id))]
    seq_id = scenario.sequence_ids["welcome"]
    started = time.perf_counter()
    for begin in range(0, len(inbox_ids), batch_size):
        chunk = list(
            zip(
                inbox_ids[begin : begin + batch_size], scenario.subscriber_ids[begin : begin + batch_size], strict=False
            )
        )
        now_us = to_us(datetime.now(UTC))
        with db.write() as conn:
            fast_delete(conn, t.inbox, "id", [i for i, _ in chunk])
            fast_insert(
                conn,
                t.runs,
                [
                    {
                        "account_id": scenario.account_id,
                        "sequence_id": seq_id,
                        "subscriber_id": s,
                        "pass_no": 1,
                        "status": "active",
                        "step": 2,
                        "entered_at": now_us,
                        "step_entered_at": now_us,
                        "wake_at": now_us,
                        "claimable_at": now_us,
                        "recheck": False,
                    }
                    for _, s in chunk
                ],
            )
            fast_insert(
                conn,
                t.timeline,
                [
                    {
                        "account_id": scenario.account_id,
                        "subscriber_id": s,
                        "at": now_us,
                        "kind": kind,
                        "sequence": "welcome",
                        "detail": "{}",
                    }
                    for _, s in chunk
                    for kind in ("event", "transition")
                ],
            )
            issue_ids = [new_id() for _ in chunk]
            fast_insert(
                conn,
                t.issues,
                [
                    {
                        "id": i,
                        "account_id": scenario.account_id,
                        "subscriber_id": s,
                        "email": "x",
                        "email_key": "x",
                        "draft": "welcome",
                        "group_name": "t",
                        "status": "queued",
                        "created_at": now_us,
                    }
                    for i, (_, s) in zip(issue_ids, chunk, strict=True)
                ],
            )
            fast_insert(
                conn,
                t.outbox,
                [
                    {
                        "account_id": scenario.account_id,
                        "kind": "email",
                        "issue_id": i,
                        "subscriber_id": s,
                        "sequence_id": seq_id,
                        "pass_no": 1,
                        "payload": "{}",
                        "available_at": now_us,
                        "created_at": now_us,
                    }
                    for i, (_, s) in zip(issue_ids, chunk, strict=True)
                ],
            )
            counter_store.add(conn, [(scenario.account_id, seq_id, "entered", 0, 0, len(chunk))])
    elapsed = time.perf_counter() - started
    scenario.stepwise.close()
    return {
        "events": len(inbox_ids),
        "seconds": round(elapsed, 3),
        "floor_events_per_s": round(len(inbox_ids) / elapsed, 1),
    }
