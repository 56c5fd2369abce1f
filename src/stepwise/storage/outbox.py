"""The outbox: emails and URL calls decided by a transition, delivered after commit (S7, S14).

A claim is a lease: `available_at` moves to the lease's end and a fresh `lease_token` fences the
holder. Finishing or rescheduling checks the token, so a worker whose lease ran out (and whose row
another worker took) cannot overwrite the newer holder's outcome. `accepted_at` is written the moment
the SMTP server accepts a message (acceptance.py): a row that has it is recorded as sent by whoever
claims it next, never sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, exists, func, select, update
from sqlalchemy.orm import aliased

from stepwise.domain.jobs import ConfirmationJob, InvalidJob, Job, OutboxRow, decode_job, encode_job, job_kind
from stepwise.storage import dialects
from stepwise.storage import schema as t
from stepwise.storage.codec import decoded_object, dumps
from stepwise.storage.dialects import fast_insert
from stepwise.storage.notify import DELIVERY, notify

__all__ = [
    "NewOutboxRow",
    "OutboxRow",
    "add",
    "add_confirmation",
    "claim",
    "depth",
    "finish",
    "finish_many",
    "next_available",
    "release",
    "renew",
    "reschedule",
]


@dataclass(slots=True)  # not frozen: built for every event, and a frozen __init__ costs 5x
class NewOutboxRow:
    """A job to queue: for a subscriber's run (sequence id and pass keep its jobs in order), due at once."""

    account_id: int
    subscriber_id: int
    sequence_id: int
    pass_no: int
    issue_id: str | None  # the archive's issue of an email
    job: Job
    at_us: int


def add(conn: Connection, rows: Sequence[NewOutboxRow]) -> None:
    values = [
        {
            "account_id": r.account_id,
            "kind": job_kind(r.job),
            "issue_id": r.issue_id,
            "subscriber_id": r.subscriber_id,
            "sequence_id": r.sequence_id,
            "pass_no": r.pass_no,
            "payload": dumps(encode_job(r.job)),
            "available_at": r.at_us,
            "created_at": r.at_us,
        }
        for r in rows
    ]
    fast_insert(conn, t.outbox, values)
    if rows:
        notify(conn, DELIVERY)


# A confirmation belongs to no sequence's run: sequence 0, pass 0 keep a subscriber's confirmations in order.
_NO_RUN = 0


def add_confirmation(
    conn: Connection, account_id: int, subscriber_id: int, issue_id: str, job: ConfirmationJob, now_us: int
) -> None:
    """Queue a form's confirmation email (its issue is written by the caller)."""
    add(conn, [NewOutboxRow(account_id, subscriber_id, _NO_RUN, _NO_RUN, issue_id, job, now_us)])


_older = aliased(t.outbox)
_NO_OLDER_IN_RUN = ~exists().where(
    and_(
        _older.c.account_id == t.outbox.c.account_id,
        _older.c.subscriber_id == t.outbox.c.subscriber_id,
        _older.c.sequence_id == t.outbox.c.sequence_id,
        _older.c.pass_no == t.outbox.c.pass_no,
        _older.c.id < t.outbox.c.id,
    )
)


