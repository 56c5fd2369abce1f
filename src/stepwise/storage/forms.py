"""Hosted subscription forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from stepwise.storage import schema as t
from stepwise.storage.codec import dumps, loads


@dataclass(frozen=True, slots=True)
class FormRow:
    """One form as stored (its spec as saved, not yet validated again)."""

    id: int
    spec: dict[str, Any]
    created_at: int
    updated_at: int


def keys(conn: Connection, account_id: int) -> frozenset[str]:
    return frozenset(r[0] for r in conn.execute(select(t.forms.c.key).where(t.forms.c.account_id == account_id)))


def specs(conn: Connection, account_id: int) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        select(t.forms.c.key, t.forms.c.spec).where(t.forms.c.account_id == account_id).order_by(t.forms.c.key)
    )
    return {key: loads(spec) for key, spec in rows}


def get(conn: Connection, account_id: int, key: str) -> FormRow | None:
    row = conn.execute(
        select(t.forms.c.id, t.forms.c.spec, t.forms.c.created_at, t.forms.c.updated_at).where(
            t.forms.c.account_id == account_id, t.forms.c.key == key
        )
    ).first()
    return None if row is None else FormRow(row.id, loads(row.spec), row.created_at, row.updated_at)


def put(conn: Connection, account_id: int, key: str, spec: dict[str, Any], now_us: int) -> bool:
    existing = get(conn, account_id, key)
    if existing is None:
        conn.execute(
            insert(t.forms).values(
                account_id=account_id, key=key, spec=dumps(spec), created_at=now_us, updated_at=now_us
            )
        )
        return True
    conn.execute(update(t.forms).where(t.forms.c.id == existing.id).values(spec=dumps(spec), updated_at=now_us))
    return False


def delete_form(conn: Connection, form_id: int) -> None:
    conn.execute(delete(t.forms).where(t.forms.c.id == form_id))
