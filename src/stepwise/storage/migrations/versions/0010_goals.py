"""goals: the last variant fired and the goal conversion of every run (SPEC S24)

Revision ID: 0010
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_COLUMNS = ("last_variant", "converted_at", "converted_step", "converted_variant")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("last_variant", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("converted_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("converted_step", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("converted_variant", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
