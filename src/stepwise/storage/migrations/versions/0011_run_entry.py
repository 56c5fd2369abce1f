"""keyed waits: the entry event of a run (SPEC S25)

Revision ID: 0011
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Runs entered before this have no entry event: their keyed waits never match (as runs started by hand).
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("entry", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("entry")
