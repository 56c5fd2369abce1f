"""CSV import records: options, running counts and the first row errors (SPEC §5)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from stepwise.domain.statuses import ImportStatus
from stepwise.storage import schema as t
from stepwise.storage.codec import dumps, loads
from stepwise.storage.dialects import refresh_statistics as refresh_tables


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One import as stored."""

    id: str
    account_id: int
    filename: str | None
    status: ImportStatus
    options: dict[str, Any]
    rows: int
    created: int
    updated: int
    unchanged: int
    failed: int
    errors: list[dict[str, Any]]
    started_at: int
    finished_at: int | None


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """How many rows an import read, and what became of them."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0


def _row(r: Any) -> ImportRow:
    return ImportRow(
        r.id,
        r.account_id,
        r.filename,
        r.status,
        loads(r.options),
        r.rows,
        r.created,
        r.updated,
        r.unchanged,
        r.failed,
        loads(r.errors),
        r.started_at,
        r.finished_at,
    )


def create(
    conn: Connection, import_id: str, account_id: int, filename: str | None, options: dict[str, Any], now_us: int
) -> None:
    """Record a running import."""
    conn.execute(
        insert(t.imports).values(
            id=import_id,
            account_id=account_id,
            filename=filename,
            status="running",
            options=dumps(options),
            started_at=now_us,
        )
    )


def record(
    conn: Connection,
    import_id: str,
    counts: ImportCounts,
    errors: list[dict[str, Any]] | None,
    *,
    status: ImportStatus = "running",
    finished_at: int | None = None,
) -> None:
    """Write an import's counts (and its errors when given), status and end time."""
    values: dict[str, Any] = {
        "rows": counts.rows,
        "created": counts.created,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "failed": counts.failed,
    }
    values["status"] = status
    if errors is not None:
        values["errors"] = dumps(errors)
    if finished_at is not None:
        values["finished_at"] = finished_at
    conn.execute(update(t.imports).where(t.imports.c.id == import_id).values(**values))


def get(conn: Connection, account_id: int, import_id: str) -> ImportRow | None:
    """Return one of the account's imports."""
    row = conn.execute(
        select(t.imports).where(t.imports.c.account_id == account_id, t.imports.c.id == import_id)
    ).first()
    return _row(row) if row else None


def recent(conn: Connection, account_id: int, limit: int) -> list[ImportRow]:
    """Return the newest imports first (ids sort by creation time)."""
    stmt = select(t.imports).where(t.imports.c.account_id == account_id).order_by(t.imports.c.id.desc()).limit(limit)
    return [_row(r) for r in conn.execute(stmt)]


class SeenAddresses:
    """The address keys an import has already read, kept in a private on-disk SQLite scratch database.

    An import must recognise an address it saw a million rows earlier without holding a million
    addresses in memory; SQLite's page cache keeps this bounded and spills the rest to a temporary file.
    """

    def __init__(self) -> None:
        # An empty name opens a private temporary database on disk, deleted when closed.
        self._conn = sqlite3.connect("", isolation_level=None)
        self._conn.execute("PRAGMA cache_size=-4096")
        self._conn.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID")

    def first_lines(self, keys: Sequence[str]) -> dict[str, int]:
        """Return the line where each of these keys was first seen, for those seen before."""
        found: dict[str, int] = {}
        for start in range(0, len(keys), 5000):
            chunk = list(keys[start : start + 5000])
            marks = ",".join("?" * len(chunk))
            found.update(self._conn.execute(f"SELECT key, line FROM seen WHERE key IN ({marks})", chunk))
        return found

    def add(self, pairs: Sequence[tuple[str, int]]) -> None:
        """Remember keys with the line they were first seen on."""
        self._conn.execute("BEGIN")
        self._conn.executemany("INSERT OR IGNORE INTO seen (key, line) VALUES (?, ?)", pairs)
        self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close (and so delete) the scratch database."""
        self._conn.close()


def refresh_statistics(conn: Connection) -> None:
    """Refresh the planner's statistics of the tables an import fills (PostgreSQL; SQLite needs none)."""
    refresh_tables(conn, [t.subscribers, t.list_members])
