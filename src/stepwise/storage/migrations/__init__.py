"""Alembic migrations for the Stepwise schema."""
