"""Account settings and the frequency-cap ledger (SPEC §17): the only SQL of their tables."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, and_, delete, or_, select, update

from stepwise.storage import dialects
from stepwise.storage import schema_policy as tp
from stepwise.storage.dialects import insert_new, insert_tuples, lock_subscribers


def settings_of(conn: Connection, account_ids: Sequence[int]) -> dict[int, str]:
    """The stored settings (JSON text) of those accounts that have any."""
    c = tp.account_settings.c
    rows = conn.execute(select(c.account_id, c.value).where(c.account_id.in_(sorted(set(account_ids)))))
    return {int(a): str(v) for a, v in rows}


def put_settings(conn: Connection, account_id: int, value: str, now_us: int) -> None:
    if not insert_new(conn, tp.account_settings, {"account_id": account_id, "value": value, "updated_at": now_us}):
        c = tp.account_settings.c
        conn.execute(
            update(tp.account_settings).where(c.account_id == account_id).values(value=value, updated_at=now_us)
        )


def lock_and_read_slots(
    conn: Connection, account_id: int, subscriber_ids: Sequence[int], since_us: int
) -> dict[int, list[tuple[str, int]]]:
    """Lock the subscribers (id order) and return their ledger since then: (issue id, at) by subscriber.

    The lock makes taking a slot exact with many workers: on PostgreSQL a second worker waits here
    for the first one's commit and then counts its slot; SQLite has one writer at a time anyway.
    Entries older than `since_us` are no use to any cap and are deleted on the way.
    """
    lock_subscribers(conn, subscriber_ids, skip_locked=False)
    c = tp.cap_slots.c
    wanted = sorted(set(subscriber_ids))
    found: dict[int, list[tuple[str, int]]] = defaultdict(list)
    rows = conn.execute(
        select(c.subscriber_id, c.issue_id, c.at).where(
            c.account_id == account_id, dialects.ids_in(conn, c.subscriber_id, wanted)
        )
    )
    stale = False
    for subscriber_id, issue_id, at in rows:
        if at < since_us:
            stale = True
        else:
            found[int(subscriber_id)].append((str(issue_id), int(at)))
    if stale:  # deleted only when there are some: most batches find none, and a DELETE probes every subscriber
        conn.execute(
            delete(tp.cap_slots).where(
                c.account_id == account_id, dialects.ids_in(conn, c.subscriber_id, wanted), c.at < since_us
            )
        )
    return found


def add_slots(conn: Connection, account_id: int, slots: Sequence[tuple[str, int]], at_us: int) -> None:
    """Write the slots taken: (issue id, subscriber id) pairs, in one statement."""
    rows = [(account_id, i, s, at_us) for i, s in slots]
    insert_tuples(conn, tp.cap_slots, ("account_id", "issue_id", "subscriber_id", "at"), rows)


def release_slots(conn: Connection, slots: Sequence[tuple[int, str]]) -> None:
    """Give back the slots of emails that were not sent: (account id, issue id) pairs."""
    if not slots:
        return
    c = tp.cap_slots.c
    conn.execute(delete(tp.cap_slots).where(or_(*(and_(c.account_id == a, c.issue_id == i) for a, i in slots))))
