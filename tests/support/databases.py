"""Real databases for tests: a SQLite file per test, one PostgreSQL database per session."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

PG_HOST = os.environ.get("STEPWISE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("STEPWISE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("STEPWISE_TEST_PG_USER", "postgres")


def postgres_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=2):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    """Skip without PostgreSQL locally; in CI (CI=true) a missing server is a failure."""
    if postgres_reachable():
        return
    message = f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: PostgreSQL tests must run)", pytrace=False)
    pytest.skip(message)


def admin_url(database: str = "postgres") -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


@contextmanager
def temporary_postgres_database() -> Iterator[str]:
    """Create a uniquely named database and drop it afterwards; yield its URL."""
    name = f"stepwise_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def truncate_all(url: str) -> None:
    """Empty every table of a Stepwise PostgreSQL database (keeps the schema)."""
    from stepwise.storage.schema import metadata

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    engine.dispose()
