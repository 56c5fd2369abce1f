"""Process metrics and the Prometheus text of /metrics (SPEC §8)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from stepwise.storage import inbox as inbox_store
from stepwise.storage import outbox as outbox_store
from stepwise.storage import runs as run_store
from stepwise.storage.codec import to_us

if TYPE_CHECKING:
    from stepwise.bootstrap import Stepwise

REGISTRY = CollectorRegistry()
EVENTS_PROCESSED = Counter("stepwise_events_processed", "Accepted events the engine processed", registry=REGISTRY)
TRANSITIONS = Counter("stepwise_transitions", "Step transitions (variants fired)", registry=REGISTRY)
COMMANDS = Counter("stepwise_outbox_written", "Emails and URL calls written to the outbox", registry=REGISTRY)
DELIVERIES = Counter("stepwise_deliveries", "Delivery outcomes", ["outcome"], registry=REGISTRY)
EVENTS_ACCEPTED = Counter("stepwise_events_accepted", "Events accepted by this process", registry=REGISTRY)
INBOX_DEPTH = Gauge("stepwise_events_backlog", "Accepted events waiting to be processed", registry=REGISTRY)
OUTBOX_DEPTH = Gauge("stepwise_outbox_depth", "Emails and URL calls waiting for delivery", registry=REGISTRY)
OVERDUE = Gauge(
    "stepwise_oldest_overdue_deadline_seconds", "Age of the most overdue deadline (0 when none)", registry=REGISTRY
)


def render_metrics(stepwise: Stepwise) -> bytes:
    """Refresh the database gauges and return the Prometheus exposition text."""
    now = stepwise.clock()
    with stepwise.db.read() as conn:
        INBOX_DEPTH.set(inbox_store.depth(conn))
        OUTBOX_DEPTH.set(outbox_store.depth(conn))
        oldest = run_store.oldest_due(conn, to_us(now))
    OVERDUE.set(0 if oldest is None else max(0.0, (to_us(now) - oldest) / 1e6))
    return generate_latest(REGISTRY)


def observe_accepted(count: int) -> None:
    EVENTS_ACCEPTED.inc(count)


def observe_batch(events: int, transitions: int, commands: int) -> None:
    EVENTS_PROCESSED.inc(events)
    TRANSITIONS.inc(transitions)
    COMMANDS.inc(commands)


def observe_delivery(outcome: str) -> None:
    DELIVERIES.labels(outcome=outcome).inc()
