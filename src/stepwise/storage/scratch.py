"""Scratch PostgreSQL databases for benchmarks: made on a server, dropped afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def postgresql_scratch(server_url: str) -> Iterator[str]:
    """Create a new, empty database on the PostgreSQL server given; yield its URL; drop it (forcibly) after."""
    url = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"stepwise_bench_{secrets.token_hex(4)}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name, drivername="postgresql").render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
