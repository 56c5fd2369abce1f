"""The issue archive and its statistics (SPEC §6.4)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from stepwise.domain.emails import InvalidEmail, parse_email
from stepwise.domain.instants import iso
from stepwise.errors import Conflict, NotFound
from stepwise.services import cursors
from stepwise.storage import issues as issue_store
from stepwise.storage.codec import loads, opt_from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.issues import IssueRow


def _time(value: int | None) -> str | None:
    moment = opt_from_us(value)
    return iso(moment) if moment else None


# The views below are the API's response models; comments, not docstrings, describe them (a docstring
# would become the schema's description in the OpenAPI document).


# An email of the archive: what was sent (or not) to whom, by which sequence step, and what came of it.
class Issue(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    email: str
    draft: str
    sequence: str | None
    step: int | None
    variant: int | None
    group: str
    status: str
    reason: str | None
    message_id: str | None
    transport: str | None
    subject: str | None
    created_at: str | None
    sent_at: str | None
    opened_at: str | None
    clicked_at: str | None
    unsubscribed_at: str | None
    bounced_at: str | None = None
    complained_at: str | None = None
    deliver_after: str | None = None  # a deferred email is held until then (send window or cap)
    test: bool = False  # an email of a test run (S19): captured only, in no statistic


# A page of the archive, newest first, and the cursor of the next one.
class IssuePage(BaseModel):
    model_config = ConfigDict(frozen=True)

    next_cursor: str | None = None
    items: list[Issue]


# The rendered message of a sent issue (`from` in JSON, `from_` in Python).
class Message(BaseModel):
    id: str
    subject: str | None
    from_: str | None = Field(alias="from")
    to: str
    headers: dict[str, str]
    html: str | None
    text: str | None

    model_config = ConfigDict(populate_by_name=True, frozen=True)


# Counts of issues: all of them, by status, and unique opens, clicks, unsubscribes, bounces and
# complaints; the rates are bounced (complained) ÷ sent, 0 when nothing was sent.
class IssueCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    total: int
    queued: int
    deferred: int = 0
    sent: int
    failed: int
    skipped: int
    opened: int
    clicked: int
    unsubscribed: int
    bounced: int = 0
    complained: int = 0
    bounce_rate: float = 0.0
    complaint_rate: float = 0.0


# The counts of one draft.
class DraftIssueStats(IssueCounts):
    draft: str


# The counts of one sequence step (step None: issues of the sequence without a step).
class StepIssueStats(IssueCounts):
    sequence: str
    step: int | None


# The counts of the archive (or of one sequence or draft), per draft and per sequence step.
class IssueStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    totals: IssueCounts
    drafts: list[DraftIssueStats]
    steps: list[StepIssueStats]


RATES = ("bounce_rate", "complaint_rate")
COUNTS = tuple(n for n in IssueCounts.model_fields if n not in RATES)  # total, statuses, unique reactions


def with_rates(counts: dict[str, int]) -> dict[str, int | float]:
    """The counts with their bounce and complaint rates (per email sent)."""
    sent = counts.get("sent", 0)
    return {
        **counts,
        "bounce_rate": round(counts.get("bounced", 0) / sent, 4) if sent else 0.0,
        "complaint_rate": round(counts.get("complained", 0) / sent, 4) if sent else 0.0,
    }


def view(row: IssueRow) -> Issue:
    return Issue(
        id=row.id,
        email=row.email,
        draft=row.draft,
        sequence=row.sequence,
        step=row.step,
        variant=row.variant,
        group=row.group_name,
        status=row.status,
        reason=row.reason,
        message_id=row.message_id,
        transport=row.transport,
        subject=row.subject,
        created_at=_time(row.created_at),
        sent_at=_time(row.sent_at),
        opened_at=_time(row.opened_at),
        clicked_at=_time(row.clicked_at),
        unsubscribed_at=_time(row.unsubscribed_at),
        bounced_at=_time(row.bounced_at),
        complained_at=_time(row.complained_at),
        deliver_after=_time(row.deliver_after),
        test=row.test,
    )


def page(
    db: Database,
    account_id: int,
    *,
    email: str | None,
    sequence: str | None,
    draft: str | None,
    status: str | None,
    cursor: str | None,
    limit: int,
    transport: str | None = None,
    search: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[Issue], str | None]:
    before = cursors.decode_str(cursor)
    email_key = None
    if email is not None:
        try:
            email_key = parse_email(email).key
        except InvalidEmail:
            return [], None
    with db.read() as conn:
        rows = issue_store.page(
            conn,
            account_id,
            before_id=before,
            limit=limit,
            email_key=email_key,
            sequence=sequence,
            draft=draft,
            status=status,
            transport=transport,
            search=search,
            since_us=to_us(since) if since is not None else None,
            until_us=to_us(until) if until is not None else None,
        )
    return [view(r) for r in rows], cursors.encode(rows[-1].id) if len(rows) == limit else None


def get(db: Database, account_id: int, issue_id: str) -> Issue:
    with db.read() as conn:
        row = issue_store.get(conn, account_id, issue_id) if len(issue_id) <= 64 else None
    if row is None:
        raise NotFound(f"no issue {issue_id!r}")
    return view(row)


def message(db: Database, account_id: int, issue_id: str) -> Message:
    """The rendered message of a sent issue."""
    with db.read() as conn:
        row = issue_store.get(conn, account_id, issue_id) if len(issue_id) <= 64 else None
    if row is None:
        raise NotFound(f"no issue {issue_id!r}")
    if row.headers is None:
        raise Conflict(f"issue {issue_id!r} has no message ({row.status})", code="no_message")
    return Message(
        id=row.id,
        subject=row.subject,
        from_=row.from_addr,
        to=row.email,
        headers=loads(row.headers),
        html=row.html,
        text=row.text,
    )


def stats(db: Database, account_id: int, *, sequence: str | None, draft: str | None) -> IssueStats:
    """Counts per draft and per sequence step: statuses, unique opens/clicks, unsubscribes, bounces, complaints."""
    with db.read() as conn:
        rows = issue_store.stats(conn, account_id, sequence=sequence, draft=draft)
    by_draft: dict[str, dict[str, int]] = {}
    by_step: dict[tuple[str, int | None], dict[str, int]] = {}
    totals = dict.fromkeys(COUNTS, 0)
    for row in rows:
        counts = {name: int(getattr(row, name) or 0) for name in COUNTS}
        targets = [totals, by_draft.setdefault(row.draft, dict.fromkeys(COUNTS, 0))]
        if row.sequence is not None:
            targets.append(by_step.setdefault((row.sequence, row.step), dict.fromkeys(COUNTS, 0)))
        for target in targets:
            for name, value in counts.items():
                target[name] += value
    return IssueStats(
        totals=IssueCounts(**with_rates(totals)),
        drafts=[DraftIssueStats(draft=key, **with_rates(value)) for key, value in sorted(by_draft.items())],
        steps=[
            StepIssueStats(sequence=seq, step=step, **with_rates(value))
            for (seq, step), value in sorted(by_step.items())
        ],
    )
