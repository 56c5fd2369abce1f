"""What the email throughput benchmark writes and counts: queued issues and their outbox rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from stepwise.domain.jobs import EmailJob
from stepwise.ids import new_id
from stepwise.storage import issues as issue_store
from stepwise.storage import outbox as outbox_store
from stepwise.storage import schema as t
from stepwise.storage.codec import dumps
from stepwise.storage.dialects import fast_insert, refresh_statistics
from stepwise.storage.outbox import NewOutboxRow


def plant_queued_emails(
    conn: Connection, account_id: int, draft: str, data: dict[str, Any], count: int, now_us: int
) -> None:
    """Write `count` active subscribers, a queued issue of `draft` for each, and its outbox row."""
    fast_insert(
        conn,
        t.subscribers,
        [
            {
                "account_id": account_id,
                "email": f"user{n}@bench.example",
                "email_key": f"user{n}@bench.example",
                "status": "active",
                "data": dumps(data),
                "created_at": now_us,
                "updated_at": now_us,
            }
            for n in range(count)
        ],
    )
    ids = [r[0] for r in conn.execute(select(t.subscribers.c.id).where(t.subscribers.c.account_id == account_id))]
    issues: list[dict[str, Any]] = []
    rows: list[NewOutboxRow] = []
    for n, sid in enumerate(ids):
        issue_id = new_id()
        issues.append(
            {
                "id": issue_id,
                "account_id": account_id,
                "subscriber_id": sid,
                "email": f"user{n}@bench.example",
                "email_key": f"user{n}@bench.example",
                "draft": draft,
                "sequence": "bench",
                "step": 1,
                "variant": 1,
                "pass_no": 1,
                "group_name": "transactional",
                "status": "queued",
                "created_at": now_us,
            }
        )
        job = EmailJob(draft=draft, event={}, data=data, sequence="bench", step=1, at_us=None)
        rows.append(NewOutboxRow(account_id, sid, 1, 1, issue_id, job, now_us))
    issue_store.add(conn, issues)
    outbox_store.add(conn, rows)
    # The tables went from empty to thousands of rows at once; a live database has statistics (autovacuum).
    refresh_statistics(conn, [t.subscribers, t.issues, t.outbox])


def count_sent(conn: Connection) -> int:
    """How many issues are sent (in every account)."""
    return int(conn.execute(select(func.count()).where(t.issues.c.status == "sent")).scalar_one())
