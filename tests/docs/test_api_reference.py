"""docs/api.md names every operation of the OpenAPI document, and no operation that is not in it.

The OpenAPI document is built from the real application, so an endpoint added, removed or moved
without updating the page fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from stepwise.api.app import API_PREFIX
from stepwise.bootstrap import build
from stepwise.config import Settings
from stepwise.serving import create_app
from tests.docs.markdown import DOCS

PAGE = DOCS / "api.md"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _operations(tmp_path: Path) -> set[str]:
    app = build(Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", secret_key="docs-test-secret"))
    try:
        document = create_app(app).openapi()
    finally:
        app.close()
    found = set()
    for path, operations in document["paths"].items():
        short = path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX + "/") else path
        found |= {f"{method.upper()} {short}" for method in operations if method.upper() in METHODS}
    return found


def test_every_operation_is_described_and_none_is_invented(tmp_path: Path) -> None:
    text = PAGE.read_text(encoding="utf-8")
    rows = set(re.findall(rf"^\| `((?:{'|'.join(METHODS)}) /[^`]*)` \|", text, flags=re.MULTILINE))
    operations = _operations(tmp_path)
    assert operations - rows == set(), "operations missing from docs/api.md"
    assert rows - operations == set(), "docs/api.md lists operations the server does not have"


def test_the_documented_error_codes_exist_in_the_code() -> None:
    """Each code in the error table is raised or mapped somewhere in the source."""
    source = "\n".join(path.read_text(encoding="utf-8") for path in (DOCS.parent / "src").rglob("*.py"))
    table = PAGE.read_text(encoding="utf-8").split("## Errors", 1)[1].split("## Paging", 1)[0]
    columns = re.findall(r"^\| `\d{3}` \| ([^|]*) \|", table, flags=re.MULTILINE)
    codes = {code for column in columns for code in re.findall(r"`([a-z_]+)`", column)}
    assert {"malformed", "unauthorized", "invalid", "overloaded"} <= codes
    missing = sorted(code for code in codes if f'"{code}"' not in source and f"'{code}'" not in source)
    assert missing == [], f"docs/api.md names error codes the code never uses: {missing}"
    statuses = set(re.findall(r"^\| `(\d{3})` \|", table, flags=re.MULTILINE))
    assert statuses >= {"400", "401", "404", "409", "413", "415", "422", "429", "503"}
