"""The one-row write that follows an SMTP server's 250: `outbox.accepted_at` (SPEC §12).

It lies on the path of every email, one message at a time (the transport hands over nothing else
until it is written), so it skips the pool and the SQL layer: one dedicated connection and one
autocommitted UPDATE, fenced by the lease token. On SQLite the statement runs on the event loop's
thread, without a busy timeout: while another writer holds the file, the loop sleeps briefly and
tries again rather than blocking. On PostgreSQL an asyncio connection of psycopg sends it without
blocking the loop. An error closes the connection and reaches the caller, which retries; the next
call opens a new connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import suppress
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from stepwise.storage.database import Database

_SQLITE_UPDATE = "UPDATE outbox SET accepted_at = ? WHERE id = ? AND lease_token = ?"
_PG_UPDATE = "UPDATE outbox SET accepted_at = %s WHERE id = %s AND lease_token = %s"
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_LONGEST_PAUSE = 0.02  # seconds between tries while another writer holds the SQLite file


class AcceptanceLog:
    """Writes `accepted_at` for one outbox row at a time, on a connection of its own (one event loop)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sqlite: sqlite3.Connection | None = None
        self._pg: psycopg.AsyncConnection[Any] | None = None

    async def record(self, row_id: int, token: str, at_us: int) -> bool:
        """Write that the row's message was accepted at `at_us`; False when the lease is no longer `token`'s."""
        params = (at_us, row_id, token)
        try:
            if self.db.is_sqlite:
                return await self._record_sqlite(params)
            return await self._record_pg(params)
        except BaseException:
            await self.close()
            raise

    async def _record_sqlite(self, params: tuple[int, int, str]) -> bool:
        if self._sqlite is None:
            path = make_url(self.db.url).database or ""
            conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._sqlite = conn
        pause = 0.001
        while True:
            try:
                return bool(self._sqlite.execute(_SQLITE_UPDATE, params).rowcount == 1)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode not in _BUSY:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    async def _record_pg(self, params: tuple[int, int, str]) -> bool:
        if self._pg is None:
            conninfo = make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
            self._pg = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=5)
        cursor = await self._pg.execute(_PG_UPDATE, params)
        return cursor.rowcount == 1

    async def close(self) -> None:
        """Close the connection (the next record opens a new one)."""
        if self._sqlite is not None:
            conn, self._sqlite = self._sqlite, None
            conn.close()
        if self._pg is not None:
            pg, self._pg = self._pg, None
            with suppress(Exception):  # a connection the server already dropped has nothing left to close
                await pg.close()
