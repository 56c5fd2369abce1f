"""Tables of sequence versions (SPEC §13): the immutable published versions of each sequence."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, UniqueConstraint

from stepwise.storage.schema_base import Id, Micros, metadata

# One row per published version of a sequence; never updated once written (S16).
sequence_versions = Table(
    "sequence_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("sequence_id", BigInteger, nullable=False),
    Column("number", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("definition", Text, nullable=False),  # JSON, without the status
    Column("published_at", Micros, nullable=False),
    Column("who", String(200), nullable=False),
    Column("note", Text),
    Column("mode", String(16), nullable=False),  # how open runs were treated: "migrate" (or "pin")
    # When every open run reached this version (mode migrate, in batches); NULL while that is under way.
    Column("migrated_at", Micros),
    Column("step_map", Text),  # JSON: where mode migrate put runs by step (kept to finish the batches)
    UniqueConstraint("sequence_id", "number"),
)

# At most one draft per sequence (S17): a definition being edited while the live version runs.
sequence_drafts = Table(
    "sequence_drafts",
    metadata,
    Column("sequence_id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("definition", Text, nullable=False),  # JSON, without the status
    Column("based_on", Integer, nullable=False),  # the live version when the draft was last saved
    Column("updated_at", Micros, nullable=False),
    Column("who", String(200), nullable=False),
)
