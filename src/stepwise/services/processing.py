"""Run the engine for locked subscribers and commit its outcome with the outbox (S7, S14).

The worker calls `process_locked` for batches it claimed; API operations on one run (start, stop,
pause, resume) and subscriber deletion call it for one subscriber with extra inputs. Either way the
subscriber's pending events are applied first, in acceptance order (S13).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import Any

import orjson
from sqlalchemy import Connection

from stepwise.domain.jobs import EmailJob, UrlCallJob
from stepwise.engine.model import EmailCommand, Event, Input, Outcome, Run, Subscriber, UrlCommand
from stepwise.engine.processor import process
from stepwise.ids import new_id
from stepwise.services import date_triggers, quarantine, segment_upkeep, webhook_facts
from stepwise.services.catalog import AccountSequences, SequenceCatalog
from stepwise.storage import claims as claim_store
from stepwise.storage import counters as counter_store
from stepwise.storage import inbox as inbox_store
from stepwise.storage import issues as issue_store
from stepwise.storage import lists as list_store
from stepwise.storage import outbox as outbox_store
from stepwise.storage import runs as run_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage import timeline as timeline_store
from stepwise.storage.codec import from_us, opt_from_us, opt_to_us, to_us
from stepwise.storage.counters import CounterDelta
from stepwise.storage.outbox import NewOutboxRow
from stepwise.storage.runs import NewRun, RunChange, RunRow, RunState
from stepwise.storage.subscribers import SubscriberRow
from stepwise.storage.timeline import NewEntry


@dataclass
class BatchResult:
    """What one processing batch did (for metrics and the benchmark)."""

    subscribers: int = 0
    events: int = 0
    transitions: int = 0
    commands: int = 0
    outcomes: dict[int, Outcome] = field(default_factory=dict)

    def add(self, part: BatchResult) -> None:
        """Add another result to this one."""
        self.subscribers += part.subscribers
        self.events += part.events
        self.transitions += part.transitions
        self.commands += part.commands
        self.outcomes.update(part.outcomes)


class BatchFailed(Exception):
    """Processing a claimed batch failed for a reason other than the database (its transaction rolled back)."""

    def __init__(self, subscriber_ids: list[int]) -> None:
        super().__init__(f"a batch of {len(subscriber_ids)} subscribers failed")
        self.subscriber_ids = subscriber_ids


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """One pending inbox event of a subscriber: its id and acceptance time."""

    id: int
    accepted_at: datetime


def process_locked(
    conn: Connection,
    catalog: SequenceCatalog,
    subscriber_ids: Sequence[int],
    now: datetime,
    extra: Mapping[int, Sequence[Input]] | None = None,
    *,
    upto: int | None = None,
    test_starts: Mapping[int, frozenset[str]] | None = None,
) -> BatchResult:
    """Process subscribers whose rows this transaction holds; write everything in this transaction.

    `upto` limits the events taken to those with an id up to it (0: none), for processing one event at
    a time after a batch failed (worker/isolation.py). `test_starts` names, per subscriber, the sequences
    whose run started now by `extra` is a test run (S19).
    """
    result = BatchResult()
    subs = subscriber_store.by_ids(conn, subscriber_ids)
    gone = set(subscriber_ids) - {s.id for s in subs}
    if gone:  # deleted since their events were queued: nothing is left to apply them to
        inbox_store.remove_of_subscribers(conn, sorted(gone))
    by_account: dict[int, list[SubscriberRow]] = defaultdict(list)
    for sub in subs:
        by_account[sub.account_id].append(sub)
    events = inbox_store.of_subscribers(conn, [s.id for s in subs])
    if upto is not None:
        events = {sid: [e for e in rows if e.id <= upto] for sid, rows in events.items()}
    for account_id, members in sorted(by_account.items()):
        seqs = catalog.for_account(conn, account_id)
        if seqs.broken:  # recorded once; the worker treats them as paused (services/quarantine.py)
            quarantine.note_broken_sequences(conn, account_id, seqs.broken, to_us(now))
        writer = _Writer(account_id, seqs, now, test_starts or {})
        _process_account(conn, writer, members, events, extra or {}, result)
    return result


def _process_account(
    conn: Connection,
    writer: _Writer,
    members: list[SubscriberRow],
    events: Mapping[int, Sequence[inbox_store.InboxRow]],
    extra: Mapping[int, Sequence[Input]],
    result: BatchResult,
) -> None:
    account_id, seqs, now = writer.account_id, writer.seqs, from_us(writer.now_us)
    ids = [s.id for s in members]
    memberships = subscriber_store.list_keys(conn, account_id, ids)
    # S22: membership is read only when a segment_matches wait may need it (a query per batch otherwise)
    reads = any(info.reads_segments for info in seqs.infos.values())
    in_segments = segment_upkeep.segment_keys(conn, account_id, ids) if reads else {}
    open_runs = run_store.open_runs(conn, account_id, ids)
    passes = run_store.passes(conn, account_id, ids)
    for sub in members:
        pending = events.get(sub.id, [])
        if any(e.error is not None for e in pending):  # cannot be decoded: set aside, the others go on
            writer.aside.extend(e for e in pending if e.error is not None)
            pending = [e for e in pending if e.error is None]
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
        subscriber.segments = frozenset(in_segments.get(sub.id, ()))  # S22: for segment_matches
        rows = {row.sequence_id: row for row in open_runs.get(sub.id, [])}
        for row in rows.values():
            writer.stored[row.id] = row
        runs = [_to_run(row, seqs) for row in rows.values() if row.sequence_id in seqs.keys]
        if seqs.broken:
            writer.hold(row for row in rows.values() if row.sequence_id in seqs.broken)
        sub_passes = {seqs.keys[sid]: n for sid, n in passes.get(sub.id, {}).items() if sid in seqs.keys}
        outcome = process(subscriber, runs, sub_passes, seqs.infos, inputs, now)
        tests = {seqs.keys[r.sequence_id] for r in rows.values() if r.test and r.sequence_id in seqs.keys}
        writer.collect(sub, outcome, [e.id for e in pending], frozenset(tests))
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
        status=row.status,
        step=row.step,
        entered_at=from_us(row.entered_at),
        step_entered_at=from_us(row.step_entered_at),
        wake_at=opt_from_us(row.wake_at),
        ended_at=opt_from_us(row.ended_at),
        end_reason=row.end_reason,
        recheck=row.recheck,
        resumed_at=opt_from_us(row.resumed_at),
        id=row.id,
        version=row.version,
        last_variant=row.last_variant,
        converted_at=opt_from_us(row.converted_at),
        converted_step=row.converted_step,
        converted_variant=row.converted_variant,
        entry=orjson.loads(row.entry) if row.entry else None,  # S25
    )


class _Writer:
    """Gathers one account's outcomes and writes them with a few bulk statements."""

    def __init__(
        self, account_id: int, seqs: AccountSequences, now: datetime, test_starts: Mapping[int, frozenset[str]]
    ) -> None:
        self.account_id = account_id
        self.test_starts = test_starts
        self.seqs = seqs
        self.now_us = to_us(now)
        self.data: list[tuple[int, dict[str, Any]]] = []
        self.joined: list[tuple[int, str]] = []
        self.left: list[tuple[int, str]] = []
        self.new_runs: list[NewRun] = []
        self.changed_runs: list[RunChange] = []
        self.inbox_done: list[int] = []
        self.timeline: list[NewEntry] = []
        self.issues: list[dict[str, Any]] = []
        self.outbox: list[NewOutboxRow] = []
        self.counters: Counter[tuple[int, str, int, int]] = Counter()
        self.deleted: list[int] = []
        self.aside: list[inbox_store.InboxRow] = []  # events that cannot be decoded (poison isolation)
        self.emails: dict[int, str] = {}  # for webhook facts
        self.stored: dict[int, RunRow] = {}  # the open runs as read, by id: only what changed is written

    def hold(self, rows: Iterable[RunRow]) -> None:
        """Take runs of a sequence that cannot be read out of the due index, as if it were paused."""
        for row in rows:
            if row.claimable_at is not None:
                self.changed_runs.append(RunChange(row.id, run_store.state_of(row, claimable_at=None)))

    def collect(self, sub: SubscriberRow, outcome: Outcome, inbox_ids: list[int], tests: frozenset[str]) -> None:
        """Gather one subscriber's outcome; `tests` are the sequences where its open run is a test run (S19)."""
        starts = self.test_starts.get(sub.id, frozenset())
        tests = tests | starts
        self.inbox_done.extend(inbox_ids)
        self.emails[sub.id] = sub.email
        if outcome.deleted:
            self.deleted.append(sub.id)
        elif outcome.data_changed:
            self.data.append((sub.id, outcome.subscriber.data))
        self.joined.extend((sub.id, key) for key in sorted(outcome.lists_joined))
        self.left.extend((sub.id, key) for key in sorted(outcome.lists_left))
        for run in outcome.runs.values():
            self._run(sub.id, run, run.id is None and run.sequence in starts)
        for entry in outcome.timeline:
            test = entry.sequence in tests  # S19: marked on the timeline
            detail = {**entry.detail, "test": True} if test else entry.detail
            self.timeline.append(NewEntry(self.account_id, sub.id, to_us(entry.at), entry.kind, entry.sequence, detail))
        for command in outcome.commands:
            self._command(sub, command, command.sequence in tests)
        for (seq_key, metric, step, variant), delta in outcome.counters.items():
            if seq_key in self.seqs.ids and seq_key not in tests:  # S19: test runs are in no statistic
                self.counters[(self.seqs.ids[seq_key], metric, step, variant)] += delta

    def _run(self, subscriber_id: int, run: Run, test: bool) -> None:
        seq = self.seqs.infos.get(run.sequence)
        open_ = run.status == "active" and seq is not None and seq.status == "active"
        claimable = None
        if open_:
            claimable = self.now_us if run.recheck else opt_to_us(run.wake_at)
        state = RunState(
            status=run.status,
            step=run.step,
            step_entered_at=to_us(run.step_entered_at),
            wake_at=opt_to_us(run.wake_at),
            claimable_at=claimable,
            recheck=run.recheck,
            resumed_at=opt_to_us(run.resumed_at),
            ended_at=opt_to_us(run.ended_at),
            end_reason=run.end_reason,
            last_variant=run.last_variant,
            converted_at=opt_to_us(run.converted_at),
            converted_step=run.converted_step,
            converted_variant=run.converted_variant,
        )
        if run.id is None:
            sequence_id = self.seqs.ids[run.sequence]
            self.new_runs.append(
                NewRun(
                    self.account_id,
                    sequence_id,
                    subscriber_id,
                    run.pass_no,
                    to_us(run.entered_at),
                    state,
                    run.version or self.seqs.live_versions.get(sequence_id, 1),
                    orjson.dumps(run.entry).decode() if run.entry is not None else None,
                    test,
                )
            )
        else:
            stored = self.stored.get(run.id)
            before = run_store.stored_values(stored) if stored is not None else None
            self.changed_runs.append(RunChange(run.id, state, before))

    def _command(self, sub: SubscriberRow, command: EmailCommand | UrlCommand, test: bool) -> None:
        seq_id, at = self.seqs.ids[command.sequence], to_us(command.at)
        if test and isinstance(command, UrlCommand):  # S19: a test run calls no URL; the timeline says so
            detail = {"step": command.step, "reason": "test_run", "test": True}
            self.timeline.append(NewEntry(self.account_id, sub.id, at, "url_skipped", command.sequence, detail))
            return
        job: EmailJob | UrlCallJob
        issue_id = None
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
                    "group_name": "test" if test else "transactional",  # S19: group `test` is in no statistic
                    "status": "skipped" if command.skip_reason else "queued",
                    "reason": command.skip_reason,
                    "created_at": at,
                    "test": test,
                }
            )
            if command.skip_reason is not None:
                return
            job = EmailJob(
                command.draft, command.event, command.data, command.sequence, command.step, at, command.entry, test
            )
        else:
            job = UrlCallJob(
                command.action,
                command.event,
                command.data,
                sub.email,
                command.sequence,
                command.step,
                at,
                command.entry,
            )
        self.outbox.append(NewOutboxRow(self.account_id, sub.id, seq_id, command.pass_no, issue_id, job, self.now_us))

    def flush(self, conn: Connection) -> None:
        subscriber_store.save_data_many(conn, self.data, self.now_us)
        if self.joined or self.left:
            ids = list_store.ids_by_key(conn, self.account_id, [k for _, k in self.joined + self.left])
            list_store.add_members(
                conn, self.account_id, [(ids[k], s) for s, k in self.joined if k in ids], self.now_us
            )
            list_store.remove_members(conn, self.account_id, [(ids[k], s) for s, k in self.left if k in ids])
        # Ended runs first: a sequence entered again in the same batch (pass 2) needs pass 1 closed
        # before its row is inserted, or the one-open-run index refuses it.
        run_store.save_changes(conn, self.changed_runs)
        run_store.insert_new(conn, self.new_runs)
        inbox_store.remove(conn, self.inbox_done)
        if self.aside:
            quarantine.set_aside_events(conn, self.aside, None, self.now_us)
        timeline_store.add_entries(conn, self.timeline)
        issue_store.add(conn, self.issues)
        outbox_store.add(conn, self.outbox)
        if self.timeline or self.issues:  # S29: webhook messages in the same transaction (nothing if no endpoint)
            # S19: nothing of a test run reaches webhooks
            entries = [e for e in self.timeline if not e.detail.get("test")]
            issues = [i for i in self.issues if not i["test"]]
            facts = chain(webhook_facts.run_facts(entries, self.emails), webhook_facts.issue_facts(issues))
            webhook_facts.emit(conn, self.account_id, facts)
        counter_store.add_deltas(
            conn,
            [
                CounterDelta(self.account_id, sid, metric, step, variant, delta)
                for (sid, metric, step, variant), delta in self.counters.items()
            ],
        )
        for subscriber_id in self.deleted:
            subscriber_store.delete_one(conn, self.account_id, subscriber_id)
        touched = {s for s, _ in self.data} | {s for s, _ in self.joined + self.left}  # S22: segments follow
        segment_upkeep.refresh(conn, self.account_id, sorted(touched - set(self.deleted)), from_us(self.now_us))
        changed = sorted({s for s, _ in self.data} - set(self.deleted))  # S26: set_data may move a step-1 date
        date_triggers.refresh(conn, self.account_id, changed, from_us(self.now_us))


def forget_orphans(conn: Connection, candidate_ids: Sequence[int], locked: Sequence[int]) -> None:
    """Drop inbox rows of subscribers that no longer exist (so they do not clog the queue)."""
    missing = sorted(set(candidate_ids) - set(locked))
    if not missing:
        return
    present = claim_store.existing_subscribers(conn, missing)
    gone = [sid for sid in missing if sid not in present]
    if gone:
        inbox_store.remove_of_subscribers(conn, gone)
