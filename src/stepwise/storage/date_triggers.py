"""The step-1 date triggers (SPEC S26): the sequences that enter by a profile date, and the due instants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update

from stepwise.storage import dialects
from stepwise.storage.dialects import IN_CHUNK
from stepwise.storage.schema_dates import date_trigger_sequences as S
from stepwise.storage.schema_dates import date_triggers as D


@dataclass(frozen=True, slots=True)
class DueRow:
    account_id: int
    sequence_id: int
    subscriber_id: int
    due_at: int


def put_sequence(conn: Connection, account_id: int, sequence_id: int, key: str) -> None:
    """Record that this sequence enters by a profile date; its due instants are to be rebuilt from scratch."""
    drop_sequence(conn, sequence_id)
    conn.execute(insert(S).values(sequence_id=sequence_id, account_id=account_id, key=key, backfill_after=0))


def unfinished(conn: Connection) -> tuple[int, int, int] | None:
    """(sequence id, account id, subscriber id reached) of a sequence whose dates are still being found."""
    stmt = select(S.c.sequence_id, S.c.account_id, S.c.backfill_after).where(S.c.backfill_after.is_not(None))
    row = conn.execute(dialects.for_update(conn, stmt.order_by(S.c.sequence_id).limit(1), skip_locked=True)).first()
    return (int(row[0]), int(row[1]), int(row[2])) if row else None


def reached(conn: Connection, sequence_id: int, after: int | None) -> None:
    """Move the sequence's backfill on to subscribers above `after` (None: every date is found)."""
    conn.execute(update(S).where(S.c.sequence_id == sequence_id).values(backfill_after=after))


def is_unfinished(conn: Connection, sequence_id: int) -> bool:
    stmt = select(S.c.backfill_after).where(S.c.sequence_id == sequence_id)
    return conn.execute(stmt).scalar_one_or_none() is not None


def drop_sequence(conn: Connection, sequence_id: int) -> None:
    """The sequence no longer enters by a date (paused, deleted, or edited): forget it and its instants."""
    conn.execute(delete(D).where(D.c.sequence_id == sequence_id))
    conn.execute(delete(S).where(S.c.sequence_id == sequence_id))


def sequences_of(conn: Connection, account_id: int) -> dict[int, str]:
    """Sequence id -> key of this account's sequences that enter by a date (usually none: one index probe)."""
    rows = conn.execute(select(S.c.sequence_id, S.c.key).where(S.c.account_id == account_id))
    return {int(i): str(k) for i, k in rows}


def set_due(conn: Connection, account_id: int, sequence_id: int, due: Mapping[int, int | None]) -> None:
    """Replace these subscribers' next due instants for the sequence (None: no date ahead)."""
    ids = sorted(due)
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        conn.execute(delete(D).where(D.c.sequence_id == sequence_id, D.c.subscriber_id.in_(chunk)))
    base = {"account_id": account_id, "sequence_id": sequence_id}
    rows = [{**base, "subscriber_id": sid, "due_at": at} for sid, at in sorted(due.items()) if at is not None]
    if rows:
        conn.execute(insert(D), rows)


def due(conn: Connection, now_us: int, limit: int) -> list[DueRow]:
    """The instants that fell due, oldest first (PostgreSQL: locked, skipping rows another worker holds)."""
    stmt = (
        select(D.c.account_id, D.c.sequence_id, D.c.subscriber_id, D.c.due_at)
        .where(D.c.due_at <= now_us)
        .order_by(D.c.due_at)
        .limit(limit)
    )
    return [DueRow(*map(int, row)) for row in conn.execute(dialects.for_update(conn, stmt, skip_locked=True))]


def forget_subscriber(conn: Connection, account_id: int, subscriber_id: int) -> None:
    """A deleted subscriber has no date ahead."""
    conn.execute(delete(D).where(D.c.account_id == account_id, D.c.subscriber_id == subscriber_id))


def count(conn: Connection, sequence_id: int) -> int:
    """How many subscribers have a date ahead for the sequence (shown on its page)."""
    return int(conn.execute(select(func.count()).select_from(D).where(D.c.sequence_id == sequence_id)).scalar_one())
