"""Many subscriber edits in one transaction (imports, bulk edits) with a handful of statements.

Each edit is planned by `domain.edits.plan_edit` against the subscriber as the earlier edits of the
batch left it, so outcomes and events are exactly those of `apply_edit` applied one after another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from stepwise.domain.edits import NO_LISTS, Edit, SubscriberState, changed_anything, plan_edit
from stepwise.domain.emails import Email
from stepwise.domain.events import Happened, new_event
from stepwise.domain.segments import EVERYTHING, Touch
from stepwise.services import date_triggers, segment_upkeep
from stepwise.services.subscribers import resolve_lists
from stepwise.storage import inbox as inbox_store
from stepwise.storage import lists as list_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import to_us
from stepwise.storage.subscribers import SubscriberRow


@dataclass(slots=True)
class BatchOutcome:
    """What one edit of a batch did."""

    created: bool = False
    absent: bool = False  # no such subscriber and creating was not allowed
    skipped: bool = False  # the subscriber exists and updating was not allowed
    # Tuples by default: an import makes a million outcomes, most of which change nothing.
    changed: Sequence[str] = ()
    joined: Sequence[str] = ()
    left: Sequence[str] = ()
    status_changed: bool = False

    @property
    def touched(self) -> bool:
        """Tell whether the edit changed anything stored."""
        return changed_anything(self)


@dataclass(slots=True)
class _Pending:
    """A subscriber of the batch as the edits so far left it."""

    sub: SubscriberRow
    initial_lists: frozenset[str]
    state: SubscriberState
    new: bool
    dirty: bool = False


def apply_edits(
    conn: Connection,
    account_id: int,
    items: Sequence[tuple[Email, Edit]],
    *,
    source: str,
    now: datetime,
    create: bool = True,
    update: bool = True,
    emit: bool = True,
    list_ids: dict[str, int] | None = None,
    existing: dict[str, SubscriberRow] | None = None,
    fresh_data: bool = False,
) -> list[BatchOutcome]:
    """Apply checked edits in order, as `apply_edit` would one by one, with a few batched statements.

    `existing` (the subscribers by address key, locked by the caller) saves the lookup; `update=False`
    leaves existing subscribers alone; `emit=False` queues no events at all; `fresh_data` is passed to
    `plan_edit` (the edits' data was built for this call and is shared with nobody).
    """
    now_us = to_us(now)
    wanted = sorted({k for _, e in items for k in (*e.lists_add, *e.lists_remove)})
    ids = resolve_lists(conn, account_id, wanted, list_ids)
    if existing is None:
        keys = list(dict.fromkeys(email.key for email, _ in items))
        existing = subscriber_store.find_many_locked(conn, account_id, keys)
    members = subscriber_store.list_keys(conn, account_id, [s.id for s in existing.values()]) if wanted else {}
    pending: dict[str, _Pending] = {}
    events: list[tuple[str, Happened]] = []
    outcomes: list[BatchOutcome] = []
    for email, edit in items:
        known = pending.get(email.key)
        if known is None and email.key in existing:
            sub = existing[email.key]
            initial = frozenset(members.get(sub.id, ()))
            known = pending[email.key] = _Pending(sub, initial, SubscriberState(sub.status, sub.data, initial), False)
        if known is None and not create:
            outcomes.append(BatchOutcome(absent=True))
            continue
        if known is not None and not update:
            outcomes.append(BatchOutcome(skipped=True))
            continue
        plan = plan_edit(None if known is None else known.state, edit, fresh_data=fresh_data)
        if known is None:
            sub = SubscriberRow(0, account_id, email.value, email.key, plan.state.status, {}, now_us, now_us)
            pending[email.key] = _Pending(sub, NO_LISTS, plan.state, True)
        else:
            known.state = plan.state
            known.dirty = known.dirty or bool(plan.changed) or plan.status_changed
        events.extend((email.key, event) for event in plan.events)
        outcomes.append(
            BatchOutcome(plan.created, False, False, plan.changed, plan.joined, plan.left, plan.status_changed)
        )
    _write_batch(conn, account_id, pending, events if emit else [], ids, source, now_us)
    touched = [
        p.sub.id for p in pending.values() if p.sub.id and (p.new or p.dirty or p.state.lists != p.initial_lists)
    ]
    segment_upkeep.refresh(conn, account_id, touched, now, touch_of(outcomes), emit=emit)  # S22: same transaction
    date_triggers.refresh(conn, account_id, touched, now, touch_of(outcomes))  # S26: the next step-1 dates
    return outcomes


def touch_of(outcomes: Sequence[BatchOutcome]) -> Touch:
    """What a batch of edits touched, for the segments' re-test (S22)."""
    if any(o.created for o in outcomes):
        return EVERYTHING
    return Touch(
        data=frozenset(path for o in outcomes for path in o.changed),
        lists=any(o.joined or o.left for o in outcomes),
        status=any(o.status_changed for o in outcomes),
    )


def _write_batch(
    conn: Connection,
    account_id: int,
    pending: dict[str, _Pending],
    events: list[tuple[str, Happened]],
    list_ids: dict[str, int],
    source: str,
    now_us: int,
) -> None:
    for p in pending.values():
        if p.new or p.dirty:
            p.sub.status, p.sub.data = p.state.status, p.state.data
            p.sub.updated_at = now_us
    new = [p.sub for p in pending.values() if p.new]
    lists_moved = any(p.state.lists != p.initial_lists for p in pending.values())
    created_ids = subscriber_store.insert_many(conn, new, returning=bool(events) or lists_moved)
    for sub in new:
        sub.id = created_ids.get(sub.email_key, 0)
    subscriber_store.save_many(conn, [p.sub for p in pending.values() if p.dirty and not p.new])
    if lists_moved:
        states = pending.values()
        joins = [(list_ids[k], p.sub.id) for p in states for k in sorted(p.state.lists - p.initial_lists)]
        leaves = [(list_ids[k], p.sub.id) for p in states for k in sorted(p.initial_lists - p.state.lists)]
        list_store.add_members(conn, account_id, joins, now_us)
        list_store.remove_members(conn, account_id, leaves)
    queued = [new_event(account_id, pending[key].sub.id, e, source=source, accepted_at=now_us) for key, e in events]
    inbox_store.add(conn, queued)
