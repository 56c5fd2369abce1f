"""Links between the documentation pages lead somewhere: the file exists, and so does the heading."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.markdown import ROOT, pages, sections

_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", title.replace("`", "").lower())
    return text.replace(" ", "-")


def _links(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"^(`{3,}).*?^\1$", "", text, flags=re.MULTILINE | re.DOTALL)  # not inside code blocks
    return [target for target in _LINK.findall(text) if not re.match(r"^[a-z]+:", target)]


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in pages():
        for target in _links(page):
            path, _, anchor = target.partition("#")
            destination = (page.parent / path).resolve() if path else page
            if not destination.exists() or ROOT not in destination.parents:
                broken.append(f"{page.name}: {target} (no such file in the repository)")
                continue
            if anchor and destination.suffix == ".md":
                anchors = {_anchor(title) for title in sections(destination)}
                if anchor not in anchors:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_the_index_names_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    others = [page.name for page in pages() if page.parent.name == "docs" and page.name != "README.md"]
    assert others and [name for name in others if f"]({name})" not in index] == []


def test_no_page_points_outside_the_repository() -> None:
    """Users have the repository only: no product contract beside it, no rule numbers from it."""
    for page in pages():
        text = page.read_text(encoding="utf-8")
        assert "SPEC" not in text and "../shared" not in text and "§" not in text, page.name
        assert re.search(r"\bS1?[0-9]\b", text) is None, f"{page.name} cites a rule number users cannot look up"
