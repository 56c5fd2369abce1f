"""sending policy: account settings, the frequency-cap ledger, issues.deliver_after

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("deliver_after", sa.BigInteger(), nullable=True))
    op.create_table(
        "account_settings",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_settings")),
    )
    op.create_table(
        "cap_slots",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("issue_id", sa.String(length=32), nullable=False),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "issue_id", name=op.f("pk_cap_slots")),
    )
    op.create_index(
        op.f("ix_cap_slots_account_id_subscriber_id_at"), "cap_slots", ["account_id", "subscriber_id", "at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_cap_slots_account_id_subscriber_id_at"), table_name="cap_slots")
    op.drop_table("cap_slots")
    op.drop_table("account_settings")
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("deliver_after")
