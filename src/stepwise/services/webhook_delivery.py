"""The webhook loop's store (worker/webhooks.py) on the database: claims, what to send, outcomes (S29)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stepwise.delivery.sealing import Unsealable, unseal
from stepwise.domain.jobs import OutboxRow, WebhookJob
from stepwise.domain.webhooks import secret_key
from stepwise.storage import outbox as outbox_store
from stepwise.storage import webhook_log as log_store
from stepwise.storage import webhooks as webhook_store
from stepwise.storage.acceptance import AcceptanceLog
from stepwise.storage.database import Database
from stepwise.storage.webhook_log import Outcome

__all__ = ["Attempt", "DatabaseWebhookStore", "Done", "Outcome"]

SECRET_PURPOSE = "webhook-secret"
FAILING_FOR_US = 3 * 24 * 3600 * 1_000_000  # an endpoint failing this long is set inactive (SPEC §18)
_DEACTIVATED = "every delivery failed for 3 days"


@dataclass(frozen=True, slots=True)
class Attempt:
    """A claimed message ready to go: where, signed with what, and its body (None: its endpoint is gone)."""

    row: OutboxRow
    message_id: str
    url: str | None
    key: bytes | None
    active: bool
    body: bytes | None
    revision: int = 0  # the endpoint's, when prepared


@dataclass(frozen=True, slots=True)
class Done:
    """What to write for one claimed row: finished (delivered or failed), retried at, or held until."""

    row: OutboxRow
    outcome: Outcome | None  # None: nothing to log (endpoint or message gone, or held while inactive)
    retry_at_us: int | None = None
    hold_until_us: int | None = None
    revision: int = 0  # the endpoint's revision when the attempt was prepared


@dataclass
class DatabaseWebhookStore:
    """Each call is one transaction of its own."""

    db: Database
    secret: str
    _keys: dict[str, bytes] = field(default_factory=dict)  # sealed secret -> HMAC key

    def claim(self, now_us: int, token: str, limit: int, lease_us: int) -> list[OutboxRow]:
        with self.db.write() as conn:
            return outbox_store.claim(conn, now_us, limit, lease_us, token, kinds=("webhook",))

    def prepare(self, rows: Sequence[OutboxRow]) -> list[Attempt]:
        jobs = [(row, row.job) for row in rows]
        ids = [job.message for _, job in jobs if isinstance(job, WebhookJob)]
        with self.db.read() as conn:
            bodies = log_store.bodies(conn, ids)
            endpoints = webhook_store.by_ids(conn, sorted({j.endpoint for _, j in jobs if isinstance(j, WebhookJob)}))
        attempts = []
        for row, job in jobs:
            if not isinstance(job, WebhookJob):
                attempts.append(Attempt(row, "", None, None, False, None))
                continue
            endpoint = endpoints.get(job.endpoint)
            stored = bodies.get(job.message)
            if endpoint is None or stored is None:
                attempts.append(Attempt(row, job.message, None, None, False, None))
                continue
            key = self._key(endpoint.sealed_secret)
            attempts.append(
                Attempt(row, job.message, endpoint.url, key, endpoint.active, stored[0].encode(), endpoint.revision)
            )
        return attempts

    def _key(self, sealed: str) -> bytes | None:
        key = self._keys.get(sealed)
        if key is None:
            try:
                key = secret_key(unseal(self.secret, SECRET_PURPOSE, sealed).decode())
            except (Unsealable, ValueError):
                return None
            self._keys[sealed] = key
        return key

    def record(self, done: Sequence[Done], now_us: int) -> None:
        """Write outcomes whose lease is still held (fenced by the token), and deactivate failing endpoints."""
        with self.db.write() as conn:
            finished = [d.row for d in done if d.retry_at_us is None and d.hold_until_us is None]
            owned: set[int] = set()
            for token in {r.lease_token for r in finished}:
                owned |= outbox_store.finish_many(conn, token, [r.id for r in finished if r.lease_token == token])
            logged = []
            # An endpoint edited while its rows were out here (set active again, a new URL): the edit's `resume`
            # skipped the leased rows, so those held or retried are due at once, with the new settings. The
            # share lock waits for an edit in flight to commit.
            later = sorted({-d.row.sequence_id for d in done if d.hold_until_us or d.retry_at_us})
            revisions = log_store.revisions(conn, later) if later else {}
            for d in done:
                edited = revisions.get(-d.row.sequence_id, d.revision) != d.revision
                if d.hold_until_us is not None:
                    outbox_store.defer(conn, d.row.id, d.row.lease_token, now_us if edited else d.hold_until_us)
                    continue
                if d.retry_at_us is not None:
                    error = (d.outcome.error if d.outcome else None) or ""
                    at_us = now_us if edited else d.retry_at_us
                    if not outbox_store.reschedule(conn, d.row.id, d.row.lease_token, at_us, error):
                        continue
                elif d.row.id not in owned:
                    continue  # another worker holds the row now and logs its own outcome
                if d.outcome is not None:
                    logged.append(d.outcome)
            log_store.write_outcomes(conn, logged)
            log_store.deactivate_failing(conn, now_us - FAILING_FOR_US, now_us, _DEACTIVATED)

    def release(self, rows: Sequence[OutboxRow], now_us: int) -> None:
        """Hand back claimed rows that were not attempted (no attempt counted)."""
        with self.db.write() as conn:
            for row in rows:
                outbox_store.defer(conn, row.id, row.lease_token, now_us)

    def renew(self, rows: Sequence[OutboxRow], until_us: int) -> None:
        with self.db.write() as conn:
            for row in rows:
                outbox_store.renew(conn, row.id, row.lease_token, until_us)

    def acceptance(self) -> AcceptanceLog:
        return AcceptanceLog(self.db)
