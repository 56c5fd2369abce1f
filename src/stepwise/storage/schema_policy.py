"""Tables of the sending policy (SPEC §17): account settings and the frequency-cap ledger."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, PrimaryKeyConstraint, String, Table, Text

from stepwise.storage.schema_base import Micros, metadata

# One row per account that changed its settings (GET /settings shows the defaults otherwise).
account_settings = Table(
    "account_settings",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("value", Text, nullable=False),  # JSON: default sender, reply-to, window, caps, soft-bounce limit
    Column("updated_at", Micros, nullable=False),
)

# The emails counted by frequency caps (S28): one row per email sent, or being sent, to a subscriber
# of an account with caps. A worker takes the row (the "slot") before it sends, in a transaction
# that holds the subscriber's lock, and gives it back if the email is not sent.
cap_slots = Table(
    "cap_slots",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("issue_id", String(32), nullable=False),
    Column("subscriber_id", BigInteger, nullable=False),
    Column("at", Micros, nullable=False),
    PrimaryKeyConstraint("account_id", "issue_id"),
    Index(None, "account_id", "subscriber_id", "at"),
)
