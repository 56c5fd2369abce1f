"""What the worker set aside (poison isolation): the only SQL of the `quarantine` table.

A row, definition or event the worker cannot handle is recorded here with its error (and, where there
is one, the stored text it could not use), so that everything else goes on. `kind` says what was set
aside (event, sequence, outbox, subscriber), `ref` which one (an inbox or outbox id, a sequence key, a
subscriber id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import get_args

from sqlalchemy import Connection, delete, func, insert, select

from stepwise.domain.statuses import QuarantineKind
from stepwise.storage import schema as t

Kind = QuarantineKind
KINDS: tuple[Kind, ...] = get_args(QuarantineKind)
MAX_ERROR = 2000
MAX_PAYLOAD = 65_536


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    id: int
    account_id: int
    kind: Kind
    ref: str
    subscriber_id: int | None
    error: str
    payload: str | None
    created_at: int
    email: str | None = None  # the subscriber's address, when there is one (read with the page)


@dataclass(frozen=True, slots=True)
class NewItem:
    """A row to add (made by `item`, which cuts the texts to their limits)."""

    account_id: int
    kind: Kind
    ref: str
    subscriber_id: int | None
    error: str
    payload: str | None
    created_at: int


def item(
    account_id: int,
    kind: Kind,
    ref: str,
    error: str,
    now_us: int,
    *,
    subscriber_id: int | None = None,
    payload: str | None = None,
) -> NewItem:
    """Return one row to add, with the error and the kept text cut to their limits."""
    return NewItem(
        account_id=account_id,
        kind=kind,
        ref=ref[:200],
        subscriber_id=subscriber_id,
        error=_clean(error)[:MAX_ERROR] or "unknown error",
        payload=None if payload is None else _clean(payload)[:MAX_PAYLOAD],
        created_at=now_us,
    )


def _clean(text: str) -> str:
    return text.replace("\x00", "\\u0000")  # PostgreSQL text cannot hold NUL


def add(conn: Connection, rows: Sequence[NewItem]) -> None:
    """Record rows made by `item`."""
    if rows:
        conn.execute(insert(t.quarantine), [asdict(row) for row in rows])


def add_once(conn: Connection, row: NewItem) -> bool:
    """Record a row made by `item` unless one of the same account, kind and ref is there; True when added."""
    q = t.quarantine.c
    found = conn.execute(
        select(q.id).where(q.account_id == row.account_id, q.kind == row.kind, q.ref == row.ref).limit(1)
    ).first()
    if found is not None:
        return False
    add(conn, [row])
    return True


def account_of_subscriber(conn: Connection, subscriber_id: int) -> int | None:
    """Return a subscriber's account without decoding their row (which may be what cannot be read)."""
    row = conn.execute(select(t.subscribers.c.account_id).where(t.subscribers.c.id == subscriber_id)).first()
    return None if row is None else int(row[0])


def forget(conn: Connection, account_id: int, kind: Kind, ref: str) -> None:
    """Drop the rows of something that is fine again (a sequence saved with a valid definition, or deleted)."""
    q = t.quarantine.c
    conn.execute(delete(t.quarantine).where(q.account_id == account_id, q.kind == kind, q.ref == ref[:200]))


def dismiss(conn: Connection, account_id: int, item_id: int) -> bool:
    """Remove one row of the account (the user has seen it); False when there is no such row."""
    q = t.quarantine.c
    result = conn.execute(delete(t.quarantine).where(q.account_id == account_id, q.id == item_id))
    return result.rowcount == 1


def page(conn: Connection, account_id: int, *, before_id: int | None, limit: int) -> list[QuarantineRow]:
    """Return the account's rows, newest first, with the address of the subscriber each is about."""
    q, s = t.quarantine.c, t.subscribers.c
    joined = t.quarantine.outerjoin(t.subscribers, (s.id == q.subscriber_id) & (s.account_id == q.account_id))
    stmt = select(t.quarantine, s.email).select_from(joined).where(q.account_id == account_id)
    if before_id is not None:
        stmt = stmt.where(q.id < before_id)
    rows = conn.execute(stmt.order_by(q.id.desc()).limit(limit))
    return [QuarantineRow(*r) for r in rows]


def count_of_account(conn: Connection, account_id: int) -> dict[str, int]:
    """Return {kind: rows} of one account (kinds without rows left out)."""
    q = t.quarantine.c
    rows = conn.execute(select(q.kind, func.count()).where(q.account_id == account_id).group_by(q.kind))
    return {str(kind): int(n) for kind, n in rows}


def counts(conn: Connection) -> dict[str, int]:
    """Return {kind: rows} over every account, every kind present (for /metrics)."""
    q = t.quarantine.c
    found: dict[str, int] = dict.fromkeys(KINDS, 0)
    for kind, n in conn.execute(select(q.kind, func.count()).group_by(q.kind)):
        found[str(kind)] = int(n)
    return found
