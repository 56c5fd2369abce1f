"""`stepwise validate` refuses unstorable values in definition files with their path, and exits non-zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.process import env_for, run_cli

HEAD = """
sequences:
  edge:
    name: Edge
    steps:
      - variants:
          - when: [{event: subscriber_added}]
"""


@pytest.mark.parametrize(
    ("suffix", "content", "expected"),
    [
        (".yaml", HEAD + "            do: [{action: change_data, increment: {n: .nan}}]\n", "finite"),
        (".yaml", HEAD + "            do: [{action: change_data, set: {n: -.inf}}]\n", "finite"),
        (".yaml", HEAD + "            do: [{action: change_data, set: {n: 99999999999999999999}}]\n", "integers"),
        (".yaml", HEAD + '            do: [{action: change_data, set: {n: "a\\0b"}}]\n', "NUL"),
        (".yaml", HEAD + "            do: [{action: change_data, set: {n: 2024-01-01}}]\n", "not a JSON value"),
        (".yaml", HEAD + "            do: [{action: change_data, set: {n: " + "[" * 40 + "]" * 40 + "}}]\n", "deeper"),
        (".yaml", HEAD.replace("Edge", "A" * 10) + "    timezone: " + "A" * 300 + "\n", "timezone"),
        (".json", '{"sequences": {"edge": {"name": "Edge\\u0000", "steps": []}}}', "NUL"),
        (".json", '{"lists": ' + "[" * 5000 + "]" * 5000 + "}", "not valid JSON"),
    ],
)
def test_validate_refuses_unstorable_values(tmp_path: Path, suffix: str, content: str, expected: str) -> None:
    path = tmp_path / f"flows{suffix}"
    path.write_text(content, encoding="utf-8")
    result = run_cli("validate", str(path), env=env_for("sqlite:///unused.db"))
    assert result.returncode != 0, result.stdout
    output = result.stdout + result.stderr
    assert expected in output and "Traceback" not in output, output
