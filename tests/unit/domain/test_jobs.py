"""Outbox jobs: one codec reads what every version wrote and writes what it reads."""

from __future__ import annotations

import pytest

from stepwise.domain.jobs import (
    ConfirmationJob,
    EmailJob,
    EmailTemplate,
    InvalidJob,
    UrlCallJob,
    decode_job,
    encode_job,
    job_kind,
)

EMAIL = EmailJob(draft="welcome", event={"k": 1}, data={"a": 2}, sequence="onboarding", step=1, at_us=5)
URL = UrlCallJob(
    action={"url": "https://example.com/{EMAIL}"},
    event={},
    data={},
    email="a@example.com",
    sequence="s",
    step=2,
    at_us=7,
)
TEMPLATE = EmailTemplate("Confirm", "<p>{{ confirm_url }}</p>", "text", "no-reply@example.com", "News", None)
CONFIRMATION = ConfirmationJob(
    draft="_confirmation", confirm_url="https://x/t/confirm/t", event={"form": "f"}, data={}, at_us=9, template=TEMPLATE
)


@pytest.mark.parametrize("job", [EMAIL, URL, CONFIRMATION, ConfirmationJob("mine", "https://x/c", {}, {}, 1)])
def test_a_job_reads_back_as_written(job: EmailJob | UrlCallJob | ConfirmationJob) -> None:
    assert decode_job(job_kind(job), encode_job(job)) == job


def test_payloads_written_by_the_previous_version_are_read() -> None:
    stored = {"draft": "welcome", "event": {"k": 1}, "data": {"a": 2}, "sequence": "onboarding", "step": 1, "at": 5}
    assert decode_job("email", stored) == EMAIL
    confirmation = {
        "purpose": "confirmation",
        "confirm_url": "https://x/t/confirm/t",
        "event": {"form": "f"},
        "data": {},
        "at": 9,
        "draft": "_confirmation",
        "template": {
            "subject": "Confirm",
            "html": "<p>{{ confirm_url }}</p>",
            "text": "text",
            "from_email": "no-reply@example.com",
            "from_name": "News",
            "reply_to": None,
        },
    }
    assert decode_job("email", confirmation) == CONFIRMATION
    url = {
        "action": {"url": "https://example.com/{EMAIL}"},
        "email": "a@example.com",
        "sequence": "s",
        "step": 2,
        "at": 7,
    }
    assert decode_job("url", url) == URL


def test_the_stored_keys_do_not_change() -> None:
    assert list(encode_job(EMAIL)) == ["draft", "event", "data", "sequence", "step", "at"]
    assert encode_job(CONFIRMATION)["purpose"] == "confirmation"
    assert "template" not in encode_job(ConfirmationJob("mine", "https://x/c", {}, {}, 1))


def test_an_email_without_a_draft_is_no_job() -> None:
    with pytest.raises(InvalidJob):
        decode_job("email", {"event": {}})
    with pytest.raises(InvalidJob):
        decode_job("email", {"draft": "x", "purpose": "confirmation", "template": {"html": 3}})


def test_s25_the_entry_event_reads_back_and_older_jobs_have_none() -> None:
    entry = {"type": "custom", "name": "cart_abandoned", "data": {"cart_id": "c1"}}
    for job in (
        EmailJob("d", {}, {}, "s", 2, 5, entry),
        UrlCallJob({"url": "https://x/"}, {}, {}, "a@x.io", "s", 2, 5, entry),
    ):
        stored = encode_job(job)
        assert stored["entry"] == entry and decode_job(job_kind(job), stored) == job
    assert "entry" not in encode_job(EMAIL) and decode_job("email", encode_job(EMAIL)).entry == {}  # type: ignore[union-attr]
