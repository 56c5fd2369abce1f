"""Sequence versions (S16): immutable published definitions, and which version each run follows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from stepwise.storage import schema as t
from stepwise.storage.codec import dumps, loads
from stepwise.storage.dialects import fast_update
from stepwise.storage.schema_versions import sequence_versions as v

OPEN = ("active", "paused")


@dataclass(frozen=True, slots=True)
class VersionRow:
    number: int
    name: str
    definition: dict[str, Any]
    published_at: int
    who: str
    note: str | None
    mode: str


_COLS = (v.c.number, v.c.name, v.c.definition, v.c.published_at, v.c.who, v.c.note, v.c.mode)


def _row(r: Any) -> VersionRow:
    try:
        definition = loads(r[2])
    except ValueError:
        definition = {}
    return VersionRow(r[0], r[1], definition if isinstance(definition, dict) else {}, r[3], r[4], r[5], r[6])


def add(
    conn: Connection,
    account_id: int,
    sequence_id: int,
    number: int,
    name: str,
    definition: dict[str, Any],
    *,
    now_us: int,
    who: str,
    note: str | None,
    mode: str,
    migrated: bool = True,
    step_map: dict[str, Any] | None = None,
) -> None:
    """Write version `number` and make it the sequence's live version (`migrated`: no runs left to move)."""
    conn.execute(
        insert(v).values(
            account_id=account_id,
            sequence_id=sequence_id,
            number=number,
            name=name,
            definition=dumps(definition),
            published_at=now_us,
            who=who,
            note=note,
            mode=mode,
            migrated_at=now_us if migrated else None,
            step_map=dumps(step_map or {}),
        )
    )
    conn.execute(update(t.sequences).where(t.sequences.c.id == sequence_id).values(live_version=number))


def all_of(conn: Connection, sequence_id: int) -> list[VersionRow]:
    """Every version of a sequence, newest first."""
    stmt = select(*_COLS).where(v.c.sequence_id == sequence_id).order_by(v.c.number.desc())
    return [_row(r) for r in conn.execute(stmt)]


def one(conn: Connection, sequence_id: int, number: int) -> VersionRow | None:
    row = conn.execute(select(*_COLS).where(v.c.sequence_id == sequence_id, v.c.number == number)).first()
    return _row(row) if row else None


def open_runs_by_version(conn: Connection, account_id: int, sequence_id: int) -> dict[int, int]:
    """{version: active-or-paused runs on it now}."""
    stmt = (
        select(t.runs.c.version, func.count())
        .where(t.runs.c.account_id == account_id, t.runs.c.sequence_id == sequence_id, t.runs.c.status.in_(OPEN))
        .group_by(t.runs.c.version)
    )
    return {int(number): int(count) for number, count in conn.execute(stmt)}


def set_run_versions(conn: Connection, ids: Sequence[int], number: int) -> None:
    """Move these runs to version `number`."""
    if ids:
        conn.execute(update(t.runs).where(t.runs.c.id.in_(list(ids))).values(version=number))


def delete_all(conn: Connection, sequence_id: int) -> None:
    conn.execute(v.delete().where(v.c.sequence_id == sequence_id))


def open_runs_by_step(conn: Connection, account_id: int, sequence_id: int, *, above: int = 0) -> dict[int, int]:
    """{step: active-or-paused runs waiting on it now}, for the steps after `above` (an index range)."""
    stmt = (
        select(t.runs.c.step, func.count())
        .where(
            t.runs.c.account_id == account_id,
            t.runs.c.sequence_id == sequence_id,
            t.runs.c.status.in_(OPEN),
            t.runs.c.step > above,
        )
        .group_by(t.runs.c.step)
    )
    return {int(step): int(count) for step, count in conn.execute(stmt)}


def open_runs_up_to(conn: Connection, account_id: int, sequence_id: int, cap: int) -> int:
    """How many runs of the sequence are active or paused, counted up to `cap` (cheap however many there are)."""
    r = t.runs.c
    some = (
        select(r.id)
        .where(r.account_id == account_id, r.sequence_id == sequence_id, r.status.in_(OPEN))
        .limit(cap)
        .subquery()
    )
    return int(conn.execute(select(func.count()).select_from(some)).scalar_one())


def pinned(conn: Connection, sequence_id: int, live: int) -> dict[int, VersionRow]:
    """The older versions open runs may still follow: those that only `pin` publications came after.

    A `migrate` publication moves every open run to the version it makes, so a version before the
    latest finished `migrate` one can have no open run (one still under way counts like a `pin`).
    """
    stmt = select(v.c.number, v.c.mode, v.c.migrated_at).where(v.c.sequence_id == sequence_id, v.c.number <= live)
    held = {int(number): mode == "pin" or done is None for number, mode, done in conn.execute(stmt)}
    wanted = []
    number = live
    while held.get(number) and number - 1 in held:
        wanted.append(number - 1)
        number -= 1
    if not wanted:
        return {}
    rows = conn.execute(select(*_COLS).where(v.c.sequence_id == sequence_id, v.c.number.in_(wanted)))
    return {row.number: row for row in map(_row, rows)}


