"""Account settings (SPEC §17): time zone, default sender, reply-to, send window, caps, soft-bounce limit.

`GET /settings` shows the defaults for what was never set. `PUT /settings` replaces the settings as
a whole (a field left out goes back to its default). The time zone is the account's own column; the
rest is one JSON document per account. Delivery reads them per batch (`policies_of`), bounces read
the soft-bounce limit, forms and delivery the default sender.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Connection, update

from stepwise.domain.emails import EMAIL_SCHEMA, InvalidEmail, parse_email
from stepwise.domain.jsonvalues import StorableText
from stepwise.domain.policy import MAX_CAPS, Cap, SendWindow
from stepwise.domain.spec_types import ZoneName
from stepwise.errors import NotFound
from stepwise.services import audit, date_triggers
from stepwise.storage import accounts as account_store
from stepwise.storage import policy as policy_store
from stepwise.storage import schema as t
from stepwise.storage.accounts import AccountRow
from stepwise.storage.codec import to_us
from stepwise.storage.database import Database

DEFAULT_SOFT_BOUNCE_LIMIT = 3


# The account's settings: its time zone, the sender of confirmation emails and of drafts without
# their own, a reply-to address, the send window and frequency caps that hold for every sequence
# (a sequence may have its own window, and may ignore the caps), and how many soft bounces within
# 7 days make an address bounced.
class AccountSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    timezone: ZoneName = "UTC"
    default_from_email: str | None = Field(default=None, max_length=320, json_schema_extra=EMAIL_SCHEMA)
    default_from_name: StorableText | None = Field(default=None, max_length=200)
    reply_to: str | None = Field(default=None, max_length=320, json_schema_extra=EMAIL_SCHEMA)
    send_window: SendWindow | None = None
    caps: list[Cap] = Field(default_factory=list, max_length=MAX_CAPS)
    soft_bounce_limit: int = Field(default=DEFAULT_SOFT_BOUNCE_LIMIT, ge=1, le=100, strict=True)

    @field_validator("default_from_email", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return parse_email(value).value
        except InvalidEmail as exc:
            raise ValueError(f"the address {exc}") from exc


def _stored(timezone: str, text: str | None) -> AccountSettings:
    """The settings from the stored JSON (a document that no longer validates gives the defaults)."""
    try:
        document = orjson.loads(text) if text else {}
        return AccountSettings.model_validate({**document, "timezone": timezone})
    except (orjson.JSONDecodeError, ValidationError, TypeError):
        return AccountSettings(timezone=timezone)


def read(conn: Connection, account_id: int) -> AccountSettings:
    """The account's settings within a transaction."""
    account = account_store.by_id(conn, account_id)
    if account is None:
        raise NotFound("no such account")
    return _stored(account.timezone, policy_store.settings_of(conn, [account_id]).get(account_id))


def get(db: Database, account_id: int) -> AccountSettings:
    with db.read() as conn:
        return read(conn, account_id)


def put(db: Database, account_id: int, body: AccountSettings, now: datetime) -> AccountSettings:
    """Replace the settings; the time zone becomes the account's default zone."""
    document = body.model_dump(mode="json", by_alias=True, exclude={"timezone"}, exclude_none=True)
    with db.write() as conn:
        before = read(conn, account_id)
        conn.execute(update(t.accounts).where(t.accounts.c.id == account_id).values(timezone=body.timezone))
        policy_store.put_settings(conn, account_id, orjson.dumps(document).decode(), to_us(now))
        after = read(conn, account_id)
        audit.record(conn, account_id, "settings", "account", "update", before, after)
        if after.timezone != before.timezone:  # S26: step-1 dates without a zone of their own fall back to it
            date_triggers.resync_account(conn, account_id, now)
        return after


def policies_of(conn: Connection, accounts: Sequence[AccountRow]) -> dict[int, AccountSettings]:
    """The settings of accounts already read (one query for their stored documents)."""
    stored = policy_store.settings_of(conn, [a.id for a in accounts])
    return {a.id: _stored(a.timezone, stored.get(a.id)) for a in accounts}
