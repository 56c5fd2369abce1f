"""Drafts (email templates) and their preview."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stepwise.delivery.rendering import RenderError, check_template, render_draft
from stepwise.domain.emails import InvalidEmail, parse_email
from stepwise.domain.instants import iso
from stepwise.domain.problems import Problem
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services.references import users_of
from stepwise.storage import drafts as draft_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.drafts import DraftRow


class DraftBody(BaseModel):
    """A draft as the API and definition files give it."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(default="", max_length=2000)
    html: str = Field(default="", max_length=1_000_000)
    text: str | None = Field(default=None, max_length=1_000_000)
    from_email: str | None = Field(default=None, max_length=320)
    from_name: str | None = Field(default=None, max_length=200)
    reply_to: str | None = Field(default=None, max_length=320)


def problems(body: DraftBody) -> list[Problem]:
    """Check templates compile and addresses are valid."""
    found: list[Problem] = []
    for name in ("subject", "html", "text"):
        source = getattr(body, name)
        if source:
            error = check_template(source)
            if error:
                found.append(Problem(f"$.{name}", error))
    if not body.html and not body.text:
        found.append(Problem("$.html", "a draft needs an HTML or a text body"))
    for name in ("from_email", "reply_to"):
        value = getattr(body, name)
        if value:
            try:
                parse_email(value)
            except InvalidEmail as exc:
                found.append(Problem(f"$.{name}", f"invalid email address: {exc}"))
    for name in ("subject", "from_name"):
        value = getattr(body, name) or ""
        if any(ch in value for ch in "\r\n\0"):
            found.append(Problem(f"$.{name}", "must not contain line breaks or NUL"))
    return found


def view(row: DraftRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "subject": row.subject,
        "html": row.html,
        "text": row.text,
        "from_email": row.from_email,
        "from_name": row.from_name,
        "reply_to": row.reply_to,
        "created_at": iso(from_us(row.created_at)),
        "updated_at": iso(from_us(row.updated_at)),
    }


def put(db: Database, account_id: int, key: str, body: DraftBody, now: datetime) -> tuple[dict[str, Any], bool]:
    found = problems(body)
    if found:
        raise Unprocessable.of(found)
    values = body.model_dump()
    if values.get("from_email"):
        values["from_email"] = parse_email(values["from_email"]).value
    with db.write() as conn:
        created = draft_store.put(conn, account_id, key, values, to_us(now))
        row = draft_store.get(conn, account_id, key)
    assert row is not None
    return view(row), created


def get(db: Database, account_id: int, key: str) -> dict[str, Any]:
    with db.read() as conn:
        row = draft_store.get(conn, account_id, key)
    if row is None:
        raise NotFound(f"no draft {key!r}")
    return view(row)


def all_drafts(db: Database, account_id: int) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [view(row) for row in draft_store.all_drafts(conn, account_id)]


def delete(db: Database, account_id: int, key: str) -> None:
    with db.write() as conn:
        row = draft_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no draft {key!r}")
        users = users_of(conn, account_id, "drafts", key)
        if users:
            raise Conflict(f"draft {key!r} is used by {', '.join(users)}", code="in_use", details={"used_by": users})
        draft_store.delete_draft(conn, row.id)


def preview(db: Database, account_id: int, key: str, raw_email: str, base_url: str, now: datetime) -> dict[str, str]:
    """Render a draft for one subscriber (their real data) without sending anything."""
    try:
        email = parse_email(raw_email)
    except InvalidEmail as exc:
        raise Unprocessable.one("$.email", f"invalid email address: {exc}") from exc
    with db.read() as conn:
        row = draft_store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no draft {key!r}")
        sub = subscriber_store.find(conn, account_id, email.key)
    context = {
        "email": sub.email if sub else email.value,
        "data": sub.data if sub else {},
        "sequence": None,
        "event": {},
        "now": now,
        "unsubscribe_url": f"{base_url}/t/u/preview",
        "confirm_url": f"{base_url}/t/confirm/preview",
    }
    try:
        rendered = render_draft(row.subject, row.html, row.text, context)
    except RenderError as exc:
        raise Unprocessable.one("$", f"the draft does not render: {exc}") from exc
    return {"subject": rendered.subject, "html": rendered.html, "text": rendered.text}
