"""Click and open tracking of a rendered email: links become signed redirects (SPEC §6.3).

Only absolute http(s) links are tracked. `mailto:`, `tel:`, `#anchors`, relative links, links
into Stepwise itself (the unsubscribe and confirmation pages) and `<a data-notrack>` stay as they
are. The same URL gets the same index wherever it appears, in HTML and in text, so the original
URLs of an issue are one short list (stored in `issues.links`).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

MAX_URL = 4096  # longer links are left untracked rather than stored
_A_TAG = re.compile(r"""<a\b(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_HREF = re.compile(r"""(\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.IGNORECASE)
_NOTRACK = re.compile(r"""\sdata-notrack\b""", re.IGNORECASE)
_TEXT_URL = re.compile(r"""https?://[^\s<>"'`]+""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")  # a Location header could not carry these faithfully
_TRAILING = ".,;:!?'\""


class LinkTable:
    """Numbers the distinct tracked URLs of one email and makes their redirect URLs."""

    def __init__(self, redirect: Callable[[int], str], own_prefix: str) -> None:
        self._redirect = redirect
        self._own_prefix = own_prefix
        self._index: dict[str, int] = {}
        self._redirects: list[str] = []
        self.links: list[str] = []
        self.untracked: set[str] = set()  # marked data-notrack in the HTML: left alone in the text too

    def trackable(self, url: str) -> bool:
        """Tell whether a link should go through the click redirect."""
        if len(url) > MAX_URL or not url.lower().startswith(("http://", "https://")):
            return False
        if _UNSAFE.search(url):
            return False
        return not url.startswith(self._own_prefix) and url not in self.untracked

    def redirect_for(self, url: str) -> str:
        """Return the tracking URL of an original URL (numbering it on first sight)."""
        index = self._index.get(url)
        if index is None:
            index = self._index[url] = len(self.links)
            self.links.append(url)
            self._redirects.append(self._redirect(index))
        return self._redirects[index]


def rewrite_html(source: str, table: LinkTable) -> str:
    """Point the href of every trackable <a> at its click redirect."""

    def tag(match: re.Match[str]) -> str:
        text = match.group(0)
        href = _HREF.search(text)
        if href is None:
            return text
        raw = next(group for group in href.groups()[1:] if group is not None)
        url = html_lib.unescape(raw).strip()
        if _NOTRACK.search(text):
            table.untracked.add(url)
            return text
        if not table.trackable(url):
            return text
        replacement = f'{href.group(1)}"{html_lib.escape(table.redirect_for(url), quote=True)}"'
        return text[: href.start()] + replacement + text[href.end() :]

    return _A_TAG.sub(tag, source)


def rewrite_text(source: str, table: LinkTable) -> str:
    """Replace trackable URLs in a plain-text part by their click redirects (after rewrite_html)."""

    def url(match: re.Match[str]) -> str:
        found = match.group(0)
        tail = ""
        # Sentence punctuation and an unbalanced closing parenthesis belong to the text, not the URL.
        while found and (found[-1] in _TRAILING or (found[-1] == ")" and found.count("(") < found.count(")"))):
            tail = found[-1] + tail
            found = found[:-1]
        if not table.trackable(found):
            return match.group(0)
        return table.redirect_for(found) + tail

    return _TEXT_URL.sub(url, source)


def add_pixel(source: str, pixel_url: str) -> str:
    """Insert the 1x1 open pixel before </body> (or at the end)."""
    img = (
        f'<img src="{html_lib.escape(pixel_url, quote=True)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">'
    )
    ends = list(_BODY_END.finditer(source))
    if not ends:
        return source + img
    at = ends[-1].start()
    return source[:at] + img + source[at:]
