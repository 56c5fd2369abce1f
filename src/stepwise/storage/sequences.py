"""Sequence definitions and their status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from stepwise.domain.statuses import SequenceStatus
from stepwise.storage import dialects
from stepwise.storage import schema as t
from stepwise.storage.codec import dumps, loads
from stepwise.storage.date_triggers import drop_sequence as drop_date_triggers
from stepwise.storage.notify import WORK, notify
from stepwise.storage.schema_versions import sequence_drafts, sequence_versions


@dataclass(frozen=True, slots=True)
class SequenceRow:
    id: int
    account_id: int
    key: str
    name: str
    status: SequenceStatus
    definition: dict[str, Any]
    version: int
    created_at: int
    updated_at: int
    # Why the stored text is not a JSON object, if it is not (then `definition` is empty): such a row is
    # listed as broken and can be replaced or deleted instead of failing every read of the account.
    unreadable: str | None = None
    live_version: int = 1  # the latest published version (S16); `version` above is the catalog's cache key


_COLS = (
    t.sequences.c.id,
    t.sequences.c.account_id,
    t.sequences.c.key,
    t.sequences.c.name,
    t.sequences.c.status,
    t.sequences.c.definition,
    t.sequences.c.version,
    t.sequences.c.created_at,
    t.sequences.c.updated_at,
    t.sequences.c.live_version,
)


def _row(r: Any) -> SequenceRow:
    live = int(r[9])
    try:
        definition = loads(r[5])
    except ValueError as exc:
        problem = f"the stored definition is not JSON: {exc}"
        return SequenceRow(r[0], r[1], r[2], r[3], r[4], {}, r[6], r[7], r[8], problem, live)
    if not isinstance(definition, dict):
        problem = f"the stored definition is not a JSON object but {type(definition).__name__}"
        return SequenceRow(r[0], r[1], r[2], r[3], r[4], {}, r[6], r[7], r[8], problem, live)
    return SequenceRow(r[0], r[1], r[2], r[3], r[4], definition, r[6], r[7], r[8], None, live)


def get(conn: Connection, account_id: int, key: str, *, for_update: bool = False) -> SequenceRow | None:
    stmt = select(*_COLS).where(t.sequences.c.account_id == account_id, t.sequences.c.key == key)
    if for_update:
        stmt = dialects.for_update(conn, stmt)
    row = conn.execute(stmt).first()
    return _row(row) if row else None


def all_sequences(conn: Connection, account_id: int) -> list[SequenceRow]:
    stmt = select(*_COLS).where(t.sequences.c.account_id == account_id).order_by(t.sequences.c.key)
    return [_row(r) for r in conn.execute(stmt)]


def versions(conn: Connection, account_id: int) -> dict[int, int]:
    """Return {sequence id: version}: a cheap check of whether cached definitions are stale."""
    rows = conn.execute(select(t.sequences.c.id, t.sequences.c.version).where(t.sequences.c.account_id == account_id))
    return {int(sid): int(version) for sid, version in rows}


def by_ids(conn: Connection, ids: list[int]) -> list[SequenceRow]:
    if not ids:
        return []
    return [_row(r) for r in conn.execute(select(*_COLS).where(t.sequences.c.id.in_(ids)))]


def insert_one(
    conn: Connection,
    account_id: int,
    key: str,
    name: str,
    status: SequenceStatus,
    definition: dict[str, Any],
    now_us: int,
) -> int:
    result = conn.execute(
        insert(t.sequences).values(
            account_id=account_id,
            key=key,
            name=name,
            status=status,
            definition=dumps(definition),
            version=1,
            created_at=now_us,
            updated_at=now_us,
        )
    )
    notify(conn, WORK)  # the worker reloads definitions and starts runs on the new sequence
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def replace(
    conn: Connection, seq_id: int, name: str, status: SequenceStatus, definition: dict[str, Any], now_us: int
) -> None:
    conn.execute(
        update(t.sequences)
        .where(t.sequences.c.id == seq_id)
        .values(
            name=name, status=status, definition=dumps(definition), version=t.sequences.c.version + 1, updated_at=now_us
        )
    )
    notify(conn, WORK)


def set_status(conn: Connection, seq_id: int, status: str, now_us: int) -> None:
    conn.execute(
        update(t.sequences)
        .where(t.sequences.c.id == seq_id)
        .values(status=status, version=t.sequences.c.version + 1, updated_at=now_us)
    )
    notify(conn, WORK)


def delete_sequence(conn: Connection, account_id: int, seq_id: int) -> None:
    conn.execute(delete(t.runs).where(t.runs.c.account_id == account_id, t.runs.c.sequence_id == seq_id))
    conn.execute(delete(t.counters).where(t.counters.c.account_id == account_id, t.counters.c.sequence_id == seq_id))
    conn.execute(delete(t.sequences).where(t.sequences.c.id == seq_id))
    conn.execute(delete(sequence_versions).where(sequence_versions.c.sequence_id == seq_id))
    conn.execute(delete(sequence_drafts).where(sequence_drafts.c.sequence_id == seq_id))
    drop_date_triggers(conn, seq_id)
