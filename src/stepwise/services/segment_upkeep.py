"""Keeping segment membership current (SPEC S22), vectorised over a batch of subscribers.

`settle` tests a batch of subscribers against some segments and writes the differences (with the
stored counts) in the caller's transaction; `refresh` does it for every segment of the account after
a change of the subscribers' data, lists, status or activity.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import Connection

from stepwise.domain.events import NewEvent
from stepwise.domain.instants import iso
from stepwise.domain.predicates import Predicate, walk
from stepwise.domain.segments import (
    CLICKED,
    CREATED_AT,
    EVERYTHING,
    OPENED,
    SENT,
    SUBSCRIBER,
    Facts,
    Touch,
    change_finder,
    concerns,
    matcher,
    needs_activity,
    parse_where,
    reads_lists,
    reads_only_sent,
    sent_view,
    uses_now,
    view_of,
)
from stepwise.storage import inbox as inbox_store
from stepwise.storage import segments as store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.codec import from_us, loads, to_us
from stepwise.storage.segments import Activity
from stepwise.storage.subscribers import SubscriberRow


class Change(NamedTuple):
    """One subscriber joined (True) or left (False) one segment (a tuple: a batch makes thousands)."""

    segment_id: int
    subscriber_id: int
    joined: bool


@lru_cache(maxsize=512)
def parsed(where_text: str) -> Predicate:
    """The predicate of a stored segment (it was checked when saved)."""
    predicate, problems = parse_where(loads(where_text))
    if predicate is None:
        raise ValueError(f"a stored segment predicate is invalid: {problems}")
    return predicate


def _facts(
    conn: Connection, account_id: int, segments: Sequence[tuple[int, Predicate]], rows: Sequence[SubscriberRow]
) -> dict[int, Facts]:
    """The `subscriber.*` facts of a batch: lists in one query, activity in one more when a segment reads it.

    Only the facts some segment reads are filled in (an instant costs a conversion per subscriber).
    """
    fields = {c.field for _, p in segments for c in walk(p)}
    lists: dict[int, set[str]] = {}
    if any(reads_lists(p) for _, p in segments):
        lists = subscriber_store.list_keys(conn, account_id, [r.id for r in rows])
    activity: dict[str, Activity] = {}
    if any(needs_activity(p) for _, p in segments):
        activity = store.activity(conn, account_id, [r.email_key for r in rows])
    sent, opened, clicked = (f"{SUBSCRIBER}.{name}" in fields for name in (SENT, OPENED, CLICKED))
    when = _Texts()
    facts: dict[int, Facts] = {}
    for r in rows:
        act = activity.get(r.email_key)
        facts[r.id] = Facts(
            status=r.status,
            lists=frozenset(lists.get(r.id, ())),
            created_at=when(r.created_at) or "" if CREATED_AT in fields else "",  # else left out: nobody reads it
            last_sent_at=when(act.sent) if act and sent else None,
            last_opened_at=when(act.opened) if act and opened else None,
            last_clicked_at=when(act.clicked) if act and clicked else None,
        )
    return facts


class _Texts(dict[int, str]):
    """Instants (µs) as ISO-8601 text, each distinct one converted once (a batch shares many)."""

    def __call__(self, us: int | None) -> str | None:
        return None if us is None else self[us]

    def __missing__(self, us: int) -> str:
        text = self[us] = iso(from_us(us))
        return text


def settle(
    conn: Connection,
    account_id: int,
    segments: Sequence[tuple[int, Predicate]],
    rows: Sequence[SubscriberRow],
    now: datetime,
) -> list[Change]:
    """Test these subscribers against these segments and store the differences (and re-test moments)."""
    if not segments or not rows:
        return []
    ids = [r.id for r in rows]
    facts = _facts(conn, account_id, segments, rows)
    views = [(r.id, view_of(r.data, facts[r.id])) for r in rows]  # built once, read by every segment
    members = store.memberships(conn, account_id, [segment_id for segment_id, _ in segments], ids)
    changes: list[Change] = []
    for segment_id, predicate in segments:
        inside = members[segment_id]
        check = matcher(predicate)
        wanted = {sid for sid, view in views if check(view, now)}
        joined, left = store.change_members(
            conn, account_id, segment_id, sorted(wanted - inside), sorted(inside - wanted), to_us(now)
        )
        if uses_now(predicate):
            finder = change_finder(predicate)
            due = {sid: None if (at := finder(view, now)) is None else to_us(at) for sid, view in views}
            store.set_deadlines(conn, account_id, segment_id, due)
        changes += [Change(segment_id, s, True) for s in joined] + [Change(segment_id, s, False) for s in left]
    return changes


def settle_sent(
    conn: Connection, account_id: int, segments: Sequence[tuple[int, Predicate]], ids: Sequence[int], now: datetime
) -> list[Change]:
    """`settle` for subscribers just sent an email at `now`, against segments that read only the last send.

    They all have the same answer and re-test moment, so each segment is tested once and its
    membership moves in one statement (which also says who actually joined or left).
    """
    if not segments or not ids:
        return []
    view, now_us = sent_view(iso(now)), to_us(now)
    changes: list[Change] = []
    for segment_id, predicate in segments:
        inside = matcher(predicate)(view, now)
        if inside:
            moved = store.join_all(conn, account_id, segment_id, ids, now_us)
        else:
            moved = store.leave_all(conn, segment_id, ids)
        if uses_now(predicate):
            at = change_finder(predicate)(view, now)
            store.set_deadlines(conn, account_id, segment_id, dict.fromkeys(ids, None if at is None else to_us(at)))
        changes += [Change(segment_id, s, inside) for s in moved]
    return changes


def matching(
    conn: Connection, account_id: int, predicate: Predicate, rows: Sequence[SubscriberRow], now: datetime
) -> int:
    """How many of these subscribers the predicate matches; nothing is written (the editor's live count)."""
    facts = _facts(conn, account_id, [(0, predicate)], rows)
    check = matcher(predicate)
    return sum(1 for r in rows if check(view_of(r.data, facts[r.id]), now))


def refresh(
    conn: Connection,
    account_id: int,
    subscriber_ids: Sequence[int],
    now: datetime,
    touch: Touch = EVERYTHING,
    *,
    emit: bool = True,
    sent_now: bool = False,
) -> list[Change]:
    """Re-test these subscribers against the account's segments that read what the change touched.

    Each change of membership queues `segment_joined` / `segment_left` (unless `emit` is off, as for
    an import without trigger events). `sent_now` says the change is an email sent to each of them
    at `now` (their last send is now): segments reading nothing else are settled by `settle_sent`.
    """
    if not subscriber_ids:
        return []
    stored = store.all_segments(conn, account_id)
    segments = [(row.id, p) for row in stored if concerns(p := parsed(row.where), touch)]
    if not segments:
        return []
    ids = sorted(set(subscriber_ids))
    alike: list[tuple[int, Predicate]] = []
    rest: list[tuple[int, Predicate]] = []
    for segment in segments:
        (alike if sent_now and reads_only_sent(segment[1]) else rest).append(segment)
    changes = settle_sent(conn, account_id, alike, ids, now)
    if rest:
        profile = any(not c.field.startswith(f"{SUBSCRIBER}.") for _, p in rest for c in walk(p))
        rows = subscriber_store.by_ids(conn, ids, with_data=profile)  # data only if read
        changes += settle(conn, account_id, rest, [r for r in rows if r.account_id == account_id], now)
    if emit:
        queue_events(conn, account_id, changes, {row.id: row.key for row in stored}, now)
    return changes


def queue_events(
    conn: Connection, account_id: int, changes: Sequence[Change], keys: Mapping[int, str], now: datetime
) -> None:
    """Queue `segment_joined` / `segment_left` for these changes (filter `segment`, SPEC §15)."""
    now_us = to_us(now)
    payloads = {sid: {"segment": key} for sid, key in keys.items()}  # one payload per segment, written once
    queued = [
        NewEvent(
            account_id,
            c.subscriber_id,
            "segment_joined" if c.joined else "segment_left",
            payloads[c.segment_id],
            "segment",
            now_us,
            now_us,
        )
        for c in changes
        if c.segment_id in payloads
    ]
    inbox_store.add(conn, queued)


def refresh_pairs(
    conn: Connection,
    pairs: Iterable[tuple[int, int | None]],
    now: datetime,
    activity: Iterable[str] = (SENT, OPENED, CLICKED),
    *,
    status: bool = True,
    sent_now: bool = False,
) -> list[Change]:
    """`refresh` for (account id, subscriber id) pairs of several accounts (activity recorded in a batch).

    Only the segments reading the `activity` instants that moved (and the status, when it may have) are
    re-tested: a batch of sends re-tests the segments on `last_sent_at`, not every activity segment.
    `sent_now`: each pair was just sent an email at `now` (see `refresh`).
    """
    by_account: dict[int, set[int]] = defaultdict(set)
    for account_id, subscriber_id in pairs:
        if subscriber_id:
            by_account[account_id].add(subscriber_id)
    touch = Touch(activity=frozenset(activity), status=status)
    return [
        c
        for account_id, ids in sorted(by_account.items())
        for c in refresh(conn, account_id, sorted(ids), now, touch, sent_now=sent_now)
    ]


def retest_due(conn: Connection, now: datetime, limit: int = 1000) -> int:
    """Re-test the members whose answer time alone may have changed by now; return how many were re-tested."""
    due = store.due(conn, to_us(now), limit)
    if not due:
        return 0
    wheres = store.where_by_id(conn, [segment for _, segment, _ in due])
    keys = store.keys_by_id(conn, list(wheres))
    by_pair: dict[tuple[int, int], list[int]] = defaultdict(list)
    for account_id, segment_id, subscriber_id in due:
        by_pair[(account_id, segment_id)].append(subscriber_id)
    for (account_id, segment_id), ids in sorted(by_pair.items()):
        rows = [r for r in subscriber_store.by_ids(conn, ids) if r.account_id == account_id]
        predicate = parsed(wheres[segment_id]) if segment_id in wheres else None
        if predicate is not None:
            changes = settle(conn, account_id, [(segment_id, predicate)], rows, now)  # writes the next moments
            queue_events(conn, account_id, changes, keys, now)
        stale = set(ids) - {r.id for r in rows}  # deleted subscribers
        if predicate is None or not uses_now(predicate):
            stale = set(ids)  # a deleted segment, or one edited to no longer use `now`
        if stale:
            store.set_deadlines(conn, account_id, segment_id, dict.fromkeys(stale))
    return len(due)


def segment_keys(conn: Connection, account_id: int, subscriber_ids: Sequence[int]) -> dict[int, set[str]]:
    """The keys of the segments each subscriber is in (what the engine's segment_matches reads)."""
    return store.keys_of_members(conn, account_id, subscriber_ids)
