"""The Alembic migrations build exactly the schema declared in storage/schema.py, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from stepwise.storage import migrate
from stepwise.storage.database import Database
from stepwise.storage.schema import metadata


def test_migrations_equal_the_declared_schema(database_url: str) -> None:
    db = Database(database_url)
    try:
        migrate.upgrade(db)
        migrate.upgrade(db)  # idempotent
        assert migrate.is_current(db)
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
        assert differences == []
    finally:
        db.dispose()
