"""Every definition example in the documentation passes the real `stepwise validate`, and applies.

The examples are the ```yaml blocks of docs/*.md and README.md that start with `# example: NAME`
(see tests/docs/markdown.py). Each is written to a file of its own, with the page's shared file
when it says `(with shared)`, and checked by `stepwise validate` run as a child process, as a user
runs it. Because `validate` does not check what only activation checks (every draft of an active
sequence has a subject and a sender), each example is also applied to an account of a real SQLite
database. Keys may repeat between examples: every example gets its own account.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stepwise.bootstrap import Stepwise, build
from stepwise.cli.applying import apply_bundle
from stepwise.cli.definitions import load
from stepwise.config import Settings
from stepwise.services.accounts import create_account
from tests.docs.markdown import Example, all_examples, examples, pages
from tests.support.process import env_for, run_cli

EXAMPLES = all_examples()


def _files(example: Example, folder: Path) -> list[Path]:
    """Write the example (and the example it uses) to files; return them in the order to pass them."""
    chosen = [example]
    if example.uses is not None:
        used = [other for other in examples(example.block.page) if other.name == example.uses]
        assert used, f"{example.block.where}: it uses {example.uses!r}, which is not an example of its page"
        chosen.insert(0, used[0])
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in chosen:
        path = folder / f"{item.name}.yaml"
        path.write_text(item.text, encoding="utf-8")
        paths.append(path)
    return paths


def test_the_documentation_has_examples_with_distinct_names() -> None:
    assert {page.name for page in pages()} >= {"definitions.md", "recipes.md", "README.md"}
    names = Counter(example.name for example in EXAMPLES)
    assert len(EXAMPLES) >= 30
    assert not [name for name, count in names.items() if count > 1], "example names must be unique"


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.name for example in EXAMPLES])
def test_stepwise_validate_accepts_the_example(example: Example, tmp_path: Path) -> None:
    files = _files(example, tmp_path / "flows")
    database = tmp_path / "never-created.db"
    result = run_cli("validate", *map(str, files), env=env_for(f"sqlite:///{database}"), cwd=tmp_path)
    assert result.returncode == 0, f"{example.block.where}: stepwise validate refused it:\n{result.stderr}"
    assert result.stdout.startswith("ok: "), result.stdout
    assert not database.exists(), "validate must not touch a database"


def test_stepwise_validate_rejects_a_broken_example(tmp_path: Path) -> None:
    """The check above can fail: a reference to an undefined draft is refused (with --strict)."""
    broken = next(example for example in EXAMPLES if example.name == "event-never")
    path = tmp_path / "broken.yaml"
    path.write_text(broken.text, encoding="utf-8")  # without the shared file, draft `reminder` is unknown
    # No database to check it against: a warning, and with --strict an error.
    result = run_cli("validate", "--strict", str(path), env=env_for(f"sqlite:///{tmp_path / 'x.db'}"), cwd=tmp_path)
    assert result.returncode == 1
    assert "references not checked: draft 'reminder'" in result.stderr


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stepwise]:
    folder = tmp_path_factory.mktemp("apply")
    settings = Settings(database_url=f"sqlite:///{folder / 'docs.db'}", secret_key="docs-test-secret")
    app = build(settings)
    yield app
    app.close()


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.name for example in EXAMPLES])
def test_the_example_applies_to_a_fresh_account(example: Example, database: Stepwise, tmp_path: Path) -> None:
    account, _ = create_account(database.db, example.name, "UTC", datetime.now(UTC))
    bundle = load(_files(example, tmp_path))
    assert not bundle.problems, bundle.problems
    lines = apply_bundle(database, account.id, bundle)
    assert lines and all(line.startswith("created") for line in lines), lines
