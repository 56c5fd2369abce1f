"""Connections and transactions for SQLite (embedded) and PostgreSQL (scale-out)."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from stepwise.storage.notify import DELIVERY, PENDING, WORK

log = logging.getLogger("stepwise.database")
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
        # Set after a commit that queued work (storage.notify), to wake this process's loops early.
        self.wakeup = threading.Event()
        self.delivery_wakeup = threading.Event()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of SQLite (None for PostgreSQL and in-memory databases)."""
        if not self.is_sqlite:
            return None
        path = make_url(self.url).database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return Path(path).absolute()

    def _create(self, pool_size: int) -> Engine:
        if self.dialect == "sqlite":
            path = make_url(self.url).database
            if self.sqlite_path is not None:
                owner_only(self.sqlite_path)
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
            raw.info.pop(PENDING, None)  # left by a transaction that rolled back
            conn = raw.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else raw
            with conn.begin():
                yield conn
            self._wake(raw.info.pop(PENDING, ()))

    def _wake(self, channels: Iterable[str]) -> None:
        for channel in channels:
            if channel == WORK:
                self.wakeup.set()
            elif channel == DELIVERY:
                self.delivery_wakeup.set()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on SQLite WAL)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def owner_only(database: Path) -> None:
    """Create the SQLite file readable by its owner only (0600), and narrow existing files to that.

    SQLite gives the -wal and -shm files it creates the mode of the database file.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        try:
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o600)
        except FileNotFoundError:
            continue
        except OSError as exc:  # not the owner: leave it, but say so
            log.warning("cannot make %s readable by its owner only: %s", path, exc)


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
