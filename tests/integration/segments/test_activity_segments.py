"""S22 segments on the activity instants, moved by real deliveries over SMTP, on both databases.

A send moves `subscriber.last_sent_at` in the transaction that records it; segments reading nothing
else are settled once for the whole batch, others per subscriber: both must give what evaluating
the predicate afresh gives, with exact stored counts, the events, and the re-test moments.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stepwise.delivery.smtp import SmtpTransport
from stepwise.services import segments
from stepwise.storage import segments as segment_store
from stepwise.storage.schema_segments import segment_deadlines
from tests.integration.audience.support import queued_events
from tests.integration.delivery.conftest import shop, smtp
from tests.integration.delivery.helpers import Shop, deliver
from tests.integration.delivery.servers import SmtpServer
from tests.support.drive import advance

__all__ = ["shop", "smtp"]

ON_GO = [{"when": [{"event": "custom", "name": "go"}], "do": [{"action": "send_email", "draft": "hello"}]}]
MAILED_LATELY = {"field": "subscriber.last_sent_at", "op": "gte", "value": {"now": "-7d"}}
NEVER_MAILED = {"field": "subscriber.last_sent_at", "op": "not_exists"}
MAILED_IN_PARIS = {"all": [{"field": "base.city", "op": "eq", "value": "Paris"}, MAILED_LATELY]}
MAILED_NOT_OPENED = {
    "all": [MAILED_LATELY, {"field": "subscriber.last_opened_at", "op": "not_exists"}],
}


def _go(shop: Shop, *emails: str) -> None:
    from stepwise.services.events import PostedEvent, ingest

    posted = [PostedEvent(type="custom", name="go", email=e) for e in emails]
    ingest(shop.stepwise.db, shop.account_id, posted, now=shop.stepwise.clock())


def _members(shop: Shop, key: str) -> list[str]:
    found, _ = segments.members(shop.stepwise.db, shop.account_id, key, cursor=None, limit=1000)
    return sorted(m.email for m in found)


def _count_is_true(shop: Shop, key: str) -> bool:
    with shop.stepwise.db.read() as conn:
        row = segment_store.get(conn, shop.account_id, key)
        assert row is not None
        return row.member_count == segment_store.counted(conn, row.id)


def _segment_events(shop: Shop) -> list[tuple[str, str, str]]:
    found = queued_events(shop.stepwise, shop.account_id)
    return sorted((email, kind, payload["segment"]) for email, kind, payload, source in found if source == "segment")


def _deadlines(shop: Shop, key: str) -> set[int]:
    with shop.stepwise.db.read() as conn:
        row = segment_store.get(conn, shop.account_id, key)
        assert row is not None
        d = segment_deadlines.c
        return {int(at) for (at,) in conn.execute(select(d.due_at).where(d.segment_id == row.id))}


def _put(shop: Shop, key: str, where: dict[str, Any]) -> None:
    segments.put(shop.stepwise.db, shop.account_id, key, key, where, shop.stepwise.clock())


def test_S22_a_send_moves_the_segments_on_the_last_send_in_its_own_transaction(shop: Shop, smtp: SmtpServer) -> None:
    shop.draft("hello")
    shop.sequence("hello", ON_GO)
    for email, city in (("ann@x.com", "Paris"), ("bob@x.com", "Rome"), ("cy@x.com", "Paris")):
        shop.subscriber(email, {"base": {"city": city}})
    for key, where in (
        ("mailed-lately", MAILED_LATELY),
        ("never-mailed", NEVER_MAILED),
        ("mailed-in-paris", MAILED_IN_PARIS),
        ("mailed-not-opened", MAILED_NOT_OPENED),
    ):
        _put(shop, key, where)
    assert _members(shop, "never-mailed") == ["ann@x.com", "bob@x.com", "cy@x.com"]  # the backfill, silently

    _go(shop, "ann@x.com", "bob@x.com")
    advance(shop.stepwise)  # the two emails are queued; the `go` events are consumed
    deliver(shop.deliverer(SmtpTransport.from_url(smtp.url())))
    assert len(smtp.recorder.received) == 2
    sent_at = max(int(i.sent_at) for i in shop.issues(status="sent"))

    assert _members(shop, "mailed-lately") == ["ann@x.com", "bob@x.com"]
    assert _members(shop, "never-mailed") == ["cy@x.com"]
    assert _members(shop, "mailed-in-paris") == ["ann@x.com"]
    assert _members(shop, "mailed-not-opened") == ["ann@x.com", "bob@x.com"]
    for key in ("mailed-lately", "never-mailed", "mailed-in-paris", "mailed-not-opened"):
        assert _count_is_true(shop, key)
    assert _segment_events(shop) == sorted(
        [
            ("ann@x.com", "segment_joined", "mailed-lately"),
            ("bob@x.com", "segment_joined", "mailed-lately"),
            ("ann@x.com", "segment_left", "never-mailed"),
            ("bob@x.com", "segment_left", "never-mailed"),
            ("ann@x.com", "segment_joined", "mailed-in-paris"),
            ("ann@x.com", "segment_joined", "mailed-not-opened"),
            ("bob@x.com", "segment_joined", "mailed-not-opened"),
        ]
    )
    week = 7 * 24 * 3600 * 1_000_000
    assert _deadlines(shop, "mailed-lately") == {sent_at + week}  # each member's answer flips a week on


def test_S22_a_second_send_keeps_members_in_without_events_and_time_alone_lets_them_go(
    shop: Shop, smtp: SmtpServer
) -> None:
    shop.draft("hello")
    shop.sequence("hello", ON_GO)
    shop.subscriber("ann@x.com")
    _put(shop, "mailed-lately", MAILED_LATELY)
    deliverer = shop.deliverer(SmtpTransport.from_url(smtp.url()))
    _go(shop, "ann@x.com")
    advance(shop.stepwise)
    deliver(deliverer)
    shop.stepwise.clock.advance(days=3)  # type: ignore[attr-defined]
    advance(shop.stepwise)  # consumes the first segment_joined
    _go(shop, "ann@x.com")
    advance(shop.stepwise)
    deliver(shop.deliverer(SmtpTransport.from_url(smtp.url())))
    assert len(smtp.recorder.received) == 2
    assert _members(shop, "mailed-lately") == ["ann@x.com"] and _count_is_true(shop, "mailed-lately")
    assert _segment_events(shop) == []  # already a member: nothing joined
    last = max(int(i.sent_at) for i in shop.issues(status="sent"))
    assert _deadlines(shop, "mailed-lately") == {last + 7 * 24 * 3600 * 1_000_000}  # moved on by the later send

    shop.stepwise.clock.advance(days=6)  # type: ignore[attr-defined]
    assert segments.retest_due(shop.stepwise.db, shop.stepwise.clock()) == 0  # 6 days after the last send
    shop.stepwise.clock.advance(days=1, seconds=30)  # type: ignore[attr-defined]
    assert segments.retest_due(shop.stepwise.db, shop.stepwise.clock()) == 1
    assert _members(shop, "mailed-lately") == [] and _count_is_true(shop, "mailed-lately")
    assert _segment_events(shop) == [("ann@x.com", "segment_left", "mailed-lately")]
