"""The audit log (SPEC S35): who changed what, when, with the definition before and after.

Recording is one call in the transaction of the change:

    audit.record(conn, account_id, "sequence", key, "put", before, after)

The actor comes from a context variable: `actor_scope()` opens a box per HTTP request (a pure
ASGI middleware, so the box reaches the endpoint even when dependencies run in worker threads);
the API's key check and the UI's session check put "key:<name>" or "user:<email>" into it. Outside
a request (the command line, the worker) the actor is "cli".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from stepwise.clock import system_clock
from stepwise.services import cursors
from stepwise.storage import audit as audit_store
from stepwise.storage.audit import AuditRow
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database

MAX_PAGE = 200


@dataclass
class ActorBox:
    """Who is acting in the current request; filled in by authentication."""

    actor: str = "anonymous"


_ACTOR: ContextVar[ActorBox | None] = ContextVar("stepwise_actor", default=None)


@contextmanager
def actor_scope() -> Iterator[ActorBox]:
    """Open a fresh actor box for one request."""
    box = ActorBox()
    token = _ACTOR.set(box)
    try:
        yield box
    finally:
        _ACTOR.reset(token)


def set_actor(actor: str) -> None:
    """Name the actor of the current request (no effect outside one)."""
    box = _ACTOR.get()
    if box is not None:
        box.actor = actor


def current_actor() -> str:
    """The actor of the current request, or "cli" outside any request."""
    box = _ACTOR.get()
    return box.actor if box is not None else "cli"


def _json(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True)
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def record(
    conn: Connection, account_id: int, object_type: str, key: str, action: str, before: Any = None, after: Any = None
) -> None:
    """Append one entry in the caller's transaction; before/after are JSON-able definitions (or models)."""
    row = AuditRow(
        0, to_us(system_clock()), current_actor(), object_type, str(key), action, _json(before), _json(after)
    )
    audit_store.append(conn, account_id, row)


# One entry of the audit log.
class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    at: str
    actor: str
    object: str
    key: str
    action: str
    before: Any
    after: Any


# A page of the audit log, newest first, and the cursor of the next (older) page.
class AuditPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[AuditEntry]
    next_cursor: str | None = None


def entries(
    db: Database, account_id: int, *, cursor: str | None, limit: int, object_type: str | None, key: str | None
) -> AuditPage:
    """A page of the log (400 bad_cursor for a cursor that is not one)."""
    before_id = cursors.decode_int(cursor) if cursor else None
    limit = max(1, min(limit, MAX_PAGE))
    with db.read() as conn:
        rows = audit_store.page(
            conn, account_id, before_id=before_id, limit=limit + 1, object_type=object_type, key=key
        )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        AuditEntry(
            id=r.id,
            at=from_us(r.at).isoformat(),
            actor=r.actor,
            object=r.object_type,
            key=r.object_key,
            action=r.action,
            before=json.loads(r.before) if r.before else None,
            after=json.loads(r.after) if r.after else None,
        )
        for r in rows
    ]
    return AuditPage(items=items, next_cursor=cursors.encode(rows[-1].id) if more and rows else None)
