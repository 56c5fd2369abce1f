"""Subscriber edits and the events they emit (SPEC §5): the one place that turns a change into events."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from stepwise.domain.emails import Email, InvalidEmail, parse_email
from stepwise.domain.instants import iso
from stepwise.domain.paths import MISSING, InvalidPath, changed_paths, merge, split_path, unset_path
from stepwise.domain.problems import Problem
from stepwise.domain.profile import data_problems
from stepwise.engine.model import DeleteSubscriber
from stepwise.errors import NotFound, Unprocessable
from stepwise.services import cursors
from stepwise.services.catalog import SequenceCatalog
from stepwise.services.processing import process_locked
from stepwise.storage import inbox as inbox_store
from stepwise.storage import lists as list_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.dialects import lock_subscribers
from stepwise.storage.subscribers import SubscriberRow

STATUSES = ("active", "unconfirmed", "unsubscribed", "bounced")


@dataclass
class Edit:
    """A change to one subscriber. None means "leave as it is"."""

    data: dict[str, Any] | None = None  # merged into the profile (null removes a field)
    unset: list[str] = field(default_factory=list)
    lists_add: list[str] = field(default_factory=list)
    lists_remove: list[str] = field(default_factory=list)
    status: str | None = None
    replace_data: bool = False


@dataclass
class EditResult:
    subscriber: SubscriberRow
    created: bool
    changed: list[str]
    joined: list[str]
    left: list[str]
    events: int


def parse_address(raw: str, path: str = "$.email") -> Email:
    try:
        return parse_email(raw)
    except InvalidEmail as exc:
        raise Unprocessable.one(path, f"invalid email address: {exc}") from exc


def check_edit(edit: Edit) -> None:
    """Raise 422 with every problem of an edit's shape."""
    problems: list[Problem] = []
    if edit.data is not None:
        problems += data_problems(edit.data)
    for index, path in enumerate(edit.unset):
        try:
            split_path(path)
        except InvalidPath as exc:
            problems.append(Problem(f"$.unset[{index}]", str(exc)))
    if edit.status is not None and edit.status not in STATUSES:
        problems.append(Problem("$.status", f"must be one of {', '.join(STATUSES)}"))
    if problems:
        raise Unprocessable.of(problems)


def apply_edit(
    conn: Connection,
    account_id: int,
    email: Email,
    edit: Edit,
    *,
    source: str,
    now: datetime,
    create: bool = True,
    emit: bool = True,
    existing: SubscriberRow | None = None,
    list_ids: dict[str, int] | None = None,
) -> EditResult | None:
    """Create or change a subscriber and queue the §5 events; None when absent and create is False."""
    check_edit(edit)
    now_us = to_us(now)
    sub = existing or subscriber_store.find(conn, account_id, email.key, for_update=True)
    wanted_lists = sorted(set(edit.lists_add) | set(edit.lists_remove))
    ids = list_ids if list_ids is not None else list_store.ids_by_key(conn, account_id, wanted_lists)
    missing = [k for k in wanted_lists if k not in ids]
    if missing:
        raise Unprocessable.of([Problem("$.lists", f"unknown list {k!r}") for k in missing])
    events: list[dict[str, Any]] = []

    def event(kind: str, payload: dict[str, Any]) -> None:
        events.append(
            {
                "account_id": account_id,
                "kind": kind,
                "payload": payload,
                "source": source,
                "occurred_at": now_us,
                "accepted_at": now_us,
            }
        )

    created = sub is None
    if sub is None:
        if not create:
            return None
        data = merge({}, edit.data or {})
        for path in edit.unset:
            unset_path(data, path)
        status = edit.status or "active"
        sub_id = subscriber_store.insert_one(conn, account_id, email.value, email.key, status, data, now_us)
        sub = SubscriberRow(sub_id, account_id, email.value, email.key, status, data, now_us, now_us)
        event("subscriber_added", {"confirmed": status != "unconfirmed"})
        changed: list[str] = []
        old_status = status
    else:
        before = sub.data
        after = copy.deepcopy(edit.data or {}) if edit.replace_data else merge(before, edit.data or {})
        for path in edit.unset:
            unset_path(after, path)
        if not isinstance(after, dict):
            after = {}
        changed = changed_paths(before, after)
        old_status = sub.status
        new_status = edit.status or sub.status
        if changed or new_status != old_status:
            sub.data = after
            sub.status = new_status
            sub.updated_at = now_us
            subscriber_store.save(conn, sub, now_us)
        if changed:
            event("data_changed", {"fields": changed, "data": after})
    joined: list[str] = []
    left: list[str] = []
    if wanted_lists:
        members = set() if created else subscriber_store.list_keys(conn, account_id, [sub.id]).get(sub.id, set())
        joined = [k for k in sorted(set(edit.lists_add)) if k not in members]
        left = [k for k in sorted(set(edit.lists_remove) - set(edit.lists_add)) if k in members]
        list_store.add_members(conn, account_id, [(ids[k], sub.id) for k in joined], now_us)
        list_store.remove_members(conn, account_id, [(ids[k], sub.id) for k in left])
        for key in joined:
            event("list_joined", {"list": key})
        for key in left:
            event("list_left", {"list": key})
    if not created and sub.status != old_status:
        if old_status == "unconfirmed" and sub.status == "active":
            event("subscription_confirmed", {"method": "manual"})
        if sub.status == "unsubscribed":
            event("unsubscribed", {})
    if emit:
        inbox_store.add(conn, [{**e, "subscriber_id": sub.id} for e in events])
    return EditResult(sub, created, changed, joined, left, len(events) if emit else 0)


