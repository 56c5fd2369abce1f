"""The draft of a sequence (S17): at most one per sequence, replaced on each save, consumed by publishing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from stepwise.storage.codec import dumps, loads
from stepwise.storage.schema_versions import sequence_drafts as d


@dataclass(frozen=True, slots=True)
class DraftRow:
    definition: dict[str, Any]
    based_on: int
    updated_at: int
    who: str


def get(conn: Connection, sequence_id: int) -> DraftRow | None:
    row = conn.execute(
        select(d.c.definition, d.c.based_on, d.c.updated_at, d.c.who).where(d.c.sequence_id == sequence_id)
    ).first()
    if row is None:
        return None
    try:
        definition = loads(row[0])
    except ValueError:
        definition = {}
    return DraftRow(definition if isinstance(definition, dict) else {}, int(row[1]), int(row[2]), str(row[3]))


def put(
    conn: Connection,
    account_id: int,
    sequence_id: int,
    definition: dict[str, Any],
    *,
    based_on: int,
    now_us: int,
    who: str,
) -> None:
    """Store the draft, replacing any earlier one."""
    conn.execute(delete(d).where(d.c.sequence_id == sequence_id))
    conn.execute(
        insert(d).values(
            sequence_id=sequence_id,
            account_id=account_id,
            definition=dumps(definition),
            based_on=based_on,
            updated_at=now_us,
            who=who,
        )
    )


def remove(conn: Connection, sequence_id: int) -> bool:
    """Delete the draft; whether there was one."""
    return bool(conn.execute(delete(d).where(d.c.sequence_id == sequence_id)).rowcount)
