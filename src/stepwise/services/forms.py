"""Form definitions, and what their public pages do: submission, double opt-in, confirmation (SPEC §5)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from stepwise.delivery.tokens import TokenSigner
from stepwise.domain.edits import Edit
from stepwise.domain.emails import Email, InvalidEmail, parse_email
from stepwise.domain.events import Happened, NewEvent, new_event
from stepwise.domain.forms import FormField, FormSpec, form_reference_problems
from stepwise.domain.instants import iso
from stepwise.domain.jobs import ConfirmationJob, EmailTemplate
from stepwise.domain.keys import is_key
from stepwise.domain.paths import DataPath, set_path
from stepwise.domain.problems import from_validation_error
from stepwise.domain.statuses import SubscriberStatus
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.ids import new_id
from stepwise.services import audit, segment_upkeep
from stepwise.services import settings as account_settings
from stepwise.services.references import users_of
from stepwise.services.subscribers import apply_edit
from stepwise.storage import accounts as account_store
from stepwise.storage import drafts as draft_store
from stepwise.storage import forms as form_store
from stepwise.storage import inbox as inbox_store
from stepwise.storage import issues as issue_store
from stepwise.storage import lists as list_store
from stepwise.storage import outbox as outbox_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.subscribers import SubscriberRow


def parse(body: Any) -> FormSpec:
    try:
        return FormSpec.model_validate(body)
    except ValidationError as exc:
        raise Unprocessable.of(from_validation_error(exc, body), "the form is invalid") from exc


# A form as the API and the UI show it: its key, what it asks for and how it confirms.
class Form(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    title: str | None = None
    description: str | None = None
    fields: list[DataPath | FormField] = []
    lists: list[str] = []
    double_opt_in: bool = True
    confirmation_draft: str | None = None
    success_url: str | None = None
    created_at: str
    updated_at: str


# A page of forms and the cursor of the next one.
class FormsOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    next_cursor: str | None = None
    items: list[Form]


def view(key: str, spec: dict[str, Any], created_at: int, updated_at: int) -> Form:
    return Form.model_validate(
        {**spec, "key": key, "created_at": iso(from_us(created_at)), "updated_at": iso(from_us(updated_at))}
    )


def put(db: Database, account_id: int, key: str, spec: FormSpec, now: datetime) -> tuple[Form, bool]:
    """Create or replace a form; its lists and confirmation draft must exist."""
    stored = spec.model_dump(mode="json")
    with db.write() as conn:
        problems = form_reference_problems(spec, list_store.keys(conn, account_id), draft_store.keys(conn, account_id))
        if problems:
            raise Unprocessable.of(problems, "the form is invalid")
        old = form_store.get(conn, account_id, key)
        created = form_store.put(conn, account_id, key, stored, to_us(now))
        row = form_store.get(conn, account_id, key)
        if old is None or old.spec != stored:
            before = old.spec if old else None
            audit.record(conn, account_id, "form", key, "create" if created else "update", before, stored)
    assert row is not None
    return view(key, row.spec, row.created_at, row.updated_at), created


def put_from_file(db: Database, account_id: int, key: str, body: dict[str, Any], now: datetime) -> str:
    """Apply a form from a definition file; return created, updated or unchanged."""
    spec = parse(body)
    with db.read() as conn:
        old = form_store.get(conn, account_id, key)
    if old is not None and old.spec == spec.model_dump(mode="json"):
        return "unchanged"
    _, created = put(db, account_id, key, spec, now)
    return "created" if created else "updated"


def get(db: Database, account_id: int, key: str) -> Form:
    with db.read() as conn:
        row = form_store.get(conn, account_id, key)
    if row is None:
        raise NotFound(f"no form {key!r}")
    return view(key, row.spec, row.created_at, row.updated_at)


def all_forms(db: Database, account_id: int) -> list[Form]:
    with db.read() as conn:
        keys = sorted(form_store.keys(conn, account_id))
        rows = {key: form_store.get(conn, account_id, key) for key in keys}
    return [view(key, row.spec, row.created_at, row.updated_at) for key, row in rows.items() if row is not None]


def delete(db: Database, account_id: int, key: str) -> None:
    with db.write() as conn:
        row = form_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no form {key!r}")
        users = users_of(conn, account_id, "forms", key)
        if users:
            raise Conflict(f"form {key!r} is used by {', '.join(users)}", code="in_use", details={"used_by": users})
        form_store.delete_form(conn, row.id)
        audit.record(conn, account_id, "form", key, "delete", row.spec, None)


# --- Public submission and double opt-in (SPEC §5) -----------------------------------------------

CONFIRMATION_GROUP = "confirmation"
CONFIRMATION_DRAFT = "_confirmation"  # the archive's draft name for the built-in email (no key starts with "_")
RESEND_AFTER = timedelta(minutes=10)  # at most one confirmation email per address in this time
MAX_VALUE = 1000  # characters per form field
DEFAULT_CONFIRMATION = {
    "subject": "{% if event.title %}Confirm your subscription to {{ event.title }}"
    "{% else %}Please confirm your subscription{% endif %}",
    "html": (
        "<p>Hello,</p>"
        "<p>Please confirm that you want to receive emails{% if event.title %} from "
        "<strong>{{ event.title }}</strong>{% endif %} at {{ email }}:</p>"
        '<p><a href="{{ confirm_url }}">Yes, subscribe me</a></p>'
        "<p>If you did not ask for this, ignore this email: you will not hear from us again.</p>"
    ),
    "text": (
        "Hello,\n\nPlease confirm that you want to receive emails{% if event.title %} from {{ event.title }}"
        "{% endif %} at {{ email }}:\n\n{{ confirm_url }}\n\n"
        "If you did not ask for this, ignore this email: you will not hear from us again.\n"
    ),
}


@dataclass(frozen=True)
class PublicForm:
    """A form as its public page needs it."""

    account_id: int
    account: str
    key: str
    form_id: int
    spec: FormSpec


class SubmissionInvalid(Exception):
    """The visitor's input has problems: field name -> message (the email field is `email`)."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("the form has problems")
        self.problems = problems


