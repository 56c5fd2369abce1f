"""Run the selected workloads and gather one report."""

from __future__ import annotations

import platform
from typing import Any

from stepwise import __version__
from stepwise.bench.scratch import scratch_database
from stepwise.bench.workloads import events_throughput


def run(database_url: str | None, *, subscribers: int, workers: int, batch_size: int) -> dict[str, Any]:
    """Measure every workload on fresh scratch databases and return the figures."""
    report: dict[str, Any] = {
        "stepwise": __version__,
        "python": platform.python_version(),
        "database": "postgresql" if database_url and database_url.startswith("postgres") else "sqlite",
        "subscribers": subscribers,
        "workers": workers,
        "batch_size": batch_size,
    }
    with scratch_database(database_url) as url:
        report["events"] = events_throughput(url, subscribers, workers, batch_size)
    report["events_per_s"] = report["events"]["events_per_s"]
    return report
