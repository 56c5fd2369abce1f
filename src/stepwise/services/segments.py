"""Segments (SPEC §15, S22): definitions, their backfill (no events) and their members."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from stepwise.domain.instants import iso
from stepwise.domain.jsonvalues import HAS_NUL
from stepwise.domain.problems import Problem
from stepwise.domain.segments import parse_where
from stepwise.domain.statuses import SubscriberStatus
from stepwise.errors import Conflict, NotFound, Unprocessable
from stepwise.services import audit, cursors
from stepwise.services.csv_export import stream_csv
from stepwise.services.references import users_of
from stepwise.services.segment_upkeep import parsed, settle
from stepwise.services.segment_upkeep import retest_due as retest
from stepwise.storage import segments as store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import dumps, from_us, loads, to_us
from stepwise.storage.database import Database
from stepwise.storage.segments import SegmentRow

BACKFILL_BATCH = 1000  # subscribers tested per write transaction while a segment is (re)computed


class SegmentOut(BaseModel):
    """A segment as the API and the UI show it; `count` is its stored member count."""

    model_config = ConfigDict(frozen=True)

    key: str
    name: str
    where: Any
    count: int
    created_at: str
    updated_at: str


class SegmentsOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    next_cursor: str | None = None
    items: list[SegmentOut]


class SegmentMember(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: str
    status: SubscriberStatus
    joined_at: str


class SegmentMemberPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    next_cursor: str | None = None
    items: list[SegmentMember]


def view(row: SegmentRow) -> SegmentOut:
    return SegmentOut(
        key=row.key,
        name=row.name,
        where=loads(row.where),
        count=row.member_count,
        created_at=iso(from_us(row.created_at)),
        updated_at=iso(from_us(row.updated_at)),
    )


def check(name: str, where: Any) -> None:
    """Refuse a bad segment with every problem at its JSON path (422)."""
    found: list[Problem] = []
    if "\0" in name:
        found.append(Problem("$.name", HAS_NUL))
    predicate, problems = parse_where(where)
    found += problems
    if found or predicate is None:
        raise Unprocessable.of(found, "the segment is invalid")


def put(db: Database, account_id: int, key: str, name: str, where: Any, now: datetime) -> tuple[SegmentOut, bool]:
    """Create or change a segment; a new or changed predicate is backfilled for everyone without events."""
    check(name, where)
    text = dumps(where)
    with db.write() as conn:
        old = store.get(conn, account_id, key, for_update=True)
        if old is None:
            segment_id = store.insert_one(conn, account_id, key, name, text, to_us(now))
        else:
            segment_id = old.id
            store.update_one(conn, old.id, name, text, to_us(now))
        if old is None or (old.name, old.where) != (name, text):
            before = {"name": old.name, "where": loads(old.where)} if old else None
            action = "create" if old is None else "update"
            audit.record(conn, account_id, "segment", key, action, before, {"name": name, "where": where})
    if old is None or old.where != text:
        backfill(db, account_id, segment_id, text, now)
    return get(db, account_id, key), old is None


def backfill(db: Database, account_id: int, segment_id: int, where_text: str, now: datetime) -> None:
    """Recompute membership for every subscriber in bounded batches (one transaction each), without events."""
    predicate = parsed(where_text)
    after = 0
    while True:
        with db.write() as conn:
            if store.get_by_id(conn, segment_id) != where_text:
                return  # edited or deleted meanwhile: that change runs its own backfill
            rows = subscriber_store.batch_after(conn, account_id, after, BACKFILL_BATCH)
            if not rows:
                return
            settle(conn, account_id, [(segment_id, predicate)], rows, now)  # a backfill emits no events
        after = rows[-1].id


def get(db: Database, account_id: int, key: str) -> SegmentOut:
    with db.read() as conn:
        row = store.get(conn, account_id, key)
    if row is None:
        raise NotFound(f"no segment {key!r}")
    return view(row)


def all_segments(db: Database, account_id: int) -> list[SegmentOut]:
    with db.read() as conn:
        return [view(row) for row in store.all_segments(conn, account_id)]


def delete(db: Database, account_id: int, key: str) -> None:
    with db.write() as conn:
        row = store.get(conn, account_id, key, for_update=True)
        if row is None:
            raise NotFound(f"no segment {key!r}")
        users = users_of(conn, account_id, "segments", key)
        if users:
            raise Conflict(f"segment {key!r} is used by {', '.join(users)}", code="in_use", details={"used_by": users})
        store.delete_one(conn, account_id, row.id)
        audit.record(conn, account_id, "segment", key, "delete", {"name": row.name, "where": loads(row.where)}, None)


def segment_id(db: Database, account_id: int, key: str) -> int:
    """The id of a segment, or 404."""
    with db.read() as conn:
        row = store.get(conn, account_id, key)
    if row is None:
        raise NotFound(f"no segment {key!r}")
    return row.id


def members(
    db: Database, account_id: int, key: str, *, cursor: str | None, limit: int
) -> tuple[list[SegmentMember], str | None]:
    after = cursors.decode_int(cursor)
    with db.read() as conn:
        row = store.get(conn, account_id, key)
        if row is None:
            raise NotFound(f"no segment {key!r}")
        rows = store.members_page(conn, account_id, row.id, after_id=after, limit=limit)
    items = [SegmentMember(email=r.email, status=r.status, joined_at=iso(from_us(r.joined_at))) for r in rows]
    return items, cursors.encode(rows[-1].subscriber_id) if len(rows) == limit else None


EXPORT_PAGE = 1000


def export_csv(db: Database, account_id: int, key: str) -> Iterator[bytes]:
    """The members as CSV (email, status, joined_at), streamed a page at a time; 404 before any byte."""
    found = segment_id(db, account_id, key)

    def rows() -> Iterator[list[str]]:
        after = 0
        while True:
            with db.read() as conn:
                page = store.members_page(conn, account_id, found, after_id=after, limit=EXPORT_PAGE)
            yield from ([r.email, r.status, iso(from_us(r.joined_at))] for r in page)
            if len(page) < EXPORT_PAGE:
                return
            after = page[-1].subscriber_id

    return stream_csv(["email", "status", "joined_at"], rows())


def retest_due(db: Database, now: datetime, limit: int = 1000) -> int:
    """Re-test members whose answer time alone may have changed (S22: at most a minute late); how many."""
    with db.read() as conn:
        if not store.due(conn, to_us(now), 1):
            return 0  # the usual case costs one indexed read, without the write lock
    with db.write() as conn:
        return retest(conn, now, limit)
