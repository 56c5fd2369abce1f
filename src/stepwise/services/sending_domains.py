"""DKIM sending domains (SPEC S32): a key per From domain, made and kept here, and the record to publish.

The private key is generated on the server and stored sealed with the instance secret
(delivery/sealing.py); no interface returns it. Delivery signs every email whose From domain has a key.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from stepwise.delivery import dkim
from stepwise.delivery.sealing import Unsealable, seal, unseal
from stepwise.domain.instants import iso
from stepwise.errors import NotFound, Unprocessable
from stepwise.services import audit
from stepwise.storage import sending_domains as store
from stepwise.storage.codec import from_us, to_us
from stepwise.storage.database import Database
from stepwise.storage.sending_domains import DomainRow

SEAL_PURPOSE = "dkim-private-key"


# A sending domain: the DNS TXT record to publish at `record_name` so that receivers can verify
# the DKIM signature of every email sent from an address at this domain.
class SendingDomain(BaseModel):
    model_config = ConfigDict(frozen=True)

    domain: str
    selector: str
    record_name: str
    record_type: str = "TXT"
    record: str
    created_at: str


# The account's sending domains.
class SendingDomains(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[SendingDomain]


def view(row: DomainRow) -> SendingDomain:
    return SendingDomain(
        domain=row.domain,
        selector=row.selector,
        record_name=dkim.record_name(row.selector, row.domain),
        record=row.record,
        created_at=iso(from_us(row.created_at)),
    )


def _domain(raw: str) -> str:
    try:
        return dkim.check_domain(raw)
    except ValueError as exc:
        raise Unprocessable.one("domain", str(exc)) from exc


def put(
    db: Database, secret: str, account_id: int, raw: str, selector: str | None, now: datetime
) -> tuple[SendingDomain, bool]:
    """Create the domain's key (RSA-2048) unless it has one; True when created. The private key stays here."""
    domain = _domain(raw)
    chosen = (selector or dkim.DEFAULT_SELECTOR).strip().lower()
    try:
        dkim.check_selector(chosen)
    except ValueError as exc:
        raise Unprocessable.one("$.selector", str(exc)) from exc
    with db.read() as conn:
        existing = store.domain(conn, account_id, domain)
    if existing is not None:
        return view(existing), False
    private = dkim.generate_private_key()
    row = DomainRow(
        account_id, domain, chosen, seal(secret, SEAL_PURPOSE, private), dkim.public_record(private), to_us(now)
    )
    with db.write() as conn:
        created = store.add_domain(conn, row)
        stored = store.domain(conn, account_id, domain)
        if created:
            audit.record(conn, account_id, "sending_domain", domain, "create", None, {"selector": chosen})
    assert stored is not None
    return view(stored), created


def get(db: Database, account_id: int, raw: str) -> SendingDomain:
    with db.read() as conn:
        row = store.domain(conn, account_id, _domain(raw))
    if row is None:
        raise NotFound(f"no sending domain {raw[:80]!r}")
    return view(row)


def all_domains(db: Database, account_id: int) -> SendingDomains:
    with db.read() as conn:
        return SendingDomains(items=[view(r) for r in store.domains(conn, account_id)])


def remove(db: Database, account_id: int, raw: str) -> None:
    """Delete the key: emails from this domain go out unsigned from now on."""
    with db.write() as conn:
        if not store.remove_domain(conn, account_id, _domain(raw)):
            raise NotFound(f"no sending domain {raw[:80]!r}")
        audit.record(conn, account_id, "sending_domain", _domain(raw), "delete")


class DomainSigners:
    """The signers of the accounts delivery sends for, unsealed once and kept while their row is unchanged."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._lock = threading.Lock()
        self._known: dict[tuple[int, str], tuple[str, dkim.Signer | None]] = {}

    def of_accounts(self, conn: Connection, account_ids: Sequence[int]) -> dict[tuple[int, str], dkim.Signer]:
        """Signers by (account, domain) for these accounts (a key that cannot be unsealed signs nothing)."""
        found: dict[tuple[int, str], dkim.Signer] = {}
        for row in store.domains_of_accounts(conn, account_ids):
            signer = self._signer(row)
            if signer is not None:
                found[(row.account_id, row.domain)] = signer
        return found

    def _signer(self, row: DomainRow) -> dkim.Signer | None:
        key = (row.account_id, row.domain)
        with self._lock:
            known = self._known.get(key)
        if known is not None and known[0] == row.sealed_key:
            return known[1]
        try:
            signer: dkim.Signer | None = dkim.Signer.load(
                row.domain, row.selector, unseal(self._secret, SEAL_PURPOSE, row.sealed_key)
            )
        except (Unsealable, ValueError):
            signer = None  # sealed with another secret: the domain's emails go unsigned rather than stop
        with self._lock:
            self._known[key] = (row.sealed_key, signer)
        return signer
