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

from stepwise.domain.instants import from_us, iso
from stepwise.ids import new_id
from stepwise.storage import counters as counter_store
from stepwise.storage import schema as t
from stepwise.storage.codec import dumps
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


def subscriber_emails(conn: Connection, account_id: int) -> dict[int, str]:
    """The account's subscribers' addresses, by id."""
    query = select(t.subscribers.c.id, t.subscribers.c.email).where(t.subscribers.c.account_id == account_id)
    return {int(r[0]): str(r[1]) for r in conn.execute(query)}


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


def write_transitions(conn: Connection, of: Transitioned, events: Sequence[tuple[int, int, str]]) -> None:
    """Write raw what the engine writes per (inbox id, subscriber id, email) for the bench's signup event.

    Delete the inbox row; insert a run at step 2 (with the event it entered by), three timeline entries
    (the event, the entry, the transition), a queued issue and its outbox row, each with texts of the
    shape and size the engine writes; add to the counters the engine moves.
    """
    fast_delete(conn, t.inbox, "id", [inbox_id for inbox_id, _, _ in events])
    texts = _Texts.of(of)
    fast_insert(conn, t.runs, _run_rows(of, texts, events))
    fast_insert(conn, t.timeline, _timeline_rows(of, texts, events))
    issues = [(new_id(), sid, email) for _, sid, email in events]
    fast_insert(conn, t.issues, _issue_rows(of, issues))
    fast_insert(conn, t.outbox, _outbox_rows(of, texts, issues))
    n = len(events)
    counter_store.add(
        conn,
        [
            (of.account_id, of.sequence_id, metric, step, variant, n)
            for metric, step, variant in (("entered", 0, 0), ("subscribers", 0, 0), ("fired", 1, 1), ("on_step", 2, 0))
        ],
    )


@dataclass(frozen=True, slots=True)
class _Texts:
    """The JSON texts of one signup transition, as the engine writes them (built once per batch)."""

    entry: str
    details: tuple[tuple[str, str | None, str], ...]  # (kind, sequence, detail) of the three entries
    payload: str

    @staticmethod
    def of(of: Transitioned) -> _Texts:
        at = iso(from_us(of.now_us))
        entry = {"type": "custom", "name": "signup", "source": "api", "at": at, "occurred_at": at, "data": {}}
        sent = {"action": "send_email", "draft": of.draft, "result": "queued"}
        transition = {"pass": 1, "step": 1, "variant": 1, "trigger": "custom", "actions": [sent]}
        details = (
            ("event", None, {"event": "custom", "source": "api", "payload": {"name": "signup", "data": {}}}),
            ("entered", of.sequence, {"pass": 1, "via": "custom"}),
            ("transition", of.sequence, {**transition, "result": "arrived at step 2"}),
        )
        job = {"draft": of.draft, "event": {}, "data": {"base": {"firstName": "User"}}, "sequence": of.sequence}
        payload = {**job, "step": 1, "at": of.now_us, "entry": entry}
        return _Texts(dumps(entry), tuple((kind, seq, dumps(detail)) for kind, seq, detail in details), dumps(payload))


def _run_rows(of: Transitioned, texts: _Texts, events: Sequence[tuple[int, int, str]]) -> list[dict[str, Any]]:
    wake = of.now_us + 86_400_000_000
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
            "wake_at": wake,
            "claimable_at": wake,
            "recheck": False,
            "last_variant": 1,
            "entry": texts.entry,
        }
        for _, sid, _ in events
    ]


def _timeline_rows(of: Transitioned, texts: _Texts, events: Sequence[tuple[int, int, str]]) -> list[dict[str, Any]]:
    return [
        {
            "account_id": of.account_id,
            "subscriber_id": sid,
            "at": of.now_us,
            "kind": kind,
            "sequence": seq,
            "detail": detail,
        }
        for _, sid, _ in events
        for kind, seq, detail in texts.details
    ]


def _issue_rows(of: Transitioned, issues: Sequence[tuple[str, int, str]]) -> list[dict[str, Any]]:
    return [
        {
            "id": issue_id,
            "account_id": of.account_id,
            "subscriber_id": sid,
            "email": email,
            "email_key": email,
            "draft": of.draft,
            "sequence": of.sequence,
            "step": 1,
            "variant": 1,
            "pass_no": 1,
            "group_name": "transactional",
            "status": "queued",
            "created_at": of.now_us,
        }
        for issue_id, sid, email in issues
    ]


def _outbox_rows(of: Transitioned, texts: _Texts, issues: Sequence[tuple[str, int, str]]) -> list[dict[str, Any]]:
    return [
        {
            "account_id": of.account_id,
            "kind": "email",
            "issue_id": issue_id,
            "subscriber_id": sid,
            "sequence_id": of.sequence_id,
            "pass_no": 1,
            "payload": texts.payload,
            "available_at": of.now_us,
            "created_at": of.now_us,
        }
        for issue_id, sid, _ in issues
    ]
