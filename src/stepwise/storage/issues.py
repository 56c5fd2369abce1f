"""The issue archive: one row per email sent, failed or skipped (SPEC §6.4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, case, func, select, update

from stepwise.storage import schema as t
from stepwise.storage.dialects import fast_insert


def add(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    fast_insert(conn, t.issues, rows)


def get(conn: Connection, account_id: int, issue_id: str) -> Row[Any] | None:
    return conn.execute(select(t.issues).where(t.issues.c.account_id == account_id, t.issues.c.id == issue_id)).first()


def by_id(conn: Connection, issue_id: str) -> Row[Any] | None:
    return conn.execute(select(t.issues).where(t.issues.c.id == issue_id)).first()


def page(
    conn: Connection,
    account_id: int,
    *,
    before_id: str | None,
    limit: int,
    email_key: str | None = None,
    sequence: str | None = None,
    draft: str | None = None,
    status: str | None = None,
    transport: str | None = None,
) -> list[Row[Any]]:
    """Return a keyset page of issues, newest first."""
    stmt = select(t.issues).where(t.issues.c.account_id == account_id)
    if before_id:
        stmt = stmt.where(t.issues.c.id < before_id)
    for column, value in (
        ("email_key", email_key),
        ("sequence", sequence),
        ("draft", draft),
        ("status", status),
        ("transport", transport),
    ):
        if value is not None:
            stmt = stmt.where(t.issues.c[column] == value)
    return list(conn.execute(stmt.order_by(t.issues.c.id.desc()).limit(limit)))


def update_issue(conn: Connection, issue_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(t.issues).where(t.issues.c.id == issue_id).values(**values))


def stats(conn: Connection, account_id: int, *, sequence: str | None, draft: str | None) -> list[Row[Any]]:
    """Count issues per draft and per sequence step: statuses, unique opens, clicks, unsubscribes."""
    c = t.issues.c
    stmt = select(
        c.sequence,
        c.step,
        c.draft,
        func.count().label("total"),
        func.sum(case((c.status == "queued", 1), else_=0)).label("queued"),
        func.sum(case((c.status == "sent", 1), else_=0)).label("sent"),
        func.sum(case((c.status == "failed", 1), else_=0)).label("failed"),
        func.sum(case((c.status == "skipped", 1), else_=0)).label("skipped"),
        func.count(c.opened_at).label("opened"),
        func.count(c.clicked_at).label("clicked"),
        func.count(c.unsubscribed_at).label("unsubscribed"),
    ).where(c.account_id == account_id)
    if sequence is not None:
        stmt = stmt.where(c.sequence == sequence)
    if draft is not None:
        stmt = stmt.where(c.draft == draft)
    stmt = stmt.group_by(c.sequence, c.step, c.draft).order_by(c.sequence, c.step, c.draft)
    return list(conn.execute(stmt))


def mark_first(conn: Connection, account_id: int, issue_id: str, column: str, at_us: int) -> bool:
    """Set opened_at, clicked_at or unsubscribed_at unless already set; True when this call set it."""
    if column not in ("opened_at", "clicked_at", "unsubscribed_at"):
        raise ValueError(f"not a first-time column: {column}")
    target = t.issues.c[column]
    # Conditional update: of two clicks racing, only the first sets the time.
    result = conn.execute(
        update(t.issues)
        .where(t.issues.c.account_id == account_id, t.issues.c.id == issue_id, target.is_(None))
        .values({column: at_us})
    )
    return result.rowcount == 1


def statuses(conn: Connection, issue_ids: Sequence[str]) -> dict[str, str]:
    """Return the status of each issue by id (the delivery loop checks a whole batch at once)."""
    found: dict[str, str] = {}
    unique = sorted(set(issue_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        rows = conn.execute(select(t.issues.c.id, t.issues.c.status).where(t.issues.c.id.in_(chunk)))
        found.update((issue_id, status) for issue_id, status in rows)
    return found
