"""The issue archive: one row per email sent, failed or skipped (SPEC §6.4)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, case, func, or_, select, update

from stepwise.domain.deliveries import IssueChange
from stepwise.domain.statuses import IssueStatus
from stepwise.storage import dialects
from stepwise.storage import schema as t
from stepwise.storage.codec import dumps
from stepwise.storage.dialects import fast_insert, fast_update

FirstTime = Literal["opened_at", "clicked_at", "unsubscribed_at", "bounced_at", "complained_at"]  # set once, first time


@dataclass(frozen=True, slots=True)
class IssueRow:
    """One email of the archive, as stored."""

    id: str
    account_id: int
    subscriber_id: int | None
    email: str
    email_key: str
    draft: str
    sequence: str | None
    step: int | None
    variant: int | None
    pass_no: int | None
    group_name: str
    status: IssueStatus
    reason: str | None
    message_id: str | None
    transport: str | None
    subject: str | None
    from_addr: str | None
    headers: str | None  # JSON object
    html: str | None
    text: str | None
    links: str | None  # JSON list of the original URLs that tracking tokens point at, by index
    created_at: int
    sent_at: int | None
    opened_at: int | None
    clicked_at: int | None
    unsubscribed_at: int | None
    bounced_at: int | None = None
    complained_at: int | None = None
    deliver_after: int | None = None
    test: bool = False  # an email of a test run (S19)


@dataclass(frozen=True, slots=True)
class IssueCounts:
    """Counts of the issues of one draft at one sequence step."""

    sequence: str | None
    step: int | None
    draft: str
    total: int
    queued: int
    deferred: int
    sent: int
    failed: int
    skipped: int
    opened: int
    clicked: int
    unsubscribed: int
    bounced: int
    complained: int


_COLUMNS = tuple(t.issues.c[f] for f in IssueRow.__dataclass_fields__)


def add(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    fast_insert(conn, t.issues, rows)


def get(conn: Connection, account_id: int, issue_id: str) -> IssueRow | None:
    stmt = select(*_COLUMNS).where(t.issues.c.account_id == account_id, t.issues.c.id == issue_id)
    row = conn.execute(stmt).first()
    return None if row is None else IssueRow(*row)


def by_id(conn: Connection, issue_id: str) -> IssueRow | None:
    row = conn.execute(select(*_COLUMNS).where(t.issues.c.id == issue_id)).first()
    return None if row is None else IssueRow(*row)


def page(
    conn: Connection,
    account_id: int,
    *,
    before_id: str | None,
    limit: int,
    email_key: str | None = None,
    sequence: str | None = None,
    draft: str | None = None,
    status: str | None = None,
    transport: str | None = None,
    search: str | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
) -> list[IssueRow]:
    """Return a keyset page of issues, newest first.

    `search` matches a part of the address or (in any case) of the subject; `since_us`/`until_us`
    bound the creation time (from inclusive, to exclusive).
    """
    stmt = select(*_COLUMNS).where(t.issues.c.account_id == account_id)
    if search:
        needle = search.lower()
        stmt = stmt.where(
            or_(
                t.issues.c.email_key.contains(needle, autoescape=True),
                func.lower(t.issues.c.subject).contains(needle, autoescape=True),
            )
        )
    if since_us is not None:
        stmt = stmt.where(t.issues.c.created_at >= since_us)
    if until_us is not None:
        stmt = stmt.where(t.issues.c.created_at < until_us)
    if before_id:
        stmt = stmt.where(t.issues.c.id < before_id)
    for column, value in (
        ("email_key", email_key),
        ("sequence", sequence),
        ("draft", draft),
        ("status", status),
        ("transport", transport),
    ):
        if value is not None:
            stmt = stmt.where(t.issues.c[column] == value)
    return [IssueRow(*r) for r in conn.execute(stmt.order_by(t.issues.c.id.desc()).limit(limit))]


def fail(conn: Connection, issue_id: str, reason: str) -> None:
    """Mark an issue failed with its reason."""
    conn.execute(update(t.issues).where(t.issues.c.id == issue_id).values(status="failed", reason=reason[:2000]))


def stats(conn: Connection, account_id: int, *, sequence: str | None, draft: str | None) -> list[IssueCounts]:
    """Count issues per draft and per sequence step: statuses, unique opens, clicks, unsubscribes."""
    c = t.issues.c
    stmt = select(
        c.sequence,
        c.step,
        c.draft,
        func.count().label("total"),
        func.sum(case((c.status == "queued", 1), else_=0)).label("queued"),
        func.sum(case((c.status == "deferred", 1), else_=0)).label("deferred"),
        func.sum(case((c.status == "sent", 1), else_=0)).label("sent"),
        func.sum(case((c.status == "failed", 1), else_=0)).label("failed"),
        func.sum(case((c.status == "skipped", 1), else_=0)).label("skipped"),
        func.count(c.opened_at).label("opened"),
        func.count(c.clicked_at).label("clicked"),
        func.count(c.unsubscribed_at).label("unsubscribed"),
        func.count(c.bounced_at).label("bounced"),
        func.count(c.complained_at).label("complained"),
    ).where(c.account_id == account_id, c.group_name.not_in(("test", "team")))  # test sends, team emails: no stats
    if sequence is not None:
        stmt = stmt.where(c.sequence == sequence)
    if draft is not None:
        stmt = stmt.where(c.draft == draft)
    stmt = stmt.group_by(c.sequence, c.step, c.draft).order_by(c.sequence, c.step, c.draft)
    return [IssueCounts(r[0], r[1], r[2], *(int(n or 0) for n in r[3:])) for r in conn.execute(stmt)]


def mark_first(conn: Connection, account_id: int, issue_id: str, column: FirstTime, at_us: int) -> bool:
    """Set one of the first-time columns unless already set; True when this call set it."""
    target = t.issues.c[column]
    # Conditional update: of two clicks racing, only the first sets the time.
    result = conn.execute(
        update(t.issues)
        .where(t.issues.c.account_id == account_id, t.issues.c.id == issue_id, target.is_(None))
        .values({column: at_us})
    )
    return result.rowcount == 1


def statuses(conn: Connection, issue_ids: Sequence[str]) -> dict[str, str]:
    """Return the status of each issue by id (the delivery loop checks a whole batch at once)."""
    unique = sorted(set(issue_ids))
    if not unique:
        return {}
    rows = conn.execute(
        select(t.issues.c.id, t.issues.c.status).where(dialects.in_one_parameter(conn, t.issues.c.id, unique, "ids"))
    )
    return {str(issue_id): str(status) for issue_id, status in rows}


def apply_changes(conn: Connection, changes: Sequence[tuple[str, IssueChange]]) -> None:
    """Write delivery outcomes to their issues (by id), grouped so that each statement sets the same columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for issue_id, change in changes:
        values = _columns(change)
        groups[tuple(values)].append({**values, "id": issue_id})
    for rows in groups.values():
        fast_update(conn, t.issues, "id", rows)


