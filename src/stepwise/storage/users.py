"""Users, their one-time links and the audit log (SPEC §20); secrets are stored only as hashes or sealed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from stepwise.storage import schema_team as team


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    account_id: int
    email: str
    role: str
    password_hash: str
    totp_sealed: str | None
    totp_pending: str | None
    created_at: int


@dataclass(frozen=True, slots=True)
class LinkRow:
    account_id: int
    purpose: str
    email: str | None
    role: str | None
    expires_at: int
    used_at: int | None


_U = team.users.c
_USER_COLUMNS = (
    _U.id,
    _U.account_id,
    _U.email,
    _U.role,
    _U.password_hash,
    _U.totp_sealed,
    _U.totp_pending,
    _U.created_at,
)


def add(conn: Connection, account_id: int, email: str, email_key: str, password_hash: str, role: str, now: int) -> int:
    """Insert a user and return its id."""
    values: dict[str, Any] = {
        "account_id": account_id,
        "email": email,
        "email_key": email_key,
        "password_hash": password_hash,
        "role": role,
        "created_at": now,
    }
    return int(conn.execute(insert(team.users).values(**values)).inserted_primary_key[0])  # type: ignore[index]


def by_email(conn: Connection, email_key: str) -> UserRow | None:
    row = conn.execute(select(*_USER_COLUMNS).where(_U.email_key == email_key)).first()
    return UserRow(*row) if row else None


def by_id(conn: Connection, user_id: int) -> UserRow | None:
    row = conn.execute(select(*_USER_COLUMNS).where(_U.id == user_id)).first()
    return UserRow(*row) if row else None


def of_account(conn: Connection, account_id: int) -> list[UserRow]:
    rows = conn.execute(select(*_USER_COLUMNS).where(_U.account_id == account_id).order_by(_U.email_key)).all()
    return [UserRow(*row) for row in rows]


def count_all(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(team.users)).scalar_one())


def count_role(conn: Connection, account_id: int, role: str) -> int:
    query = select(func.count()).select_from(team.users).where(_U.account_id == account_id, _U.role == role)
    return int(conn.execute(query).scalar_one())


def change(conn: Connection, user_id: int, **values: Any) -> None:
    """Update columns of one user (role, password_hash, totp_sealed, totp_pending)."""
    conn.execute(update(team.users).where(_U.id == user_id).values(**values))


def remove(conn: Connection, user_id: int) -> None:
    conn.execute(delete(team.users).where(_U.id == user_id))


# ---------------------------------------------------------------- one-time links


def add_link(conn: Connection, token_hash: str, link: LinkRow, created_by: str, now: int) -> None:
    conn.execute(
        insert(team.user_links).values(
            token_hash=token_hash,
            account_id=link.account_id,
            purpose=link.purpose,
            email=link.email,
            role=link.role,
            created_by=created_by,
            created_at=now,
            expires_at=link.expires_at,
        )
    )


def link(conn: Connection, token_hash: str) -> LinkRow | None:
    c = team.user_links.c
    row = conn.execute(
        select(c.account_id, c.purpose, c.email, c.role, c.expires_at, c.used_at).where(c.token_hash == token_hash)
    ).first()
    return LinkRow(*row) if row else None


def use_link(conn: Connection, token_hash: str, now: int) -> bool:
    """Mark a link used; False when it already was (a second use loses the race)."""
    c = team.user_links.c
    result = conn.execute(
        update(team.user_links).where(c.token_hash == token_hash, c.used_at.is_(None)).values(used_at=now)
    )
    return int(result.rowcount) == 1


def pending_setup(conn: Connection) -> bool:
    c = team.user_links.c
    return (
        conn.execute(select(c.token_hash).where(c.purpose == "setup", c.used_at.is_(None)).limit(1)).first() is not None
    )
