"""Poison isolation for the advancing loop: what one subscriber's data or event breaks stops no one else.

A batch runs in one transaction. When it fails with an error that is not the database being away,
its subscribers are processed again one by one, each in a fresh transaction. A subscriber that still
fails is tried without events (up to their first event's time) and then one event at a time, in
acceptance order: the event that fails alone is set aside with its error (it leaves the inbox, so the
backlog moves on) and the next one is tried. A subscriber that fails even without events is set aside
as a whole: their pending events leave the inbox and their runs the due index.

Errors of the database itself (connection lost, locked, serialization) are not poison: they propagate
and the loop retries the batch after a back-off, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from stepwise.services.processing import BatchResult
from stepwise.services.quarantine import describe_error
from stepwise.services.transient import is_transient
from stepwise.worker.advance_port import AdvanceStore

__all__ = ["Isolation", "is_transient"]  # is_transient: the delivery loop imports it from here

log = logging.getLogger("stepwise.worker")


@dataclass
class Isolation:
    """Reprocess a failed batch in small pieces and set aside what still fails."""

    store: AdvanceStore

    def run(self, subscriber_ids: list[int], now: datetime) -> BatchResult:
        """Process each subscriber of the failed batch on its own; return what was done."""
        total = BatchResult()
        for subscriber_id in subscriber_ids:
            total.add(self._subscriber(subscriber_id, now))
        return total

    def _subscriber(self, subscriber_id: int, now: datetime) -> BatchResult:
        try:
            return self._attempt(subscriber_id, now, upto=None) or BatchResult()
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning("subscriber %s fails on its own (%s); trying one event at a time", subscriber_id, exc)
        pending = self.store.pending_events(subscriber_id)
        total = BatchResult()
        try:  # the subscriber without events: their deadlines up to the first event
            done = self._attempt(subscriber_id, min(now, pending[0].accepted_at) if pending else now, upto=0)
        except Exception as exc:
            if is_transient(exc):
                raise
            self._set_aside_subscriber(subscriber_id, exc, now)
            return total
        if done is None:
            return total  # another worker holds them now
        total.add(done)
        for index, event in enumerate(pending):
            # Deadlines due before the next event fire before it, as in a batch (S13).
            until = min(now, pending[index + 1].accepted_at) if index + 1 < len(pending) else now
            try:
                done = self._attempt(subscriber_id, until, upto=event.id)
            except Exception as exc:
                if is_transient(exc):
                    raise
                self._set_aside_event(subscriber_id, event.id, exc, now)
                continue
            if done is None:
                break
            total.add(done)
        return total

    def _attempt(self, subscriber_id: int, now: datetime, *, upto: int | None) -> BatchResult | None:
        """Process one subscriber in a fresh transaction; None when another worker holds them."""
        return self.store.process_one(subscriber_id, now, upto=upto)

    def _set_aside_event(self, subscriber_id: int, event_id: int, exc: Exception, now: datetime) -> None:
        error = describe_error(exc)
        log.error("event %s of subscriber %s set aside: %s", event_id, subscriber_id, error)
        self.store.set_aside_event(subscriber_id, event_id, error, now)

    def _set_aside_subscriber(self, subscriber_id: int, exc: Exception, now: datetime) -> None:
        error = describe_error(exc)
        log.error("subscriber %s set aside: %s", subscriber_id, error)
        self.store.set_aside_subscriber(subscriber_id, error, now)
