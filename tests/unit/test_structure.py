"""The code's shape: the layer contract (import-linter, pyproject.toml) and the size limits."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "stepwise"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(p for p in SOURCE.rglob("*.py") if "migrations" not in p.relative_to(SOURCE).parts)


def test_imports_keep_the_layer_contract() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", str(SOURCE.parents[1] / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=SOURCE.parents[1],
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_no_module_is_too_long() -> None:
    long = {
        str(path.relative_to(SOURCE)): count
        for path in _modules()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_is_too_long() -> None:
    long: dict[str, int] = {}
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                count = node.end_lineno - start + 1
                if count > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(SOURCE)}:{node.lineno} {node.name}"] = count
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
