"""Build accounts' data through the services and drive the delivery loop by hand."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from stepwise.bootstrap import Stepwise
from stepwise.delivery.transports import Transport
from stepwise.delivery.webhooks import UrlCaller
from stepwise.services import drafts, sequences
from stepwise.services.delivery_store import DatabaseDeliveryStore
from stepwise.services.drafts import DraftBody
from stepwise.services.subscribers import Edit, edit_one
from stepwise.storage import schema as t
from stepwise.storage.codec import loads
from stepwise.worker.delivery import Deliverer
from tests.support.drive import advance


@dataclass
class Shop:
    """One account of a Stepwise instance, with shortcuts to set it up and inspect it."""

    stepwise: Stepwise
    account_id: int

    def draft(self, key: str, **fields: Any) -> None:
        body = {"subject": "Hello", "html": "<p>Hello</p>", "from_email": "news@shop.example", **fields}
        drafts.put(self.stepwise.db, self.account_id, key, DraftBody(**body), self.stepwise.clock())

    def sequence(self, key: str, *steps: list[dict[str, Any]], **settings: Any) -> None:
        definition = {
            "name": key,
            "status": "active",
            "steps": [{"variants": variants} for variants in steps],
            **settings,
        }
        sequences.put(self.stepwise.db, self.account_id, key, definition, self.stepwise.clock())

    def subscriber(self, address: str, data: dict[str, Any] | None = None, **edit: Any) -> None:
        edit_one(
            self.stepwise.db,
            self.account_id,
            address,
            Edit(data=data, **edit),
            source="api",
            now=self.stepwise.clock(),
            create=True,
        )

    def deliverer(self, transport: Transport | None = None, urls: UrlCaller | None = None, **kwargs: Any) -> Deliverer:
        return Deliverer(
            DatabaseDeliveryStore(self.stepwise.db, self.stepwise.secret),
            transport or self.stepwise.transport(),
            self.stepwise.signer,
            self.stepwise.settings.base_url,
            self.stepwise.clock,
            urls=urls or UrlCaller(allow_private=True, deadline=3),
            **kwargs,
        )

    def issues(self, **where: Any) -> list[Any]:
        stmt = select(t.issues).where(t.issues.c.account_id == self.account_id)
        for column, value in where.items():
            stmt = stmt.where(t.issues.c[column] == value)
        with self.stepwise.db.read() as conn:
            return list(conn.execute(stmt.order_by(t.issues.c.created_at, t.issues.c.id)))

    def status_of(self, address: str) -> str:
        with self.stepwise.db.read() as conn:
            row = conn.execute(
                select(t.subscribers.c.status).where(
                    t.subscribers.c.account_id == self.account_id, t.subscribers.c.email_key == address.lower()
                )
            ).first()
        assert row is not None
        return str(row[0])

    def timeline(self, kind_prefix: str = "") -> list[dict[str, Any]]:
        with self.stepwise.db.read() as conn:
            rows = conn.execute(
                select(t.timeline).where(t.timeline.c.account_id == self.account_id).order_by(t.timeline.c.id)
            )
            return [{"kind": r.kind, **loads(r.detail)} for r in rows if r.kind.startswith(kind_prefix)]

    def inbox(self) -> list[Any]:
        with self.stepwise.db.read() as conn:
            return list(conn.execute(select(t.inbox).order_by(t.inbox.c.id)))

    def outbox(self) -> list[Any]:
        with self.stepwise.db.read() as conn:
            return list(conn.execute(select(t.outbox).order_by(t.outbox.c.id)))

    def runs(self) -> list[Any]:
        with self.stepwise.db.read() as conn:
            return list(conn.execute(select(t.runs).order_by(t.runs.c.id)))


def deliver(deliverer: Deliverer, *, max_turns: int = 10_000) -> int:
    """Run the delivery loop until nothing is due or running; return rows handled."""

    async def run() -> int:
        handled = 0
        try:
            for _ in range(max_turns):
                count = await deliverer.run_once()
                if count == 0:
                    return handled
                handled += count
            raise AssertionError("the delivery loop did not settle")
        finally:
            await deliverer.drain()
            await deliverer.close()

    return asyncio.run(run())


def settle(shop: Shop, deliverer: Deliverer) -> None:
    """Advance and deliver until neither has work."""
    for _ in range(100):
        moved = advance(shop.stepwise).subscribers
        sent = deliver(deliverer)
        if not moved and not sent:
            return
    raise AssertionError("the system did not settle")
