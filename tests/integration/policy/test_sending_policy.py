"""S27 send windows and S28 frequency caps at delivery, with real SMTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from stepwise.delivery.smtp import SmtpTransport
from stepwise.services import settings
from stepwise.services.settings import AccountSettings
from tests.integration.delivery.helpers import Shop, deliver, settle
from tests.integration.delivery.servers import SmtpServer
from tests.support.clock import FakeClock
from tests.support.drive import advance

SEND = [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "hello"}]}]
SATURDAY = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)
MONDAY_NINE = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def _settings(shop: Shop, **values: Any) -> None:
    body = AccountSettings.model_validate({"timezone": "UTC", **values})
    settings.put(shop.stepwise.db, shop.account_id, body, shop.stepwise.clock())


def _go(shop: Shop, email: str = "anna@example.com") -> None:
    """Post the custom event `go` for a subscriber, as the API does."""
    from stepwise.services.events import PostedEvent, ingest

    ingest(
        shop.stepwise.db,
        shop.account_id,
        [PostedEvent(type="custom", name="go", email=email)],
        now=shop.stepwise.clock(),
    )


def _smtp(shop: Shop, smtp: SmtpServer) -> Any:
    return shop.deliverer(SmtpTransport.from_url(smtp.url()))


WORKDAYS = {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00", "timezone": "UTC"}


def test_S27_an_email_due_outside_the_window_is_deferred_and_sent_at_the_opening(
    shop: Shop, smtp: SmtpServer, clock: FakeClock
) -> None:
    clock.set(SATURDAY)
    _settings(shop, send_window=WORKDAYS)
    shop.draft("hello")
    shop.sequence("hello", SEND)
    shop.subscriber("anna@example.com")
    settle(shop, _smtp(shop, smtp))

    [issue] = shop.issues()
    assert issue.status == "deferred" and issue.deliver_after == int(MONDAY_NINE.timestamp() * 1_000_000)
    assert "send_window" in issue.reason
    [note] = shop.timeline("email_deferred")
    assert note["reason"] == "send_window" and note["deliver_after"] == "2026-01-12T09:00:00Z"
    assert smtp.recorder.received == []
    assert [r.status for r in shop.runs()] == ["completed"]  # the run did not wait for its email

    clock.set(MONDAY_NINE - timedelta(minutes=1))
    settle(shop, _smtp(shop, smtp))
    assert smtp.recorder.received == []
    clock.set(MONDAY_NINE)
    settle(shop, _smtp(shop, smtp))
    assert [r.recipients for r in smtp.recorder.received] == [["anna@example.com"]]
    [issue] = shop.issues()
    assert issue.status == "sent" and issue.reason is None
    [row] = list(shop.outbox()) or [None]
    assert row is None


def test_S27_subscriber_time_zone_and_the_sequence_window_wins(shop: Shop, smtp: SmtpServer, clock: FakeClock) -> None:
    clock.set(datetime(2026, 1, 5, 23, 30, tzinfo=UTC))  # Monday 23:30 UTC is Tuesday 08:30 in Tokyo
    _settings(shop, send_window={"from": "00:00", "to": "23:59", "timezone": "UTC"})  # open now: ignored below
    shop.draft("hello")
    morning = {"from": "09:00", "to": "12:00", "timezone": "subscriber"}
    shop.sequence("hello", SEND, send_window=morning, timezone="Europe/Berlin")
    shop.subscriber("tokyo@example.com", {"base": {"timezone": "Asia/Tokyo"}})
    shop.subscriber("bad@example.com", {"base": {"timezone": "Mars/Olympus"}})  # falls back to Berlin
    settle(shop, _smtp(shop, smtp))

    held = {i.email: i.deliver_after for i in shop.issues()}
    assert held["tokyo@example.com"] == int(datetime(2026, 1, 6, 0, 0, tzinfo=UTC).timestamp() * 1_000_000)
    assert held["bad@example.com"] == int(datetime(2026, 1, 6, 8, 0, tzinfo=UTC).timestamp() * 1_000_000)
    clock.set(datetime(2026, 1, 6, 0, 0, tzinfo=UTC))
    settle(shop, _smtp(shop, smtp))
    assert [r.recipients for r in smtp.recorder.received] == [["tokyo@example.com"]]


def test_S27_a_window_over_midnight(shop: Shop, smtp: SmtpServer, clock: FakeClock) -> None:
    clock.set(datetime(2026, 1, 6, 3, 0, tzinfo=UTC))  # Tuesday 03:00: inside Monday's 22:00-06:00
    _settings(shop, send_window={"days": ["mon"], "from": "22:00", "to": "06:00", "timezone": "UTC"})
    shop.draft("hello")
    shop.sequence("hello", SEND)
    shop.subscriber("night@example.com")
    settle(shop, _smtp(shop, smtp))
    assert [i.status for i in shop.issues()] == ["sent"]
    clock.set(datetime(2026, 1, 6, 7, 0, tzinfo=UTC))
    shop.subscriber("late@example.com")
    settle(shop, _smtp(shop, smtp))
    late = next(i for i in shop.issues() if i.email == "late@example.com")
    assert late.deliver_after == int(datetime(2026, 1, 12, 22, 0, tzinfo=UTC).timestamp() * 1_000_000)


def test_S28_a_cap_skips_emails_over_the_limit_across_sequences(shop: Shop, smtp: SmtpServer, clock: FakeClock) -> None:
    _settings(shop, caps=[{"emails": 1, "per": "1d"}, {"emails": 2, "per": "7d"}])
    shop.draft("hello")
    for key in ("one", "two", "three"):
        shop.sequence(key, SEND)
    shop.subscriber("anna@example.com")
    settle(shop, _smtp(shop, smtp))
    statuses = sorted((i.status, i.reason or "") for i in shop.issues())
    assert statuses == [("sent", ""), ("skipped", "frequency_cap"), ("skipped", "frequency_cap")]
    assert len(smtp.recorder.received) == 1
    assert {n["reason"] for n in shop.timeline("email_skipped")} == {"frequency_cap"}


def test_S28_defer_holds_the_email_until_the_cap_allows(shop: Shop, smtp: SmtpServer, clock: FakeClock) -> None:
    _settings(shop, caps=[{"emails": 1, "per": "1h"}])
    shop.draft("hello")
    shop.sequence("first", SEND)
    go = [{"when": [{"event": "custom", "name": "go"}], "do": [{"action": "send_email", "draft": "hello"}]}]
    shop.sequence("second", go, cap_action="defer")
    shop.subscriber("anna@example.com")
    settle(shop, _smtp(shop, smtp))
    sent_at = clock()
    clock.advance(minutes=10)
    _go(shop)
    settle(shop, _smtp(shop, smtp))
    held = next(i for i in shop.issues() if i.sequence == "second")
    assert held.status == "deferred" and held.reason.startswith("frequency_cap")
    assert held.deliver_after == int((sent_at + timedelta(hours=1)).timestamp() * 1_000_000)
    assert [n["reason"] for n in shop.timeline("email_deferred")] == ["frequency_cap"]
    clock.set(sent_at + timedelta(hours=1))
    settle(shop, _smtp(shop, smtp))
    assert sorted(i.status for i in shop.issues()) == ["sent", "sent"]
    assert len(smtp.recorder.received) == 2


def test_S28_a_sequence_that_ignores_caps_still_counts(shop: Shop, smtp: SmtpServer, clock: FakeClock) -> None:
    _settings(shop, caps=[{"emails": 1, "per": "1d"}])
    shop.draft("hello")
    shop.sequence("urgent", SEND, respect_caps=False)
    go = [{"when": [{"event": "custom", "name": "go"}], "do": [{"action": "send_email", "draft": "hello"}]}]
    shop.sequence("later", go)
    shop.subscriber("anna@example.com")
    settle(shop, _smtp(shop, smtp))
    shop.subscriber("anna@example.com")  # nothing new; the urgent email counted
    _go(shop)
    settle(shop, _smtp(shop, smtp))
    assert sorted((i.sequence, i.status) for i in shop.issues()) == [("later", "skipped"), ("urgent", "sent")]
    shop.sequence("urgent2", go, respect_caps=False)
    _go(shop)
    settle(shop, _smtp(shop, smtp))
    assert sum(i.status == "sent" for i in shop.issues()) == 2  # an email that ignores caps is never refused


def test_S28_two_workers_racing_for_the_last_slot_send_one_email(shop: Shop, smtp: SmtpServer) -> None:
    _settings(shop, caps=[{"emails": 1, "per": "1d"}])
    shop.draft("hello")
    for key in ("a", "b", "c", "d"):
        shop.sequence(key, SEND)
    people = [f"p{n}@example.com" for n in range(12)]
    for address in people:
        shop.subscriber(address)
    advance(shop.stepwise)
    start = threading.Barrier(2)

    def work() -> None:
        deliverer = _smtp(shop, smtp)
        start.wait()
        deliver(deliverer)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    sent = [i.email for i in shop.issues() if i.status == "sent"]
    assert sorted(sent) == sorted(people)  # exactly one each: no two workers took the same last slot
    assert sorted(r.recipients[0] for r in smtp.recorder.received) == sorted(people)
    assert {i.reason for i in shop.issues() if i.status != "sent"} == {"frequency_cap"}


def test_settings_default_sender_fills_drafts_without_one(shop: Shop, smtp: SmtpServer) -> None:
    _settings(shop, default_from_email="team@shop.example", default_from_name="Shop", reply_to="help@shop.example")
    shop.draft("hello", from_email=None)
    shop.sequence("hello", SEND)
    shop.subscriber("anna@example.com")
    settle(shop, _smtp(shop, smtp))
    [received] = smtp.recorder.received
    assert received.sender == "team@shop.example"
    assert received.message["From"] == "Shop <team@shop.example>"
    assert received.message["Reply-To"] == "help@shop.example"


GO_THEN_WAIT = [{"when": [{"event": "custom", "name": "go"}], "do": [{"action": "send_email", "draft": "hello"}]}]
NEVER = [{"when": [{"event": "custom", "name": "never"}], "do": [{"action": "nothing"}]}]


def test_S27_S28_test_runs_are_exempt_from_the_send_window_and_take_no_cap_slot(
    shop: Shop, smtp: SmtpServer, clock: FakeClock
) -> None:
    from stepwise.services import runs

    clock.set(SATURDAY)  # outside the window
    _settings(shop, send_window=WORKDAYS, caps=[{"emails": 1, "per": "1d"}])
    shop.draft("hello")
    shop.sequence("hello", GO_THEN_WAIT, NEVER)
    shop.sequence("other", GO_THEN_WAIT, NEVER)
    shop.subscriber("anna@example.com")
    for key in ("hello", "other"):  # two test runs the same day: neither window nor the one-a-day cap holds them
        runs.control(
            shop.stepwise.db,
            shop.stepwise.catalog,
            shop.account_id,
            key,
            "anna@example.com",
            "start",
            clock(),
            test=True,
        )
    settle(shop, _smtp(shop, smtp))
    tests = shop.issues()
    assert sorted((i.status, i.transport, i.test) for i in tests) == [("sent", "capture", True)] * 2
    assert not shop.timeline("email_deferred") and not shop.timeline("email_skipped")
    assert smtp.recorder.received == []  # captured only (S19)

    _settings(shop, caps=[{"emails": 1, "per": "1d"}])  # the same day, no window: the day's one slot is still free
    shop.sequence("real", GO_THEN_WAIT, NEVER)
    _go(shop)
    settle(shop, _smtp(shop, smtp))
    real = [i for i in shop.issues() if not i.test]
    assert [(i.status, i.reason) for i in real] == [("sent", None)]
    assert len(smtp.recorder.received) == 1