def unfinished(conn: Connection, account_id: int) -> list[tuple[int, int, int]]:
    """(sequence id, version, published_at) of every `migrate` publication whose runs are still being moved."""
    stmt = select(v.c.sequence_id, v.c.number, v.c.published_at).where(
        v.c.account_id == account_id, v.c.migrated_at.is_(None)
    )
    return [(int(sid), int(number), int(at)) for sid, number, at in conn.execute(stmt)]


def accounts_unfinished(conn: Connection) -> list[int]:
    """Accounts with a `migrate` publication whose runs are still being moved."""
    stmt = select(v.c.account_id).where(v.c.migrated_at.is_(None)).distinct()
    return sorted(int(account_id) for account_id in conn.execute(stmt).scalars())


def step_map_of(conn: Connection, sequence_id: int, number: int) -> dict[str, Any]:
    text = conn.execute(select(v.c.step_map).where(v.c.sequence_id == sequence_id, v.c.number == number)).scalar()
    found = loads(text) if text else {}
    return found if isinstance(found, dict) else {}


def mark_migrated(conn: Connection, sequence_id: int, number: int, now_us: int) -> None:
    conn.execute(update(v).where(v.c.sequence_id == sequence_id, v.c.number == number).values(migrated_at=now_us))


def behind_page(
    conn: Connection, account_id: int, sequence_id: int, number: int, *, after_id: int, limit: int
) -> list[tuple[int, int]]:
    """(run id, subscriber id) of the next open runs on a version before `number`, in id order."""
    stmt = (
        select(t.runs.c.id, t.runs.c.subscriber_id)
        .where(
            t.runs.c.account_id == account_id,
            t.runs.c.sequence_id == sequence_id,
            t.runs.c.status.in_(OPEN),
            t.runs.c.version < number,
            t.runs.c.id > after_id,
        )
        .order_by(t.runs.c.id)
        .limit(limit)
    )
    return [(int(rid), int(sid)) for rid, sid in conn.execute(stmt)]


def run_counts(conn: Connection, account_id: int, sequence_id: int) -> list[tuple[int, str, str | None, int, int]]:
    """(version, status, end reason, step, runs) over every run of the sequence (exact, from the runs)."""
    r = t.runs.c
    stmt = (
        select(r.version, r.status, r.end_reason, r.step, func.count())
        .where(r.account_id == account_id, r.sequence_id == sequence_id, r.test.is_(False))  # S19: not test runs
        .group_by(r.version, r.status, r.end_reason, r.step)
    )
    return [(int(a), str(b), c, int(d), int(e)) for a, b, c, d, e in conn.execute(stmt)]


def subscribers_on(conn: Connection, account_id: int, sequence_id: int, number: int) -> int:
    """Distinct subscribers with a run on version `number`."""
    r = t.runs.c
    stmt = select(func.count(func.distinct(r.subscriber_id))).where(
        r.account_id == account_id, r.sequence_id == sequence_id, r.version == number, r.test.is_(False)
    )
    return int(conn.execute(stmt).scalar_one())


def converted_on(conn: Connection, account_id: int, sequence_id: int, number: int) -> int:
    """S24: runs on version `number` that converted."""
    r = t.runs.c
    stmt = select(func.count()).where(
        r.account_id == account_id, r.sequence_id == sequence_id, r.version == number, r.converted_at.is_not(None)
    )
    return int(conn.execute(stmt).scalar_one())


_MOVED = ("step", "wake_at", "claimable_at", "recheck", "version")
_PG_MOVE = (
    "UPDATE runs SET step = u.step, wake_at = u.wake_at, claimable_at = u.claimable_at, recheck = u.recheck, "
    "version = u.version FROM unnest(%(id)s::bigint[], %(step)s::int[], %(wake_at)s::bigint[], "
    "%(claimable_at)s::bigint[], %(recheck)s::bool[], %(version)s::int[]) "
    "AS u(id, step, wake_at, claimable_at, recheck, version) WHERE runs.id = u.id"
)


def move_runs(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write migrated runs that stay open: id plus the columns of _MOVED, in id order (the worker's lock order).

    On PostgreSQL one statement with six array parameters (a short query text that the driver does not
    re-parse per batch); elsewhere the usual bulk update.
    """
    ordered = sorted(rows, key=lambda row: int(row["id"]))
    if not ordered:
        return
    if conn.dialect.name != "postgresql":
        fast_update(conn, t.runs, "id", [{"id": row["id"], **{c: row[c] for c in _MOVED}} for row in ordered])
        return
    params = {c: [row[c] for row in ordered] for c in ("id", *_MOVED)}
    conn.exec_driver_sql(_PG_MOVE, params)
