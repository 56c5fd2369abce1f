"""The `policy` figures of SPEC §21: segment upkeep per profile change, and counting a large segment.

`segment_upkeep` defines 20 segments of every kind (profile paths, lists, status, activity and
sign-up age relative to now) on an account of N subscribers, then times profile changes written
the way imports and bulk edits write them (`batch_edits.apply_edits`, 1,000 per transaction), each
change moving the subscriber in or out of several segments; membership is kept in the same
transaction. `segment_count` plants 1,000,000 members of one segment with set-based SQL (not timed)
and times the count the API answers (`GET /segments/{key}`), p50 over repeated calls.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from sqlalchemy import text

from stepwise.bootstrap import build
from stepwise.config import Settings
from stepwise.domain.edits import Edit
from stepwise.domain.emails import parse_email
from stepwise.services import segments
from stepwise.services.accounts import create_account
from stepwise.services.batch_edits import apply_edits
from stepwise.services.lists import put as put_list

BATCH = 1000
_CITY_PARIS = {"field": "base.city", "op": "eq", "value": "Paris"}
_SPENT_LITTLE = {"field": "shop.spent", "op": "lt", "value": 100}
# Twenty segments as marketers write them: profile values, lists, status, activity and age with
# `now`-relative bounds. They are what is "in force" while the Part I figures are measured too.
SEGMENTS: list[tuple[str, dict[str, Any]]] = [
    ("vip", {"field": "shop.tier", "op": "eq", "value": "vip"}),
    ("gold", {"field": "shop.tier", "op": "eq", "value": "gold"}),
    ("big-spenders", {"field": "shop.spent", "op": "gte", "value": 500}),
    ("small-spenders", {"field": "shop.spent", "op": "lt", "value": 50}),
    ("many-orders", {"field": "shop.orders", "op": "gte", "value": 5}),
    ("paris", {"field": "base.city", "op": "eq", "value": "Paris"}),
    ("berlin", {"field": "base.city", "op": "eq", "value": "Berlin"}),
    ("has-phone", {"field": "base.phone", "op": "exists"}),
    ("no-city", {"field": "base.city", "op": "not_exists"}),
    ("news", {"field": "subscriber.lists", "op": "contains", "value": "news"}),
    ("offers", {"field": "subscriber.lists", "op": "contains", "value": "offers"}),
    ("active", {"field": "subscriber.status", "op": "eq", "value": "active"}),
    ("unsubscribed", {"field": "subscriber.status", "op": "eq", "value": "unsubscribed"}),
    ("new", {"field": "subscriber.created_at", "op": "gte", "value": {"now": "-7d"}}),
    ("opened-lately", {"field": "subscriber.last_opened_at", "op": "gte", "value": {"now": "-30d"}}),
    ("clicked-lately", {"field": "subscriber.last_clicked_at", "op": "gte", "value": {"now": "-30d"}}),
    ("mailed-lately", {"field": "subscriber.last_sent_at", "op": "gte", "value": {"now": "-7d"}}),
    ("vip-paris", {"all": [{"field": "shop.tier", "op": "eq", "value": "vip"}, _CITY_PARIS]}),
    ("lapsed", {"all": [{"field": "shop.orders", "op": "gte", "value": 1}, _SPENT_LITTLE]}),
    ("any-tier", {"field": "shop.tier", "op": "in", "value": ["vip", "gold"]}),
]
TIERS = ("vip", "gold", "basic")
CITIES = ("Paris", "Berlin", "Rome")


def define_segments(app: Any, account_id: int) -> None:
    """Put the twenty segments (and the lists they name) on an account."""
    now = app.clock()
    for key in ("news", "offers"):
        put_list(app.db, account_id, key, key.title(), now)
    for key, where in SEGMENTS:
        segments.put(app.db, account_id, key, key.replace("-", " ").title(), where, now)


def _profile(n: int, round_no: int) -> Edit:
    k = n + round_no
    data = {
        "shop": {"tier": TIERS[k % 3], "spent": (k * 37) % 900, "orders": k % 9},
        "base": {"city": CITIES[k % 3], **({"phone": "+331234"} if k % 2 else {})},
    }
    lists = ["news"] if k % 2 else ["offers"]
    return Edit(data=data, lists_add=lists, lists_remove=["offers"] if k % 2 else ["news"])


def _edits(emails: list[str], round_no: int) -> list[list[tuple[Any, Edit]]]:
    """The profile changes of one round, in batches (built before the clock starts: they are the input)."""
    return [
        [(parse_email(e), _profile(start + i, round_no)) for i, e in enumerate(emails[start : start + BATCH])]
        for start in range(0, len(emails), BATCH)
    ]


def _write(app: Any, account_id: int, batches: list[list[tuple[Any, Edit]]]) -> int:
    changed = 0
    for items in batches:
        with app.db.write() as conn:
            outcomes = apply_edits(conn, account_id, items, source="import", now=app.clock())
        changed += sum(1 for o in outcomes if o.changed)
    return changed


def segment_upkeep(database_url: str, subscribers: int = 10_000) -> dict[str, Any]:
    """segment_upkeep_changes_per_s: profile changes per second, 20 segments kept current (goal ≥ 5,000, SQLite)."""
    app = build(Settings(database_url=database_url))
    try:
        account, _ = create_account(app.db, "bench", "UTC", app.clock())
        define_segments(app, account.id)
        emails = [f"s{i}@example.com" for i in range(subscribers)]
        _write(app, account.id, _edits(emails, 0))  # the subscribers exist (not timed)
        batches = _edits(emails, 1)
        started = time.perf_counter()
        changed = _write(app, account.id, batches)  # every profile changes; memberships move
        seconds = time.perf_counter() - started
        with app.db.read() as conn:
            members = conn.execute(text("SELECT count(*) FROM segment_members")).scalar_one()
    finally:
        app.close()
    return {
        "segments": len(SEGMENTS),
        "changes": changed,
        "seconds": round(seconds, 3),
        "segment_upkeep_changes_per_s": round(changed / seconds, 1) if seconds > 0 else None,
        "memberships": int(members),
    }


def segment_count(database_url: str, members: int = 1_000_000, calls: int = 21) -> dict[str, Any]:
    """segment_count_ms: the member count of a segment of `members` subscribers, as the API answers it."""
    app = build(Settings(database_url=database_url))
    try:
        account, _ = create_account(app.db, "bench", "UTC", app.clock())
        active = {"field": "subscriber.status", "op": "eq", "value": "active"}
        segments.put(app.db, account.id, "everyone", "Everyone", active, app.clock())
        _plant_members(app, account.id, members)
        timings = []
        for _ in range(calls):
            started = time.perf_counter()
            count = segments.get(app.db, account.id, "everyone").count
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        app.close()
    return {"members": count, "segment_count_ms": round(statistics.median(timings), 3)}


def _plant_members(app: Any, account_id: int, members: int) -> None:
    """Subscribers and their memberships written set-based (a bench shortcut: not the product's path)."""
    from stepwise.storage.bench_segments import plant_members

    with app.db.write() as conn:
        plant_members(conn, account_id, "everyone", members, app.clock())
