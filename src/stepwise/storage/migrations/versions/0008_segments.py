"""segments: definitions with a stored member count, and memberships (SPEC §15)

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("where", sa.Text(), nullable=False),
        sa.Column("member_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("account_id", "key", name=op.f("uq_segments_account_id_key")),
    )
    op.create_table(
        "segment_members",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("segment_id", sa.BigInteger(), nullable=False),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("joined_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("segment_id", "subscriber_id", name=op.f("pk_segment_members")),
    )
    op.create_index(
        op.f("ix_segment_members_account_id_subscriber_id_segment_id"),
        "segment_members",
        ["account_id", "subscriber_id", "segment_id"],
    )
    op.create_table(
        "segment_deadlines",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("segment_id", sa.BigInteger(), nullable=False),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("segment_id", "subscriber_id", name=op.f("pk_segment_deadlines")),
    )
    op.create_index(op.f("ix_segment_deadlines_due_at"), "segment_deadlines", ["due_at"])
    op.create_index(
        op.f("ix_segment_deadlines_account_id_subscriber_id"), "segment_deadlines", ["account_id", "subscriber_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_segment_deadlines_account_id_subscriber_id"), table_name="segment_deadlines")
    op.drop_index(op.f("ix_segment_deadlines_due_at"), table_name="segment_deadlines")
    op.drop_table("segment_deadlines")
    op.drop_index(op.f("ix_segment_members_account_id_subscriber_id_segment_id"), table_name="segment_members")
    op.drop_table("segment_members")
    op.drop_table("segments")
