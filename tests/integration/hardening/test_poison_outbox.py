"""Poison isolation in delivery: an outbox row that cannot be decoded or prepared stops no one (issue 10)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from stepwise.bootstrap import Stepwise
from stepwise.services import drafts
from stepwise.services.accounts import create_account
from stepwise.services.drafts import DraftBody
from stepwise.worker import recording
from tests.integration.hardening.poison import (
    metric,
    plant,
    put,
    quarantined,
    rows,
    running_worker,
    scalar,
    seconds_until,
    subscriber,
    timeline_of,
)
from tests.support.clock import FakeClock
from tests.support.drive import advance, deliver

WELCOME = {
    "name": "Welcome",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]}
    ],
}


def plant_outbox(stepwise: Stepwise, account_id: int, subscriber_id: int, kind: str, payload: str) -> int:
    now = int(stepwise.clock().timestamp() * 1_000_000)
    plant(
        stepwise,
        "INSERT INTO outbox (account_id, kind, issue_id, subscriber_id, sequence_id, pass_no, payload, attempts, "
        "available_at, created_at) VALUES (:a, :k, NULL, :s, 0, 1, :p, 0, :t, :t)",
        a=account_id,
        k=kind,
        s=subscriber_id,
        p=payload,
        t=now - 1_000_000,  # due before anything the worker queues
    )
    return int(scalar(stepwise, "SELECT MAX(id) FROM outbox"))


def sent_to(stepwise: Stepwise, email: str) -> bool:
    return bool(rows(stepwise, "SELECT 1 FROM issues WHERE email = :e AND status = 'sent'", e=email))


def test_outbox_rows_that_cannot_be_decoded_or_prepared_are_set_aside(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock
) -> None:
    acme, _ = account
    other = create_account(stepwise.db, "other", "UTC", clock())[0].id
    for account_id in (acme, other):
        body = DraftBody(subject="Hi", html="<p>Hello</p>", from_email="news@example.com")
        drafts.put(stepwise.db, account_id, "welcome", body, clock())
        put(stepwise, account_id, "welcome", WELCOME)
    anna = subscriber(stepwise, acme, "anna@example.com")
    garbage = plant_outbox(stepwise, acme, anna, "email", "garbage{")
    bad_action = plant_outbox(stepwise, acme, anna, "url", '{"action": 5, "email": "anna@example.com"}')

    with running_worker(stepwise):
        posted = time.monotonic()
        subscriber(stepwise, other, "carl@example.com")
        subscriber(stepwise, acme, "bob@example.com")
        took = seconds_until(lambda: sent_to(stepwise, "carl@example.com"), since=posted)
        print(f"\npoisoned outbox: the other account's email was sent in {took * 1000:.0f} ms")
        assert took < 1.0
        seconds_until(lambda: sent_to(stepwise, "bob@example.com") and sent_to(stepwise, "anna@example.com"))
        seconds_until(lambda: scalar(stepwise, "SELECT COUNT(*) FROM outbox") == 0)

    aside = {int(ref): error for ref, _, error, _ in quarantined(stepwise, acme, "outbox")}
    assert aside.keys() == {garbage, bad_action}
    assert aside[garbage].startswith("the stored payload is not JSON")
    assert aside[bad_action].startswith("AttributeError")
    failed = [e for e in timeline_of(stepwise, acme, "anna@example.com") if e["kind"] in ("email_failed", "url_failed")]
    assert sorted(e["reason"].split(":")[0] for e in failed) == ["set aside", "set aside"]
    assert metric(stepwise, "outbox") == 2


def test_a_delivery_whose_outcome_cannot_be_recorded_is_set_aside_and_the_others_are_recorded(
    stepwise: Stepwise, account: tuple[int, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme, _ = account
    for key in ("welcome", "boom"):
        body = DraftBody(subject="Hi", html="<p>Hello</p>", from_email="news@example.com")
        drafts.put(stepwise.db, acme, key, body, clock())
        put(stepwise, acme, key, {**WELCOME, "steps": [_sends(key)]})
    original = recording.email_detail

    def detail(item: recording.Prepared) -> dict[str, Any]:
        if item.row.payload.get("draft") == "boom":
            raise ValueError("this outcome cannot be written")
        return original(item)

    monkeypatch.setattr(recording, "email_detail", detail)
    subscriber(stepwise, acme, "anna@example.com")
    advance(stepwise)
    deliver(stepwise)

    statuses = rows(stepwise, "SELECT draft, status, reason FROM issues ORDER BY draft")
    assert [(d, s) for d, s, _ in statuses] == [("boom", "failed"), ("welcome", "sent")]
    assert statuses[0][2] == "set aside: ValueError: this outcome cannot be written"
    [(_, _, error, _)] = quarantined(stepwise, acme, "outbox")
    assert error == "ValueError: this outcome cannot be written"
    assert scalar(stepwise, "SELECT COUNT(*) FROM outbox") == 0


def _sends(draft: str) -> dict[str, Any]:
    return {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": draft}]}]}
