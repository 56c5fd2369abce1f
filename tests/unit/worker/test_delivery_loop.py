"""The delivery loop against an in-memory store: lease, send, record; retries; lost leases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from stepwise.delivery.message import Outgoing
from stepwise.delivery.tokens import TokenSigner
from stepwise.delivery.transports import Accepted, DeliveryError
from stepwise.domain.jobs import EmailJob, EmailTemplate
from stepwise.worker.delivery import Deliverer
from stepwise.worker.ports import Recipient, to_us
from tests.support.clock import FakeClock
from tests.support.fake_delivery_store import FakeDeliveryStore

WELCOME = EmailJob(draft="welcome", event={}, data={}, sequence="onboarding", step=1, at_us=None)
TEMPLATE = EmailTemplate("Hello", "<p>Hello {{ email }}</p>", None, "news@example.com", "News", None)


class Transport:
    """Accepts every message, or refuses them with `error`; `hold` keeps a send running until set."""

    name = "fake"

    def __init__(self, error: DeliveryError | None = None) -> None:
        self.error = error
        self.sent: list[Outgoing] = []
        self.hold: asyncio.Event | None = None

    async def send(self, message: Outgoing, accepted: Accepted | None = None) -> None:
        if self.hold is not None:
            await self.hold.wait()
        if self.error is not None:
            raise self.error
        self.sent.append(message)
        if accepted is not None:
            await accepted()

    async def close(self) -> None:
        return None


def setup(transport: Transport) -> tuple[FakeDeliveryStore, Deliverer, FakeClock]:
    store = FakeDeliveryStore()
    store.recipients[7] = Recipient("anna@example.com", "active")
    store.templates[(1, "welcome")] = TEMPLATE
    clock = FakeClock()
    store.add(WELCOME, subscriber_id=7, issue_id="i1", at_us=to_us(clock()))
    deliverer = Deliverer(store, transport, TokenSigner("secret"), "http://localhost", clock, tick=0.01)
    return store, deliverer, clock


async def run(deliverer: Deliverer) -> None:
    await deliverer.run_once()
    await deliverer.drain()


def test_a_job_is_leased_sent_and_recorded() -> None:
    transport = Transport()
    store, deliverer, _ = setup(transport)
    asyncio.run(run(deliverer))
    assert [m.recipient for m in transport.sent] == ["anna@example.com"]
    assert [r.kind for r in store.records] == ["email_sent"]
    assert store.rows == {} and store.issues["i1"] == "sent"


def test_a_temporary_refusal_is_retried_later() -> None:
    transport = Transport(DeliveryError("451 try again", permanent=False))
    store, deliverer, clock = setup(transport)
    asyncio.run(run(deliverer))
    [record] = store.records
    assert record.kind == "email_retry" and record.retry_at_us == to_us(clock() + timedelta(seconds=30))
    [stored] = store.rows.values()
    assert stored.token is None and stored.available_at == record.retry_at_us and store.issues["i1"] == "queued"
    asyncio.run(run(deliverer))
    assert len(store.records) == 1  # not due yet
    clock.advance(seconds=30)
    transport.error = None
    asyncio.run(run(deliverer))
    assert [r.kind for r in store.records] == ["email_retry", "email_sent"] and store.rows == {}


def test_the_outcome_of_a_lost_lease_is_not_written() -> None:
    transport = Transport()
    store, deliverer, _ = setup(transport)

    async def lose_the_lease() -> None:
        transport.hold = asyncio.Event()
        await deliverer.run_once()
        store.steal(1)
        transport.hold.set()
        await deliverer.drain()

    asyncio.run(lose_the_lease())
    assert store.records == [] and 1 in store.rows and store.issues["i1"] == "queued"


def test_an_unsubscribed_recipient_is_skipped_at_delivery() -> None:
    transport = Transport()
    store, deliverer, _ = setup(transport)
    store.recipients[7] = Recipient("anna@example.com", "unsubscribed")
    asyncio.run(run(deliverer))
    assert transport.sent == [] and [r.kind for r in store.records] == ["email_skipped"]
    assert store.issues["i1"] == "skipped"
