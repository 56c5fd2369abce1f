"""Read the user documentation: its pages, fenced code blocks and the definition examples in them.

An example is a fenced ```yaml block whose first line is `# example: NAME`, optionally followed by
`(with OTHER)`: then the example is checked together with the example OTHER of the same page
(the shared lists, drafts and forms that docs/definitions.md defines once). Every ```yaml block of
the documentation must be such an example, so none can escape the checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
YAML_LANGUAGES = ("yaml", "yml")
_MARKER = re.compile(r"^# example: (?P<name>[a-z0-9][a-z0-9-]*)(?: \(with (?P<with>[a-z0-9][a-z0-9-]*)\))?\s*$")
_FENCE = re.compile(r"^(?P<fence>`{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    """A fenced code block: the page, the line of its opening fence, its info string and its text."""

    page: Path
    line: int
    info: str
    text: str

    @property
    def language(self) -> str:
        return self.info.split()[0].lower() if self.info.split() else ""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Example:
    """A definition file shown in the documentation."""

    name: str
    block: Block
    uses: str | None

    @property
    def text(self) -> str:
        return self.block.text

    def parsed(self) -> dict[str, Any]:
        value = yaml.safe_load(self.text)
        assert isinstance(value, dict), f"{self.block.where}: an example is a mapping"
        return value


def pages() -> list[Path]:
    """The documentation pages: docs/*.md and the README."""
    return [*sorted(DOCS.glob("*.md")), README]


def blocks(page: Path) -> list[Block]:
    """Every top-level fenced code block of a Markdown page, in order."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence = opening["fence"]
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not (lines[end].startswith(fence) and not lines[end].strip(fence).strip()):
            body.append(lines[end])
            end += 1
        assert end < len(lines), f"{page}:{index + 1}: a code block is not closed"
        found.append(Block(page, index + 1, opening["info"].strip(), "\n".join(body) + "\n"))
        index = end + 1
    return found


def examples(page: Path) -> list[Example]:
    """The examples of one page (every YAML block must be one)."""
    found: list[Example] = []
    for block in blocks(page):
        if block.language not in YAML_LANGUAGES:
            continue
        first = block.text.splitlines()[0] if block.text.strip() else ""
        marker = _MARKER.match(first)
        assert marker is not None, f"{block.where}: a YAML block must start with '# example: NAME'"
        found.append(Example(marker["name"], block, marker["with"]))
    return found


def all_examples() -> list[Example]:
    return [example for page in pages() for example in examples(page)]


def sections(page: Path) -> dict[str, str]:
    """Map each heading's text to the text under it, up to the next heading of the same or a higher level."""
    lines = page.read_text(encoding="utf-8").splitlines()
    inside = False
    heads: list[tuple[int, int, str]] = []  # (line index, level, title)
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            inside = not inside
            continue
        heading = re.match(r"^(#{1,6}) (.+?)\s*$", line)
        if heading and not inside:
            heads.append((number, len(heading[1]), heading[2]))
    found: dict[str, str] = {}
    for position, (number, level, title) in enumerate(heads):
        end = next((n for n, lvl, _ in heads[position + 1 :] if lvl <= level), len(lines))
        found[title] = "\n".join(lines[number + 1 : end])
    return found
