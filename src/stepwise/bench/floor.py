"""The floor: this database's raw write rate for the rows one event's transition writes, without the engine."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from stepwise.bench.scenario import prepare, queue_events
from stepwise.storage import seeding
from stepwise.storage.codec import to_us
from stepwise.storage.seeding import Transitioned


def floor_writes(database_url: str, subscribers: int, batch_size: int) -> dict[str, Any]:
    """The raw write rate of this database for the rows one event's transition writes, without the engine.

    Per event the engine deletes the inbox row and inserts a run, three timeline entries, an issue and
    an outbox row, and adds to counters; here the same rows, with texts of the same size, are written
    with plain executemany batches of the same size, one transaction per batch.
    """
    scenario = prepare(database_url, subscribers, batch_size=batch_size, account="floor")
    db = scenario.stepwise.db
    queue_events(db, scenario.account_id, scenario.subscriber_ids)
    with db.read() as conn:
        inbox_ids = seeding.inbox_ids(conn)
        emails = seeding.subscriber_emails(conn, scenario.account_id)
    seq_id = scenario.sequence_ids["welcome"]
    started = time.perf_counter()
    for begin in range(0, len(inbox_ids), batch_size):
        ids = scenario.subscriber_ids[begin : begin + batch_size]
        chunk = [
            (inbox_id, sid, emails[sid])
            for inbox_id, sid in zip(inbox_ids[begin : begin + batch_size], ids, strict=False)
        ]
        of = Transitioned(scenario.account_id, seq_id, "welcome", "welcome", to_us(datetime.now(UTC)))
        with db.write() as conn:
            seeding.write_transitions(conn, of, chunk)
    elapsed = time.perf_counter() - started
    scenario.stepwise.close()
    return {
        "events": len(inbox_ids),
        "seconds": round(elapsed, 3),
        "floor_events_per_s": round(len(inbox_ids) / elapsed, 1),
    }
