"""`to_record`: what a delivery result is written as (a pure function)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stepwise.delivery.transports import DeliveryError
from stepwise.delivery.webhooks import UrlResponse
from stepwise.domain.jobs import EmailJob, OutboxRow, UrlCallJob
from stepwise.worker.ports import Record, to_us
from stepwise.worker.recording import Policy, Prepared, Result, to_record

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
POLICY = Policy("smtp", (timedelta(seconds=30),), (timedelta(minutes=1),))
EMAIL = EmailJob(draft="welcome", event={}, data={}, sequence="onboarding", step=1, at_us=None)
CALL = UrlCallJob({"url": "https://example.com/hook"}, {}, {}, "a@example.com", "onboarding", 2, None)


def row(job: EmailJob | UrlCallJob, attempts: int = 1) -> OutboxRow:
    kind = "url" if isinstance(job, UrlCallJob) else "email"
    return OutboxRow(1, 1, kind, "i1" if kind == "email" else None, 7, 1, 1, {}, attempts, "t", 0, job=job)


def record(result: Result) -> Record:
    return to_record(result, POLICY, NOW, to_us(NOW))


def test_a_hard_bounce_fails_the_issue_and_marks_the_subscriber() -> None:
    error = DeliveryError("550 no such user", permanent=True, bounce=True)
    written = record(Result(Prepared(row(EMAIL)), error))
    assert written.kind == "email_failed" and written.bounced and written.retry_at_us is None
    assert written.issue is not None and written.issue.status == "failed"
    assert written.detail == {"issue": "i1", "draft": "welcome", "reason": "550 no such user", "bounced": True}
    assert written.sequence == "onboarding"


def test_a_temporary_failure_is_retried_and_only_the_reason_changes() -> None:
    written = record(Result(Prepared(row(EMAIL)), DeliveryError("451 later", permanent=False)))
    assert written.kind == "email_retry" and written.retry_at_us == to_us(NOW + timedelta(seconds=30))
    assert written.issue is not None and written.issue.status is None and written.issue.reason == "retrying: 451 later"


def test_out_of_retries_is_final() -> None:
    written = record(Result(Prepared(row(EMAIL, attempts=2)), DeliveryError("451 later", permanent=False)))
    assert written.kind == "email_failed" and written.retry_at_us is None


def test_a_missing_issue_is_skipped_without_touching_it() -> None:
    written = record(Result(Prepared(row(EMAIL), skip="issue_missing")))
    assert written.kind == "email_skipped" and written.issue is None


def test_a_url_call_records_its_response() -> None:
    response = UrlResponse(status=200, url="https://example.com/hook", elapsed_ms=5, snippet="ok")
    written = record(Result(Prepared(row(CALL)), response=response))
    assert written.kind == "url_called" and written.issue is None
    assert written.detail["status"] == 200 and written.detail["step"] == 2
