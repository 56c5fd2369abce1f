"""Scratch databases for benchmarks: a temporary SQLite file, or a temporary PostgreSQL database."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def scratch_database(server_url: str | None) -> Iterator[str]:
    """Yield the URL of an empty database; SQLite in a temp dir, or a new database on the PG server given."""
    if server_url is None or server_url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="stepwise-bench-") as folder:
            yield f"sqlite:///{os.path.join(folder, 'bench.db')}"
        return
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
