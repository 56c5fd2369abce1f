"""Accounts, API keys and instance settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from stepwise.storage import schema as t


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    name: str
    timezone: str


def create(conn: Connection, name: str, timezone: str, now_us: int) -> int:
    """Insert an account and return its id."""
    result = conn.execute(insert(t.accounts).values(name=name, timezone=timezone, created_at=now_us))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def by_name(conn: Connection, name: str) -> AccountRow | None:
    row = conn.execute(
        select(t.accounts.c.id, t.accounts.c.name, t.accounts.c.timezone).where(t.accounts.c.name == name)
    ).first()
    return AccountRow(*row) if row else None


def by_id(conn: Connection, account_id: int) -> AccountRow | None:
    row = conn.execute(
        select(t.accounts.c.id, t.accounts.c.name, t.accounts.c.timezone).where(t.accounts.c.id == account_id)
    ).first()
    return AccountRow(*row) if row else None


def count(conn: Connection) -> int:
    return len(conn.execute(select(t.accounts.c.id).limit(2)).all())


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One API key as listed (never its secret)."""

    id: int
    name: str
    scope: str
    prefix: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None


def add_key(
    conn: Connection,
    account_id: int,
    key_hash: str,
    prefix: str,
    now_us: int,
    *,
    name: str = "default",
    scope: str = "write",
) -> int:
    """Insert a key and return its id."""
    result = conn.execute(
        insert(t.api_keys).values(
            account_id=account_id, key_hash=key_hash, prefix=prefix, created_at=now_us, name=name, scope=scope
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def keys_of(conn: Connection, account_id: int) -> list[KeyRow]:
    """Every key of an account, revoked ones too, oldest first."""
    k = t.api_keys.c
    rows = conn.execute(
        select(k.id, k.name, k.scope, k.prefix, k.created_at, k.last_used_at, k.revoked_at)
        .where(k.account_id == account_id)
        .order_by(k.id)
    ).all()
    return [KeyRow(*row) for row in rows]


def key_of(conn: Connection, account_id: int, key_id: int) -> KeyRow | None:
    return next((row for row in keys_of(conn, account_id) if row.id == key_id), None)


def key_details(conn: Connection, key_id: int) -> tuple[str, str, int | None]:
    """(name, scope, last_used_at) of a key."""
    k = t.api_keys.c
    row = conn.execute(select(k.name, k.scope, k.last_used_at).where(k.id == key_id)).one()
    return str(row[0]), str(row[1]), row[2]


def touch_key(conn: Connection, key_id: int, now_us: int) -> None:
    conn.execute(update(t.api_keys).where(t.api_keys.c.id == key_id).values(last_used_at=now_us))


def revoke_key(conn: Connection, account_id: int, key_id: int, now_us: int) -> bool:
    """Revoke one live key of the account; False when there is none."""
    k = t.api_keys
    result = conn.execute(
        update(k)
        .where(k.c.account_id == account_id, k.c.id == key_id, k.c.revoked_at.is_(None))
        .values(revoked_at=now_us)
    )
    return int(result.rowcount) == 1


def by_key_hash(conn: Connection, key_hash: str) -> AccountRow | None:
    """Return the account owning an unrevoked key with this hash."""
    found = key_by_hash(conn, key_hash)
    return found[0] if found else None


def key_by_hash(conn: Connection, key_hash: str) -> tuple[AccountRow, int] | None:
    """Return the account and the key id of an unrevoked key with this hash."""
    row = conn.execute(
        select(t.accounts.c.id, t.accounts.c.name, t.accounts.c.timezone, t.api_keys.c.id)
        .join(t.api_keys, t.api_keys.c.account_id == t.accounts.c.id)
        .where(t.api_keys.c.key_hash == key_hash, t.api_keys.c.revoked_at.is_(None))
    ).first()
    return (AccountRow(row[0], row[1], row[2]), int(row[3])) if row else None


def revoke_keys(conn: Connection, account_id: int, now_us: int) -> int:
    """Revoke every live key of an account; return how many there were."""
    k = t.api_keys
    result = conn.execute(
        update(k).where(k.c.account_id == account_id, k.c.revoked_at.is_(None)).values(revoked_at=now_us)
    )
    return int(result.rowcount)


def get_setting(conn: Connection, name: str) -> str | None:
    row = conn.execute(select(t.settings.c.value).where(t.settings.c.name == name)).first()
    return None if row is None else str(row[0])


def delete_setting(conn: Connection, name: str) -> None:
    conn.execute(delete(t.settings).where(t.settings.c.name == name))
