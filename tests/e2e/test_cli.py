"""The `stepwise` command as a user runs it (SPEC §10)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.support.databases import admin_url
from tests.support.process import env_for, run_cli, start_serve, stop
from tests.support.server import free_port

DEFINITIONS = """
lists:
  engaged: Engaged readers
drafts:
  welcome:
    subject: "Welcome, {{ data.base.firstName }}"
    html: "<p>Hello!</p>"
    from_email: news@example.com
sequences:
  welcome:
    name: Welcome series
    status: active
    steps:
      - variants:
          - when: [{event: subscriber_added}]
            do: [{action: send_email, draft: welcome}, {action: start_sequence, sequence: nurture}]
  nurture:
    name: Nurture
    steps:
      - variants:
          - when: [{event: never}]
            do: [{action: add_to_list, list: engaged}]
      - variants:
          - when: [{event: time_passed, after: 2d}]
            do: [{action: nothing}]
"""


def test_every_command_has_help() -> None:
    env = env_for("sqlite:///unused.db")
    for command in [
        [],
        ["serve"],
        ["worker"],
        ["migrate"],
        ["accounts"],
        ["accounts", "create"],
        ["apply"],
        ["validate"],
        ["import"],
        ["stats"],
        ["bench"],
    ]:
        result = run_cli(*command, "--help", env=env)
        assert result.returncode == 0, (command, result.stderr)
        assert "Usage" in result.stdout


def test_serve_creates_the_database_and_the_default_account_once(tmp_path: Path) -> None:
    env = env_for(f"sqlite:///{tmp_path / 'fresh.db'}")
    port = free_port()
    server = start_serve(port, env)
    output = stop(server)
    match = re.search(r"(sw_[A-Za-z0-9_-]{20,})", output)
    assert match, output
    assert f"http://127.0.0.1:{port}/" in output
    server = start_serve(port, env)
    try:
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/lists", headers={"Authorization": f"Bearer {match.group(1)}"}
        )
        assert response.status_code == 200
    finally:
        second = stop(server)
    assert "sw_" not in second  # the key is printed on first start only


def test_accounts_apply_validate_and_stats(database_url: str, tmp_path: Path) -> None:
    env = env_for(database_url)
    created = run_cli("accounts", "create", "shop", "--json", "--create", env=env)
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["account"] == "shop" and body["api_key"].startswith("sw_")
    duplicate = run_cli("accounts", "create", "shop", env=env)
    assert duplicate.returncode != 0 and "already exists" in duplicate.stderr

    path = tmp_path / "welcome.yaml"
    path.write_text(DEFINITIONS)
    assert run_cli("validate", str(path), env=env).returncode == 0
    applied = run_cli("apply", str(path), "--account", "shop", env=env)
    assert applied.returncode == 0, applied.stderr
    assert "created   sequence nurture" in applied.stdout and "created   list engaged" in applied.stdout
    again = run_cli("apply", str(path), "--account", "shop", env=env)
    assert again.stdout.count("unchanged") == 4, again.stdout

    stats = run_cli("stats", "welcome", "--account", "shop", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["status"] == "active"
    table = run_cli("stats", "welcome", "--account", "shop", env=env)
    assert "entered 0" in table.stdout
    missing = run_cli("stats", "nope", "--account", "shop", env=env)
    assert missing.returncode != 0 and "no sequence" in missing.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("sequences:\n  x:\n    name: X\n    steps: []\n", "sequences.x.steps"),
        (
            "sequences:\n  x:\n    name: X\n    steps:\n      - variants:\n          - when: [{event: time_passed, after: 1d}]\n"
            "            do: [{action: send_email, draft: missing}]\n",
            "references not checked: draft 'missing'",
        ),
        ("drafts:\n  d:\n    subject: '{% if %}'\n    html: x\n", "drafts.d.subject"),
        ("bogus: {}\n", "unknown section"),
        ("sequences: [1, 2\n", "not valid YAML"),
    ],
)
def test_validate_reports_problems_with_paths_and_fails(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    result = run_cli("validate", "--strict", str(path), env=env_for("sqlite:///unused.db"))
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr


BENCH_FIGURES = [
    "events_per_s",
    "deadlines_per_s",
    "emails_per_s",
    "emails_per_s_with_policy",
    "policy_ratio",
    "events_per_s_with_policy",
    "events_policy_ratio",
    "deadlines_per_s_with_policy",
    "deadlines_policy_ratio",
    "webhooks_per_s",
    "event_latency_p50_ms",
    "event_latency_p99_ms",
    "deadline_lateness_p99_ms",
    "worker_peak_rss_mb",
    "stats_ms",
    "floor_writes_per_s",
    "ratio_to_floor",
    "forecast_1k_30d_s",
    "simulator_10k_90d_s",
    "segment_upkeep_changes_per_s",
    "segment_count_ms",
]


def test_bench_prints_every_figure_as_json(database_url: str) -> None:
    """SPEC §12: a small run of the standard benchmark (the real figures come from full-size runs)."""
    args = ["bench", "--subscribers", "200", "--waiting-runs", "2000", "--json"]
    if database_url.startswith("postgresql"):  # bench makes and drops its own scratch database on the server
        args += ["--database-url", admin_url().replace("+psycopg", ""), "--workers", "2"]
    result = run_cli(*args, env=env_for("sqlite:///unused.db"), timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    summary = report["summary"]
    assert sorted(summary) == sorted(BENCH_FIGURES)
    assert all(isinstance(summary[k], int | float) and summary[k] > 0 for k in BENCH_FIGURES), summary
    assert report["events"]["events_processed"] == 200 and report["deadlines"]["deadlines_fired"] == 200
    assert report["emails"]["sent"] == 200 and report["stats"]["waiting_runs"] == 2000
    assert report["webhooks"]["delivered"] == 200
    simulation = report["simulation"]  # S20-S21: the goals are < 5 s and < 30 s on a quiet machine
    assert simulation["forecast_entered"] == 1000 and simulation["simulator_emails"] > 10_000
    assert report["publish_migrate"]["moved"] == 2000 and report["publish_migrate"]["longest_batch_ms"] > 0
