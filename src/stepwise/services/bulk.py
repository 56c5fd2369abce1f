"""Bulk edit (SPEC §5): set and unset fields for every subscriber matching a predicate or in a list of emails.

Subscribers are visited in keyset batches by id, one transaction per batch, so the work is bounded
whatever the audience size. `set` and `unset` mean what they mean in a `change_data` action.
Only subscribers whose data really changes get a `data_changed` event (source `bulk`).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from sqlalchemy import Connection

from stepwise.domain.edits import Edit
from stepwise.domain.emails import Email, InvalidEmail, parse_email
from stepwise.domain.keys import Key
from stepwise.domain.paths import DataPath, set_path, split_path, unset_path
from stepwise.domain.predicates import Predicate, evaluate
from stepwise.domain.predicates import problems as predicate_problems
from stepwise.domain.problems import Problem
from stepwise.domain.profile import data_problems
from stepwise.errors import NotFound, Unprocessable
from stepwise.services.batch_edits import apply_edits
from stepwise.storage import segments as segment_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.database import Database
from stepwise.storage.subscribers import SubscriberRow

BATCH = 500  # subscribers per transaction
MAX_EMAILS = 10_000
MAX_PATHS = 100


class BulkUpdate(BaseModel):
    """A bulk edit: which subscribers (`where`, `emails` or `segment`, exactly one) and what to change."""

    model_config = ConfigDict(extra="forbid")

    where: Predicate | None = None
    emails: list[str] | None = Field(default=None, max_length=MAX_EMAILS)
    segment: Key | None = None  # the members of a segment (SPEC §15)
    set: dict[DataPath, JsonValue] | None = Field(default=None, max_length=MAX_PATHS)
    unset: list[DataPath] | None = Field(default=None, max_length=MAX_PATHS)

    @model_validator(mode="after")
    def _one_target_some_change(self) -> BulkUpdate:
        if [self.where, self.emails, self.segment].count(None) != 2:
            raise ValueError("give exactly one of 'where', 'emails' and 'segment'")
        if not (self.set or self.unset):
            raise ValueError("give at least one of 'set' and 'unset'")
        return self


def check(body: BulkUpdate) -> list[Email]:
    """Return the parsed addresses; raise 422 with every problem the model cannot see."""
    problems: list[Problem] = []
    if body.where is not None:
        problems += [Problem("$.where", message) for message in predicate_problems(body.where, allow_event=False)]
    emails: list[Email] = []
    for index, raw in enumerate(body.emails or []):
        try:
            emails.append(parse_email(raw))
        except InvalidEmail as exc:
            problems.append(Problem(f"$.emails[{index}]", f"invalid email address: {exc}"))
    paths = [(f"$.set[{path!r}]", split_path(path)) for path in body.set or {}]
    paths += [(f"$.unset[{i}]", split_path(path)) for i, path in enumerate(body.unset or [])]
    for i, (where, a) in enumerate(paths):
        for _, b in paths[:i]:
            if a[: len(b)] == b or b[: len(a)] == a:
                problems.append(Problem(where, f"overlaps {'.'.join(b)!r}: each path may appear once"))
                break
    if body.set:
        sample: dict[str, Any] = {}
        for path, value in body.set.items():
            set_path(sample, path, value)
        problems += data_problems(sample, "$.set")
    if problems:
        raise Unprocessable.of(problems)
    return list({email.key: email for email in emails}.values())


def changed_data(body: BulkUpdate, data: dict[str, Any]) -> dict[str, Any]:
    """Return the data after the edit (as a `change_data` action would leave it)."""
    after = copy.deepcopy(data)
    for path, value in (body.set or {}).items():
        set_path(after, path, copy.deepcopy(value))
    for path in body.unset or []:
        unset_path(after, path)
    return after


class BulkResult(BaseModel):
    """How many subscribers a bulk update matched, and how many of them it changed."""

    model_config = ConfigDict(frozen=True)

    matched: int
    changed: int


def bulk_update(db: Database, account_id: int, body: BulkUpdate, now: datetime) -> BulkResult:
    """Apply the edit in bounded batches; return how many subscribers matched and how many changed."""
    emails = check(body)
    matched = changed = 0
    if body.segment is not None:
        return _by_segment(db, account_id, body, body.segment, now)
    if body.where is None:
        for start in range(0, len(emails), BATCH):
            keys = [email.key for email in emails[start : start + BATCH]]
            with db.write() as conn:
                found = list(subscriber_store.find_many_locked(conn, account_id, keys).values())
                matched += len(found)
                changed += _edit(conn, account_id, body, found, now)
    else:
        after_id = 0
        while True:
            with db.write() as conn:
                rows = subscriber_store.batch_after(conn, account_id, after_id, BATCH)
                if not rows:
                    break
                after_id = rows[-1].id
                hits = [row for row in rows if evaluate(body.where, row.data, now)]
                matched += len(hits)
                changed += _edit(conn, account_id, body, hits, now)
    return BulkResult(matched=matched, changed=changed)


def _by_segment(db: Database, account_id: int, body: BulkUpdate, key: str, now: datetime) -> BulkResult:
    """Edit the segment's members in keyset batches (membership as each batch reads it)."""
    with db.read() as conn:
        segment = segment_store.get(conn, account_id, key)
    if segment is None:
        raise NotFound(f"no segment {key!r}")
    matched = changed = 0
    after_id = 0
    while True:
        with db.write() as conn:
            rows = segment_store.batch_after(conn, account_id, segment.id, after_id, BATCH)
            if not rows:
                break
            after_id = rows[-1].id
            matched += len(rows)
            changed += _edit(conn, account_id, body, rows, now)
    return BulkResult(matched=matched, changed=changed)


def _edit(conn: Connection, account_id: int, body: BulkUpdate, subs: list[SubscriberRow], now: datetime) -> int:
    """Edit locked subscribers; return how many changed."""
    items = [(Email(s.email, s.email_key), Edit(data=changed_data(body, s.data), replace_data=True)) for s in subs]
    outcomes = apply_edits(
        conn,
        account_id,
        items,
        source="bulk",
        now=now,
        create=False,
        existing={sub.email_key: sub for sub in subs},
    )
    return sum(1 for outcome in outcomes if outcome.changed)
