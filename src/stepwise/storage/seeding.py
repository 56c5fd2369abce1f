"""What the benchmark workloads seed and read (`stepwise bench`): subscribers, inbox events, waiting runs,
and the raw rows of one event's transition written without the engine (the floor figure).

Seeding writes with plain executemany inserts and, unlike the application's own writers, sends no
wake-up notification: the workloads decide when the workers see the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from stepwise.ids import new_id
from stepwise.storage import counters as counter_store
from stepwise.storage import schema as t
from stepwise.storage.dialects import fast_delete, fast_insert


@dataclass(frozen=True, slots=True)
class WaitingRun:
    """A run to plant: its subscriber, when it entered its step and when its deadline falls due (µs)."""

    subscriber_id: int
    entered_at_us: int
    wake_at_us: int


def add_subscribers(
    conn: Connection, account_id: int, emails: Sequence[str], data: str, now_us: int, *, chunk: int
) -> None:
    """Insert active subscribers with these emails (also their keys) and stored `data` text, `chunk` per statement."""
    rows = [
        {
            "account_id": account_id,
            "email": email,
            "email_key": email,
            "status": "active",
            "data": data,
            "created_at": now_us,
            "updated_at": now_us,
        }
        for email in emails
    ]
    for start in range(0, len(rows), chunk):
        conn.execute(insert(t.subscribers), rows[start : start + chunk])


def subscriber_ids(conn: Connection, account_id: int) -> list[int]:
    """The ids of the account's subscribers, in id order."""
    query = select(t.subscribers.c.id).where(t.subscribers.c.account_id == account_id).order_by(t.subscribers.c.id)
    return [int(r[0]) for r in conn.execute(query)]


def sequence_ids(conn: Connection, account_id: int) -> dict[str, int]:
    """The account's sequences: key -> id."""
    query = select(t.sequences.c.key, t.sequences.c.id).where(t.sequences.c.account_id == account_id)
    return {str(r[0]): int(r[1]) for r in conn.execute(query)}


def add_custom_events(
    conn: Connection, account_id: int, subscriber_ids: Sequence[int], name: str, accepted_at_us: int
) -> None:
    """Insert one accepted custom event `name` (with empty data) per subscriber into the inbox."""
    rows = [
        {
            "account_id": account_id,
            "subscriber_id": sid,
            "kind": "custom",
            "payload": f'{{"name":"{name}","data":{{}}}}',
            "source": "api",
            "occurred_at": accepted_at_us,
            "accepted_at": accepted_at_us,
        }
        for sid in subscriber_ids
    ]
    conn.execute(insert(t.inbox), rows)


def add_waiting_runs(
    conn: Connection, account_id: int, sequence_id: int, step: int, runs: Sequence[WaitingRun], *, chunk: int
) -> None:
    """Insert active runs at `step` of the sequence, `chunk` per statement, and count them (entered, on the step)."""
    rows = [
        {
            "account_id": account_id,
            "sequence_id": sequence_id,
            "subscriber_id": run.subscriber_id,
            "pass_no": 1,
            "status": "active",
            "step": step,
            "entered_at": run.entered_at_us,
            "step_entered_at": run.entered_at_us,
            "wake_at": run.wake_at_us,
            "claimable_at": run.wake_at_us,
            "recheck": False,
        }
        for run in runs
    ]
    for start in range(0, len(rows), chunk):
        conn.execute(insert(t.runs), rows[start : start + chunk])
    counter_store.add(
        conn,
        [
            (account_id, sequence_id, "on_step", step, 0, len(rows)),
            (account_id, sequence_id, "entered", 0, 0, len(rows)),
        ],
    )


def inbox_ids(conn: Connection) -> list[int]:
    """The ids of every inbox row, in id order."""
    return [int(r[0]) for r in conn.execute(select(t.inbox.c.id).order_by(t.inbox.c.id))]


@dataclass(frozen=True, slots=True)
class Transitioned:
    """Events whose transition the floor workload writes: which sequence and draft, at what time (µs)."""

    account_id: int
    sequence_id: int
    sequence: str
    draft: str
    now_us: int


def write_transitions(conn: Connection, of: Transitioned, events: Sequence[tuple[int, int]]) -> None:
    """Write raw what the engine writes per (inbox id, subscriber id): delete the inbox row; insert a run
    at step 2, two timeline entries, a queued issue and its outbox row; add to the entered counter."""
    fast_delete(conn, t.inbox, "id", [inbox_id for inbox_id, _ in events])
    subscribers = [sid for _, sid in events]
    fast_insert(conn, t.runs, _run_rows(of, subscribers))
    fast_insert(conn, t.timeline, _timeline_rows(of, subscribers))
    issues = [(new_id(), sid) for sid in subscribers]
    fast_insert(conn, t.issues, _issue_rows(of, issues))
    fast_insert(conn, t.outbox, _outbox_rows(of, issues))
    counter_store.add(conn, [(of.account_id, of.sequence_id, "entered", 0, 0, len(events))])


def _run_rows(of: Transitioned, subscribers: Sequence[int]) -> list[dict[str, Any]]:
    return [
        {
            "account_id": of.account_id,
            "sequence_id": of.sequence_id,
            "subscriber_id": sid,
            "pass_no": 1,
            "status": "active",
            "step": 2,
            "entered_at": of.now_us,
            "step_entered_at": of.now_us,
            "wake_at": of.now_us,
            "claimable_at": of.now_us,
            "recheck": False,
        }
        for sid in subscribers
    ]


def _timeline_rows(of: Transitioned, subscribers: Sequence[int]) -> list[dict[str, Any]]:
    return [
        {
            "account_id": of.account_id,
            "subscriber_id": sid,
            "at": of.now_us,
            "kind": kind,
            "sequence": of.sequence,
            "detail": "{}",
        }
        for sid in subscribers
        for kind in ("event", "transition")
    ]


def _issue_rows(of: Transitioned, issues: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    return [
        {
            "id": issue_id,
            "account_id": of.account_id,
            "subscriber_id": sid,
            "email": "x",
            "email_key": "x",
            "draft": of.draft,
            "group_name": "t",
            "status": "queued",
            "created_at": of.now_us,
        }
        for issue_id, sid in issues
    ]


def _outbox_rows(of: Transitioned, issues: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    return [
        {
            "account_id": of.account_id,
            "kind": "email",
            "issue_id": issue_id,
            "subscriber_id": sid,
            "sequence_id": of.sequence_id,
            "pass_no": 1,
            "payload": "{}",
            "available_at": of.now_us,
            "created_at": of.now_us,
        }
        for issue_id, sid in issues
    ]