@dataclass(frozen=True)
class Confirmed:
    """What the confirmation link did."""

    account: str
    form: PublicForm | None
    success_url: str | None
    active: bool  # False when the address is unsubscribed or bounced: the link confirms nothing then


def public_form(db: Database, account_name: str, key: str) -> PublicForm | None:
    """Return the form `key` of the account named `account_name`, or None."""
    if not is_key(key) or len(account_name) > 64 or "\0" in account_name:
        return None
    with db.read() as conn:
        account = account_store.by_name(conn, account_name)
        row = form_store.get(conn, account.id, key) if account else None
    if account is None or row is None:
        return None
    spec = _stored_spec(row.spec)
    return None if spec is None else PublicForm(account.id, account.name, key, row.id, spec)


def _stored_spec(stored: dict[str, Any]) -> FormSpec | None:
    # A form saved before a rule was added may break it; its page is then absent rather than an error.
    try:
        return FormSpec.model_validate(stored)
    except ValidationError:
        return None


def validate_submission(form: PublicForm, fields: Mapping[str, str]) -> tuple[Email, dict[str, Any]]:
    """Check a submission; return the address and the profile data it sets, or raise SubmissionInvalid."""
    problems: dict[str, str] = {}
    raw = fields.get("email", "").strip()
    email: Email | None = None
    if not raw:
        problems["email"] = "Enter your email address."
    else:
        try:
            email = parse_email(raw)
        except InvalidEmail:
            problems["email"] = "Enter an email address like name@example.com."
    data: dict[str, Any] = {}
    for item in form.spec.field_list():
        value = fields.get(item.path, "").strip()
        if not value:
            if item.required:
                problems[item.path] = "This field is required."
        elif len(value) > MAX_VALUE:
            problems[item.path] = f"Use at most {MAX_VALUE} characters."
        elif any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            problems[item.path] = "Remove the control characters."
        else:
            set_path(data, item.path, value)
    if problems or email is None:
        raise SubmissionInvalid(problems)
    return email, data


def submit(
    db: Database,
    signer: TokenSigner,
    base_url: str,
    form: PublicForm,
    email: Email,
    data: dict[str, Any],
    now: datetime,
) -> None:
    """Create or update the subscriber from a valid submission and queue its events (and confirmation).

    With double opt-in a new subscriber is `unconfirmed` (an unsubscribed one becomes `unconfirmed` so
    that the confirmation can reach them) and a confirmation email is queued unless one went to the
    address in the last ten minutes; an active subscriber stays active. Without double opt-in the
    subscriber is made active and `form_confirmed` follows `form_submitted` at once.
    """
    for attempt in range(3):
        try:
            with db.write() as conn:
                _submit(conn, signer, base_url, form, email, data, now)
            break
        except IntegrityError:
            # Two submissions for a new address raced (PostgreSQL): the second now finds the first.
            if attempt == 2:
                raise


def _submit(
    conn: Connection,
    signer: TokenSigner,
    base_url: str,
    form: PublicForm,
    email: Email,
    data: dict[str, Any],
    now: datetime,
) -> None:
    spec = form.spec
    now_us = to_us(now)
    existing = subscriber_store.find(conn, form.account_id, email.key, for_update=True)
    if existing is None:
        status: SubscriberStatus | None = "unconfirmed" if spec.double_opt_in else "active"
    elif existing.status == "unsubscribed" or (existing.status == "unconfirmed" and not spec.double_opt_in):
        status = "unconfirmed" if spec.double_opt_in else "active"
    else:
        status = None  # active stays active, bounced stays bounced, unconfirmed waits for its link
    edit = Edit(data=data or None, lists_add=list(spec.lists), status=status)
    result = apply_edit(conn, form.account_id, email, edit, source="form", now=now, existing=existing)
    assert result is not None
    sub = result.subscriber
    events = [Happened("form_submitted", {"form": form.key})]
    if not spec.double_opt_in:
        events.append(Happened("form_confirmed", {"form": form.key}))
    inbox_store.add(conn, [_event(sub, event, now_us) for event in events])
    if spec.double_opt_in and sub.status in ("unconfirmed", "active"):
        last = subscriber_store.last_confirmation_at(conn, form.account_id, email.key, CONFIRMATION_GROUP)
        if last is None or now_us - last >= RESEND_AFTER.total_seconds() * 1_000_000:
            _queue_confirmation(conn, signer, base_url, form, sub, now_us)


