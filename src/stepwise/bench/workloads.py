"""Benchmark workloads. Each builds its own data, measures one path, and returns figures."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select

from stepwise.bootstrap import Stepwise, build
from stepwise.config import Settings
from stepwise.services import drafts as draft_service
from stepwise.services import sequences as sequence_service
from stepwise.services.accounts import create_account
from stepwise.services.drafts import DraftBody
from stepwise.storage import schema as t
from stepwise.storage.codec import to_us

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


@dataclass
class Scenario:
    """A prepared account: subscribers exist, the sequence is active, events may be queued."""

    stepwise: Stepwise
    account_id: int
    subscriber_ids: list[int]


def prepare(database_url: str, subscribers: int, *, batch_size: int = 500) -> Scenario:
    """Create an account, a draft, the two-step sequence and `subscribers` subscribers (no events)."""
    settings = Settings(database_url=database_url, secret_key="bench", batch_size=batch_size)
    stepwise = build(settings)
    now = stepwise.clock()
    account, _ = create_account(stepwise.db, "bench", "UTC", now)
    draft_service.put(
        stepwise.db,
        account.id,
        "welcome",
        DraftBody(subject="Welcome {{ data.base.firstName }}", html="<p>Hello!</p>", from_email="bench@example.com"),
        now,
    )
    sequence_service.put(stepwise.db, account.id, "welcome", TWO_STEPS, now)
    now_us = to_us(now)
    rows = [
        {
            "account_id": account.id,
            "email": f"user{n}@bench.example",
            "email_key": f"user{n}@bench.example",
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
                select(t.subscribers.c.id).where(t.subscribers.c.account_id == account.id).order_by(t.subscribers.c.id)
            )
        ]
    return Scenario(stepwise, account.id, ids)


def queue_events(scenario: Scenario, name: str = "signup") -> int:
    """Accept one custom event per subscriber straight into the inbox (as POST /events would)."""
    now_us = to_us(datetime.now(UTC))
    rows = [
        {
            "account_id": scenario.account_id,
            "subscriber_id": sid,
            "kind": "custom",
            "payload": f'{{"name":"{name}","data":{{}}}}',
            "source": "api",
            "occurred_at": now_us,
            "accepted_at": now_us,
        }
        for sid in scenario.subscriber_ids
    ]
    with scenario.stepwise.db.write() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(t.inbox), rows[start : start + 5000])
    return len(rows)


def _advance_until_empty(database_url: str, batch_size: int) -> dict[str, Any]:
    """One worker process: run the advancing loop until there is nothing left to do."""
    from stepwise.worker.advancing import Advancer

    stepwise = build(Settings(database_url=database_url, secret_key="bench", batch_size=batch_size), migrate=False)
    advancer = Advancer(stepwise.db, stepwise.catalog, stepwise.clock, batch_size=batch_size)
    events = transitions = commands = idle = 0
    first = last = 0.0
    while idle < 3:
        began = time.time()
        result = advancer.run_once()
        if result.subscribers == 0:
            idle += 1
            time.sleep(0.02)
            continue
        first = first or began
        last = time.time()
        idle = 0
        events += result.events
        transitions += result.transitions
        commands += result.commands
    stepwise.close()
    return {"events": events, "transitions": transitions, "commands": commands, "first": first, "last": last}


def events_throughput(database_url: str, subscribers: int, workers: int, batch_size: int) -> dict[str, Any]:
    """events_per_s: queued custom events -> transition -> outbox rows committed, with N worker processes."""
    scenario = prepare(database_url, subscribers, batch_size=batch_size)
    queued = queue_events(scenario)
    scenario.stepwise.close()
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        results = pool.starmap(_advance_until_empty, [(database_url, batch_size)] * workers)
    # From the first batch any worker began to the last batch any worker committed (process start-up excluded).
    busy = [r for r in results if r["first"]]
    elapsed = max(r["last"] for r in busy) - min(r["first"] for r in busy) if busy else 0.0
    stepwise = build(Settings(database_url=database_url, secret_key="bench"), migrate=False)
    with stepwise.db.read() as conn:
        left = conn.execute(select(func.count()).select_from(t.inbox)).scalar_one()
        outbox = conn.execute(select(func.count()).select_from(t.outbox)).scalar_one()
    stepwise.close()
    processed = sum(r["events"] for r in results)
    return {
        "events_queued": queued,
        "events_processed": processed,
        "events_left": int(left),
        "outbox_rows": int(outbox),
        "transitions": sum(r["transitions"] for r in results),
        "seconds": round(elapsed, 3),
        "events_per_s": round(processed / elapsed, 1) if elapsed > 0 else None,
    }
