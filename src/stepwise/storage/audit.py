"""The audit log's rows: appended, read in pages; no function here updates or deletes one (SPEC S35)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from stepwise.storage import schema_team as team


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: int
    actor: str
    object_type: str
    object_key: str
    action: str
    before: str | None
    after: str | None


def append(conn: Connection, account_id: int, row: AuditRow) -> None:
    """Add one entry (its id is assigned by the database)."""
    conn.execute(
        insert(team.audit_log).values(
            account_id=account_id,
            at=row.at,
            actor=row.actor[:400],
            object_type=row.object_type,
            object_key=row.object_key[:400],
            action=row.action,
            before=row.before,
            after=row.after,
        )
    )


def page(
    conn: Connection, account_id: int, *, before_id: int | None, limit: int, object_type: str | None, key: str | None
) -> list[AuditRow]:
    """The newest entries first, older than `before_id` when given, filtered by object type and key."""
    c = team.audit_log.c
    query = select(c.id, c.at, c.actor, c.object_type, c.object_key, c.action, c.before, c.after).where(
        c.account_id == account_id
    )
    if before_id is not None:
        query = query.where(c.id < before_id)
    if object_type:
        query = query.where(c.object_type == object_type)
    if key:
        query = query.where(c.object_key == key)
    rows = conn.execute(query.order_by(c.id.desc()).limit(limit)).all()
    return [AuditRow(*row) for row in rows]
