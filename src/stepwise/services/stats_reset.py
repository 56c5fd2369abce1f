"""S19: reset a sequence's statistics.

The history counters (entered, completed, stopped and stopped_by, fired per variant) start again
from zero; the current positions (`on_step`) and the distinct-subscriber count stay. The moment is
stored with the counters and shown as `reset_at`; the email figures of the journey view count only
emails queued since then. One audit entry (S35) records who reset and when.
"""

from __future__ import annotations

from datetime import datetime

from stepwise.errors import NotFound
from stepwise.services import audit, version_stats
from stepwise.services.sequences import SequenceStats
from stepwise.storage import counters as counter_store
from stepwise.storage import sequences as sequence_store
from stepwise.storage.codec import to_us
from stepwise.storage.database import Database


def reset(db: Database, account_id: int, key: str, now: datetime) -> SequenceStats:
    """Zero the history counters of sequence `key` (404 when absent) and return the new statistics."""
    with db.write() as conn:
        row = sequence_store.get(conn, account_id, key, for_update=True)
        if row is None:
            raise NotFound(f"no sequence {key!r}")
        counter_store.reset_history(conn, account_id, row.id, to_us(now))
        audit.record(conn, account_id, "sequence", key, "stats_reset")
    return version_stats.stats(db, account_id, key)
