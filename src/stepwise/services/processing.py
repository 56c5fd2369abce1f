"""Run the engine for locked subscribers and commit its outcome with the outbox (S7, S14).

The worker calls `process_locked` for batches it claimed; API operations on one run (start, stop,
pause, resume) and subscriber deletion call it for one subscriber with extra inputs. Either way the
subscriber's pending events are applied first, in acceptance order (S13).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from stepwise.engine.model import EmailCommand, Event, Input, Outcome, Run, Subscriber, UrlCommand
from stepwise.engine.processor import process
from stepwise.ids import new_id
from stepwise.services.catalog import AccountSequences, SequenceCatalog
from stepwise.storage import counters as counter_store
from stepwise.storage import inbox as inbox_store
from stepwise.storage import issues as issue_store
from stepwise.storage import lists as list_store
from stepwise.storage import outbox as outbox_store
from stepwise.storage import runs as run_store
from stepwise.storage import schema as t
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage import timeline as timeline_store
from stepwise.storage.codec import from_us, opt_from_us, opt_to_us, to_us
from stepwise.storage.runs import RunRow
from stepwise.storage.subscribers import SubscriberRow


@dataclass
class BatchResult:
    """What one processing batch did (for metrics and the benchmark)."""

    subscribers: int = 0
    events: int = 0
    transitions: int = 0
    commands: int = 0
    outcomes: dict[int, Outcome] = field(default_factory=dict)


def process_locked(
    conn: Connection,
    catalog: SequenceCatalog,
    subscriber_ids: Sequence[int],
    now: datetime,
    extra: Mapping[int, Sequence[Input]] | None = None,
) -> BatchResult:
    """Process subscribers whose rows this transaction holds; write everything in this transaction."""
    result = BatchResult()
    subs = subscriber_store.by_ids(conn, subscriber_ids)
    gone = set(subscriber_ids) - {s.id for s in subs}
    if gone:  # deleted since their events were queued: nothing is left to apply them to
        inbox_store.remove_of_subscribers(conn, sorted(gone))
    by_account: dict[int, list[SubscriberRow]] = defaultdict(list)
    for sub in subs:
        by_account[sub.account_id].append(sub)
    events = inbox_store.of_subscribers(conn, [s.id for s in subs])
    for account_id, members in sorted(by_account.items()):
        seqs = catalog.for_account(conn, account_id)
        _process_account(conn, account_id, seqs, members, events, now, extra or {}, result)
    return result


def _process_account(
    conn: Connection,
    account_id: int,
    seqs: AccountSequences,
    members: list[SubscriberRow],
    events: Mapping[int, Sequence[inbox_store.InboxRow]],
    now: datetime,
    extra: Mapping[int, Sequence[Input]],
    result: BatchResult,
) -> None:
    ids = [s.id for s in members]
    memberships = subscriber_store.list_keys(conn, account_id, ids)
    open_runs = run_store.open_runs(conn, account_id, ids)
    passes = run_store.passes(conn, account_id, ids)
    writer = _Writer(account_id, seqs, now)
    for sub in members:
        pending = events.get(sub.id, [])
        inputs: list[Input] = [
            Event(
                kind=e.kind,
                payload=e.payload,
                source=e.source,
                at=from_us(e.accepted_at),
                occurred_at=from_us(e.occurred_at),
                id=e.id,
            )
            for e in pending
        ]
        inputs.extend(extra.get(sub.id, ()))
        subscriber = Subscriber(
            id=sub.id, email=sub.email, status=sub.status, data=sub.data, lists=set(memberships.get(sub.id, ()))
        )
        rows = {row.sequence_id: row for row in open_runs.get(sub.id, [])}
        runs = [_to_run(row, seqs) for row in rows.values() if row.sequence_id in seqs.keys]
        sub_passes = {seqs.keys[sid]: n for sid, n in passes.get(sub.id, {}).items() if sid in seqs.keys}
        outcome = process(subscriber, runs, sub_passes, seqs.infos, inputs, now)
        writer.collect(sub, outcome, [e.id for e in pending])
        result.subscribers += 1
        result.events += len(pending)
        result.transitions += outcome.transitions
        result.commands += len(outcome.commands)
        result.outcomes[sub.id] = outcome
    writer.flush(conn)


def _to_run(row: RunRow, seqs: AccountSequences) -> Run:
    return Run(
        sequence=seqs.keys[row.sequence_id],
        pass_no=row.pass_no,
        status=row.status,  # type: ignore[arg-type]
        step=row.step,
        entered_at=from_us(row.entered_at),
        step_entered_at=from_us(row.step_entered_at),
        wake_at=opt_from_us(row.wake_at),
        ended_at=opt_from_us(row.ended_at),
        end_reason=row.end_reason,  # type: ignore[arg-type]
        recheck=row.recheck,
        resumed_at=opt_from_us(row.resumed_at),
        id=row.id,
    )


class _Writer:
    """Gathers one account's outcomes and writes them with a few bulk statements."""

    def __init__(self, account_id: int, seqs: AccountSequences, now: datetime) -> None:
        self.account_id = account_id
        self.seqs = seqs
        self.now_us = to_us(now)
        self.data: list[tuple[int, dict[str, Any]]] = []
        self.joined: list[tuple[int, str]] = []
        self.left: list[tuple[int, str]] = []
        self.new_runs: list[dict[str, Any]] = []
        self.changed_runs: list[dict[str, Any]] = []
        self.inbox_done: list[int] = []
        self.timeline: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.counters: Counter[tuple[int, str, int, int]] = Counter()
        self.deleted: list[int] = []

    def collect(self, sub: SubscriberRow, outcome: Outcome, inbox_ids: list[int]) -> None:
        self.inbox_done.extend(inbox_ids)
        if outcome.deleted:
            self.deleted.append(sub.id)
        elif outcome.data_changed:
            self.data.append((sub.id, outcome.subscriber.data))
        self.joined.extend((sub.id, key) for key in sorted(outcome.lists_joined))
        self.left.extend((sub.id, key) for key in sorted(outcome.lists_left))
        for run in outcome.runs.values():
            self._run(sub.id, run)
        for entry in outcome.timeline:
            self.timeline.append(
                {
                    "account_id": self.account_id,
                    "subscriber_id": sub.id,
                    "at": to_us(entry.at),
                    "kind": entry.kind,
                    "sequence": entry.sequence,
                    "detail": entry.detail,
                }
            )
        for command in outcome.commands:
            self._command(sub, command)
        for (seq_key, metric, step, variant), delta in outcome.counters.items():
            if seq_key in self.seqs.ids:
                self.counters[(self.seqs.ids[seq_key], metric, step, variant)] += delta

    def _run(self, subscriber_id: int, run: Run) -> None:
        seq = self.seqs.infos.get(run.sequence)
        open_ = run.status == "active" and seq is not None and seq.status == "active"
        claimable = None
        if open_:
            claimable = self.now_us if run.recheck else opt_to_us(run.wake_at)
        values = {
            "status": run.status,
            "step": run.step,
            "step_entered_at": to_us(run.step_entered_at),
            "wake_at": opt_to_us(run.wake_at),
            "claimable_at": claimable,
            "recheck": run.recheck,
            "resumed_at": opt_to_us(run.resumed_at),
            "ended_at": opt_to_us(run.ended_at),
            "end_reason": run.end_reason,
        }
        if run.id is None:
            self.new_runs.append(
                {
                    "account_id": self.account_id,
                    "sequence_id": self.seqs.ids[run.sequence],
                    "subscriber_id": subscriber_id,
                    "pass_no": run.pass_no,
                    "entered_at": to_us(run.entered_at),
                    **values,
                }
            )
        else:
            self.changed_runs.append({"id": run.id, **values})

    def _command(self, sub: SubscriberRow, command: EmailCommand | UrlCommand) -> None:
        seq_id = self.seqs.ids[command.sequence]
        base = {
            "account_id": self.account_id,
            "subscriber_id": sub.id,
            "sequence_id": seq_id,
            "pass_no": command.pass_no,
            "available_at": self.now_us,
            "created_at": self.now_us,
        }
        if isinstance(command, EmailCommand):
            issue_id = new_id()
            self.issues.append(
                {
                    "id": issue_id,
                    "account_id": self.account_id,
                    "subscriber_id": sub.id,
                    "email": sub.email,
                    "email_key": sub.email_key,
                    "draft": command.draft,
                    "sequence": command.sequence,
                    "step": command.step,
                    "variant": command.variant,
                    "pass_no": command.pass_no,
                    "group_name": "transactional",
                    "status": "skipped" if command.skip_reason else "queued",
                    "reason": command.skip_reason,
                    "created_at": to_us(command.at),
                }
            )
            if command.skip_reason is None:
                self.outbox.append(
                    {
                        **base,
                        "kind": "email",
                        "issue_id": issue_id,
                        "payload": {
                            "draft": command.draft,
                            "event": command.event,
                            "data": command.data,
                            "sequence": command.sequence,
                            "step": command.step,
                            "at": to_us(command.at),
                        },
                    }
                )
        else:
            self.outbox.append(
                {
                    **base,
                    "kind": "url",
                    "issue_id": None,
                    "payload": {
                        "action": command.action,
                        "event": command.event,
                        "data": command.data,
                        "email": sub.email,
                        "sequence": command.sequence,
                        "step": command.step,
                        "at": to_us(command.at),
                    },
                }
            )

    def flush(self, conn: Connection) -> None:
        subscriber_store.save_data_many(conn, self.data, self.now_us)
        if self.joined or self.left:
            ids = list_store.ids_by_key(conn, self.account_id, [k for _, k in self.joined + self.left])
            list_store.add_members(
                conn, self.account_id, [(ids[k], s) for s, k in self.joined if k in ids], self.now_us
            )
            list_store.remove_members(conn, self.account_id, [(ids[k], s) for s, k in self.left if k in ids])
        run_store.insert_many(conn, self.new_runs)
        run_store.update_many(conn, self.changed_runs)
        inbox_store.remove(conn, self.inbox_done)
        timeline_store.add(conn, self.timeline)
        issue_store.add(conn, self.issues)
        outbox_store.add(conn, self.outbox)
        counter_store.add(
            conn,
            [
                (self.account_id, sid, metric, step, variant, delta)
                for (sid, metric, step, variant), delta in self.counters.items()
            ],
        )
        for subscriber_id in self.deleted:
            subscriber_store.delete_one(conn, self.account_id, subscriber_id)


def forget_orphans(conn: Connection, candidate_ids: Sequence[int], locked: Sequence[int]) -> None:
    """Drop inbox rows of subscribers that no longer exist (so they do not clog the queue)."""
    missing = sorted(set(candidate_ids) - set(locked))
    if not missing:
        return
    present = {r[0] for r in conn.execute(select(t.subscribers.c.id).where(t.subscribers.c.id.in_(missing)))}
    gone = [sid for sid in missing if sid not in present]
    if gone:
        from sqlalchemy import delete

        conn.execute(delete(t.inbox).where(t.inbox.c.subscriber_id.in_(gone)))
