"""An in-memory DeliveryStore (worker/ports.py) for fast tests of the delivery loop."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stepwise.domain.jobs import EmailTemplate, Job, OutboxRow, job_kind
from stepwise.domain.policy import SlotRequest
from stepwise.worker.ports import Inputs, Recipient, Record


@dataclass
class Stored:
    """An outbox row as the fake keeps it."""

    row: OutboxRow
    available_at: int
    token: str | None = None
    accepted_at: int | None = None
    last_error: str | None = None


class FakeAcceptance:
    def __init__(self, store: FakeDeliveryStore) -> None:
        self.store = store

    async def record(self, row_id: int, token: str, at_us: int) -> bool:
        stored = self.store.rows.get(row_id)
        if stored is None or stored.token != token:
            return False
        stored.accepted_at = at_us
        return True

    async def close(self) -> None:
        return None


@dataclass
class FakeDeliveryStore:
    """Rows, the facts written about them, and what preparing reads."""

    rows: dict[int, Stored] = field(default_factory=dict)
    issues: dict[str, str] = field(default_factory=dict)
    recipients: dict[int, Recipient] = field(default_factory=dict)
    templates: dict[tuple[int, str], EmailTemplate | None] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    aside: list[tuple[int, str]] = field(default_factory=list)

    def add(self, job: Job, *, subscriber_id: int = 1, issue_id: str | None = None, at_us: int = 0) -> int:
        row_id = len(self.rows) + 1
        row = OutboxRow(row_id, 1, job_kind(job), issue_id, subscriber_id, 1, 1, {}, 0, "", at_us, job=job)
        self.rows[row_id] = Stored(row, at_us)
        if issue_id is not None:
            self.issues[issue_id] = "queued"
        return row_id

    def steal(self, row_id: int) -> None:
        """Another worker takes the row over (our lease ran out)."""
        self.rows[row_id].token = "someone-else"

    def claim(self, now_us: int, token: str, room: Mapping[str, int], lease_us: int) -> list[OutboxRow]:
        claimed: list[OutboxRow] = []
        for stored in sorted(self.rows.values(), key=lambda s: s.available_at):
            kind = stored.row.kind
            if stored.available_at <= now_us and sum(r.kind == kind for r in claimed) < room.get(kind, 0):
                stored.available_at, stored.token = now_us + lease_us, token
                stored.row = dataclasses.replace(
                    stored.row, attempts=stored.row.attempts + 1, lease_token=token, accepted_at=stored.accepted_at
                )
                claimed.append(stored.row)
        return claimed

    def release(self, abandoned: Sequence[tuple[str, int]], now_us: int) -> None:
        for token, until in abandoned:
            for stored in self.rows.values():
                if stored.token == token and stored.available_at == until:
                    stored.available_at, stored.token = now_us, None

    def renew(self, leases: Sequence[tuple[int, str]], until_us: int) -> list[bool]:
        kept = []
        for row_id, token in leases:
            stored = self.rows.get(row_id)
            ok = stored is not None and stored.token == token
            if stored is not None and ok:
                stored.available_at = until_us
            kept.append(ok)
        return kept

    def inputs(self, rows: Sequence[OutboxRow]) -> Inputs:
        return Inputs(issues=dict(self.issues), recipients=dict(self.recipients), templates=dict(self.templates))

    def take_slots(self, requests: Sequence[SlotRequest], now_us: int) -> dict[int, int | None]:
        return {request.row_id: None for request in requests}  # no caps in the fakes

    def record(self, records: Sequence[Record], now_us: int) -> list[str]:
        written = []
        for record in records:
            stored = self.rows.get(record.row.id)
            if stored is None or stored.token != record.row.lease_token:
                continue  # the lease was lost: the new holder writes the outcome
            if record.retry_at_us is not None:
                stored.available_at, stored.token, stored.last_error = record.retry_at_us, None, record.error
            else:
                del self.rows[record.row.id]
            if record.issue is not None and record.issue.status is not None and record.row.issue_id:
                self.issues[record.row.issue_id] = record.issue.status
            self.records.append(record)
            written.append(record.kind)
        return written

    def set_aside(self, row: OutboxRow, error: str, now_us: int) -> None:
        self.rows.pop(row.id, None)
        self.aside.append((row.id, error))

    def acceptance(self) -> FakeAcceptance:
        return FakeAcceptance(self)
