"""Process metrics and the Prometheus text of /metrics (SPEC §8)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from stepwise.services.backlog import backlog

if TYPE_CHECKING:
    from stepwise.services.context import Context

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
QUARANTINED = Gauge(
    "stepwise_quarantined_items",
    "Events, sequences, outbox rows and subscribers the worker set aside (all accounts; until dismissed)",
    ["kind"],
    registry=REGISTRY,
)


def render_metrics(context: Context) -> bytes:
    """Refresh the database gauges and return the Prometheus exposition text."""
    waiting = backlog(context)
    INBOX_DEPTH.set(waiting.events)
    OUTBOX_DEPTH.set(waiting.outbox)
    for kind, count in waiting.quarantined.items():
        QUARANTINED.labels(kind=kind).set(count)
    OVERDUE.set(waiting.overdue_seconds)
    return generate_latest(REGISTRY)


def observe_accepted(count: int) -> None:
    EVENTS_ACCEPTED.inc(count)


def observe_batch(events: int, transitions: int, commands: int) -> None:
    EVENTS_PROCESSED.inc(events)
    TRANSITIONS.inc(transitions)
    COMMANDS.inc(commands)


def observe_delivery(outcome: str) -> None:
    DELIVERIES.labels(outcome=outcome).inc()
