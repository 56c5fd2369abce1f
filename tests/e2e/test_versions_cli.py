"""`stepwise apply --mode pin|migrate --dry-run` on both databases (S17, S18)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import DEFINITIONS
from tests.support.process import env_for, run_cli


def test_S18_apply_dry_run_prints_the_preview_and_mode_pin_publishes_a_pinned_version(
    database_url: str, tmp_path: Path
) -> None:
    env = env_for(database_url)
    assert run_cli("accounts", "create", "shop", "--create", env=env).returncode == 0
    path = tmp_path / "welcome.yaml"
    path.write_text(DEFINITIONS)
    assert run_cli("apply", str(path), "--account", "shop", env=env).returncode == 0

    changed = tmp_path / "changed.yaml"
    changed.write_text(DEFINITIONS.replace("after: 2d", "after: 3d"))
    preview = run_cli("apply", str(changed), "--account", "shop", "--dry-run", env=env)
    assert preview.returncode == 0, preview.stderr
    lines = dict(line.split(": ", 1) for line in preview.stdout.strip().splitlines())
    assert lines["sequence welcome"] == "unchanged"
    impact = json.loads(lines["sequence nurture"])
    assert (impact["from_version"], impact["to_version"], impact["mode"], impact["runs"]) == (1, 2, "migrate", 0)
    again = run_cli("apply", str(changed), "--account", "shop", "--dry-run", env=env)
    assert "from_version" in again.stdout  # the dry run changed nothing

    bad = run_cli("apply", str(changed), "--account", "shop", "--mode", "sideways", env=env)
    assert bad.returncode != 0 and "--mode" in bad.stderr
    pinned = run_cli("apply", str(changed), "--account", "shop", "--mode", "pin", env=env)
    assert pinned.returncode == 0, pinned.stderr
    after = run_cli("apply", str(changed), "--account", "shop", "--dry-run", env=env)
    assert "sequence nurture: unchanged" in after.stdout
