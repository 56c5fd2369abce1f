"""S26 at step 1: keep each subscriber's next date for the sequences that enter by a profile date.

Three moments keep `date_triggers` true, each in the transaction of its change:
- `sync` when a sequence is saved, published, activated or paused: an active sequence whose step 1 has
  a `date_reached` variant gets every subscriber's next date, the first batch at once and the others
  from the worker (`backfill`, a batch per transaction, in id order); any other loses its rows;
- `refresh` when profiles change (edits, imports, bulk edits, `set_data` actions) and the change
  touched a field such a sequence reads: those subscribers' next dates are written again;
- `fire_due`, called by the worker every few seconds, reads only the rows that fell due (an index on
  the instant, not a scan of everyone), queues the `date_reached` event that enters the sequence by that
  variant, and writes the next date (next year's for `every_year`) or drops the row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection

from stepwise.domain.events import Happened, NewEvent, new_event
from stepwise.domain.instants import from_us, to_us
from stepwise.domain.paths import path_touches
from stepwise.domain.segments import EVERYTHING, Touch
from stepwise.engine import date_entry
from stepwise.engine.model import SequenceInfo
from stepwise.services.catalog import info_of, read_definition
from stepwise.storage import date_triggers as store
from stepwise.storage import inbox as inbox_store
from stepwise.storage import sequences as sequence_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.database import Database
from stepwise.storage.sequences import SequenceRow
from stepwise.storage.subscribers import SubscriberRow
from stepwise.storage.timeline import NewEntry, add_entries

BACKFILL_BATCH = 1000


def _info(conn: Connection, row: SequenceRow) -> SequenceInfo | None:
    """The live definition of an active sequence that enters by a date, else None."""
    definition = read_definition(row)[0]
    if row.status != "active" or definition is None:
        return None
    info = info_of(conn, row.account_id, row.key, definition, row.status)
    return info if date_entry.has_date_entry(info) else None


def sync(conn: Connection, row: SequenceRow, now: datetime) -> None:
    """Start rebuilding the sequence's due dates (or drop them): the first batch of subscribers now,
    the others by the worker (`backfill`), so activating a sequence of a large account stays quick."""
    info = _info(conn, row)
    if info is None:
        store.drop_sequence(conn, row.id)
        return
    store.put_sequence(conn, row.account_id, row.id, row.key)
    _backfill_batch(conn, row.id, row.account_id, 0, info, now)


def _backfill_batch(
    conn: Connection, sequence_id: int, account_id: int, after: int, info: SequenceInfo, now: datetime
) -> int:
    """Find the dates of the next batch of subscribers (locked, as a profile change locks them)."""
    batch = subscriber_store.batch_after(conn, account_id, after, BACKFILL_BATCH)
    _write(conn, account_id, sequence_id, info, batch, now)
    store.reached(conn, sequence_id, batch[-1].id if len(batch) == BACKFILL_BATCH else None)
    return len(batch)


def backfill(db: Database, now: datetime) -> int:
    """Worker: find the dates of one more batch of subscribers of a sequence still being rebuilt."""
    with db.write() as conn:
        found = store.unfinished(conn)
        if found is None:
            return 0
        sequence_id, account_id, after = found
        info = _infos(conn, [sequence_id]).get(sequence_id)
        if info is None:  # paused or deleted meanwhile: its rows were dropped with it
            store.drop_sequence(conn, sequence_id)
            return 0
        return _backfill_batch(conn, sequence_id, account_id, after, info, now)


def _write(
    conn: Connection,
    account_id: int,
    sequence_id: int,
    info: SequenceInfo,
    subs: Sequence[SubscriberRow],
    now: datetime,
) -> None:
    due: dict[int, int | None] = {}
    notes: list[NewEntry] = []
    for sub in subs:
        found = date_entry.next_entry(info, sub.data, now)
        due[sub.id] = to_us(found[0]) if found else None
        notes += [
            NewEntry(account_id, sub.id, to_us(n.at), n.kind, n.sequence, n.detail)
            for n in date_entry.unparsable_notes(info, sub.data, now)
        ]
    store.set_due(conn, account_id, sequence_id, due)
    if notes:
        add_entries(conn, notes)


def refresh(
    conn: Connection, account_id: int, subscriber_ids: Sequence[int], now: datetime, touch: Touch = EVERYTHING
) -> None:
    """Write again the next dates of these subscribers for the sequences whose date fields the change touched."""
    if not subscriber_ids:
        return
    keys = store.sequences_of(conn, account_id)
    if not keys:
        return
    infos = _infos(conn, list(keys))
    wanted = {sid: info for sid, info in infos.items() if touch.everything or _touches(touch, info)}
    if not wanted:
        return
    subs = [s for s in subscriber_store.by_ids(conn, sorted(set(subscriber_ids))) if s.account_id == account_id]
    for sequence_id, info in wanted.items():
        _write(conn, account_id, sequence_id, info, subs, now)


def _touches(touch: Touch, info: SequenceInfo) -> bool:
    return any(path_touches(sorted(touch.data), path) for path in date_entry.fields_read(info))


def _infos(conn: Connection, sequence_ids: Sequence[int]) -> dict[int, SequenceInfo]:
    found = {}
    for row in sequence_store.by_ids(conn, list(sequence_ids)):
        info = _info(conn, row)
        if info is not None:
            found[row.id] = info
    return found


def fire_due(db: Database, now: datetime, limit: int = 1000) -> int:
    """Queue the `date_reached` events that fell due by `now`; return how many rows were handled."""
    with db.write() as conn:
        rows = store.due(conn, to_us(now), limit)
        if not rows:
            return 0
        infos = _infos(conn, sorted({r.sequence_id for r in rows}))
        subs = {s.id: s for s in subscriber_store.by_ids(conn, sorted({r.subscriber_id for r in rows}))}
        events: list[NewEvent] = []
        later: dict[tuple[int, int, int], int | None] = {}
        for row in rows:
            info, sub = infos.get(row.sequence_id), subs.get(row.subscriber_id)
            moment = from_us(row.due_at)
            if info is None or sub is None:
                later[(row.account_id, row.sequence_id, row.subscriber_id)] = None
                continue
            due = date_entry.due_at(info, sub.data, moment)
            if due is not None:
                payload = date_entry.entry_payload(info, due, sub.data)
                happened = Happened("date_reached", payload)
                events.append(new_event(row.account_id, sub.id, happened, source="date", accepted_at=to_us(now)))
            following = date_entry.next_entry(info, sub.data, max(moment, now))
            later[(row.account_id, row.sequence_id, row.subscriber_id)] = to_us(following[0]) if following else None
        inbox_store.add(conn, events)
        _reschedule(conn, later)
    return len(rows)


def _reschedule(conn: Connection, later: Mapping[tuple[int, int, int], int | None]) -> None:
    by_sequence: dict[tuple[int, int], dict[int, int | None]] = {}
    for (account_id, sequence_id, subscriber_id), at in later.items():
        by_sequence.setdefault((account_id, sequence_id), {})[subscriber_id] = at
    for (account_id, sequence_id), due in by_sequence.items():
        store.set_due(conn, account_id, sequence_id, due)


def dates_ahead(db: Database, account_id: int, key: str) -> tuple[int, bool] | None:
    """(subscribers with a step-1 date ahead, whether some are still being read) for the sequence; None when it
    does not enter by a date."""
    with db.read() as conn:
        found = [sid for sid, k in store.sequences_of(conn, account_id).items() if k == key]
        return (store.count(conn, found[0]), store.is_unfinished(conn, found[0])) if found else None


def resync_account(conn: Connection, account_id: int, now: datetime) -> None:
    """Rebuild the due dates of every sequence of the account that enters by a date (its zone changed)."""
    for row in sequence_store.by_ids(conn, sorted(store.sequences_of(conn, account_id))):
        sync(conn, row, now)
