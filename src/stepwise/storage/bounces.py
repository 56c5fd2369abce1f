"""Bounce and complaint reports as taken in (SPEC S30): the only SQL of the `bounces` table."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Connection, func, select

from stepwise.storage import schema as t
from stepwise.storage import schema_deliverability as td
from stepwise.storage.dialects import insert_new


@dataclass(frozen=True, slots=True)
class NewBounce:
    account_id: int
    fingerprint: str  # SHA-256 of the report's identity: the same report twice counts once
    email: str
    email_key: str
    type: str  # hard | soft | complaint
    source: str
    message_id: str | None
    reason: str | None
    issue_id: str | None
    subscriber_id: int | None
    received_at: int


@dataclass(frozen=True, slots=True)
class BounceRow(NewBounce):
    id: int = 0


_COLUMNS = tuple(td.bounces.c[f] for f in BounceRow.__dataclass_fields__)


def add(conn: Connection, row: NewBounce) -> bool:
    """Record a report; False when the same report (by fingerprint) was recorded before."""
    return insert_new(conn, td.bounces, asdict(row))


def soft_since(conn: Connection, account_id: int, email_key: str, since_us: int) -> int:
    """How many soft bounces of this address were taken in since then."""
    c = td.bounces.c
    stmt = select(func.count()).where(
        c.account_id == account_id, c.email_key == email_key, c.received_at >= since_us, c.type == "soft"
    )
    return int(conn.execute(stmt).scalar_one())


def page(
    conn: Connection,
    account_id: int,
    *,
    email_key: str | None = None,
    issue_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[BounceRow]:
    """Reports, newest first; by address or issue when asked."""
    c = td.bounces.c
    stmt = select(*_COLUMNS).where(c.account_id == account_id)
    if email_key is not None:
        stmt = stmt.where(c.email_key == email_key)
    if issue_id is not None:
        stmt = stmt.where(c.issue_id == issue_id)
    if before_id is not None:
        stmt = stmt.where(c.id < before_id)
    return [BounceRow(*r) for r in conn.execute(stmt.order_by(c.id.desc()).limit(limit))]


def counts_since(conn: Connection, account_id: int, since_us: int) -> dict[str, int]:
    """Reports taken in since then, by type (hard, soft, complaint), matched to an issue or not."""
    c = td.bounces.c
    stmt = select(c.type, func.count()).where(c.account_id == account_id, c.received_at >= since_us).group_by(c.type)
    return {str(kind): int(n) for kind, n in conn.execute(stmt)}


def sent_since(conn: Connection, account_id: int, since_us: int) -> int:
    """Emails sent (not test sends) of the issues made since then: the denominator of the 7-day rates."""
    c = t.issues.c
    first_id = f"{since_us // 1000:012x}"  # issue ids start with their creation time in ms (ids.py)
    stmt = select(func.count()).where(
        c.account_id == account_id, c.status == "sent", c.id >= first_id, c.group_name.not_in(("test", "team"))
    )
    return int(conn.execute(stmt).scalar_one())
