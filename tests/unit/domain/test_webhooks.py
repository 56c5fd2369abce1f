"""Webhooks, the pure part (SPEC §18, S29): Standard Webhooks signatures, fact types, the outbox job."""

from __future__ import annotations

import base64

import pytest

from stepwise.domain import webhooks as hooks
from stepwise.domain.jobs import InvalidJob, WebhookJob, decode_job, encode_job, job_kind


def test_S29_signature_matches_the_standard_webhooks_example() -> None:
    # The example of the Standard Webhooks specification (secret, id, timestamp, body, signature).
    key = hooks.secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signed = hooks.signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_S29_new_secrets_are_whsec_and_base64_of_the_key() -> None:
    secret = hooks.new_secret(b"\x01" * 24)
    assert secret.startswith("whsec_") and hooks.secret_key(secret) == b"\x01" * 24
    assert base64.b64decode(secret[6:]) == b"\x01" * 24


@pytest.mark.parametrize(
    ("kind", "detail", "expected"),
    [
        ("entered", {}, "run.entered"),
        ("transition", {"step": 1}, "run.step"),
        ("transition", {"result": "completed"}, "run.completed"),
        ("stopped", {"reason": "api"}, "run.stopped"),
        ("event", {}, None),
    ],
)
def test_S29_engine_entries_map_to_run_facts(kind: str, detail: dict[str, object], expected: str | None) -> None:
    assert hooks.transition_type(kind, detail) == expected


def test_S29_issue_statuses_map_to_email_facts() -> None:
    assert [hooks.issue_type(s) for s in ("queued", "sent", "failed", "skipped", "deferred", None)] == [
        "email.queued",
        "email.sent",
        "email.failed",
        "email.skipped",
        "email.deferred",
        None,
    ]


def test_S29_webhook_jobs_round_trip_and_bad_ones_are_refused() -> None:
    job = WebhookJob("msg_1", 7)
    assert job_kind(job) == "webhook"
    assert decode_job("webhook", encode_job(job)) == job
    with pytest.raises(InvalidJob):
        decode_job("webhook", {"message": 3})


def test_S29_every_type_of_the_spec_is_accepted() -> None:
    assert len(hooks.EVENT_TYPES) == 18 and set(hooks.EVENT_TYPES) >= hooks.NOT_EMITTED_YET
