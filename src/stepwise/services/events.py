"""Events posted by outside systems (SPEC §8 POST /events), idempotent by id (S13)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stepwise.domain.emails import InvalidEmail, parse_email
from stepwise.domain.events import Happened, NewEvent, new_event
from stepwise.domain.instants import parse_instant
from stepwise.domain.jsonvalues import StorableText
from stepwise.domain.problems import Problem
from stepwise.domain.profile import data_problems
from stepwise.errors import Unprocessable
from stepwise.storage import inbox as inbox_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import to_us
from stepwise.storage.database import Database

MAX_BATCH = 1000


class PostedEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["custom"]
    name: StorableText = Field(min_length=1, max_length=128)
    email: str = Field(min_length=1, max_length=320)
    data: dict[str, Any] | None = None
    id: StorableText | None = Field(default=None, min_length=1, max_length=200)
    occurred_at: str | None = Field(default=None, max_length=64)

    @field_validator("occurred_at")
    @classmethod
    def _instant(cls, value: str | None) -> str | None:
        if value is not None and parse_instant(value) is None:
            raise ValueError("must be an ISO-8601 date-time")
        return value


class EventsResult(BaseModel):
    """What became of posted events: accepted, duplicates of an earlier id, for no known subscriber."""

    model_config = ConfigDict(frozen=True)

    accepted: int
    duplicates: int
    unknown: int


def ingest(
    db: Database, account_id: int, events: list[PostedEvent], now: datetime, *, source: str = "api"
) -> EventsResult:
    """Accept events in order; duplicates (by id) and unknown subscribers are counted, not stored."""
    problems: list[Problem] = []
    keys: list[str] = []
    for index, event in enumerate(events):
        try:
            keys.append(parse_email(event.email).key)
        except InvalidEmail as exc:
            problems.append(Problem(f"$.events[{index}].email", f"invalid email address: {exc}"))
            keys.append("")
        if event.data is not None:
            problems += data_problems(event.data, f"$.events[{index}].data")
    if problems:
        raise Unprocessable.of(problems)
    now_us = to_us(now)
    accepted = duplicates = unknown = 0
    with db.write() as conn:
        ids = [e.id for e in events if e.id is not None]
        seen = inbox_store.known_ids(conn, account_id, ids)
        subs = subscriber_store.find_many(conn, account_id, sorted(set(keys)))
        rows: list[NewEvent] = []
        new_ids: list[str] = []
        for event, key in zip(events, keys, strict=True):
            if event.id is not None and event.id in seen:
                duplicates += 1
                continue
            sub = subs.get(key)
            if sub is None:  # creates nothing, so its id stays free for a retry once the subscriber exists
                unknown += 1
                continue
            if event.id is not None:
                seen.add(event.id)
                new_ids.append(event.id)
            occurred = parse_instant(event.occurred_at) if event.occurred_at else None
            happened = Happened("custom", {"name": event.name, "data": event.data or {}})
            at = to_us(occurred) if occurred else None
            rows.append(new_event(account_id, sub.id, happened, source=source, accepted_at=now_us, occurred_at=at))
            accepted += 1
        inbox_store.add(conn, rows)
        inbox_store.remember_ids(conn, account_id, new_ids, now_us)
    return EventsResult(accepted=accepted, duplicates=duplicates, unknown=unknown)
