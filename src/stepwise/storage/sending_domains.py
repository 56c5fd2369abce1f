"""DKIM sending domains (SPEC S32) and provider bounce receivers: keys kept sealed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update

from stepwise.storage import schema_deliverability as td
from stepwise.storage.dialects import insert_new


@dataclass(frozen=True, slots=True)
class DomainRow:
    account_id: int
    domain: str
    selector: str
    sealed_key: str
    record: str
    created_at: int


_DOMAIN = tuple(td.sending_domains.c[f] for f in DomainRow.__dataclass_fields__)


def add_domain(conn: Connection, row: DomainRow) -> bool:
    """Add a domain's key; False (nothing changed) when the domain has one already."""
    return insert_new(conn, td.sending_domains, {f: getattr(row, f) for f in DomainRow.__dataclass_fields__})


def domains(conn: Connection, account_id: int) -> list[DomainRow]:
    c = td.sending_domains.c
    return [DomainRow(*r) for r in conn.execute(select(*_DOMAIN).where(c.account_id == account_id).order_by(c.domain))]


def domain(conn: Connection, account_id: int, name: str) -> DomainRow | None:
    c = td.sending_domains.c
    found = conn.execute(select(*_DOMAIN).where(c.account_id == account_id, c.domain == name)).first()
    return None if found is None else DomainRow(*found)


def remove_domain(conn: Connection, account_id: int, name: str) -> bool:
    c = td.sending_domains.c
    return conn.execute(delete(td.sending_domains).where(c.account_id == account_id, c.domain == name)).rowcount == 1


def domains_of_accounts(conn: Connection, account_ids: Sequence[int]) -> list[DomainRow]:
    """Every key of these accounts (delivery loads them once and keeps them)."""
    c = td.sending_domains.c
    return [DomainRow(*r) for r in conn.execute(select(*_DOMAIN).where(c.account_id.in_(list(account_ids))))]


@dataclass(frozen=True, slots=True)
class ReceiverRow:
    account_id: int
    provider: str
    sealed_token: str
    sealed_key: str | None
    updated_at: int


_RECEIVER = tuple(td.bounce_receivers.c[f] for f in ReceiverRow.__dataclass_fields__)


def receivers(conn: Connection, account_id: int) -> list[ReceiverRow]:
    c = td.bounce_receivers.c
    stmt = select(*_RECEIVER).where(c.account_id == account_id).order_by(c.provider)
    return [ReceiverRow(*r) for r in conn.execute(stmt)]


def receiver(conn: Connection, account_id: int, provider: str) -> ReceiverRow | None:
    c = td.bounce_receivers.c
    found = conn.execute(select(*_RECEIVER).where(c.account_id == account_id, c.provider == provider)).first()
    return None if found is None else ReceiverRow(*found)


def put_receiver(conn: Connection, row: ReceiverRow) -> None:
    """Create a receiver, or replace its token and key."""
    values = {f: getattr(row, f) for f in ReceiverRow.__dataclass_fields__}
    if not insert_new(conn, td.bounce_receivers, values):
        c = td.bounce_receivers.c
        conn.execute(
            update(td.bounce_receivers)
            .where(c.account_id == row.account_id, c.provider == row.provider)
            .values(sealed_token=row.sealed_token, sealed_key=row.sealed_key, updated_at=row.updated_at)
        )


def remove_receiver(conn: Connection, account_id: int, provider: str) -> None:
    c = td.bounce_receivers.c
    conn.execute(delete(td.bounce_receivers).where(c.account_id == account_id, c.provider == provider))
