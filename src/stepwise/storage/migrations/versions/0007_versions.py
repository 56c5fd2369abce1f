"""sequence versions: the versions and drafts tables, the live version of a sequence, the version of a run

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sequence_versions",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("sequence_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("published_at", sa.BigInteger(), nullable=False),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("migrated_at", sa.BigInteger(), nullable=True),
        sa.Column("step_map", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence_versions")),
        sa.UniqueConstraint("sequence_id", "number", name=op.f("uq_sequence_versions_sequence_id_number")),
    )
    op.create_table(
        "sequence_drafts",
        sa.Column("sequence_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("based_on", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("sequence_id", name=op.f("pk_sequence_drafts")),
    )
    with op.batch_alter_table("sequences") as batch:
        batch.add_column(sa.Column("live_version", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    # Every existing sequence's definition becomes its version 1.
    op.execute(
        "INSERT INTO sequence_versions "
        "(account_id, sequence_id, number, name, definition, published_at, who, mode, migrated_at) "
        "SELECT account_id, id, 1, name, definition, updated_at, 'migration', 'migrate', updated_at FROM sequences"
    )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("version")
    with op.batch_alter_table("sequences") as batch:
        batch.drop_column("live_version")
    op.drop_table("sequence_drafts")
    op.drop_table("sequence_versions")
