"""Issue 18: `stepwise bench --workload w`, a small run on each database."""

from __future__ import annotations

import json

from tests.support.databases import admin_url
from tests.support.process import env_for, run_cli

W_FIGURES = ["emails_per_s", "go_accepted_per_s", "lat_a_p50_ms", "lat_a_p99_ms", "lat_b_p50_ms", "lat_b_p99_ms"]


def test_bench_workload_w_delivers_every_email_once_and_in_order(database_url: str) -> None:
    """Issue 18: workload W through `serve` (and 2 workers on PostgreSQL) to the recording sink, small N."""
    args = ["bench", "--workload", "w", "--subscribers", "200", "--json"]
    if database_url.startswith("postgresql"):
        args += ["--database-url", admin_url().replace("+psycopg", ""), "--workers", "2"]
    result = run_cli(*args, env=env_for("sqlite:///unused.db"), timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 200 and report["workload"] == "w"
    assert report["missing"] == 0 and report["duplicates"] == 0 and report["unexpected"] == 0
    assert report["b_before_a"] == 0
    assert all(report[k] > 0 for k in W_FIGURES), report
    assert report["lat_b_p50_ms"] >= 2000  # B waits 2 s after A by design
    assert report["worker_rss_peak_mb"] > 0
    groups = {"stepwise", "sink", "driver"} | ({"database"} if database_url.startswith("postgresql") else set())
    assert set(report["cpu_s"]) == groups and report["cpu_s"]["stepwise"] > 0 and report["cpu_s"]["sink"] > 0
    assert report["stepwise_cpu_ms_per_email"] == round(1000 * report["cpu_s"]["stepwise"] / 400, 3)
    assert ("PostgreSQL" in report["config"]) == database_url.startswith("postgresql")
