"""UI sessions kept on the server.

The browser holds a random session id (256 bits); the database holds only its SHA-256, the account,
the user signed in, the session's CSRF token and its expiry. So neither the database nor its
files give a way to sign in, and ending a session (sign-out, key rotation or revocation) takes
effect at once.

Lifetime: a session ends after `IDLE` (2 hours) without a request and at the latest `ABSOLUTE`
(12 hours) after sign-in. The idle expiry is pushed forward by at most one write per `REFRESH`
(5 minutes) of use. Expired rows are deleted whenever someone signs in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from stepwise.storage import sessions as session_store
from stepwise.storage.codec import to_us
from stepwise.storage.database import Database
from stepwise.storage.sessions import SessionRow as SessionRow  # noqa: PLC0414 - re-exported to the HTTP layers

IDLE = timedelta(hours=2)
ABSOLUTE = timedelta(hours=12)
REFRESH = timedelta(minutes=5)
_MAX_TOKEN = 100  # characters; session ids are 43


def session_hash(token: str) -> str:
    """Return what the database keeps of a session id."""
    return hashlib.sha256(token.encode()).hexdigest()


def start(
    db: Database,
    account_id: int,
    key_id: int | None,
    now: datetime,
    *,
    replacing: str | None = None,
    user_id: int | None = None,
) -> str:
    """Open a session and return its id (for the cookie); end the session it replaces, if any."""
    token = secrets.token_urlsafe(32)
    now_us = to_us(now)
    with db.write() as conn:
        session_store.remove_expired(conn, now_us)
        if replacing:
            session_store.remove(conn, session_hash(replacing))
        session_store.create(
            conn,
            session_hash(token),
            account_id,
            key_id,
            secrets.token_urlsafe(32),
            now_us,
            to_us(now + IDLE),
            user_id,
        )
    return token


def resume(db: Database, token: str | None, now: datetime) -> SessionRow | None:
    """Return the live session of a session id, pushing its idle expiry forward when due."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    id_hash, now_us = session_hash(token), to_us(now)
    with db.read() as conn:
        row = session_store.live(conn, id_hash, now_us)
    if row is None:
        return None
    wanted = min(now_us + _us(IDLE), row.created_at + _us(ABSOLUTE))
    if wanted - row.expires_at >= _us(REFRESH):
        with db.write() as conn:
            session_store.extend(conn, id_hash, wanted)
    return row


def end(db: Database, token: str | None) -> bool:
    """End a session; return whether there was one."""
    if not token or len(token) > _MAX_TOKEN:
        return False
    with db.write() as conn:
        return session_store.remove(conn, session_hash(token)) > 0


def _us(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)
