"""Drafts (email templates) and their preview."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from stepwise.delivery.render_pool import render_isolated
from stepwise.delivery.rendering import RenderError, check_template
from stepwise.domain.emails import InvalidEmail, parse_email
from stepwise.domain.instants import iso
from stepwise.domain.jsonvalues import HAS_NUL
from stepwise.domain.problems import Problem
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services import audit
from stepwise.services.references import users_of
from stepwise.storage import drafts as draft_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.drafts import DraftContent, DraftRow

T = TypeVar("T")
# Previews are prepared in threads of their own, at most this many at once whatever the number of
# requests: they never take the threads of the server's pool (health checks need one). The render
# itself runs in a child process (`render_pool`), so a hostile draft never holds the server's GIL.
PREVIEW_THREADS = 2
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


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
    """Check templates compile (and fit the rendering budget without data) and addresses are valid."""
    found: list[Problem] = []
    for name in ("subject", "html", "text"):
        source = getattr(body, name)
        if source:
            error = check_template(source, html=name == "html")
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
    found += [Problem(f"$.{name}", HAS_NUL) for name in ("html", "text") if "\0" in (getattr(body, name) or "")]
    return found


# The views below are the API's response models; comments, not docstrings, describe them (a docstring
# would become the schema's description in the OpenAPI document).


# A draft as the API and the UI show it.
class Draft(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    subject: str
    html: str
    text: str | None
    from_email: str | None
    from_name: str | None
    reply_to: str | None
    created_at: str
    updated_at: str


# A page of drafts and the cursor of the next one.
class DraftsOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    next_cursor: str | None = None
    items: list[Draft]


# A draft rendered for one subscriber.
class Preview(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str
    html: str
    text: str


def view(row: DraftRow) -> Draft:
    return Draft(
        key=row.key,
        subject=row.subject,
        html=row.html,
        text=row.text,
        from_email=row.from_email,
        from_name=row.from_name,
        reply_to=row.reply_to,
        created_at=iso(from_us(row.created_at)),
        updated_at=iso(from_us(row.updated_at)),
    )


def put(db: Database, account_id: int, key: str, body: DraftBody, now: datetime) -> tuple[Draft, bool]:
    found = problems(body)
    if found:
        raise Unprocessable.of(found)
    content = DraftContent(
        subject=body.subject,
        html=body.html,
        text=body.text,
        from_email=parse_email(body.from_email).value if body.from_email else body.from_email,
        from_name=body.from_name,
        reply_to=body.reply_to,
    )
    with db.write() as conn:
        old = draft_store.get(conn, account_id, key)
        created = draft_store.put(conn, account_id, key, content, to_us(now))
        row = draft_store.get(conn, account_id, key)
        assert row is not None
        before = view(old).model_dump(mode="json", exclude={"created_at", "updated_at"}) if old else None
        after = view(row).model_dump(mode="json", exclude={"created_at", "updated_at"})
        if before != after:
            audit.record(conn, account_id, "draft", key, "create" if created else "update", before, after)
    return view(row), created


def get(db: Database, account_id: int, key: str) -> Draft:
    with db.read() as conn:
        row = draft_store.get(conn, account_id, key)
    if row is None:
        raise NotFound(f"no draft {key!r}")
    return view(row)


def all_drafts(db: Database, account_id: int) -> list[Draft]:
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
        audit.record(conn, account_id, "draft", key, "delete", view(row).model_dump(mode="json"), None)


def preview(db: Database, account_id: int, key: str, raw_email: str, base_url: str, now: datetime) -> Preview:
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
        "entry": {},  # S25: a preview has no run, so no entry event (renders as empty, like `event`)
        "now": now,
        "unsubscribe_url": f"{base_url}/t/u/preview",
        "confirm_url": f"{base_url}/t/confirm/preview",
    }
    try:
        rendered = render_isolated(row.subject, row.html, row.text, context)
    except RenderError as exc:
        raise Unprocessable.one("$", f"the draft does not render: {exc}") from exc
    return Preview(subject=rendered.subject, html=rendered.html, text=rendered.text)


async def off_the_loop(work: Callable[[], T]) -> T:
    """Run a render in a preview thread, never on the event loop (it may take its whole budget)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(PREVIEW_THREADS, thread_name_prefix="stepwise-preview")
        executor = _executor
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(executor, context.run, work)


async def preview_off_the_loop(
    db: Database, account_id: int, key: str, raw_email: str, base_url: str, now: datetime
) -> Preview:
    """`preview` in a preview thread."""
    return await off_the_loop(partial(preview, db, account_id, key, raw_email, base_url, now))


def is_unchanged(db: Database, account_id: int, key: str, body: DraftBody) -> bool:
    """Whether the stored draft already has every field of `body`."""
    with db.read() as conn:
        old = draft_store.get(conn, account_id, key)
    return old is not None and all(getattr(old, f) == getattr(body, f) for f in draft_store.FIELDS)
