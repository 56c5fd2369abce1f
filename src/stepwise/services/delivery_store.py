"""The delivery loop's store (worker/ports.py) on the database: leases, batch inputs, outcomes.

Every outcome write checks the lease token, so a worker whose lease ran out cannot overwrite the
outcome of the worker that took the row over.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from stepwise.domain.deliveries import Inputs, IssueChange, Recipient, Record
from stepwise.domain.jobs import ConfirmationJob, EmailJob, EmailTemplate, OutboxRow
from stepwise.domain.policy import SequencePolicy, SlotRequest
from stepwise.domain.segments import SENT
from stepwise.services import segment_upkeep, settings, webhook_facts
from stepwise.services.catalog import SequenceCatalog
from stepwise.services.outbox_quarantine import quarantine_item
from stepwise.services.outbox_quarantine import set_aside as set_row_aside
from stepwise.services.sending_domains import DomainSigners
from stepwise.services.sending_policy import account_policy, sequence_policy, take_slots
from stepwise.services.suppressions import suppress_subscriber, suppressed_among
from stepwise.storage import accounts as account_store
from stepwise.storage import drafts as draft_store
from stepwise.storage import issues as issue_store
from stepwise.storage import outbox as outbox_store
from stepwise.storage import policy as policy_store
from stepwise.storage import quarantine as quarantine_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage import timeline as timeline_store
from stepwise.storage.acceptance import AcceptanceLog
from stepwise.storage.codec import from_us
from stepwise.storage.database import Database


@dataclass
class DatabaseDeliveryStore:
    """Each call is one transaction of its own."""

    db: Database
    secret: str = field(default="", repr=False)  # unseals DKIM keys; without it nothing is signed
    catalog: SequenceCatalog = field(default_factory=SequenceCatalog)  # the sequences' windows and caps
    signers: DomainSigners = field(init=False)

    def __post_init__(self) -> None:
        self.signers = DomainSigners(self.secret)

    def claim(self, now_us: int, token: str, room: Mapping[str, int], lease_us: int) -> list[OutboxRow]:
        rows: list[OutboxRow] = []
        with self.db.write() as conn:
            for kind, limit in room.items():
                if limit > 0:
                    rows += outbox_store.claim(conn, now_us, limit, lease_us, token, kinds=(kind,))
        return rows

    def release(self, abandoned: Sequence[tuple[str, int]], now_us: int) -> None:
        with self.db.write() as conn:
            for token, lease_until in abandoned:
                outbox_store.release(conn, token, lease_until, now_us)

    def renew(self, leases: Sequence[tuple[int, str]], until_us: int) -> list[bool]:
        with self.db.write() as conn:
            return [outbox_store.renew(conn, row_id, token, until_us) for row_id, token in leases]

    def inputs(self, rows: Sequence[OutboxRow]) -> Inputs:
        wanted: dict[int, set[str]] = defaultdict(set)
        for row in rows:
            job = row.job
            if isinstance(job, EmailJob) or (isinstance(job, ConfirmationJob) and job.template is None):
                wanted[row.account_id].add(job.draft)
        with self.db.read() as conn:
            issues = issue_store.statuses(conn, [row.issue_id for row in rows if row.issue_id])
            subscribers = subscriber_store.by_ids(conn, sorted({row.subscriber_id for row in rows}))
            templates: dict[tuple[int, str], EmailTemplate | None] = {}
            for account_id, keys in wanted.items():
                found = draft_store.many(conn, account_id, keys)
                for key in keys:
                    draft = found.get(key)
                    templates[(account_id, key)] = (
                        None
                        if draft is None
                        else EmailTemplate(
                            draft.subject, draft.html, draft.text, draft.from_email, draft.from_name, draft.reply_to
                        )
                    )
            accounts = {a: account_store.by_id(conn, a) for a in sorted({row.account_id for row in rows})}
            suppressed = suppressed_among(conn, [(s.account_id, s.email_key) for s in subscribers])
            signers = self.signers.of_accounts(conn, list(accounts)) if self.secret and accounts else {}
            known = [row for row in accounts.values() if row is not None]
            policies = {a: account_policy(p) for a, p in settings.policies_of(conn, known).items()}
            sequences = self._sequences(conn, rows)
        return Inputs(
            issues=issues,
            recipients={s.id: Recipient(s.email, s.status) for s in subscribers},
            templates=templates,
            accounts={a: (row.name if row else None) for a, row in accounts.items()},
            suppressed=suppressed,
            signers=signers,
            policies=policies,
            sequences=sequences,
        )

    def _sequences(self, conn: Connection, rows: Sequence[OutboxRow]) -> dict[tuple[int, str], SequencePolicy]:
        """The window and cap settings of the sequences whose emails these are."""
        found: dict[tuple[int, str], SequencePolicy] = {}
        for account_id in sorted({r.account_id for r in rows if isinstance(r.job, EmailJob) and r.job.sequence}):
            for key, info in self.catalog.for_account(conn, account_id).infos.items():
                found[(account_id, key)] = sequence_policy(info.definition, info.timezone)
        return found

    def take_slots(self, requests: Sequence[SlotRequest], now_us: int) -> dict[int, int | None]:
        with self.db.write() as conn:
            return take_slots(conn, requests, now_us)

    def record(self, records: Sequence[Record], now_us: int) -> list[str]:
        entries: list[timeline_store.NewEntry] = []
        written: list[str] = []
        aside: list[quarantine_store.NewItem] = []
        changes: list[tuple[str, IssueChange]] = []
        released: list[tuple[int, str]] = []
        facts: list[tuple[OutboxRow, IssueChange, bool]] = []
        with self.db.write() as conn:
            owned = _finish(conn, [r.row for r in records if r.retry_at_us is None])
            for record in records:
                row = record.row
                at_us = record.retry_at_us
                if record.release_slot and row.issue_id:
                    released.append((row.account_id, row.issue_id))
                if at_us is not None:
                    moved = (
                        outbox_store.defer(conn, row.id, row.lease_token, at_us)
                        if record.deferred
                        else outbox_store.reschedule(conn, row.id, row.lease_token, at_us, record.error or "")
                    )
                    if not moved:
                        continue  # another worker owns the row now; it records its own outcome
                elif row.id not in owned:
                    continue  # as above: the lease was lost, the fact is the new holder's to write
                if record.issue is not None and row.issue_id:
                    changes.append((row.issue_id, record.issue))
                    facts.append((row, record.issue, record.bounced))
                if record.bounced:
                    subscriber_store.mark_bounced(conn, row.subscriber_id, now_us)
                    suppress_subscriber(conn, row.account_id, row.subscriber_id, now_us)
                if record.poison is not None and row.id in owned:
                    aside.append(quarantine_item(row, record.poison, now_us))
                entries.append(_timeline_entry(record, now_us))
                written.append(record.kind)
            issue_store.apply_changes(conn, changes)
            _refresh_segments(conn, facts, now_us)
            timeline_store.add_entries(conn, entries)
            quarantine_store.add(conn, aside)
            policy_store.release_slots(conn, released)
            webhook_facts.emit_deliveries(conn, facts, now_us)  # S29: in the transaction of the outcomes
        return written

    def set_aside(self, row: OutboxRow, error: str, now_us: int) -> None:
        with self.db.write() as conn:
            set_row_aside(conn, row, error, now_us)

    def acceptance(self) -> AcceptanceLog:
        return AcceptanceLog(self.db)


def _timeline_entry(record: Record, now_us: int) -> timeline_store.NewEntry:
    row = record.row
    return timeline_store.NewEntry(
        row.account_id, row.subscriber_id, now_us, record.kind, record.sequence, record.detail
    )


def _refresh_segments(conn: Connection, facts: Sequence[tuple[OutboxRow, IssueChange, bool]], now_us: int) -> None:
    """S22 after recorded outcomes: a send moves `last_sent_at`, a bounce the subscriber's status."""
    now = from_us(now_us)
    sent = [(r.account_id, r.subscriber_id) for r, c, _ in facts if c.status == "sent" and c.sent_at_us == now_us]
    recovered = [(r.account_id, r.subscriber_id) for r, c, _ in facts if c.status == "sent" and c.sent_at_us != now_us]
    bounced = [(r.account_id, r.subscriber_id) for r, _, b in facts if b]
    segment_upkeep.refresh_pairs(conn, sent, now, (SENT,), status=False, sent_now=True)  # last send: now
    segment_upkeep.refresh_pairs(conn, recovered, now, (SENT,), status=False)  # handed over earlier
    segment_upkeep.refresh_pairs(conn, bounced, now, (), status=True)


def _finish(conn: Connection, rows: Sequence[OutboxRow]) -> set[int]:
    """Delete finished rows whose lease we still hold; return their ids."""
    by_token: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        by_token[row.lease_token].append(row.id)
    owned: set[int] = set()
    for token, ids in by_token.items():
        owned |= outbox_store.finish_many(conn, token, ids)
    return owned
