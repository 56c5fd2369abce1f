"""The webhook delivery log: reading messages for delivery and the API, writing outcomes (SPEC §18)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, bindparam, func, select, update

from stepwise.domain.jobs import WebhookJob
from stepwise.storage import outbox as outbox_store
from stepwise.storage import schema as t
from stepwise.storage import schema_webhooks as tw

E = tw.webhook_endpoints
M = tw.webhook_messages


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A logged message."""

    seq: int
    endpoint_id: int
    message_id: str
    type: str
    status: str
    attempts: int
    last_code: int | None
    last_error: str | None
    body: str
    created_at: int
    delivered_at: int | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: `status` pending (to be retried), delivered or failed."""

    message_id: str
    endpoint_id: int
    status: str
    code: int | None
    error: str | None
    at_us: int


def bodies(conn: Connection, message_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    """Each message's body and created time, by message id."""
    rows = conn.execute(select(M.c.message_id, M.c.body, M.c.created_at).where(M.c.message_id.in_(list(message_ids))))
    return {r.message_id: (r.body, r.created_at) for r in rows}


def page(conn: Connection, account_id: int, endpoint_id: int, before: int | None, limit: int) -> list[MessageRow]:
    """The newest messages first (keyset on `seq`)."""
    stmt = select(M).where(M.c.account_id == account_id, M.c.endpoint_id == endpoint_id)
    if before is not None:
        stmt = stmt.where(M.c.seq < before)
    return [_message(r) for r in conn.execute(stmt.order_by(M.c.seq.desc()).limit(limit))]


def _message(r: Any) -> MessageRow:
    return MessageRow(
        r.seq,
        r.endpoint_id,
        r.message_id,
        r.type,
        r.status,
        r.attempts,
        r.last_code,
        r.last_error,
        r.body,
        r.created_at,
        r.delivered_at,
    )


def find(conn: Connection, account_id: int, endpoint_id: int, message_id: str) -> MessageRow | None:
    stmt = select(M).where(M.c.account_id == account_id, M.c.endpoint_id == endpoint_id, M.c.message_id == message_id)
    row = conn.execute(stmt).first()
    return None if row is None else _message(row)


def resume(conn: Connection, endpoint_id: int, now_us: int) -> None:
    """Make an endpoint's queued messages due at once (it was set active again)."""
    conn.execute(
        update(t.outbox)
        .where(t.outbox.c.kind == "webhook", t.outbox.c.sequence_id == -endpoint_id, t.outbox.c.lease_token.is_(None))
        .values(available_at=now_us)
    )


def revisions(conn: Connection, endpoint_ids: Sequence[int]) -> dict[int, int]:
    """The revision of each of these endpoints, read under a share lock (an edit in flight commits first)."""
    query = select(E.c.id, E.c.revision).where(E.c.id.in_(list(endpoint_ids))).with_for_update(read=True)
    return {r[0]: r[1] for r in conn.execute(query)}


def write_outcomes(conn: Connection, outcomes: Sequence[Outcome]) -> None:
    """Log each attempt's outcome, and keep each endpoint's `failing_since` (None once one is delivered)."""
    if outcomes:  # one statement, executed for every outcome (executemany)
        stmt = (
            update(M)
            .where(M.c.message_id == bindparam("mid"))
            .values(
                status=bindparam("st"),
                attempts=M.c.attempts + 1,
                last_code=bindparam("code"),
                last_error=bindparam("err"),
                delivered_at=func.coalesce(bindparam("dat", type_=BigInteger), M.c.delivered_at),
            )
        )
        conn.execute(
            stmt,
            [
                {
                    "mid": o.message_id,
                    "st": o.status,
                    "code": o.code,
                    "err": None if o.error is None else o.error[:2000],
                    "dat": o.at_us if o.status == "delivered" else None,
                }
                for o in outcomes
            ],
        )
    delivered = {o.endpoint_id for o in outcomes if o.status == "delivered"}
    failing = {o.endpoint_id: o.at_us for o in outcomes if o.status != "delivered"}
    if delivered:
        conn.execute(
            update(E).where(E.c.id.in_(sorted(delivered)), E.c.failing_since.is_not(None)).values(failing_since=None)
        )
    for endpoint_id, at_us in failing.items():
        if endpoint_id not in delivered:
            conn.execute(
                update(E).where(E.c.id == endpoint_id, E.c.failing_since.is_(None)).values(failing_since=at_us)
            )


def deactivate_failing(conn: Connection, since_us: int, now_us: int, reason: str) -> list[int]:
    """Set inactive each active endpoint failing since before `since_us`; return their ids."""
    ids = [
        r[0]
        for r in conn.execute(
            select(E.c.id).where(E.c.active.is_(True), E.c.failing_since.is_not(None), E.c.failing_since < since_us)
        )
    ]
    if ids:
        conn.execute(
            update(E)
            .where(E.c.id.in_(ids))
            .values(
                active=False,
                deactivated_at=now_us,
                deactivated_reason=reason,
                updated_at=now_us,
                revision=E.c.revision + 1,
            )
        )
    return ids


def requeue(conn: Connection, account_id: int, message: MessageRow, now_us: int) -> None:
    """Queue a logged message again, with the same id (a retry asked for by the user; subscriber 0)."""
    conn.execute(update(M).where(M.c.message_id == message.message_id).values(status="pending"))
    outbox_store.add(
        conn,
        [
            outbox_store.NewOutboxRow(
                account_id,
                0,
                -message.endpoint_id,
                0,
                None,
                WebhookJob(message.message_id, message.endpoint_id),
                now_us,
            )
        ],
    )


def pending_count(conn: Connection, endpoint_id: int) -> int:
    stmt = select(func.count()).where(and_(M.c.endpoint_id == endpoint_id, M.c.status == "pending"))
    return int(conn.execute(stmt).scalar_one())
