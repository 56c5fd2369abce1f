"""Connections and transactions for SQLite (embedded) and PostgreSQL (scale-out)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

Dialect = Literal["sqlite", "postgresql"]


class UnsupportedDatabase(ValueError):
    """The database URL names something other than SQLite or PostgreSQL."""


def normalize_url(url: str) -> tuple[str, Dialect]:
    """Map a user URL (sqlite:///file.db, postgresql://...) to a SQLAlchemy URL and its dialect."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite").render_as_string(hide_password=False), "sqlite"
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False), "postgresql"
    raise UnsupportedDatabase(f"unsupported database {backend!r}: use sqlite:///file.db or postgresql://…")


class Database:
    """A connection pool plus the transaction helpers every repository uses."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url, self.dialect = normalize_url(url)
        self.engine: Engine = self._create(pool_size)
        self.wakeup = threading.Event()  # set by writers in this process to wake the worker early

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _create(self, pool_size: int) -> Engine:
        if self.dialect == "sqlite":
            path = make_url(self.url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                self.url,
                connect_args={"timeout": 30, "check_same_thread": False},
                poolclass=NullPool if path in (None, "", ":memory:") else None,
            )
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        return create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
            # An unreachable host must not hang a loop for the TCP timeout; the loops retry instead.
            connect_args={"connect_timeout": 5},
        )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction; on SQLite it takes the write lock at once (BEGIN IMMEDIATE)."""
        with self.engine.connect() as raw:
            conn = raw.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else raw
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on SQLite WAL)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (so BEGIN IMMEDIATE works).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.execute("PRAGMA cache_size=-32768")  # 32 MB per connection
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")
