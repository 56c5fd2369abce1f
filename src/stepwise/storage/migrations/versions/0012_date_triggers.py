"""date triggers at step 1: sequences entered by a profile date, and the next due instant (SPEC S26)

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Step-1 date_reached was refused before this revision, so there is nothing to fill in.
    op.create_table(
        "date_trigger_sequences",
        sa.Column("sequence_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("backfill_after", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("sequence_id", name=op.f("pk_date_trigger_sequences")),
    )
    op.create_index(op.f("ix_date_trigger_sequences_account_id"), "date_trigger_sequences", ["account_id"])
    op.create_table(
        "date_triggers",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("sequence_id", sa.BigInteger(), nullable=False),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sequence_id", "subscriber_id", name=op.f("pk_date_triggers")),
    )
    op.create_index(op.f("ix_date_triggers_due_at"), "date_triggers", ["due_at"])
    op.create_index(op.f("ix_date_triggers_account_id_subscriber_id"), "date_triggers", ["account_id", "subscriber_id"])


def downgrade() -> None:
    op.drop_table("date_triggers")
    op.drop_table("date_trigger_sequences")