def claim(
    conn: Connection, now_us: int, limit: int, lease_us: int, token: str, kinds: Sequence[str] = ("email", "url")
) -> list[OutboxRow]:
    """Lease up to `limit` rows that are due and first in their run's order."""
    candidates = (
        select(t.outbox.c.id)
        .where(t.outbox.c.available_at <= now_us, t.outbox.c.kind.in_(list(kinds)), _NO_OLDER_IN_RUN)
        .order_by(t.outbox.c.available_at)
        .limit(limit)
    )
    candidates = dialects.for_update(conn, candidates, skip_locked=True, of_table=t.outbox)
    ids = [r[0] for r in conn.execute(candidates)]
    if not ids:
        return []
    # Compare-and-set: another worker may have leased a row between our read and this write.
    conn.execute(
        update(t.outbox)
        .where(dialects.ids_in(conn, t.outbox.c.id, ids), t.outbox.c.available_at <= now_us)
        .values(available_at=now_us + lease_us, lease_token=token, attempts=t.outbox.c.attempts + 1)
    )
    rows = conn.execute(
        select(t.outbox)
        .where(dialects.ids_in(conn, t.outbox.c.id, ids), t.outbox.c.lease_token == token)
        .order_by(t.outbox.c.id)
    )
    claimed = []
    for r in rows:
        payload, error = decoded_object(r.payload)
        job = None
        if error is None:
            try:
                job = decode_job(r.kind, payload)
            except InvalidJob as exc:
                error = f"the stored payload is not a valid {r.kind} job: {exc}"
        claimed.append(
            OutboxRow(
                r.id,
                r.account_id,
                r.kind,
                r.issue_id,
                r.subscriber_id,
                r.sequence_id,
                r.pass_no,
                payload,
                r.attempts,
                token,
                r.created_at,
                r.accepted_at,
                error,
                None if error is None else str(r.payload),
                job,
            )
        )
    return claimed


def finish(conn: Connection, row_id: int, token: str) -> bool:
    """Remove a delivered row; False when the lease was lost to another worker."""
    result = conn.execute(delete(t.outbox).where(t.outbox.c.id == row_id, t.outbox.c.lease_token == token))
    return result.rowcount == 1


def reschedule(conn: Connection, row_id: int, token: str, at_us: int, error: str) -> bool:
    """Release a row for another attempt at `at_us`; False when the lease was lost."""
    result = conn.execute(
        update(t.outbox)
        .where(t.outbox.c.id == row_id, t.outbox.c.lease_token == token)
        .values(available_at=at_us, lease_token=None, last_error=error[:2000])
    )
    return result.rowcount == 1


def defer(conn: Connection, row_id: int, token: str, at_us: int) -> bool:
    """Hold a row until `at_us` (a send window, a cap): no attempt is counted; False when the lease was lost."""
    result = conn.execute(
        update(t.outbox)
        .where(t.outbox.c.id == row_id, t.outbox.c.lease_token == token)
        .values(available_at=at_us, lease_token=None, attempts=t.outbox.c.attempts - 1)
    )
    return result.rowcount == 1


def release(conn: Connection, token: str, leased_until_us: int, now_us: int) -> int:
    """Hand back the rows a claim leased (`token`, until `leased_until_us`) that nobody will work on; return how many.

    They are claimable again at once, and the attempt that never started is not counted. The lease
    end finds the rows by index: the claim gave them all that `available_at`.
    """
    result = conn.execute(
        update(t.outbox)
        .where(t.outbox.c.available_at == leased_until_us, t.outbox.c.lease_token == token)
        .values(available_at=now_us, lease_token=None, attempts=t.outbox.c.attempts - 1)
    )
    return int(result.rowcount)


def renew(conn: Connection, row_id: int, token: str, until_us: int) -> bool:
    result = conn.execute(
        update(t.outbox).where(t.outbox.c.id == row_id, t.outbox.c.lease_token == token).values(available_at=until_us)
    )
    return result.rowcount == 1


def depth(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(t.outbox)).scalar_one())


def next_available(conn: Connection) -> int | None:
    row = conn.execute(select(func.min(t.outbox.c.available_at))).first()
    return None if row is None or row[0] is None else int(row[0])


def finish_many(conn: Connection, token: str, row_ids: Sequence[int]) -> set[int]:
    """Remove delivered rows still leased with this token; return the ids removed (the others were lost)."""
    if not row_ids:
        return set()
    # Fenced by the token: a row another worker leased after our lease ran out is not ours to finish.
    result = conn.execute(
        delete(t.outbox)
        .where(dialects.ids_in(conn, t.outbox.c.id, row_ids), t.outbox.c.lease_token == token)
        .returning(t.outbox.c.id)
    )
    return {r[0] for r in result}
