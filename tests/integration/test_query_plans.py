"""Per-batch lookups use an index on the batch's subscribers, never a read of the whole account (SQLite).

SQLite chooses plans without statistics (Stepwise never runs ANALYZE), so the schema must make the
right index the obvious choice; a wrong one costs nothing on an empty table and turns a batch into a
read of every row of the account once the table is large. PostgreSQL plans by its statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from stepwise.storage import inbox as inbox_store
from stepwise.storage import migrate
from stepwise.storage import runs as run_store
from stepwise.storage import subscribers as subscriber_store
from stepwise.storage.database import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'plans.db'}")
    migrate.upgrade(database)
    yield database
    database.dispose()


def plans(db: Database, call: Callable[[Connection], Any], table: str) -> list[str]:
    """Run `call`, then return the query plan lines of each statement it sent that reads `table`."""
    with db.read() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        sent: list[str] = []
        raw.set_trace_callback(sent.append)
        try:
            call(conn)
        finally:
            raw.set_trace_callback(None)
        statements = [s for s in sent if f" {table} " in s and s.lstrip().upper().startswith("SELECT")]
        assert statements, f"no statement read {table}: {sent}"
        return [str(row[3]) for s in statements for row in raw.execute("EXPLAIN QUERY PLAN " + s)]


def test_a_batch_reads_its_subscribers_lists_by_subscriber(db: Database) -> None:
    lines = plans(db, lambda conn: subscriber_store.list_keys(conn, 1, [10, 11, 12]), "list_members")
    [members] = [line for line in lines if line.startswith(("SEARCH m", "SCAN m"))]
    assert "subscriber_id=?" in members, lines


def test_a_batch_reads_its_subscribers_runs_and_events_by_subscriber(db: Database) -> None:
    for table, call in [
        ("runs", lambda conn: run_store.open_runs(conn, 1, [10, 11, 12])),
        ("runs", lambda conn: run_store.passes(conn, 1, [10, 11, 12])),
        ("inbox", lambda conn: inbox_store.of_subscribers(conn, [10, 11, 12])),
    ]:
        lines = plans(db, call, table)
        assert lines and all("subscriber_id" in line for line in lines if table[:4] in line), (table, lines)
        assert not [line for line in lines if line.startswith("SCAN")], (table, lines)
