"""test runs: a `test` flag on runs and on the issues they produce (SPEC S19)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("test")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("test")
