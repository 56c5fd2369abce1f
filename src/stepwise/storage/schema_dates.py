"""Tables of the step-1 date triggers (SPEC S26): which sequences enter by a profile date, and when.

`date_trigger_sequences` holds, per active sequence whose step 1 has a `date_reached` variant, its key
and how far the computing of its subscribers' dates has gone, so a profile change asks one indexed
question ("does this account have any?") and most accounts stop there. `date_triggers` holds the
next due instant per sequence and subscriber, indexed on the instant: the worker reads only the rows
that fell due, never everyone.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, PrimaryKeyConstraint, String, Table

from stepwise.storage.schema_base import Micros, metadata

date_trigger_sequences = Table(
    "date_trigger_sequences",
    metadata,
    Column("sequence_id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("key", String(64), nullable=False),
    # Subscribers with an id above this still need their date computed (NULL: all done). A large
    # account's dates are found by the worker a batch at a time, not inside the request that activates.
    Column("backfill_after", BigInteger, nullable=True),
    Index(None, "account_id"),
)

date_triggers = Table(
    "date_triggers",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("sequence_id", BigInteger, nullable=False),
    Column("subscriber_id", BigInteger, nullable=False),
    Column("due_at", Micros, nullable=False),
    PrimaryKeyConstraint("sequence_id", "subscriber_id"),
    Index(None, "due_at"),
    Index(None, "account_id", "subscriber_id"),
)
