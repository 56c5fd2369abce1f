"""S20: the example of docs/simulation.md runs as written and prints what the page shows."""

from __future__ import annotations

from pathlib import Path

from tests.docs.markdown import DOCS, blocks, examples
from tests.support.process import env_for, run_cli

PAGE = DOCS / "simulation.md"


def test_S20_the_documented_simulation_runs_as_shown(tmp_path: Path) -> None:
    (example,) = [item for item in examples(PAGE) if item.name == "simulate-onboarding"]
    found = blocks(PAGE)
    script = next(block for block in found if block.language == "json")
    shown = next(block for block in found if block.line > script.line and block.language == "")
    (tmp_path / "onboarding.yaml").write_text(example.text, encoding="utf-8")
    (tmp_path / "script.json").write_text(script.text, encoding="utf-8")
    env = env_for(f"sqlite:///{tmp_path / 'never-created.db'}")
    result = run_cli("simulate", "onboarding.yaml", "--script", "script.json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in shown.text.splitlines() if line.strip()]
    printed = result.stdout.splitlines()
    for line in lines:
        assert line in printed, f"docs/simulation.md shows {line!r}, the command printed:\n{result.stdout}"
    assert not (tmp_path / "never-created.db").exists()
