"""deliverability: bounce reports, suppressions, DKIM sending domains, provider receivers

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("bounced_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("complained_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "bounces",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("issue_id", sa.String(length=32), nullable=True),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounces")),
        sa.UniqueConstraint("account_id", "fingerprint", name=op.f("uq_bounces_account_id_fingerprint")),
    )
    op.create_index(op.f("ix_bounces_account_id_id"), "bounces", ["account_id", "id"])
    op.create_index(
        op.f("ix_bounces_account_id_email_key_received_at"), "bounces", ["account_id", "email_key", "received_at"]
    )
    op.create_index(op.f("ix_bounces_account_id_received_at"), "bounces", ["account_id", "received_at"])
    op.create_table(
        "suppressions",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "address", name=op.f("pk_suppressions")),
    )
    op.create_table(
        "sending_domains",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("selector", sa.String(length=63), nullable=False),
        sa.Column("sealed_key", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "domain", name=op.f("pk_sending_domains")),
    )
    op.create_table(
        "bounce_receivers",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("sealed_token", sa.Text(), nullable=False),
        sa.Column("sealed_key", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "provider", name=op.f("pk_bounce_receivers")),
    )


def downgrade() -> None:
    op.drop_table("bounce_receivers")
    op.drop_table("sending_domains")
    op.drop_table("suppressions")
    op.drop_index(op.f("ix_bounces_account_id_received_at"), table_name="bounces")
    op.drop_index(op.f("ix_bounces_account_id_email_key_received_at"), table_name="bounces")
    op.drop_index(op.f("ix_bounces_account_id_id"), table_name="bounces")
    op.drop_table("bounces")
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("complained_at")
        batch.drop_column("bounced_at")
