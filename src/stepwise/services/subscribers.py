"""Subscriber edits and the events they emit (SPEC §5): the one place that turns a change into events."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stepwise.domain.emails import Email, InvalidEmail, parse_email
from stepwise.domain.instants import iso
from stepwise.domain.paths import InvalidPath, changed_paths, merge, split_path, unset_path
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
