"""Events accepted from outside the engine, as values: what an edit implies, and what goes to the inbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# The kinds of event that enter through the inbox.
EventKind = Literal[
    "subscriber_added",
    "data_changed",
    "list_joined",
    "list_left",
    "segment_joined",
    "segment_left",
    "subscription_confirmed",
    "unsubscribed",
    "form_submitted",
    "form_confirmed",
    "link_clicked",
    "email_opened",
    "email_bounced",
    "complained",
    "custom",
    "date_reached",  # S26 step 1: queued by the due-date finder
]


@dataclass(frozen=True, slots=True)
class Happened:
    """An event without its subscriber or time: what an edit or a page implies."""

    kind: EventKind
    payload: dict[str, Any]


@dataclass(slots=True)  # not frozen: built for every event (a segment change makes several); frozen costs 5x
class NewEvent:
    """An event accepted for one subscriber, ready for the inbox (times in microseconds)."""

    account_id: int
    subscriber_id: int
    kind: EventKind
    payload: dict[str, Any]
    source: str
    occurred_at: int
    accepted_at: int


def new_event(
    account_id: int,
    subscriber_id: int,
    event: Happened,
    *,
    source: str,
    accepted_at: int,
    occurred_at: int | None = None,
) -> NewEvent:
    """Build the inbox value of an event; it occurred when it was accepted unless told otherwise."""
    return NewEvent(
        account_id,
        subscriber_id,
        event.kind,
        event.payload,
        source,
        accepted_at if occurred_at is None else occurred_at,
        accepted_at,
    )
