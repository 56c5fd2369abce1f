"""Poison isolation: an event or a subscriber the worker cannot handle stops no one (issue 10).

Rows are planted with raw SQL at the head of the inbox. Another account's event must be processed
within a second, the same account's other subscribers (and the same subscriber's later events) go on,
and what was set aside is in the quarantine with its error, on the subscriber's timeline and in
/metrics.
"""

from __future__ import annotations

import json
import time

from stepwise.bootstrap import Stepwise
from stepwise.services.accounts import create_account
from tests.integration.hardening.poison import (
    COUNTING,
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
    timeline_of,
)
from tests.support.clock import FakeClock

WATCHING = {
    "name": "Watching plans",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "data_changed", "fields": ["custom.plan"]}], "do": [{"action": "nothing"}]}]}
    ],
}


def plant_event(stepwise: Stepwise, account_id: int, subscriber_id: int, kind: str, payload: str) -> None:
    now = int(stepwise.clock().timestamp() * 1_000_000)
    plant(
        stepwise,
        "INSERT INTO inbox (account_id, subscriber_id, kind, payload, source, occurred_at, accepted_at) "
        "VALUES (:a, :s, :k, :p, 'api', :t, :t)",
        a=account_id,
        s=subscriber_id,
        k=kind,
        p=payload,
        t=now,
    )


def backlog(stepwise: Stepwise) -> int:
    return int(scalar(stepwise, "SELECT COUNT(*) FROM inbox"))


def test_events_that_cannot_be_decoded_or_processed_are_set_aside(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    acme, _ = account
    other = create_account(stepwise.db, "other", "UTC", clock())[0].id
    for account_id in (acme, other):
        put(stepwise, account_id, "counting", COUNTING)
    put(stepwise, acme, "watching", WATCHING)
    anna, bob = subscriber(stepwise, acme, "anna@example.com"), subscriber(stepwise, acme, "bob@example.com")
    carl = subscriber(stepwise, other, "carl@example.com")
    plant_event(stepwise, acme, anna, "custom", '{"name": "go", "data": {')  # undecodable
    plant_event(stepwise, acme, anna, "data_changed", '{"fields": 5}')  # decodes, but fails the engine

    with running_worker(stepwise):
        post(stepwise, acme, "anna@example.com")  # after the poison: must still count
        post(stepwise, acme, "bob@example.com")
        posted = time.monotonic()
        post(stepwise, other, "carl@example.com")
        took = seconds_until(lambda: counted(stepwise, carl) == 1, since=posted)
        print(f"\npoisoned events: the other account's event was processed in {took * 1000:.0f} ms")
        assert took < 1.0
        seconds_until(lambda: counted(stepwise, anna) == counted(stepwise, bob) == 1)
        seconds_until(lambda: backlog(stepwise) == 0)

    aside = quarantined(stepwise, acme, "event")
    assert [(sub, error.split(":")[0]) for _, sub, error, _ in aside] == [
        (anna, "the stored payload is not JSON"),
        (anna, "TypeError"),
    ]
    kept = [json.loads(payload)["payload"] for _, _, _, payload in aside]  # with the stored text
    assert kept == ['{"name": "go", "data": {', '{"fields": 5}']
    shown = [e for e in timeline_of(stepwise, acme, "anna@example.com") if e["kind"] == "quarantined"]
    assert [(e["event"], e["error"].split(":")[0]) for e in shown] == [
        ("custom", "the stored payload is not JSON"),
        ("data_changed", "TypeError"),
    ]
    assert metric(stepwise, "event") == 2
    assert quarantined(stepwise, other, "event") == []


def test_a_subscriber_whose_row_cannot_be_read_is_set_aside_with_their_events(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    acme, _ = account
    other = create_account(stepwise.db, "other", "UTC", clock())[0].id
    for account_id in (acme, other):
        put(stepwise, account_id, "counting", COUNTING)
    anna, bob = subscriber(stepwise, acme, "anna@example.com"), subscriber(stepwise, acme, "bob@example.com")
    carl = subscriber(stepwise, other, "carl@example.com")
    post(stepwise, acme, "anna@example.com")
    plant(stepwise, "UPDATE subscribers SET data = :d WHERE id = :s", d="{not json", s=anna)

    with running_worker(stepwise):
        post(stepwise, acme, "bob@example.com")
        posted = time.monotonic()
        post(stepwise, other, "carl@example.com")
        took = seconds_until(lambda: counted(stepwise, carl) == 1, since=posted)
        print(f"\npoisoned subscriber: the other account's event was processed in {took * 1000:.0f} ms")
        assert took < 1.0
        seconds_until(lambda: counted(stepwise, bob) == 1)
        seconds_until(lambda: backlog(stepwise) == 0)

    [(ref, sub, error, _)] = quarantined(stepwise, acme, "subscriber")
    assert (ref, sub) == (str(anna), anna) and "the stored data of subscriber anna@example.com cannot be read" in error
    events = quarantined(stepwise, acme, "event")  # subscriber_added and go
    assert [(sub, error.startswith("its subscriber was set aside: ")) for _, sub, error, _ in events] == [
        (anna, True),
        (anna, True),
    ]
    shown = [e for e in timeline_of(stepwise, acme, "anna@example.com") if e["kind"] == "quarantined"]
    assert [e["set_aside"] for e in shown] == ["event", "event", "subscriber"]
    assert metric(stepwise, "subscriber") == 1
