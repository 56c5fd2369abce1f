"""What the policy benchmark plants: a segment with a million members, written set-based."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Connection, insert, literal, select, update

from stepwise.storage import schema as t
from stepwise.storage.codec import to_us
from stepwise.storage.dialects import fast_insert
from stepwise.storage.schema_segments import segment_members, segments

CHUNK = 50_000


def plant_members(conn: Connection, account_id: int, key: str, count: int, now: datetime) -> None:
    """Write `count` active subscribers, make each a member of segment `key` and store the count."""
    now_us = to_us(now)
    for start in range(0, count, CHUNK):
        rows = [
            {
                "account_id": account_id,
                "email": f"m{n}@bench.example",
                "email_key": f"m{n}@bench.example",
                "status": "active",
                "data": "{}",
                "created_at": now_us,
                "updated_at": now_us,
            }
            for n in range(start, min(start + CHUNK, count))
        ]
        fast_insert(conn, t.subscribers, rows)
    segment_id = conn.execute(
        select(segments.c.id).where(segments.c.account_id == account_id, segments.c.key == key)
    ).scalar_one()
    subscribers = t.subscribers.c
    members = select(
        subscribers.account_id,
        literal(segment_id, BigInteger),
        subscribers.id,
        literal(now_us, BigInteger),
    ).where(subscribers.account_id == account_id)
    conn.execute(
        insert(segment_members).from_select(["account_id", "segment_id", "subscriber_id", "joined_at"], members)
    )
    conn.execute(update(segments).where(segments.c.id == segment_id).values(member_count=count))
