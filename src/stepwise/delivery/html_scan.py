"""Linear-time looks at rendered HTML before the slower tools see it.

Python's `html.parser` and the `<a>` pattern of link tracking can take time quadratic in the
length of HTML that is not well formed: a tag that never ends (`<a <a <a …`) makes each of them
scan to the end of the document once per tag. Rendered HTML is up to a megabyte, so that would be
minutes. These scans cannot take more than one pass:

- `parsable` escapes every `<` that does not start a complete tag, comment or doctype, so the
  HTML parser (which derives the text part) never meets an unterminated construct; well-formed
  HTML passes unchanged.
- `label_cost` tells how much text the text part joins for link labels: a label is joined once per
  enclosing link, so nesting `<a>` tags (which HTML forbids) makes it quadratic.
- `unterminated_anchors` counts `<a` tags that do not end before the next `<`: each of them may
  cost link tracking a scan to the end of the document.
"""

from __future__ import annotations

import re

_TAG = (
    r"""(?:[A-Za-z][A-Za-z0-9:-]*(?:[^<>"']|"[^"<]*"|'[^'<]*')*"""  # a start tag, quotes without "<"
    r"""|/[A-Za-z][^<>]*"""  # an end tag
    r"""|!(?!--|\[)[^<>]*"""  # a doctype or another declaration
    r"""|!\[(?:if|else|endif)\b[^<>\]]*\]\s*|!\[CDATA\[[^<>]*\]\]"""  # Outlook's conditions, CDATA
    r"""|\?[^<>]*)>"""  # a processing instruction
)
# A "<" that starts no complete tag, or a whole comment (kept); and the same without comments.
_STRAY_OR_COMMENT = re.compile(rf"(<!--.*?-->)|<(?!{_TAG})", re.IGNORECASE | re.DOTALL)
_STRAY = re.compile(rf"<(?!{_TAG})", re.IGNORECASE)
_ANCHOR = re.compile(r"<(/?)a(?=[\s>/])", re.IGNORECASE)
_WHOLE_ANCHOR = re.compile(r"""<a\b(?:[^<>"']|"[^"<]*"|'[^'<]*')*>""", re.IGNORECASE)


def parsable(html: str) -> str:
    """Escape each `<` that does not begin a complete tag, comment or doctype."""
    # Comments can close only before the last "-->": past it, an unclosed "<!--" must not scan on.
    close = html.rfind("-->") if "<!--" in html else -1
    cut = close + 3 if close != -1 else 0
    head = _STRAY_OR_COMMENT.sub(lambda match: match.group(1) or "&lt;", html[:cut]) if cut else ""
    return head + _STRAY.sub("&lt;", html[cut:])


def label_cost(html: str) -> int:
    """How many characters the text part reads again for link labels: each `</a>` closes the latest
    open `<a>`, and the text between them is joined once per enclosing link (linear unless they nest)."""
    opened: list[int] = []
    cost = 0
    for match in _ANCHOR.finditer(html):
        if not match.group(1):
            opened.append(match.start())
        elif opened:
            cost += match.start() - opened.pop()
    return cost


def unterminated_anchors(html: str) -> int:
    """How many `<a` tags do not end (with `>`) before the next `<` or the end of the document."""
    count = 0
    for match in _ANCHOR.finditer(html):
        if not match.group(1) and _WHOLE_ANCHOR.match(html, match.start()) is None:
            count += 1
    return count
