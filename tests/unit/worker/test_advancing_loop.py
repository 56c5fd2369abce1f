"""The advancing loop and poison isolation against an in-memory store (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from stepwise.services.processing import BatchFailed, BatchResult
from stepwise.worker.advancing import Advancer
from stepwise.worker.isolation import Isolation
from tests.support.fake_advance_store import FakeAdvanceStore

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return NOW - timedelta(minutes=60 - minutes)


def advancer(store: FakeAdvanceStore, batch_size: int = 10) -> Advancer:
    return Advancer(store, lambda: NOW, batch_size=batch_size)


def test_idle_store_does_nothing() -> None:
    store = FakeAdvanceStore()
    assert advancer(store).run_once() == BatchResult()
    assert store.calls == []


def test_a_healthy_batch_is_processed_in_one_go() -> None:
    store = FakeAdvanceStore()
    store.add_events(1, (10, at(1)), (11, at(2)))
    store.add_events(2, (12, at(3)))
    result = advancer(store).run_once()
    assert (result.subscribers, result.events) == (2, 3)
    assert store.calls == ["batch"]
    assert not store.aside_events and not store.aside_subscribers


class _LookingStore(FakeAdvanceStore):
    def has_work(self, now: datetime) -> bool:
        self.calls.append("look")
        return super().has_work(now)


def test_after_a_full_batch_the_next_claims_without_looking_first_and_an_empty_one_looks_again() -> None:
    store = _LookingStore()
    for sid in range(1, 4):
        store.add_events(sid, (sid * 10, at(sid)))
    loop = advancer(store, batch_size=2)
    assert loop.run_once().subscribers == 2  # full: more is likely waiting
    assert loop.run_once().subscribers == 1  # claimed without the look (a read) before the write
    assert loop.run_once() == BatchResult()  # not full: this call looks, finds nothing, claims nothing
    assert store.calls == ["look", "batch", "batch", "look"]


def test_a_failed_batch_is_retried_per_subscriber_then_per_event() -> None:
    store = FakeAdvanceStore(poison_events={21})
    store.add_events(1, (10, at(1)))
    store.add_events(2, (20, at(2)), (21, at(3)), (22, at(4)))
    result = advancer(store).run_once()
    assert store.calls == [
        "batch",
        "one 1 upto=None",
        "one 2 upto=None",
        "one 2 upto=0",
        "one 2 upto=20",
        "one 2 upto=21",
        "one 2 upto=22",
    ]
    assert [(sid, eid) for sid, eid, _ in store.aside_events] == [(2, 21)]
    assert "Poison: event 21" in store.aside_events[0][2]
    assert store.processed == [(1, [10]), (2, []), (2, [20]), (2, [22])]
    assert (result.subscribers, result.events) == (4, 3)
    assert not store.has_work(NOW)


def test_a_subscriber_that_fails_without_events_is_set_aside_whole() -> None:
    store = FakeAdvanceStore(poison_subscribers={2})
    store.add_events(1, (10, at(1)))
    store.add_events(2, (20, at(2)), (21, at(3)))
    advancer(store).run_once()
    assert store.aside_subscribers == [(2, "Poison: subscriber 2")]
    assert store.processed == [(1, [10])]
    assert not store.has_work(NOW)


def test_a_subscriber_held_by_another_worker_is_left_alone() -> None:
    store = FakeAdvanceStore(poison_events={20})
    store.add_events(2, (20, at(2)))
    store.held_elsewhere.add(2)
    assert Isolation(store).run([2], NOW) == BatchResult()
    assert store.calls == ["one 2 upto=None"]
    assert not store.aside_events


def test_database_errors_are_not_poison() -> None:
    class Away(FakeAdvanceStore):
        def process_one(self, subscriber_id: int, now: datetime, *, upto: int | None) -> BatchResult | None:
            raise OperationalError("select 1", {}, Exception("server closed the connection"))

    store = Away()
    store.add_events(1, (10, at(1)))
    with pytest.raises(OperationalError):
        Isolation(store).run([1], NOW)
    assert not store.aside_events and not store.aside_subscribers


def test_batch_failed_names_the_claimed_subscribers() -> None:
    store = FakeAdvanceStore(poison_subscribers={3})
    store.add_events(3, (30, at(1)))
    store.add_events(4, (40, at(2)))
    with pytest.raises(BatchFailed) as failed:
        store.process_batch(NOW, 10)
    assert failed.value.subscriber_ids == [3, 4]
