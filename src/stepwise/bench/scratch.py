"""Scratch databases for benchmarks: a temporary SQLite file, or a temporary PostgreSQL database."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from stepwise.storage.scratch import postgresql_scratch


@contextmanager
def scratch_database(server_url: str | None) -> Iterator[str]:
    """Yield the URL of an empty database; SQLite in a temp dir, or a new database on the PG server given."""
    if server_url is None or server_url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="stepwise-bench-") as folder:
            yield f"sqlite:///{os.path.join(folder, 'bench.db')}"
        return
    with postgresql_scratch(server_url) as url:
        yield url
