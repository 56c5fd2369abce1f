"""S30: bounces and complaints taken in, matched, applied once; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from stepwise.delivery.reports import Report
from stepwise.delivery.smtp import SmtpTransport
from stepwise.services import bounces, suppressions
from stepwise.storage import schema as t
from tests.integration.delivery.helpers import Shop, settle
from tests.integration.delivery.servers import SmtpServer
from tests.support.clock import FakeClock

WELCOME = [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]


def _sent(shop: Shop, smtp: SmtpServer, *addresses: str) -> dict[str, str]:
    """Send the welcome email to each address through SMTP; their Message-IDs by address."""
    shop.draft("welcome", subject="Welcome")
    shop.sequence("welcome", WELCOME)
    for address in addresses:
        shop.subscriber(address)
    settle(shop, shop.deliverer(SmtpTransport.from_url(smtp.url())))
    return {r.recipients[0]: r.message["Message-ID"] for r in smtp.recorder.received}


def _take(shop: Shop, *reports: Report, source: str = "api") -> bounces.Intake:
    return bounces.take_in(shop.stepwise.db, shop.account_id, list(reports), source=source, now=shop.stepwise.clock())


def _events(shop: Shop, kind: str) -> list[dict[str, object]]:
    from stepwise.storage.codec import loads

    return [loads(r.payload) for r in shop.inbox() if r.kind == kind]


def test_S30_a_hard_bounce_marks_the_subscriber_bounced_the_issue_and_suppresses(shop: Shop, smtp: SmtpServer) -> None:
    ids = _sent(shop, smtp, "anna@example.com")
    intake = _take(shop, Report("anna@example.com", "hard", ids["anna@example.com"], "5.1.1 user unknown", None))

    assert (intake.recorded, intake.duplicates, intake.unmatched) == (1, 0, 0)
    assert shop.status_of("anna@example.com") == "bounced"
    [issue] = shop.issues()
    assert issue.bounced_at is not None and issue.complained_at is None
    entry = suppressions.get(shop.stepwise.db, shop.account_id, "anna@example.com")
    assert entry.reason == "bounce"
    [event] = _events(shop, "email_bounced")
    assert event["type"] == "hard" and event["issue"] == issue.id and event["draft"] == "welcome"
    [note] = shop.timeline("email_bounced")
    assert note["issue"] == issue.id and note["status"] == "bounced"


def test_S30_the_same_report_twice_counts_once(shop: Shop, smtp: SmtpServer) -> None:
    ids = _sent(shop, smtp, "anna@example.com")
    report = Report("anna@example.com", "soft", ids["anna@example.com"], "4.2.2 mailbox full", "<dsn-1@mx> anna")
    first, second = _take(shop, report), _take(shop, report, source="cli")
    assert (first.recorded, second.recorded, second.duplicates) == (1, 0, 1)
    assert len(_events(shop, "email_bounced")) == 1
    page = bounces.page(shop.stepwise.db, shop.account_id, email=None, issue=None, cursor=None, limit=10)
    assert len(page.items) == 1 and page.items[0].matched


def test_S30_soft_bounces_reach_the_limit_within_seven_days(shop: Shop, smtp: SmtpServer, clock: FakeClock) -> None:
    _sent(shop, smtp, "anna@example.com", "bob@example.com")
    for day in range(bounces.SOFT_BOUNCE_LIMIT):
        assert shop.status_of("anna@example.com") == "active"
        _take(shop, Report("anna@example.com", "soft", None, f"4.2.2 full, day {day}", None))
        clock.advance(timedelta(days=1))
    assert shop.status_of("anna@example.com") == "bounced"
    for days in (0, 1, 7):  # the third comes 8 days after the first: only two within any 7 days
        clock.advance(timedelta(days=days))
        _take(shop, Report("bob@example.com", "soft", None, f"4.2.2 full, +{days}d", None))
    assert shop.status_of("bob@example.com") == "active"
    assert [e["type"] for e in _events(shop, "email_bounced")] == ["soft"] * 6
    listed = suppressions.page(shop.stepwise.db, shop.account_id, cursor=None, limit=10)
    assert [(s.address, s.reason) for s in listed.items] == [("anna@example.com", "bounce")]


def test_S30_a_complaint_unsubscribes_with_reason_complaint(shop: Shop, smtp: SmtpServer) -> None:
    ids = _sent(shop, smtp, "anna@example.com")
    _take(shop, Report("anna@example.com", "complaint", ids["anna@example.com"], "abuse", "<arf-1@aol> anna"))

    assert shop.status_of("anna@example.com") == "unsubscribed"
    [issue] = shop.issues()
    assert issue.complained_at is not None
    assert suppressions.get(shop.stepwise.db, shop.account_id, "anna@example.com").reason == "complaint"
    assert len(_events(shop, "complained")) == 1 and len(_events(shop, "unsubscribed")) == 1
    [note] = shop.timeline("complained")
    assert note["because"] == "complaint"


def test_S30_a_report_for_an_unknown_message_or_address_is_recorded_unmatched(shop: Shop) -> None:
    intake = _take(
        shop,
        Report("nobody@example.com", "hard", "<0123456789abcdef0123456789abcdef@elsewhere>", None, None),
        Report("not an address", "complaint", None, None, None),
    )
    assert (intake.recorded, intake.unmatched) == (2, 2)
    page = bounces.page(shop.stepwise.db, shop.account_id, email=None, issue=None, cursor=None, limit=10)
    assert [item.matched for item in page.items] == [False, False]
    assert shop.inbox() == []


def test_S30_a_redacted_complaint_is_matched_by_our_message_id(shop: Shop, smtp: SmtpServer) -> None:
    ids = _sent(shop, smtp, "anna@example.com")
    _take(shop, Report("redacted", "complaint", ids["anna@example.com"], None, None))
    assert shop.status_of("anna@example.com") == "unsubscribed"


def test_S30_a_sequence_reacts_to_email_bounced_and_complained(shop: Shop, smtp: SmtpServer) -> None:
    ids = _sent(shop, smtp, "anna@example.com", "bob@example.com")
    shop.sequence(
        "cleanup",
        [
            {
                "when": [{"event": "email_bounced", "type": "hard"}],
                "do": [{"action": "change_data", "set": {"bad": True}}],
            }
        ],
        [{"when": [{"event": "complained"}], "do": [{"action": "change_data", "set": {"angry": True}}]}],
    )
    _take(shop, Report("anna@example.com", "hard", ids["anna@example.com"], None, None))
    _take(shop, Report("bob@example.com", "soft", ids["bob@example.com"], None, None))
    settle(shop, shop.deliverer(SmtpTransport.from_url(smtp.url())))
    with shop.stepwise.db.read() as conn:
        data = dict(conn.execute(select(t.subscribers.c.email, t.subscribers.c.data)).all())
    assert '"bad": true' in data["anna@example.com"].replace('":true', '": true')
    assert "bad" not in data["bob@example.com"]
    _take(shop, Report("anna@example.com", "complaint", ids["anna@example.com"], None, None))
    settle(shop, shop.deliverer(SmtpTransport.from_url(smtp.url())))
    with shop.stepwise.db.read() as conn:
        anna = conn.execute(select(t.subscribers.c.data).where(t.subscribers.c.email == "anna@example.com")).scalar()
    assert "angry" in anna


def test_S30_issue_and_draft_statistics_count_bounces_and_complaints(shop: Shop, smtp: SmtpServer) -> None:
    from stepwise.services import issues

    ids = _sent(shop, smtp, "anna@example.com", "bob@example.com", "carl@example.com", "dora@example.com")
    _take(shop, Report("anna@example.com", "hard", ids["anna@example.com"], None, None))
    _take(shop, Report("bob@example.com", "complaint", ids["bob@example.com"], None, None))
    stats = issues.stats(shop.stepwise.db, shop.account_id, sequence=None, draft="welcome")
    assert (stats.totals.sent, stats.totals.bounced, stats.totals.complained) == (4, 1, 1)
    assert (stats.totals.bounce_rate, stats.totals.complaint_rate) == (0.25, 0.25)
    health = bounces.health(shop.stepwise.db, shop.account_id, shop.stepwise.clock())
    assert health.sent == 4 and len(health.warnings) == 2
