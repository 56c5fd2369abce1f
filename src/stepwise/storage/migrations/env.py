"""Alembic environment: runs on the connection Stepwise hands it."""

from __future__ import annotations

from alembic import context

from stepwise.storage import schema  # noqa: F401 - declares every table on `metadata`
from stepwise.storage.schema_base import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - Stepwise always passes its connection
    raise RuntimeError("run migrations through `stepwise migrate`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