def view(sub: SubscriberRow, lists: Sequence[str]) -> dict[str, Any]:
    """The API shape of a subscriber."""
    return {
        "email": sub.email,
        "status": sub.status,
        "data": sub.data,
        "lists": sorted(lists),
        "created_at": iso(from_us(sub.created_at)),
        "updated_at": iso(from_us(sub.updated_at)),
    }


def edit_one(
    db: Database, account_id: int, raw_email: str, edit: Edit, *, source: str, now: datetime, create: bool
) -> tuple[dict[str, Any], bool]:
    """Apply an edit in its own transaction; return the subscriber view and whether it was created."""
    email = parse_address(raw_email)
    for attempt in range(3):
        try:
            return _edit_once(db, account_id, email, edit, source=source, now=now, create=create)
        except IntegrityError:
            # Another request created the same address between our lookup and insert (PostgreSQL lets
            # both look); the next attempt finds that subscriber and updates it instead.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _edit_once(
    db: Database, account_id: int, email: Email, edit: Edit, *, source: str, now: datetime, create: bool
) -> tuple[dict[str, Any], bool]:
    with db.write() as conn:
        result = apply_edit(conn, account_id, email, edit, source=source, now=now, create=create)
        if result is None:
            raise NotFound(f"no subscriber {email.value!r}")
        lists = subscriber_store.list_keys(conn, account_id, [result.subscriber.id]).get(result.subscriber.id, set())
    if result.events:
        db.wakeup.set()
    return view(result.subscriber, sorted(lists)), result.created


def get(db: Database, account_id: int, raw_email: str) -> dict[str, Any]:
    email = _lookup_key(raw_email)
    with db.read() as conn:
        sub = subscriber_store.find(conn, account_id, email)
        if sub is None:
            raise NotFound(f"no subscriber {raw_email!r}")
        lists = subscriber_store.list_keys(conn, account_id, [sub.id]).get(sub.id, set())
    return view(sub, sorted(lists))


def find_row(conn: Connection, account_id: int, raw_email: str) -> SubscriberRow:
    sub = subscriber_store.find(conn, account_id, _lookup_key(raw_email))
    if sub is None:
        raise NotFound(f"no subscriber {raw_email!r}")
    return sub


def _lookup_key(raw_email: str) -> str:
    try:
        return parse_email(raw_email).key
    except InvalidEmail as exc:
        raise NotFound(f"no subscriber {raw_email!r}") from exc


