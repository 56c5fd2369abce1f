"""`stepwise stats KEY` shows, beside the counts, what each step and variant waits for and does."""

from __future__ import annotations

from pathlib import Path

from tests.support.process import env_for, run_cli

FLOWS = """
lists:
  customers: Customers
drafts:
  welcome: {subject: Hi, html: "<p>x</p>", from_email: news@example.com}
sequences:
  welcome:
    name: Welcome
    status: active
    steps:
      - variants:
          - when: [{event: subscriber_added}]
            do: [{action: send_email, draft: welcome}]
      - variants:
          - when: [{event: custom, name: purchase}]
            do: [{action: add_to_list, list: customers}]
          - when: [{event: time_passed, after: 3d}]
            do: [{action: nothing}]
"""


def test_stats_describes_every_variant(database_url: str, tmp_path: Path) -> None:
    env = {**env_for(database_url), "COLUMNS": "200"}
    assert run_cli("accounts", "create", "default", "--create", env=env).returncode == 0
    path = tmp_path / "flows.yaml"
    path.write_text(FLOWS)
    assert run_cli("apply", str(path), env=env).returncode == 0
    result = run_cli("stats", "welcome", env=env)
    assert result.returncode == 0, result.stderr
    for text in ("waits for", "does", "Send email welcome", "purchase", "Add to list customers", "3d", "Do nothing"):
        assert text in result.stdout, (text, result.stdout)
