"""Link rewriting and tracking tokens, without a database (SPEC §6.3)."""

from __future__ import annotations

import pytest

from stepwise.delivery.links import LinkTable, add_pixel, rewrite_html, rewrite_text
from stepwise.delivery.tokens import TokenSigner

SIGNER = TokenSigner("secret")
ISSUE = "0190f3a2b4c5d6e7f8091a2b3c4d5e6f"


def table() -> LinkTable:
    return LinkTable(lambda index: f"https://sw.example/t/c/{index}", own_prefix="https://sw.example/t/")


def test_tokens_round_trip_and_stay_short() -> None:
    token = SIGNER.sign("click", 123456, ISSUE, 7)
    assert len(token) <= 50
    data = SIGNER.verify("click", token)
    assert data is not None and (data.account_id, data.subject, data.number) == (123456, ISSUE, 7)
    text_subject = SIGNER.sign("confirm", 1, "form:newsletter:42")
    assert SIGNER.verify("confirm", text_subject).subject == "form:newsletter:42"  # type: ignore[union-attr]


@pytest.mark.parametrize("purpose", ["open", "unsubscribe", "confirm"])
def test_a_token_is_good_for_its_own_purpose_only(purpose: str) -> None:
    assert SIGNER.verify(purpose, SIGNER.sign("click", 1, ISSUE)) is None  # type: ignore[arg-type]


def test_non_canonical_spellings_of_a_token_are_refused() -> None:
    token = SIGNER.sign("open", 1, ISSUE)
    assert SIGNER.verify("open", token + "=") is None
    assert SIGNER.verify("open", token.replace("-", "+").replace("_", "/")) in (None, SIGNER.verify("open", token))
    assert SIGNER.verify("open", "é" + token) is None


def test_html_links_are_numbered_once_per_url_and_entities_decoded() -> None:
    links = table()
    html = rewrite_html(
        "<a href=\"https://a.example/?x=1&amp;y=2\">one</a> <A HREF='https://a.example/?x=1&y=2'>again</A> "
        '<a title="a > b" href="https://b.example/">b</a> <a href="/relative">r</a> <a>no href</a>',
        links,
    )
    assert links.links == ["https://a.example/?x=1&y=2", "https://b.example/"]
    assert html.count('"https://sw.example/t/c/0"') == 2
    assert 'href="https://sw.example/t/c/1"' in html and 'href="/relative"' in html


def test_text_urls_lose_their_trailing_punctuation_but_keep_balanced_parentheses() -> None:
    links = table()
    text = rewrite_text(
        "See https://a.example/x. Or (https://b.example/y). Wiki: https://w.example/A_(b) "
        "and https://sw.example/t/u/abc for unsubscribing.",
        links,
    )
    assert links.links == ["https://a.example/x", "https://b.example/y", "https://w.example/A_(b)"]
    assert text == (
        "See https://sw.example/t/c/0. Or (https://sw.example/t/c/1). Wiki: https://sw.example/t/c/2 "
        "and https://sw.example/t/u/abc for unsubscribing."
    )


def test_the_pixel_goes_before_the_end_of_the_body() -> None:
    assert add_pixel("<html><body><p>x</p></BODY></html>", "https://sw.example/t/o/1").endswith(
        '<img src="https://sw.example/t/o/1" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0"></BODY></html>'
    )
    assert add_pixel("<p>x</p>", "https://sw.example/t/o/1").startswith("<p>x</p><img")
