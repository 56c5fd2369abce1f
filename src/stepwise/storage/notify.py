"""Wake-up hints: in this process after commit, between processes by PostgreSQL LISTEN/NOTIFY.

Storage functions that queue work call `notify(conn, channel)` in the writing transaction; that is
the only place wake-ups come from. `Database.write` wakes this process's loops after the commit,
and PostgreSQL delivers the NOTIFY to other processes on commit (SQLite processes just poll).
A notification is only a hint: workers always keep polling, so a lost one delays work by at most
one poll interval and never loses it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from stepwise.storage import dialects

log = logging.getLogger("stepwise.notify")
WORK = "stepwise_work"
DELIVERY = "stepwise_delivery"
PENDING = "stepwise.pending_wakeups"  # key in the connection's info: channels to wake after commit


def notify(conn: Connection, channel: str) -> None:
    """Queue a wake-up on a channel; it takes effect when (and only if) the transaction commits."""
    conn.info.setdefault(PENDING, set()).add(channel)
    dialects.of(conn).notify(conn, channel)


class Listener:
    """A thread that LISTENs on channels and calls back per notification, reconnecting after errors."""

    def __init__(self, url: str, callbacks: dict[str, Callable[[], None]]) -> None:
        parsed = make_url(url)
        self.dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self.callbacks = callbacks
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="stepwise-listen", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)

    def _run(self) -> None:
        import psycopg

        backoff = 0.5
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    for channel in self.callbacks:
                        conn.execute(f"LISTEN {channel}")
                    backoff = 0.5
                    while not self.stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            callback = self.callbacks.get(note.channel)
                            if callback:
                                callback()
            except Exception as exc:  # the database went away: polling covers the gap
                log.warning("listener lost its connection (%s); reconnecting", exc)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
