"""Outbox jobs: what a transition (or a form) asks the delivery loop to do, and their stored form.

An outbox row holds one job as a JSON object. `encode_job` writes it; `decode_job` reads every
shape written so far, so that rows stored by an earlier version are still delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, assert_never

JobKind = Literal["email", "url", "webhook"]  # the outbox row's `kind` column


class InvalidJob(ValueError):
    """A stored payload that is no job of its kind."""


@dataclass(frozen=True, slots=True)
class EmailTemplate:
    """What an email is rendered from: a draft, or the built-in confirmation email."""

    subject: str
    html: str
    text: str | None
    from_email: str | None
    from_name: str | None
    reply_to: str | None


@dataclass(slots=True)  # not frozen: built for every event, and a frozen __init__ costs 3-5x
class EmailJob:
    """Send a draft (a send_email action of a sequence's step)."""

    draft: str
    event: dict[str, Any]
    data: dict[str, Any]
    sequence: str | None
    step: int | None
    at_us: int | None  # when the transition happened (the templates' `now`)
    entry: dict[str, Any] = field(default_factory=dict)  # S25: the run's entry event (templates' `entry`)
    test: bool = False  # of a test run (S19): capture mailbox only, exempt from caps and send windows


@dataclass(frozen=True, slots=True)
class ConfirmationJob:
    """Send the double opt-in email of a form: a draft, or the built-in template carried inline."""

    draft: str
    confirm_url: str
    event: dict[str, Any]
    data: dict[str, Any]
    at_us: int | None
    template: EmailTemplate | None = None  # None: the draft `draft` is read at delivery
    sequence: None = None
    step: None = None


@dataclass(frozen=True, slots=True)
class UrlCallJob:
    """Call a URL (a call_url action); `action` is the action as defined, rendered at delivery."""

    action: Any
    event: dict[str, Any]
    data: dict[str, Any]
    email: str
    sequence: str | None
    step: int | None
    at_us: int | None
    entry: dict[str, Any] = field(default_factory=dict)  # S25: the run's entry event (templates' `entry`)


@dataclass(frozen=True, slots=True)
class WebhookJob:
    """Deliver a webhook message (SPEC §18): its body is in the delivery log, under `message`."""

    message: str
    endpoint: int
    sequence: None = None
    step: None = None


Job = EmailJob | ConfirmationJob | UrlCallJob | WebhookJob
MailJob = EmailJob | ConfirmationJob
_CONFIRMATION = "confirmation"


def job_kind(job: Job) -> JobKind:
    """The outbox kind a job is stored under (emails and URL calls are claimed apart)."""
    if isinstance(job, WebhookJob):
        return "webhook"
    return "url" if isinstance(job, UrlCallJob) else "email"


def encode_job(job: Job) -> dict[str, Any]:
    """The stored JSON object of a job."""
    match job:
        case EmailJob():
            return {
                "draft": job.draft,
                "event": job.event,
                "data": job.data,
                "sequence": job.sequence,
                "step": job.step,
                "at": job.at_us,
                **({"entry": job.entry} if job.entry else {}),
            } | ({"test": True} if job.test else {})
        case ConfirmationJob():
            stored: dict[str, Any] = {
                "purpose": _CONFIRMATION,
                "confirm_url": job.confirm_url,
                "event": job.event,
                "data": job.data,
                "at": job.at_us,
                "draft": job.draft,
            }
            if job.template is not None:
                t = job.template
                stored["template"] = {
                    "subject": t.subject,
                    "html": t.html,
                    "text": t.text,
                    "from_email": t.from_email,
                    "from_name": t.from_name,
                    "reply_to": t.reply_to,
                }
            return stored
        case UrlCallJob():
            return {
                "action": job.action,
                "event": job.event,
                "data": job.data,
                "email": job.email,
                "sequence": job.sequence,
                "step": job.step,
                "at": job.at_us,
                **({"entry": job.entry} if job.entry else {}),
            }
        case WebhookJob():
            return {"message": job.message, "endpoint": job.endpoint}
        case _:
            assert_never(job)


def decode_job(kind: str, stored: dict[str, Any]) -> Job:
    """Read a stored job of the outbox kind `kind`; raise InvalidJob when it is none."""
    if kind == "url":
        return UrlCallJob(
            action=stored.get("action") or {},
            event=_object(stored.get("event")),
            data=_object(stored.get("data")),
            email=str(stored.get("email") or ""),
            sequence=stored.get("sequence"),
            step=stored.get("step"),
            at_us=stored.get("at"),
            entry=_object(stored.get("entry")),
        )
    if kind == "webhook":
        message, endpoint = stored.get("message"), stored.get("endpoint")
        if not isinstance(message, str) or not isinstance(endpoint, int):
            raise InvalidJob("the stored webhook names no message or endpoint")
        return WebhookJob(message, endpoint)
    if kind != "email":
        raise InvalidJob(f"unknown outbox kind {kind!r}")
    draft = stored.get("draft")
    if not isinstance(draft, str):
        raise InvalidJob("the stored email names no draft")
    if stored.get("purpose") == _CONFIRMATION:
        inline = stored.get("template")
        return ConfirmationJob(
            draft=draft,
            confirm_url=str(stored.get("confirm_url") or ""),
            event=_object(stored.get("event")),
            data=_object(stored.get("data")),
            at_us=stored.get("at"),
            template=_template(inline) if inline else None,
        )
    return EmailJob(
        draft=draft,
        event=_object(stored.get("event")),
        data=_object(stored.get("data")),
        sequence=stored.get("sequence"),
        step=stored.get("step"),
        at_us=stored.get("at"),
        entry=_object(stored.get("entry")),
        test=stored.get("test") is True,
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _template(value: Any) -> EmailTemplate:
    if not isinstance(value, dict) or not all(isinstance(value.get(part), str) for part in ("subject", "html")):
        raise InvalidJob("the stored confirmation template has no subject or HTML")
    return EmailTemplate(
        subject=value["subject"],
        html=value["html"],
        text=value.get("text"),
        from_email=value.get("from_email"),
        from_name=value.get("from_name"),
        reply_to=value.get("reply_to"),
    )


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A leased outbox row: its job, or why its stored payload cannot be used."""

    id: int
    account_id: int
    kind: str
    issue_id: str | None
    subscriber_id: int
    sequence_id: int
    pass_no: int
    payload: dict[str, Any]  # the stored JSON object ({} when it cannot be read)
    attempts: int
    lease_token: str
    created_at: int
    accepted_at: int | None = None  # set when a holder that died had already handed the message over
    # Why the stored payload cannot be used (not JSON, not an object, no job), with the stored text: the
    # delivery loop sets such a row aside instead of failing every claim that includes it.
    error: str | None = None
    raw: str | None = None
    job: Job | None = None  # the payload decoded (None exactly when `error` is set)
