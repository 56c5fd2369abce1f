"""Setting aside what the worker cannot handle, so that nothing stored stops processing for others.

What is set aside is recorded in the `quarantine` table with its error and shown to the account: on
the subscriber's timeline (an entry of kind `quarantined`), in `/metrics` and as a notice in the UI.

- an **event** whose payload cannot be decoded, or that still fails when processed alone, leaves the
  inbox (so the backlog moves on) and is kept here with its stored text;
- a **sequence** whose stored definition cannot be read is recorded once; the worker treats it as
  paused until a valid definition is saved (or it is deleted), which also clears the record;
- an **outbox** row that cannot be decoded or prepared is recorded as failed and kept here;
- a **subscriber** whose own row makes every processing fail: their pending events are set aside and
  their runs are held (out of the due index) so that they are not claimed again and again.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from stepwise.domain.instants import iso
from stepwise.domain.statuses import QuarantineKind
from stepwise.services import cursors
from stepwise.services.catalog import Broken
from stepwise.storage import inbox as inbox_store
from stepwise.storage import quarantine as quarantine_store
from stepwise.storage import runs as run_store
from stepwise.storage import timeline as timeline_store
from stepwise.storage.codec import dumps, from_us
from stepwise.storage.database import Database
from stepwise.storage.inbox import InboxRow
from stepwise.storage.timeline import NewEntry

TIMELINE_KIND = "quarantined"


def describe_error(exc: BaseException) -> str:
    """The error as it is recorded: its type and message."""
    return f"{type(exc).__name__}: {exc}"


def event_rows(row: InboxRow, error: str, now_us: int) -> tuple[quarantine_store.NewItem, NewEntry]:
    """Return the quarantine row and the timeline entry that set an inbox event aside."""
    kept = {
        "kind": row.kind,
        "source": row.source,
        "occurred_at": row.occurred_at,
        "accepted_at": row.accepted_at,
        "payload": row.raw if row.raw is not None else row.payload,
    }
    item = quarantine_store.item(
        row.account_id, "event", str(row.id), error, now_us, subscriber_id=row.subscriber_id, payload=dumps(kept)
    )
    detail = {
        "set_aside": "event",
        "event": row.kind,
        "accepted": iso(from_us(row.accepted_at)),
        "error": item.error[:500],
    }
    entry = NewEntry(row.account_id, row.subscriber_id, now_us, TIMELINE_KIND, None, detail)
    return item, entry


def set_aside_events(conn: Connection, rows: list[InboxRow], error: str | None, now_us: int) -> None:
    """Move events out of the inbox into the quarantine, each with `error` or its own decoding error."""
    items, entries = [], []
    for row in rows:
        item, entry = event_rows(row, error or row.error or "unreadable event", now_us)
        items.append(item)
        entries.append(entry)
    quarantine_store.add(conn, items)
    timeline_store.add_entries(conn, entries)
    inbox_store.remove(conn, [row.id for row in rows])


def set_aside_subscriber(conn: Connection, account_id: int, subscriber_id: int, error: str, now_us: int) -> None:
    """Hold a subscriber that cannot be processed: their pending events leave the inbox, their runs the due index."""
    item = quarantine_store.item(
        account_id, "subscriber", str(subscriber_id), error, now_us, subscriber_id=subscriber_id
    )
    quarantine_store.add_once(conn, item)
    pending = [row for ref in inbox_store.pending_of(conn, subscriber_id) if (row := inbox_store.by_id(conn, ref.id))]
    set_aside_events(conn, pending, f"its subscriber was set aside: {error}", now_us)
    held = [
        run_store.RunChange(run.id, run_store.state_of(run, claimable_at=None))
        for run in run_store.of_subscriber(conn, account_id, subscriber_id)
        if run.claimable_at is not None
    ]
    run_store.save_changes(conn, held)
    entry = {"set_aside": "subscriber", "error": item.error[:500], "runs_held": len(held)}
    timeline_store.add_entries(conn, [NewEntry(account_id, subscriber_id, now_us, TIMELINE_KIND, None, entry)])


def note_broken_sequences(conn: Connection, account_id: int, broken: Mapping[int, Broken], now_us: int) -> None:
    """Record each unreadable definition once (until it is replaced or deleted)."""
    for seq in broken.values():
        quarantine_store.add_once(conn, quarantine_store.item(account_id, "sequence", seq.key, seq.error, now_us))


# ---------------------------------------------------------------- what the account sees


def summary(db: Database, account_id: int) -> dict[str, int]:
    """Return {kind: items} set aside for the account (empty when none)."""
    with db.read() as conn:
        return quarantine_store.count_of_account(conn, account_id)


# One item the worker set aside, as the UI lists it.
class SetAsideItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    kind: QuarantineKind
    ref: str
    subscriber_id: int | None
    email: str | None
    error: str
    payload: str | None
    at: str


def page(db: Database, account_id: int, *, cursor: str | None, limit: int) -> tuple[list[SetAsideItem], str | None]:
    """Return the account's set-aside items, newest first, and the cursor of the next page."""
    before = cursors.decode_int(cursor) or None
    with db.read() as conn:
        rows = quarantine_store.page(conn, account_id, before_id=before, limit=limit)
    items = [
        SetAsideItem(
            id=row.id,
            kind=row.kind,
            ref=row.ref,
            subscriber_id=row.subscriber_id,
            email=row.email,
            error=row.error,
            payload=row.payload,
            at=iso(from_us(row.created_at)),
        )
        for row in rows
    ]
    return items, cursors.encode(rows[-1].id) if len(rows) == limit else None


def dismiss(db: Database, account_id: int, item_id: int) -> bool:
    """Forget one item the user has seen; False when the account has no such item."""
    with db.write() as conn:
        return quarantine_store.dismiss(conn, account_id, item_id)
