"""Poison isolation: a stored sequence definition that cannot be read stops no one (issue 10).

The bad definition is planted with raw SQL. Another account's events must be processed within a
second, the same account's other sequences and subscribers go on, the sequence is recorded once in
the quarantine (also after a worker restart) and its runs are held like a paused sequence's.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from stepwise.bootstrap import Stepwise, build
from stepwise.config import Settings
from stepwise.errors import Unprocessable
from stepwise.services import sequences
from stepwise.services.accounts import create_account
from stepwise.services.advancing_store import DatabaseAdvanceStore
from stepwise.worker.advancing import Advancer
from tests.integration.hardening.poison import (
    COUNTING,
    NULL_NUMBER,
    WAITING,
    counted,
    metric,
    plant,
    post,
    put,
    quarantined,
    running_worker,
    scalar,
    seconds_until,
    subscriber,
)
from tests.support.clock import FakeClock
from tests.support.drive import advance

UNREADABLE = {
    "null where a number belongs": NULL_NUMBER,
    "not JSON": '{"name": "Waiting", "steps": [',
    "not an object": "[1, 2, 3]",
}


def plant_definition(stepwise: Stepwise, account_id: int, key: str, stored: str) -> None:
    # The version moves, as any write of a definition moves it (a restored backup would be read at start).
    plant(
        stepwise,
        "UPDATE sequences SET definition = :d, version = version + 1 WHERE account_id = :a AND key = :k",
        d=stored,
        a=account_id,
        k=key,
    )


def claimable(stepwise: Stepwise, subscriber_id: int, key: str) -> int | None:
    found = scalar(
        stepwise,
        "SELECT r.claimable_at FROM runs r JOIN sequences s ON s.id = r.sequence_id "
        "WHERE r.subscriber_id = :s AND s.key = :k AND r.status = 'active'",
        s=subscriber_id,
        k=key,
    )
    return None if found is None else int(found)


@pytest.mark.parametrize("stored", list(UNREADABLE.values()), ids=list(UNREADABLE))
def test_an_unreadable_definition_stops_no_one_also_after_a_restart(
    stepwise: Stepwise,
    settings: Settings,
    account: tuple[int, str],
    clock: FakeClock,
    stored: str,
    request: pytest.FixtureRequest,
) -> None:
    acme, _ = account
    other = create_account(stepwise.db, "other", "UTC", clock())[0].id
    for account_id in (acme, other):
        put(stepwise, account_id, "counting", COUNTING)
    put(stepwise, acme, "waiting", WAITING)
    anna, bob = subscriber(stepwise, acme, "anna@example.com"), subscriber(stepwise, acme, "bob@example.com")
    carl = subscriber(stepwise, other, "carl@example.com")
    post(stepwise, acme, "anna@example.com", "enter")
    advance(stepwise)
    assert claimable(stepwise, anna, "waiting") is not None  # waits an hour at step 2

    plant_definition(stepwise, acme, "waiting", stored)
    clock.advance(timedelta(hours=2))  # anna's deadline in the unreadable sequence is due
    with running_worker(stepwise):
        post(stepwise, acme, "anna@example.com")
        post(stepwise, acme, "bob@example.com")
        posted = time.monotonic()
        post(stepwise, other, "carl@example.com")
        took = seconds_until(lambda: counted(stepwise, carl) == 1, since=posted)
        print(f"\n{request.node.name}: the other account's event was processed in {took * 1000:.0f} ms")
        assert took < 1.0
        seconds_until(lambda: counted(stepwise, anna) == counted(stepwise, bob) == 1)

    [(ref, _, error, _)] = quarantined(stepwise, acme, "sequence")
    assert ref == "waiting" and ("custom.n" in error or "JSON" in error)
    assert claimable(stepwise, anna, "waiting") is None  # held like a paused sequence's run: no hot loop
    assert Advancer(DatabaseAdvanceStore(stepwise.db, stepwise.catalog), clock).run_once().subscribers == 0
    assert metric(stepwise, "sequence") == 1

    restarted = build(settings, clock=clock)  # a new process: nothing cached
    try:
        with running_worker(restarted):
            posted = time.monotonic()
            post(restarted, other, "carl@example.com")
            post(restarted, acme, "bob@example.com")
            took = seconds_until(lambda: counted(restarted, carl) == 2, since=posted)
            print(f"after a restart: the other account's event was processed in {took * 1000:.0f} ms")
            assert took < 1.0
            seconds_until(lambda: counted(restarted, bob) == 2)
        assert len(quarantined(restarted, acme, "sequence")) == 1  # recorded once
    finally:
        restarted.close()


def test_a_sequence_with_an_unreadable_definition_is_listed_paused_overwritten_and_deleted(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    acme, _ = account
    put(stepwise, acme, "counting", COUNTING)
    put(stepwise, acme, "waiting", WAITING)
    anna = subscriber(stepwise, acme, "anna@example.com")
    post(stepwise, acme, "anna@example.com", "enter")
    advance(stepwise)
    plant_definition(stepwise, acme, "waiting", NULL_NUMBER)
    clock.advance(timedelta(hours=2))
    advance(stepwise)
    assert claimable(stepwise, anna, "waiting") is None

    listed = {s.key: s.model_dump() for s in sequences.all_sequences(stepwise.db, acme)}
    assert "custom.n" in listed["waiting"]["broken"] and listed["counting"]["broken"] is None
    assert sequences.stats(stepwise.db, acme, "waiting").entered == 1
    assert sequences.set_status(stepwise.db, acme, "waiting", "paused", clock()).status == "paused"
    with pytest.raises(Unprocessable):
        sequences.set_status(stepwise.db, acme, "waiting", "active", clock())
    put(stepwise, acme, "counting", {**COUNTING, "name": "Still saved"})  # a sibling saves as usual

    put(stepwise, acme, "waiting", WAITING)  # a valid definition brings it back
    assert sequences.get(stepwise.db, acme, "waiting").broken is None
    assert quarantined(stepwise, acme, "sequence") == []
    assert claimable(stepwise, anna, "waiting") is not None  # its held run is due again...
    advance(stepwise)
    assert claimable(stepwise, anna, "waiting") is None  # ...and completed by the overdue deadline
    assert sequences.stats(stepwise.db, acme, "waiting").completed == 1

    plant_definition(stepwise, acme, "waiting", "garbage")
    sequences.delete(stepwise.db, acme, "waiting")
    assert [s.key for s in sequences.all_sequences(stepwise.db, acme)] == ["counting"]
