"""Webhook endpoints and their delivery log (SPEC §18); messages are queued in the outbox (kind `webhook`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from stepwise.domain.jobs import WebhookJob
from stepwise.storage import outbox as outbox_store
from stepwise.storage import schema as t
from stepwise.storage import schema_webhooks as tw
from stepwise.storage.codec import dumps, loads
from stepwise.storage.dialects import fast_insert

E = tw.webhook_endpoints
M = tw.webhook_messages


@dataclass(frozen=True, slots=True)
class EndpointRow:
    """A stored endpoint (secret still sealed)."""

    id: int
    account_id: int
    key: str
    url: str
    events: tuple[str, ...]
    sealed_secret: str
    active: bool
    deactivated_at: int | None
    deactivated_reason: str | None
    failing_since: int | None
    created_at: int
    updated_at: int
    revision: int


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to queue for an endpoint, in order with the subscriber's other messages to it."""

    account_id: int
    endpoint_id: int
    subscriber_id: int
    message_id: str
    type: str
    body: str
    at_us: int


def _endpoint(r: Any) -> EndpointRow:
    return EndpointRow(
        r.id,
        r.account_id,
        r.key,
        r.url,
        tuple(loads(r.events)),
        r.sealed_secret,
        bool(r.active),
        r.deactivated_at,
        r.deactivated_reason,
        r.failing_since,
        r.created_at,
        r.updated_at,
        r.revision,
    )


def version(conn: Connection) -> tuple[int, int, int]:
    """A cheap fingerprint of every endpoint (count, sum of revisions, sum of ids): it moves whenever one is edited."""
    row = conn.execute(select(func.count(), func.sum(E.c.revision), func.sum(E.c.id))).one()
    return int(row[0]), int(row[1] or 0), int(row[2] or 0)


def all_endpoints(conn: Connection) -> list[EndpointRow]:
    return [_endpoint(r) for r in conn.execute(select(E).order_by(E.c.id))]


def of_account(conn: Connection, account_id: int) -> list[EndpointRow]:
    return [_endpoint(r) for r in conn.execute(select(E).where(E.c.account_id == account_id).order_by(E.c.key))]


def get(conn: Connection, account_id: int, key: str) -> EndpointRow | None:
    row = conn.execute(select(E).where(E.c.account_id == account_id, E.c.key == key)).first()
    return None if row is None else _endpoint(row)


def by_ids(conn: Connection, ids: Sequence[int]) -> dict[int, EndpointRow]:
    return {r.id: _endpoint(r) for r in conn.execute(select(E).where(E.c.id.in_(list(ids))))}


def create(conn: Connection, account_id: int, key: str, values: dict[str, Any], now_us: int) -> None:
    conn.execute(
        insert(E).values(
            account_id=account_id, key=key, created_at=now_us, updated_at=now_us, revision=1, **_stored(values)
        )
    )


def change(conn: Connection, endpoint_id: int, values: dict[str, Any], now_us: int) -> None:
    conn.execute(
        update(E).where(E.c.id == endpoint_id).values(updated_at=now_us, revision=E.c.revision + 1, **_stored(values))
    )


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    return {k: dumps(list(v)) if k == "events" else v for k, v in values.items()}


def remove(conn: Connection, endpoint: EndpointRow) -> None:
    """Delete an endpoint, its log and its queued messages."""
    conn.execute(
        delete(t.outbox).where(
            t.outbox.c.account_id == endpoint.account_id,
            t.outbox.c.kind == "webhook",
            t.outbox.c.sequence_id == -endpoint.id,
        )
    )
    conn.execute(delete(M).where(M.c.account_id == endpoint.account_id, M.c.endpoint_id == endpoint.id))
    conn.execute(delete(E).where(E.c.id == endpoint.id))


def queue(conn: Connection, messages: Sequence[NewMessage]) -> None:
    """Log the messages as pending and queue them in the outbox (in the caller's transaction).

    The outbox orders a subscriber's rows per (sequence_id, pass_no): the endpoint's negative id and
    pass 0 keep each subscriber's messages to one endpoint in order, apart from any run's jobs.
    """
    if not messages:
        return
    fast_insert(
        conn,
        M,
        [
            {
                "account_id": m.account_id,
                "endpoint_id": m.endpoint_id,
                "message_id": m.message_id,
                "type": m.type,
                "status": "pending",
                "attempts": 0,
                "body": m.body,
                "created_at": m.at_us,
            }
            for m in messages
        ],
    )
    outbox_store.add(
        conn,
        [
            outbox_store.NewOutboxRow(
                m.account_id, m.subscriber_id, -m.endpoint_id, 0, None, WebhookJob(m.message_id, m.endpoint_id), m.at_us
            )
            for m in messages
        ],
    )