def _event(sub: SubscriberRow, event: Happened, now_us: int) -> NewEvent:
    return new_event(sub.account_id, sub.id, event, source="form", accepted_at=now_us)


def _queue_confirmation(
    conn: Connection, signer: TokenSigner, base_url: str, form: PublicForm, sub: SubscriberRow, now_us: int
) -> None:
    """Archive the confirmation email as an issue and put it in the outbox (delivery allows it to unconfirmed)."""
    issue_id = new_id()
    draft = form.spec.confirmation_draft
    issue_store.add(
        conn,
        [
            {
                "id": issue_id,
                "account_id": form.account_id,
                "subscriber_id": sub.id,
                "email": sub.email,
                "email_key": sub.email_key,
                "draft": draft or CONFIRMATION_DRAFT,
                "group_name": CONFIRMATION_GROUP,
                "status": "queued",
                "created_at": now_us,
            }
        ],
    )
    # The token names the issue (hence the subscriber) and the form; the form id tells a form deleted
    # and created again under the same key from the one that sent this email.
    token = signer.sign("confirm", form.account_id, f"{issue_id}.{form.key}", form.form_id)
    account = account_settings.read(conn, form.account_id)  # its default sender, when it has one
    builtin = EmailTemplate(
        subject=DEFAULT_CONFIRMATION["subject"],
        html=DEFAULT_CONFIRMATION["html"],
        text=DEFAULT_CONFIRMATION["text"],
        from_email=account.default_from_email or f"no-reply@{sender_host(base_url)}",
        from_name=form.spec.title or account.default_from_name,
        reply_to=account.reply_to,
    )
    job = ConfirmationJob(
        draft=draft or CONFIRMATION_DRAFT,
        confirm_url=f"{base_url}/t/confirm/{token}",
        event={"form": form.key, "title": form.spec.title or ""},
        data=sub.data,
        at_us=now_us,
        template=None if draft else builtin,
    )
    outbox_store.add_confirmation(conn, form.account_id, sub.id, issue_id, job, now_us)


def sender_host(base_url: str) -> str:
    """The domain of the built-in confirmation sender: the public address's host when it is a name."""
    host = (urlsplit(base_url).hostname or "").lower()
    if "." not in host or host.replace(".", "").isdigit() or ":" in host:
        return "localhost"
    return host


def confirm(db: Database, signer: TokenSigner, token: str, now: datetime) -> Confirmed | None:
    """Act on a confirmation link; None when the token is not valid. A second click changes nothing.

    The first click activates an unconfirmed subscriber (`subscription_confirmed`, method `link`) and,
    for a subscriber who can receive email, emits `form_confirmed`.
    """
    found = signer.verify("confirm", token)
    if found is None:
        return None
    issue_id, _, key = found.subject.partition(".")
    active = False
    with db.write() as conn:
        issue = issue_store.get(conn, found.account_id, issue_id) if len(issue_id) == 32 else None
        if issue is None or issue.group_name != CONFIRMATION_GROUP or issue.subscriber_id is None:
            return None
        account = account_store.by_id(conn, found.account_id)
        row = form_store.get(conn, found.account_id, key)
        spec = _stored_spec(row.spec) if row is not None and row.id == found.number else None
        form = None
        if account is not None and row is not None and spec is not None:
            form = PublicForm(found.account_id, account.name, key, row.id, spec)
        subs = subscriber_store.by_ids(conn, [issue.subscriber_id])
        sub = subs[0] if subs and subs[0].account_id == found.account_id else None
        # Only the first click counts (a conditional update: of two racing clicks one wins).
        first = issue_store.mark_first(conn, found.account_id, issue.id, "clicked_at", to_us(now))
        segment_upkeep.refresh_pairs(conn, [(found.account_id, issue.subscriber_id)], now)
        if sub is not None and first and sub.status in ("unconfirmed", "active"):
            now_us = to_us(now)
            queued: list[NewEvent] = []
            if sub.status == "unconfirmed":
                email = Email(sub.email, sub.email_key)
                # The status goes through apply_edit; the event is ours: confirmed by the link, not by hand.
                apply_edit(conn, sub.account_id, email, Edit(status="active"), source="form", now=now, emit=False)
                queued.append(_event(sub, Happened("subscription_confirmed", {"method": "link"}), now_us))
            if form is not None:
                queued.append(_event(sub, Happened("form_confirmed", {"form": form.key}), now_us))
            inbox_store.add(conn, queued)
            active = True
        elif sub is not None:
            active = sub.status == "active"
    return Confirmed(account.name if account else "", form, form.spec.success_url if form else None, active)