def _columns(change: IssueChange) -> dict[str, Any]:
    """The issue's columns for a change (a retry changes only the reason)."""
    if change.status is None:
        return {"reason": change.reason}
    values: dict[str, Any] = {"status": change.status, "reason": change.reason}
    if change.status == "deferred":
        return values | {"deliver_after": change.deliver_after_us}
    if change.status != "sent":
        return values
    values |= {"sent_at": change.sent_at_us, "transport": change.transport, "reason": None}
    message = change.message
    if message is not None:
        values |= {
            "message_id": message.message_id,
            "subject": message.subject,
            "from_addr": message.from_addr,
            "headers": dumps(message.headers),
            "html": message.html,
            "text": message.text,
            "links": dumps(message.links) if message.links else None,
        }
    return values


def variant_counts(
    conn: Connection, account_id: int, sequence: str, since_us: int | None = None
) -> list[tuple[int, int, int, int, int]]:
    """Per (step, variant) of one sequence: emails sent, unique opens, unique clicks (S23: splits side by side);
    with `since_us`, only emails queued from that moment on (S19: after a stats reset)."""
    c = t.issues.c
    stmt = (
        select(
            c.step,
            c.variant,
            func.sum(case((c.status == "sent", 1), else_=0)),
            func.count(c.opened_at),
            func.count(c.clicked_at),
        )
        .where(
            c.account_id == account_id,
            c.sequence == sequence,
            c.step.is_not(None),
            c.variant.is_not(None),
            c.group_name.not_in(("test", "team")),
            c.created_at >= (since_us or 0),
        )
        .group_by(c.step, c.variant)
        .order_by(c.step, c.variant)
    )
    return [(int(r[0]), int(r[1]), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0)) for r in conn.execute(stmt)]