def page(
    db: Database,
    account_id: int,
    *,
    status: str | None,
    list_key: str | None,
    cursor: str | None,
    limit: int,
    search: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Return a page of subscribers and the next cursor."""
    after = cursors.decode_int(cursor)
    with db.read() as conn:
        list_id = None
        if list_key is not None:
            found = list_store.get(conn, account_id, list_key)
            if found is None:
                raise NotFound(f"no list {list_key!r}")
            list_id = found.id
        rows = subscriber_store.page(
            conn, account_id, after_id=after, limit=limit, status=status, list_id=list_id, search=search
        )
        lists = subscriber_store.list_keys(conn, account_id, [r.id for r in rows])
    items = [view(r, sorted(lists.get(r.id, set()))) for r in rows]
    next_cursor = cursors.encode(rows[-1].id) if len(rows) == limit else None
    return items, next_cursor


def delete(db: Database, catalog: SequenceCatalog, account_id: int, raw_email: str, now: datetime) -> None:
    """Delete a subscriber: all their runs end with reason `deleted` (S12), then the record goes."""
    with db.write() as conn:
        sub = find_row(conn, account_id, raw_email)
        lock_subscribers(conn, [sub.id], skip_locked=False)
        process_locked(conn, catalog, [sub.id], now, extra={sub.id: [DeleteSubscriber(at=now)]})


# --- Batched edits (imports, bulk edits) -----------------------------------------------------------
#
# `apply_edits` applies many edits in one transaction with a handful of statements. Its outcomes and
# events are exactly those of `apply_edit` applied to the same edits one after another (a test checks
# the two against each other); only the number of statements differs.


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
        return self.created or bool(self.changed or self.joined or self.left) or self.status_changed


@dataclass(slots=True)
class _Pending:
    """A subscriber of the batch as the edits so far left it."""

    sub: SubscriberRow
    initial_lists: frozenset[str]
    lists: set[str]
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
    leaves existing subscribers alone; `emit=False` queues no events at all; `fresh_data` says each
    edit's data was built for this call (no nulls, no empty objects, shared with nobody), so a new
    subscriber can take it as it is.
    """
    now_us = to_us(now)
    wanted = sorted({k for _, e in items for k in (*e.lists_add, *e.lists_remove)})
    ids = list_ids if list_ids is not None else list_store.ids_by_key(conn, account_id, wanted)
    missing = [k for k in wanted if k not in ids]
    if missing:
        raise Unprocessable.of([Problem("$.lists", f"unknown list {k!r}") for k in missing])
    if existing is None:
        keys = list(dict.fromkeys(email.key for email, _ in items))
        existing = subscriber_store.find_many_locked(conn, account_id, keys)
    members = subscriber_store.list_keys(conn, account_id, [s.id for s in existing.values()]) if wanted else {}
    pending: dict[str, _Pending] = {}
    events: list[tuple[str, str, dict[str, Any]]] = []
    outcomes: list[BatchOutcome] = []
    for email, edit in items:
        state = pending.get(email.key)
        if state is None and email.key in existing:
            sub = existing[email.key]
            initial = frozenset(members.get(sub.id, ()))
            state = pending[email.key] = _Pending(sub, initial, set(initial), new=False)
        outcome = BatchOutcome()
        outcomes.append(outcome)
        if state is None:
            if not create:
                outcome.absent = True
                continue
            state = pending[email.key] = _created(account_id, email, edit, now_us, fresh_data)
            outcome.created = True
            events.append((email.key, "subscriber_added", {"confirmed": state.sub.status != "unconfirmed"}))
        elif not update:
            outcome.skipped = True
            continue
        old_status = state.sub.status
        if not outcome.created:
            change = _change(state, edit, outcome, now_us)
            if change is not None:
                events.append((email.key, "data_changed", change))
        if edit.lists_add or edit.lists_remove:
            outcome.joined = [k for k in sorted(set(edit.lists_add)) if k not in state.lists]
            outcome.left = [k for k in sorted(set(edit.lists_remove) - set(edit.lists_add)) if k in state.lists]
            state.lists.update(outcome.joined)
            state.lists.difference_update(outcome.left)
            events.extend((email.key, "list_joined", {"list": k}) for k in outcome.joined)
            events.extend((email.key, "list_left", {"list": k}) for k in outcome.left)
        if outcome.status_changed:  # after the list events, as apply_edit orders them
            if old_status == "unconfirmed" and state.sub.status == "active":
                events.append((email.key, "subscription_confirmed", {"method": "manual"}))
            if state.sub.status == "unsubscribed":
                events.append((email.key, "unsubscribed", {}))
    _write_batch(conn, account_id, pending, events if emit else [], ids, source, now_us)
    return outcomes


_NO_LISTS: frozenset[str] = frozenset()


def _created(account_id: int, email: Email, edit: Edit, now_us: int, fresh: bool) -> _Pending:
    data = edit.data if fresh and edit.data is not None else _merged({}, edit.data or {})
    for path in edit.unset:
        data = _without(data, split_path(path))
    sub = SubscriberRow(0, account_id, email.value, email.key, edit.status or "active", data, now_us, now_us)
    return _Pending(sub, _NO_LISTS, set(), new=True)


def _change(state: _Pending, edit: Edit, outcome: BatchOutcome, now_us: int) -> dict[str, Any] | None:
    """Apply an edit's data and status to a known subscriber; return the data_changed payload if any."""
    before = state.sub.data
    after = copy.deepcopy(edit.data or {}) if edit.replace_data else _merged(before, edit.data or {})
    for path in edit.unset:
        after = _without(after, split_path(path))
    outcome.changed = _changed(before, after)
    new_status = edit.status or state.sub.status
    outcome.status_changed = new_status != state.sub.status
    if outcome.changed or outcome.status_changed:
        state.sub.data = after
        state.sub.status = new_status
        state.sub.updated_at = now_us
        state.dirty = True
    return {"fields": outcome.changed, "data": after} if outcome.changed else None


def _write_batch(
    conn: Connection,
    account_id: int,
    pending: dict[str, _Pending],
    events: list[tuple[str, str, dict[str, Any]]],
    list_ids: dict[str, int],
    source: str,
    now_us: int,
) -> None:
    new = [p.sub for p in pending.values() if p.new]
    lists_moved = any(p.lists != p.initial_lists for p in pending.values())
    created_ids = subscriber_store.insert_many(conn, new, returning=bool(events) or lists_moved)
    for sub in new:
        sub.id = created_ids.get(sub.email_key, 0)
    subscriber_store.save_many(conn, [p.sub for p in pending.values() if p.dirty and not p.new])
    if lists_moved:
        joins = [(list_ids[k], p.sub.id) for p in pending.values() for k in sorted(p.lists - p.initial_lists)]
        leaves = [(list_ids[k], p.sub.id) for p in pending.values() for k in sorted(p.initial_lists - p.lists)]
        list_store.add_members(conn, account_id, joins, now_us)
        list_store.remove_members(conn, account_id, leaves)
    inbox_store.add(
        conn,
        [
            {
                "account_id": account_id,
                "subscriber_id": pending[key].sub.id,
                "kind": kind,
                "payload": payload,
                "source": source,
                "occurred_at": now_us,
                "accepted_at": now_us,
            }
            for key, kind, payload in events
        ],
    )


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Return `changed_paths(before, after)`, skipping the subtrees the two share (see `_merged`)."""
    found: list[str] = []
    _diff(before, after, "", found)
    return sorted(found)


def _diff(before: dict[str, Any], after: dict[str, Any], prefix: str, found: list[str]) -> None:
    for key in before.keys() | after.keys():
        old = before.get(key, MISSING)
        new = after.get(key, MISSING)
        if old is new:
            continue  # one object: the same leaves
        if type(old) is str and type(new) is str:
            if old != new:
                found.append(f"{prefix}{key}")
        elif isinstance(old, dict) and isinstance(new, dict) and old and new:
            _diff(old, new, f"{prefix}{key}.", found)
        else:  # leaves of other types, or a branch against a leaf: let the reference rule decide
            wrapped = changed_paths({} if old is MISSING else {key: old}, {} if new is MISSING else {key: new})
            found.extend(prefix + path for path in wrapped)


def _merged(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Return `merge(base, patch)` without deep copies: branches the patch does not touch are shared."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, str | int | float):  # the common case, ahead of the costly Mapping check
            out[key] = value
        elif isinstance(value, Mapping):
            child = out.get(key)
            if isinstance(child, dict):
                inner = _merged(child, value)
                if value and not inner:
                    out.pop(key)  # an object the patch emptied goes, as in merge()
                else:
                    out[key] = inner
            else:
                fresh = _merged({}, value)
                if fresh:
                    out[key] = fresh
                else:
                    out.pop(key, None)
        else:
            out[key] = copy.deepcopy(value) if isinstance(value, list) else value
    return out


def _without(data: dict[str, Any], parts: tuple[str, ...]) -> dict[str, Any]:
    """Return `unset_path(data, path)` without changing `data` (parents left empty go too)."""
    result = _unset(data, parts)
    return data if result is None else result


def _unset(data: dict[str, Any], parts: tuple[str, ...]) -> dict[str, Any] | None:
    # None: the path runs through a missing or non-object value, so nothing (not even cleanup) happens.
    head = parts[0]
    if len(parts) == 1:
        if head not in data:
            return data
        out = dict(data)
        del out[head]
        return out
    child = data.get(head)
    if not isinstance(child, dict):
        return None
    inner = _unset(child, parts[1:])
    if inner is None:
        return None
    if inner:
        return data if inner is child else {**data, head: inner}
    out = dict(data)
    del out[head]
    return out
