"""S22 upkeep reads segments' rows by the batch's subscribers (or by due time), never a scan (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stepwise.storage import migrate
from stepwise.storage import segments as segment_store
from stepwise.storage.database import Database
from tests.integration.test_query_plans import plans


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'plans.db'}")
    migrate.upgrade(database)
    yield database
    database.dispose()


def test_S22_upkeep_lookups_use_an_index(db: Database) -> None:
    for table, call in [
        ("segment_members", lambda conn: segment_store.memberships(conn, 1, [1, 2], [10, 11, 12])),
        ("segment_members", lambda conn: segment_store.keys_of_members(conn, 1, [10, 11, 12])),
        ("issues", lambda conn: segment_store.activity(conn, 1, ["a@x.com", "b@x.com"])),
        ("segment_deadlines", lambda conn: segment_store.due(conn, 5, 100)),
    ]:
        lines = plans(db, call, table)
        # the id list bound as one parameter is scanned (json_each); a table never is
        scans = [line for line in lines if line.startswith("SCAN") and "json_each" not in line]
        assert lines and not scans, (table, lines)
