"""Webhook endpoints (SPEC §18): create, change, list, delete; the delivery log, retries and pings."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from stepwise.delivery.guard import Refused, parse_target
from stepwise.delivery.sealing import seal
from stepwise.domain import webhooks as hooks
from stepwise.domain.instants import from_us, iso, to_us
from stepwise.errors import NotFound, Unprocessable
from stepwise.ids import new_id
from stepwise.services import audit, cursors
from stepwise.services.webhook_delivery import SECRET_PURPOSE
from stepwise.storage import webhook_log as log_store
from stepwise.storage import webhooks as webhook_store
from stepwise.storage.codec import loads
from stepwise.storage.database import Database
from stepwise.storage.webhooks import EndpointRow


class Webhook(BaseModel):
    """An endpoint; `secret` only in the reply that created it (shown once)."""

    model_config = ConfigDict(frozen=True)

    key: str
    url: str
    events: list[str]
    active: bool
    deactivated_at: str | None = None
    deactivated_reason: str | None = None
    created_at: str
    updated_at: str
    secret: str | None = None


class WebhookList(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[Webhook]


class WebhookDelivery(BaseModel):
    """One message of the delivery log."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    status: str  # pending | delivered | failed
    attempts: int
    last_code: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None
    body: dict[str, object]


class WebhookDeliveryPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[WebhookDelivery]
    next_cursor: str | None = None


def _iso(us: int | None) -> str | None:
    return None if us is None else iso(from_us(us))


def view(row: EndpointRow, secret: str | None = None) -> Webhook:
    return Webhook(
        key=row.key,
        url=row.url,
        events=list(row.events),
        active=row.active,
        deactivated_at=_iso(row.deactivated_at),
        deactivated_reason=row.deactivated_reason,
        created_at=iso(from_us(row.created_at)),
        updated_at=iso(from_us(row.updated_at)),
        secret=secret,
    )


def check_url(url: str) -> None:
    """Refuse a URL that can never be called (422); addresses are checked again at each delivery."""
    try:
        target = parse_target(url)
    except Refused as exc:
        raise Unprocessable.one("$.url", str(exc)) from exc
    if target.url.userinfo:
        raise Unprocessable.one("$.url", "the URL may not hold a user name or password")


def check_events(events: Sequence[str]) -> None:
    unknown = [e for e in events if e not in hooks.EVENT_TYPES]
    if unknown:
        raise Unprocessable.one("$.events", f"unknown event types: {', '.join(sorted(unknown))}")
    if not events:
        raise Unprocessable.one("$.events", "name at least one event type")


def put(
    db: Database,
    secret: str,
    account_id: int,
    key: str,
    url: str,
    events: Sequence[str],
    active: bool | None,
    now: datetime,
) -> tuple[Webhook, bool]:
    """Create or change an endpoint; return it (with its secret when created) and whether it was created."""
    check_url(url)
    check_events(events)
    now_us = to_us(now)
    values: dict[str, object] = {"url": url, "events": list(dict.fromkeys(events))}
    with db.write() as conn:
        found = webhook_store.get(conn, account_id, key)
        if found is None:
            plain = hooks.new_secret(os.urandom(24))
            values |= {"sealed_secret": seal(secret, SECRET_PURPOSE, plain.encode()), "active": active is not False}
            webhook_store.create(conn, account_id, key, values, now_us)
            created = webhook_store.get(conn, account_id, key)
            assert created is not None
            audit.record(conn, account_id, "webhook", key, "create", None, _audited(created))
            return view(created, plain), True
        if active is not None and active != found.active:
            values["active"] = active
            if active:
                values |= {"deactivated_at": None, "deactivated_reason": None, "failing_since": None}
                log_store.resume(conn, found.id, now_us)
            else:
                values |= {"deactivated_at": now_us, "deactivated_reason": "set inactive"}
        webhook_store.change(conn, found.id, values, now_us)
        changed = webhook_store.get(conn, account_id, key)
        assert changed is not None
        audit.record(conn, account_id, "webhook", key, "update", _audited(found), _audited(changed))
        return view(changed), False


def _audited(row: EndpointRow) -> dict[str, object]:
    """What the audit log keeps of an endpoint (never its secret)."""
    return {"url": row.url, "events": list(row.events), "active": row.active}


def _found(db: Database, account_id: int, key: str) -> EndpointRow:
    with db.read() as conn:
        row = webhook_store.get(conn, account_id, key)
    if row is None:
        raise NotFound(f"no webhook {key!r}", code="webhook_not_found")
    return row


def get(db: Database, account_id: int, key: str) -> Webhook:
    return view(_found(db, account_id, key))


def list_all(db: Database, account_id: int) -> WebhookList:
    with db.read() as conn:
        return WebhookList(items=[view(r) for r in webhook_store.of_account(conn, account_id)])


def delete(db: Database, account_id: int, key: str) -> None:
    row = _found(db, account_id, key)
    with db.write() as conn:
        webhook_store.remove(conn, row)
        audit.record(conn, account_id, "webhook", key, "delete", _audited(row), None)


def deliveries(db: Database, account_id: int, key: str, cursor: str | None, limit: int) -> WebhookDeliveryPage:
    """The delivery log, newest first."""
    row = _found(db, account_id, key)
    before = cursors.decode_int(cursor) if cursor else None
    with db.read() as conn:
        found = log_store.page(conn, account_id, row.id, before, limit + 1)
    items = [_delivery(m) for m in found[:limit]]
    more = cursors.encode(found[limit - 1].seq) if len(found) > limit else None
    return WebhookDeliveryPage(items=items, next_cursor=more)


def _delivery(m: log_store.MessageRow) -> WebhookDelivery:
    return WebhookDelivery(
        id=m.message_id,
        type=m.type,
        status=m.status,
        attempts=m.attempts,
        last_code=m.last_code,
        last_error=m.last_error,
        created_at=iso(from_us(m.created_at)),
        delivered_at=_iso(m.delivered_at),
        body=loads(m.body),
    )


def retry(db: Database, account_id: int, key: str, message_id: str, now: datetime) -> WebhookDelivery:
    """Queue a logged message again with the same id (failed or delivered; a pending one is left as is)."""
    row = _found(db, account_id, key)
    with db.write() as conn:
        message = log_store.find(conn, account_id, row.id, message_id)
        if message is None:
            raise NotFound(f"no delivery {message_id!r} of webhook {key!r}", code="delivery_not_found")
        if message.status != "pending":
            log_store.requeue(conn, account_id, message, to_us(now))
        again = log_store.find(conn, account_id, row.id, message_id)
    assert again is not None
    return _delivery(again)


def ping(db: Database, account_id: int, account_name: str, key: str, now: datetime) -> WebhookDelivery:
    """Queue a `webhook.ping` message at once (subscriber 0)."""
    row = _found(db, account_id, key)
    now_us = to_us(now)
    message_id = "msg_" + new_id()
    body = hooks.body(message_id, hooks.PING, iso(now), account_name, {"webhook": key})
    with db.write() as conn:
        webhook_store.queue(
            conn, [webhook_store.NewMessage(account_id, row.id, 0, message_id, hooks.PING, body, now_us)]
        )
        message = log_store.find(conn, account_id, row.id, message_id)
    assert message is not None
    return _delivery(message)
