"""Server-side UI sessions: only the SHA-256 of a session id is stored, never the id itself."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from stepwise.storage import schema as t
from stepwise.storage import schema_team as team
from stepwise.storage.accounts import AccountRow


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A live session and the account it signs in."""

    account: AccountRow
    key_id: int | None
    csrf: str
    created_at: int
    expires_at: int
    user_id: int | None = None
    email: str = ""
    role: str = "viewer"


def create(
    conn: Connection,
    id_hash: str,
    account_id: int,
    key_id: int | None,
    csrf: str,
    now_us: int,
    expires_us: int,
    user_id: int | None = None,
) -> None:
    """Store a new session."""
    conn.execute(
        insert(t.ui_sessions).values(
            id_hash=id_hash,
            account_id=account_id,
            key_id=key_id,
            user_id=user_id,
            csrf=csrf,
            created_at=now_us,
            expires_at=expires_us,
        )
    )


def live(conn: Connection, id_hash: str, now_us: int) -> SessionRow | None:
    """Return the session with this hash unless it expired, its user is gone or its API key is revoked."""
    s, k, a, u = t.ui_sessions, t.api_keys, t.accounts, team.users
    row = conn.execute(
        select(
            a.c.id,
            a.c.name,
            a.c.timezone,
            s.c.key_id,
            s.c.csrf,
            s.c.created_at,
            s.c.expires_at,
            u.c.id,
            u.c.email,
            u.c.role,
        )
        .select_from(
            s.join(a, a.c.id == s.c.account_id)
            .outerjoin(k, k.c.id == s.c.key_id)
            .outerjoin(u, (u.c.id == s.c.user_id) & (u.c.account_id == s.c.account_id))
        )
        .where(
            s.c.id_hash == id_hash,
            s.c.expires_at > now_us,
            # a user's session lives only as long as the user does
            s.c.user_id.is_(None) | u.c.id.is_not(None),
            # a session made with a key lives only as long as that key (of the same account) is unrevoked
            (s.c.key_id.is_(None)) | ((k.c.account_id == s.c.account_id) & k.c.revoked_at.is_(None)),
        )
    ).first()
    if row is None:
        return None
    user_id = None if row[7] is None else int(row[7])
    return SessionRow(
        AccountRow(row[0], row[1], row[2]),
        row[3],
        row[4],
        int(row[5]),
        int(row[6]),
        user_id,
        row[8] or "",
        row[9] or "viewer",
    )


def extend(conn: Connection, id_hash: str, expires_us: int) -> None:
    """Move a session's expiry (never backwards)."""
    s = t.ui_sessions
    conn.execute(update(s).where(s.c.id_hash == id_hash, s.c.expires_at < expires_us).values(expires_at=expires_us))


def remove(conn: Connection, id_hash: str) -> int:
    """Delete one session; return how many rows went (0 or 1)."""
    return int(conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.id_hash == id_hash)).rowcount)


def remove_for_account(conn: Connection, account_id: int) -> int:
    """Delete every session of an account; return how many there were."""
    return int(conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.account_id == account_id)).rowcount)


def remove_for_key(conn: Connection, key_id: int) -> int:
    """Delete every session made with one API key."""
    return int(conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.key_id == key_id)).rowcount)


def remove_for_user(conn: Connection, user_id: int) -> int:
    """Delete every session of a user; return how many there were."""
    return int(conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.user_id == user_id)).rowcount)


def remove_expired(conn: Connection, now_us: int) -> int:
    """Delete the sessions that have expired; return how many."""
    return int(conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.expires_at <= now_us)).rowcount)
