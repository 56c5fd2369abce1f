"""S17 at scale on PostgreSQL (SPEC §21): a large migration first refreshes the runs table's statistics
when they are missing or stale, so each batch is planned as an id-range read, and never waits on
autovacuum for them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from stepwise.storage import migrate, run_moves
from stepwise.storage.database import Database
from tests.conftest import truncate_all_if_migrated


@pytest.fixture
def db(postgres_url: str) -> Iterator[Database]:
    truncate_all_if_migrated(postgres_url)
    database = Database(postgres_url)
    migrate.upgrade(database)
    yield database
    database.dispose()


def _analyzed_at(db: Database) -> object:
    with db.read() as conn:
        return conn.execute(text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'runs'")).scalar()


def test_S17_stale_runs_statistics_are_refreshed_before_a_migration(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_moves, "STALE_SHARE", -1.0)  # every table counts as stale
    before = _analyzed_at(db)
    with db.write() as conn:
        run_moves.refresh_statistics(conn)
    after = _analyzed_at(db)
    assert after is not None and after != before


def test_S17_the_statistics_refresh_gives_way_to_autovacuum_holding_the_table(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_moves, "STALE_SHARE", -1.0)
    before = _analyzed_at(db)
    with db.engine.connect() as vacuum, vacuum.begin():  # holds the lock VACUUM and ANALYZE take
        vacuum.execute(text("LOCK TABLE runs IN SHARE UPDATE EXCLUSIVE MODE"))
        started = time.monotonic()
        with db.write() as conn:
            run_moves.refresh_statistics(conn)
            assert conn.execute(text("SELECT count(*) FROM runs")).scalar() == 0  # the transaction goes on
        assert time.monotonic() - started < 2
    assert _analyzed_at(db) == before
