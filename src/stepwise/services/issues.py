"""The issue archive and its statistics (SPEC §6.4)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from stepwise.domain.emails import InvalidEmail, parse_email
from stepwise.domain.instants import iso
from stepwise.errors import Conflict, NotFound
from stepwise.services import cursors
from stepwise.storage import issues as issue_store
from stepwise.storage.codec import loads, opt_from_us
from stepwise.storage.database import Database


def _time(value: int | None) -> str | None:
    moment = opt_from_us(value)
    return iso(moment) if moment else None


def view(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "email": row.email,
        "draft": row.draft,
        "sequence": row.sequence,
        "step": row.step,
        "variant": row.variant,
        "group": row.group_name,
        "status": row.status,
        "reason": row.reason,
        "message_id": row.message_id,
        "transport": row.transport,
        "subject": row.subject,
        "created_at": _time(row.created_at),
        "sent_at": _time(row.sent_at),
        "opened_at": _time(row.opened_at),
        "clicked_at": _time(row.clicked_at),
        "unsubscribed_at": _time(row.unsubscribed_at),
    }


def page(
    db: Database,
    account_id: int,
    *,
    email: str | None,
    sequence: str | None,
    draft: str | None,
    status: str | None,
    cursor: str | None,
    limit: int,
    transport: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    before = cursors.decode_str(cursor)
    email_key = None
    if email is not None:
        try:
            email_key = parse_email(email).key
        except InvalidEmail:
            return [], None
    with db.read() as conn:
        rows = issue_store.page(
            conn,
            account_id,
            before_id=before,
            limit=limit,
            email_key=email_key,
            sequence=sequence,
            draft=draft,
            status=status,
            transport=transport,
        )
    return [view(r) for r in rows], cursors.encode(rows[-1].id) if len(rows) == limit else None


def get(db: Database, account_id: int, issue_id: str) -> dict[str, Any]:
    with db.read() as conn:
        row = issue_store.get(conn, account_id, issue_id) if len(issue_id) <= 64 else None
    if row is None:
        raise NotFound(f"no issue {issue_id!r}")
    return view(row)


def message(db: Database, account_id: int, issue_id: str) -> dict[str, Any]:
    """The rendered message of a sent issue."""
    with db.read() as conn:
        row = issue_store.get(conn, account_id, issue_id) if len(issue_id) <= 64 else None
    if row is None:
        raise NotFound(f"no issue {issue_id!r}")
    if row.headers is None:
        raise Conflict(f"issue {issue_id!r} has no message ({row.status})", code="no_message")
    return {
        "id": row.id,
        "subject": row.subject,
        "from": row.from_addr,
        "to": row.email,
        "headers": loads(row.headers),
        "html": row.html,
        "text": row.text,
    }


def stats(db: Database, account_id: int, *, sequence: str | None, draft: str | None) -> dict[str, Any]:
    """Counts per draft and per sequence step: queued, sent, failed, skipped, unique opens/clicks, unsubscribes."""
    with db.read() as conn:
        rows = issue_store.stats(conn, account_id, sequence=sequence, draft=draft)
    fields = ("queued", "sent", "failed", "skipped", "opened", "clicked", "unsubscribed")
    by_draft: dict[str, dict[str, int]] = {}
    by_step: dict[tuple[str, int], dict[str, int]] = {}
    totals = dict.fromkeys(("total", *fields), 0)
    for row in rows:
        counts = {name: int(getattr(row, name) or 0) for name in ("total", *fields)}
        for name, value in counts.items():
            totals[name] += value
        target = by_draft.setdefault(row.draft, dict.fromkeys(("total", *fields), 0))
        for name, value in counts.items():
            target[name] += value
        if row.sequence is not None:
            step = by_step.setdefault((row.sequence, row.step), dict.fromkeys(("total", *fields), 0))
            for name, value in counts.items():
                step[name] += value
    return {
        "totals": totals,
        "drafts": [{"draft": key, **value} for key, value in sorted(by_draft.items())],
        "steps": [{"sequence": seq, "step": step, **value} for (seq, step), value in sorted(by_step.items())],
    }
