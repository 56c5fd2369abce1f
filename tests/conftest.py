"""Fixtures shared by every test tier: databases (SQLite and PostgreSQL), the app, a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stepwise.bootstrap import Stepwise, build
from stepwise.config import Settings
from stepwise.services.accounts import create_account
from tests.support.clock import FakeClock
from tests.support.databases import require_postgres, temporary_postgres_database, truncate_all

DIALECTS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One PostgreSQL database per test session (tables are emptied between tests)."""
    require_postgres()
    with temporary_postgres_database() as url:
        yield url


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty Stepwise database of each dialect."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stepwise.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    truncate_all_if_migrated(url)
    yield url


def truncate_all_if_migrated(url: str) -> None:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        migrated = inspect(engine).has_table("subscribers")
    finally:
        engine.dispose()
    if migrated:
        truncate_all(url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, secret_key="test-secret", base_url="http://stepwise.test", poll_interval=0.02
    )


@pytest.fixture
def stepwise(settings: Settings, clock: FakeClock) -> Iterator[Stepwise]:
    app = build(settings, clock=clock)
    yield app
    app.close()


@pytest.fixture
def account(stepwise: Stepwise) -> tuple[int, str]:
    """(account id, API key) of a fresh account named `acme`."""
    row, key = create_account(stepwise.db, "acme", "UTC", stepwise.clock())
    return row.id, key


# The longest files first in collection order: scripts/test runs pytest-xdist with
# `--no-loadscope-reorder`, so the fuzzing runs (a file each: the SQLite run cut in two, and
# PostgreSQL) start first, one per worker, and the many short files fill in around them; the two
# workers then end within a short file of each other instead of one long run finishing alone.
LONGEST_FIRST = (
    "tests/fuzz/test_openapi_fuzz_sqlite_rest.py",
    "tests/fuzz/test_openapi_fuzz.py",
    "tests/fuzz/test_openapi_fuzz_postgresql.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)), len(LONGEST_FIRST))

    items.sort(key=rank)
