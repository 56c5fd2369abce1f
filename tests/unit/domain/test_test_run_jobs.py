"""S19: a test run's email job keeps its `test` mark through the outbox's stored form."""

from __future__ import annotations

from stepwise.domain.jobs import EmailJob, decode_job, encode_job


def test_S19_test_run_email_job_round_trips_its_test_mark() -> None:
    job = EmailJob("hi", {}, {}, "hello", 1, 5, test=True)
    stored = encode_job(job)
    assert stored["test"] is True
    assert decode_job("email", stored) == job


def test_S19_email_job_without_the_mark_is_stored_as_before_and_is_no_test() -> None:
    job = EmailJob("hi", {}, {}, "hello", 1, 5)
    stored = encode_job(job)
    assert "test" not in stored
    assert decode_job("email", stored).test is False  # type: ignore[union-attr]
    assert decode_job("email", {**stored, "test": "yes"}).test is False  # type: ignore[union-attr]
