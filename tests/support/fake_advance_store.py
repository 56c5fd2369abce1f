"""An in-memory AdvanceStore (worker/advance_port.py) for fast tests of the advancing loop and isolation.

Subscribers have pending events (id, accepted_at). Processing a subscriber takes their events and
fails, as poison does, when the subscriber is in `poison_subscribers` or an event taken is in
`poison_events`. A failed call changes nothing, as a rolled-back transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from stepwise.services.processing import BatchFailed, BatchResult, PendingEvent


class Poison(Exception):
    """What a poisoned subscriber or event raises (not a database error)."""


@dataclass
class FakeAdvanceStore:
    pending: dict[int, list[PendingEvent]] = field(default_factory=dict)
    poison_subscribers: set[int] = field(default_factory=set)
    poison_events: set[int] = field(default_factory=set)
    held_elsewhere: set[int] = field(default_factory=set)  # locked by another worker
    processed: list[tuple[int, list[int]]] = field(default_factory=list)  # (subscriber, event ids) per commit
    aside_events: list[tuple[int, int, str]] = field(default_factory=list)
    aside_subscribers: list[tuple[int, str]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def add_events(self, subscriber_id: int, *events: tuple[int, datetime]) -> None:
        self.pending.setdefault(subscriber_id, []).extend(PendingEvent(id=i, accepted_at=at) for i, at in events)

    def has_work(self, now: datetime) -> bool:
        return any(self.pending.values())

    def process_batch(self, now: datetime, limit: int) -> BatchResult:
        self.calls.append("batch")
        claimed = [sid for sid, events in sorted(self.pending.items()) if events and sid not in self.held_elsewhere]
        claimed = claimed[:limit]
        try:
            taken = {sid: self._take(sid, None) for sid in claimed}
        except Poison as exc:
            raise BatchFailed(claimed) from exc
        return self._commit(taken)

    def process_one(self, subscriber_id: int, now: datetime, *, upto: int | None) -> BatchResult | None:
        self.calls.append(f"one {subscriber_id} upto={upto}")
        if subscriber_id in self.held_elsewhere:
            return None
        return self._commit({subscriber_id: self._take(subscriber_id, upto)})

    def pending_events(self, subscriber_id: int) -> list[PendingEvent]:
        return list(self.pending.get(subscriber_id, []))

    def set_aside_event(self, subscriber_id: int, event_id: int, error: str, now: datetime) -> None:
        self.pending[subscriber_id] = [e for e in self.pending.get(subscriber_id, []) if e.id != event_id]
        self.aside_events.append((subscriber_id, event_id, error))

    def set_aside_subscriber(self, subscriber_id: int, error: str, now: datetime) -> None:
        self.pending.pop(subscriber_id, None)
        self.aside_subscribers.append((subscriber_id, error))

    def _take(self, subscriber_id: int, upto: int | None) -> list[int]:
        """The ids of the events one processing of the subscriber applies; raises Poison as poison does."""
        if subscriber_id in self.poison_subscribers:
            raise Poison(f"subscriber {subscriber_id}")
        ids = [e.id for e in self.pending.get(subscriber_id, []) if upto is None or e.id <= upto]
        bad = [i for i in ids if i in self.poison_events]
        if bad:
            raise Poison(f"event {bad[0]}")
        return ids

    def _commit(self, taken: dict[int, list[int]]) -> BatchResult:
        result = BatchResult()
        for sid, ids in taken.items():
            self.pending[sid] = [e for e in self.pending.get(sid, []) if e.id not in ids]
            self.processed.append((sid, ids))
            result.subscribers += 1
            result.events += len(ids)
        return result
