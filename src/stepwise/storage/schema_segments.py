"""Tables of segments (SPEC §15, S22): definitions with their stored member count, and memberships."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, PrimaryKeyConstraint, String, Table, Text, UniqueConstraint

from stepwise.storage.schema_base import Id, Micros, metadata

# `member_count` is kept in the same transaction as every change of `segment_members`, so counting a
# segment of any size reads one row. `where` holds the predicate as it was given (JSON).
segments = Table(
    "segments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("key", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("where", Text, nullable=False),
    Column("member_count", BigInteger, nullable=False, server_default="0"),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    UniqueConstraint("account_id", "key"),
)

segment_members = Table(
    "segment_members",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("segment_id", BigInteger, nullable=False),
    Column("subscriber_id", BigInteger, nullable=False),
    Column("joined_at", Micros, nullable=False),
    PrimaryKeyConstraint("segment_id", "subscriber_id"),
    Index(None, "account_id", "subscriber_id", "segment_id"),
)

# When time alone may change a subscriber's answer to a segment that uses `now` (SPEC S22): the
# worker re-tests the rows that fall due, and the re-test writes the next moment (or none).
segment_deadlines = Table(
    "segment_deadlines",
    metadata,
    Column("account_id", BigInteger, nullable=False),
    Column("segment_id", BigInteger, nullable=False),
    Column("subscriber_id", BigInteger, nullable=False),
    Column("due_at", Micros, nullable=False),
    PrimaryKeyConstraint("segment_id", "subscriber_id"),
    Index(None, "due_at"),
    Index(None, "account_id", "subscriber_id"),
)
