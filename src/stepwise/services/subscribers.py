"""Subscriber edits in transactions (SPEC §5; `domain.edits.plan_edit` decides the events) and reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from stepwise.domain.edits import Edit, EditPlan, SubscriberState, plan_edit
from stepwise.domain.emails import Email, InvalidEmail, parse_email
from stepwise.domain.events import new_event
from stepwise.domain.instants import iso
from stepwise.domain.jsonvalues import HAS_NUL
from stepwise.domain.paths import InvalidPath, split_path
from stepwise.domain.problems import Problem
from stepwise.domain.profile import data_problems
from stepwise.domain.segments import EVERYTHING, Touch
from stepwise.domain.statuses import SUBSCRIBER_STATUSES, SubscriberStatus
from stepwise.engine.model import DeleteSubscriber
from stepwise.errors import NotFound, Unprocessable, UnreadableRow
from stepwise.services import cursors, date_triggers, segment_upkeep
from stepwise.services.catalog import SequenceCatalog
from stepwise.services.processing import process_locked
from stepwise.storage import inbox as inbox_store
from stepwise.storage import lists as list_store
from stepwise.storage import segments as segment_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.dialects import lock_subscribers
from stepwise.storage.subscribers import SubscriberRow

__all__ = ["STATUSES", "Edit", "EditResult", "apply_edit", "check_edit", "edit_one", "parse_address"]

STATUSES = SUBSCRIBER_STATUSES


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


def status_of(raw: str) -> SubscriberStatus:
    """Return a subscriber status from outside input; 422 (as check_edit words it) when it is none."""
    for status in STATUSES:
        if raw == status:
            return status
    raise Unprocessable.of([Problem("$.status", f"must be one of {', '.join(STATUSES)}")])


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


def resolve_lists(
    conn: Connection, account_id: int, keys: Sequence[str], known: dict[str, int] | None
) -> dict[str, int]:
    """Return the ids of these list keys; 422 naming every unknown one."""
    ids = known if known is not None else list_store.ids_by_key(conn, account_id, list(keys))
    missing = [k for k in keys if k not in ids]
    if missing:
        raise Unprocessable.of([Problem("$.lists", f"unknown list {k!r}") for k in missing])
    return ids


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
    ids = resolve_lists(conn, account_id, edit.lists, list_ids)
    if sub is None and not create:
        return None
    sub, plan = _store_plan(conn, account_id, email, sub, edit, now_us)
    if edit.lists:
        list_store.add_members(conn, account_id, [(ids[k], sub.id) for k in plan.joined], now_us)
        list_store.remove_members(conn, account_id, [(ids[k], sub.id) for k in plan.left])
    if emit:
        inbox_store.add(
            conn, [new_event(account_id, sub.id, e, source=source, accepted_at=now_us) for e in plan.events]
        )
    changed, joined, left = list(plan.changed), list(plan.joined), list(plan.left)
    touch = EVERYTHING if plan.created else Touch(frozenset(changed), bool(joined or left), plan.status_changed)
    segment_upkeep.refresh(conn, account_id, [sub.id], now, touch, emit=emit)  # S22: in the change's transaction
    date_triggers.refresh(conn, account_id, [sub.id], now, touch)  # S26: the next step-1 dates follow the profile
    return EditResult(sub, plan.created, changed, joined, left, len(plan.events) if emit else 0)


def _store_plan(
    conn: Connection, account_id: int, email: Email, sub: SubscriberRow | None, edit: Edit, now_us: int
) -> tuple[SubscriberRow, EditPlan]:
    """Plan the edit against the stored subscriber (None: a new one) and write the subscriber row."""
    if sub is None:
        plan = plan_edit(None, edit)
        status, data = plan.state.status, plan.state.data
        sub_id = subscriber_store.insert_one(conn, account_id, email.value, email.key, status, data, now_us)
        return SubscriberRow(sub_id, account_id, email.value, email.key, status, data, now_us, now_us), plan
    members = subscriber_store.list_keys(conn, account_id, [sub.id]).get(sub.id, set()) if edit.lists else set()
    plan = plan_edit(SubscriberState(sub.status, sub.data, frozenset(members)), edit)
    if plan.changed or plan.status_changed:
        sub.data = plan.state.data
        sub.status = plan.state.status
        sub.updated_at = now_us
        subscriber_store.save(conn, sub, now_us)
    return sub, plan


class Subscriber(BaseModel):
    """A subscriber as the API and the UI show it."""

    model_config = ConfigDict(frozen=True)

    email: str
    status: SubscriberStatus
    data: dict[str, Any]
    lists: list[str]
    created_at: str
    updated_at: str


class SubscriberPage(BaseModel):
    """A page of subscribers and the cursor of the next one."""

    model_config = ConfigDict(frozen=True)

    next_cursor: str | None = None
    items: list[Subscriber]


def view(sub: SubscriberRow, lists: Sequence[str]) -> Subscriber:
    return Subscriber(
        email=sub.email,
        status=sub.status,
        data=sub.data,
        lists=sorted(lists),
        created_at=iso(from_us(sub.created_at)),
        updated_at=iso(from_us(sub.updated_at)),
    )


def edit_one(
    db: Database, account_id: int, raw_email: str, edit: Edit, *, source: str, now: datetime, create: bool
) -> tuple[Subscriber, bool]:
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
) -> tuple[Subscriber, bool]:
    with db.write() as conn:
        result = apply_edit(conn, account_id, email, edit, source=source, now=now, create=create)
        if result is None:
            raise NotFound(f"no subscriber {email.value!r}")
        lists = subscriber_store.list_keys(conn, account_id, [result.subscriber.id]).get(result.subscriber.id, set())
    return view(result.subscriber, sorted(lists)), result.created


def get(db: Database, account_id: int, raw_email: str) -> Subscriber:
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
    segment_key: str | None = None,
) -> tuple[list[Subscriber], str | None]:
    """Return a page of subscribers and the next cursor."""
    after = cursors.decode_int(cursor)
    if "\0" in (search or "") + (list_key or ""):
        raise Unprocessable.one("query.q" if "\0" in (search or "") else "query.list", HAS_NUL)
    with db.read() as conn:
        segment_id = segment_store_get_id(conn, account_id, segment_key)
        list_id = None
        if list_key is not None:
            found = list_store.get(conn, account_id, list_key)
            if found is None:
                raise NotFound(f"no list {list_key!r}")
            list_id = found.id
        rows = subscriber_store.page(
            conn,
            account_id,
            after_id=after,
            limit=limit,
            status=status,
            list_id=list_id,
            search=search,
            segment_id=segment_id,
        )
        lists = subscriber_store.list_keys(conn, account_id, [r.id for r in rows])
    items = [view(r, sorted(lists.get(r.id, set()))) for r in rows]
    next_cursor = cursors.encode(rows[-1].id) if len(rows) == limit else None
    return items, next_cursor


def delete(db: Database, catalog: SequenceCatalog, account_id: int, raw_email: str, now: datetime) -> None:
    """Delete a subscriber: all their runs end with reason `deleted` (S12), then the record goes."""
    with db.write() as conn:
        try:
            sub = find_row(conn, account_id, raw_email)
        except UnreadableRow:  # damaged data goes with the subscriber: clear it so the deletion can run
            subscriber_store.clear_data(conn, account_id, _lookup_key(raw_email))
            sub = find_row(conn, account_id, raw_email)
        lock_subscribers(conn, [sub.id], skip_locked=False)
        process_locked(conn, catalog, [sub.id], now, extra={sub.id: [DeleteSubscriber(at=now)]})


def segment_store_get_id(conn: Connection, account_id: int, key: str | None) -> int | None:
    """The id of the segment a filter names (None: no filter); 404 when there is none."""
    if key is None:
        return None
    row = segment_store.get(conn, account_id, key)
    if row is None:
        raise NotFound(f"no segment {key!r}")
    return row.id
