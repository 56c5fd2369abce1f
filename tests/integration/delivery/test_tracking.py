"""Tracked links, the open pixel and the unsubscribe page, on SQLite and PostgreSQL (SPEC §6.3, §6.4)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from stepwise.delivery.tokens import TokenSigner
from stepwise.public.tracking import PIXEL
from stepwise.services import issues as issue_service
from stepwise.services.accounts import create_account
from stepwise.storage.codec import loads
from tests.integration.delivery.helpers import Shop, settle
from tests.support.clock import FakeClock
from tests.support.server import live_server

BASE = "http://stepwise.test"
LINK_A = "https://shop.example/a"
LINK_B = "https://shop.example/b?x=1&y=2"
HTML = (
    '<html><body><p><a href="https://shop.example/a">A</a> <a href="https://shop.example/b?x=1&amp;y=2">B</a> '
    '<a href="mailto:help@shop.example">mail</a> <a href="#top">top</a> '
    '<a data-notrack href="https://shop.example/private">private</a> '
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)


@pytest.fixture
def client(shop: Shop) -> Iterator[httpx.Client]:
    """A client of the real app served by uvicorn; the worker loops are driven by hand."""
    with (
        live_server(shop.stepwise, worker=False) as server,
        httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=10) as http,
    ):
        yield http


def welcome(shop: Shop, *later_steps: list[dict[str, Any]], **settings: Any) -> None:
    shop.draft("welcome", html=HTML)
    shop.sequence(
        "welcome",
        [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}],
        *later_steps,
        **settings,
    )


def links_of(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


def path(url: str) -> str:
    assert url.startswith(BASE), url
    return url[len(BASE) :]


def test_links_are_rewritten_and_the_others_left_alone(shop: Shop) -> None:
    welcome(shop)
    shop.subscriber("anna@example.com")
    settle(shop, shop.deliverer())

    [issue] = shop.issues()
    hrefs = links_of(issue.html)
    assert [h.startswith(f"{BASE}/t/c/") for h in hrefs] == [True, True, False, False, False, False]
    assert hrefs[2:5] == ["mailto:help@shop.example", "#top", "https://shop.example/private"]
    assert hrefs[5].startswith(f"{BASE}/t/u/")
    assert loads(issue.links) == [LINK_A, LINK_B]
    assert len(path(hrefs[0])) < 60  # compact tokens: the issue id is packed, not spelled out
    assert f"{BASE}/t/c/" in issue.text and LINK_A not in issue.text


def test_a_click_redirects_to_the_exact_url_and_advances_a_run_waiting_for_that_link(
    shop: Shop, client: httpx.Client, clock: FakeClock
) -> None:
    shop.draft("thanks")
    welcome(
        shop,
        [
            {
                "when": [{"event": "link_clicked", "draft": "welcome", "url": "https://shop.example/b*"}],
                "do": [{"action": "send_email", "draft": "thanks"}],
            }
        ],
    )
    shop.subscriber("anna@example.com")
    deliverer = shop.deliverer()
    settle(shop, deliverer)
    [issue] = shop.issues()
    click_a, click_b = links_of(issue.html)[:2]

    clock.advance(minutes=5)
    response = client.get(path(click_a))
    assert response.status_code == 302 and response.headers["location"] == LINK_A
    [event] = shop.inbox()
    assert (event.kind, event.source) == ("link_clicked", "tracking")
    assert loads(event.payload) == {
        "draft": "welcome",
        "url": LINK_A,
        "sequence": "welcome",
        "pass": 1,
        "issue": issue.id,
    }
    settle(shop, deliverer)
    assert [r.step for r in shop.runs()] == [2]  # link A does not match the url filter

    clock.advance(minutes=5)
    response = client.get(path(click_b))
    assert response.status_code == 302 and response.headers["location"] == LINK_B
    settle(shop, deliverer)

    [run] = shop.runs()
    assert (run.status, run.end_reason) == ("completed", None)
    assert [(i.draft, i.status) for i in shop.issues()] == [("welcome", "sent"), ("thanks", "sent")]
    first = shop.issues(draft="welcome")[0]
    assert first.clicked_at == int((clock().timestamp() - 300) * 1_000_000)  # the first click counts


def test_a_click_on_another_sequences_email_does_not_advance_a_sequence_scoped_wait(
    shop: Shop, client: httpx.Client
) -> None:
    shop.draft("promo", html='<a href="https://shop.example/promo">promo</a>')
    shop.sequence(
        "promo", [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "promo"}]}]
    )
    welcome(shop, [{"when": [{"event": "link_clicked"}], "do": [{"action": "nothing"}]}])
    shop.subscriber("anna@example.com")
    deliverer = shop.deliverer()
    settle(shop, deliverer)

    promo = shop.issues(draft="promo")[0]
    assert client.get(path(links_of(promo.html)[0])).status_code == 302
    settle(shop, deliverer)
    assert {r.sequence_id: r.step for r in shop.runs() if r.status == "active"}  # welcome still waits

    mail = shop.issues(draft="welcome")[0]
    assert client.get(path(links_of(mail.html)[0])).status_code == 302
    settle(shop, deliverer)
    assert [r.status for r in shop.runs()] == ["completed", "completed"]


def test_the_open_pixel_records_the_first_open_and_emits_email_opened(
    shop: Shop, client: httpx.Client, clock: FakeClock
) -> None:
    welcome(shop, [{"when": [{"event": "email_opened", "draft": "welcome"}], "do": [{"action": "nothing"}]}])
    shop.subscriber("anna@example.com")
    deliverer = shop.deliverer()
    settle(shop, deliverer)
    [issue] = shop.issues()
    pixel_token = shop.stepwise.signer.sign("open", shop.account_id, issue.id)

    opened = clock.advance(hours=1)
    response = client.get(f"/t/o/{pixel_token}")
    assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    assert response.content == PIXEL and "no-store" in response.headers["cache-control"]
    [event] = shop.inbox()
    assert loads(event.payload) == {"draft": "welcome", "sequence": "welcome", "pass": 1, "issue": issue.id}
    clock.advance(hours=1)
    assert client.get(f"/t/o/{pixel_token}").status_code == 200
    settle(shop, deliverer)

    assert shop.issues()[0].opened_at == int(opened.timestamp() * 1_000_000)
    assert [r.status for r in shop.runs()] == ["completed"]


def test_get_on_the_unsubscribe_page_changes_nothing_and_one_click_post_unsubscribes(
    shop: Shop, client: httpx.Client, clock: FakeClock
) -> None:
    shop.draft("later")
    welcome(
        shop, [{"when": [{"event": "time_passed", "after": "1d"}], "do": [{"action": "send_email", "draft": "later"}]}]
    )
    shop.subscriber("anna@example.com")
    deliverer = shop.deliverer()
    settle(shop, deliverer)
    [issue] = shop.issues()
    unsubscribe = path(links_of(issue.html)[5])

    page = client.get(unsubscribe)
    assert page.status_code == 200
    assert '<form method="post">' in page.text and "<button" in page.text and "anna@example.com" in page.text
    assert '<html lang="en">' in page.text
    assert shop.status_of("anna@example.com") == "active" and shop.inbox() == []
    assert shop.issues()[0].unsubscribed_at is None

    response = client.post(
        unsubscribe,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert shop.status_of("anna@example.com") == "unsubscribed"
    [event] = shop.inbox()
    assert (event.kind, event.source) == ("unsubscribed", "tracking")
    assert shop.issues()[0].unsubscribed_at is not None
    assert "is unsubscribed" in client.get(unsubscribe).text

    clock.advance(days=2)
    settle(shop, deliverer)
    later = shop.issues(draft="later")[0]
    assert (later.status, later.reason) == ("skipped", "subscriber_unsubscribed")


def test_opens_clicks_and_unsubscribes_feed_the_issue_statistics(
    shop: Shop, client: httpx.Client, account: tuple[int, str]
) -> None:
    welcome(shop)
    for name in ("anna", "boris", "vera"):
        shop.subscriber(f"{name}@example.com")
    settle(shop, shop.deliverer())
    anna, boris, _ = sorted(shop.issues(), key=lambda i: i.email)
    signer = shop.stepwise.signer
    for issue in (anna, boris):
        assert client.get(f"/t/o/{signer.sign('open', shop.account_id, issue.id)}").status_code == 200
    for _ in range(3):  # unique clicks: three clicks of one email count once
        assert client.get(path(links_of(anna.html)[0])).status_code == 302
    assert client.post(path(links_of(boris.html)[5])).status_code == 200

    stats = issue_service.stats(shop.stepwise.db, shop.account_id, sequence="welcome", draft=None)
    counts = {k: getattr(stats.drafts[0], k) for k in ("sent", "opened", "clicked", "unsubscribed")}
    assert counts == {"sent": 3, "opened": 2, "clicked": 1, "unsubscribed": 1}
    [step] = stats.steps
    assert (step.sequence, step.step, step.opened, step.clicked, step.unsubscribed) == (
        "welcome",
        1,
        2,
        1,
        1,
    )

    api = client.get("/api/v1/issues/stats", headers={"Authorization": f"Bearer {account[1]}"})
    assert api.status_code == 200 and api.json()["totals"]["clicked"] == 1
    one = client.get(f"/api/v1/issues/{anna.id}", headers={"Authorization": f"Bearer {account[1]}"}).json()
    assert one["opened_at"] is not None and one["clicked_at"] is not None and one["unsubscribed_at"] is None


def _flip(token: str, byte: int, bit: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[byte] ^= 1 << bit
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_forged_altered_and_cross_account_tokens_get_404_and_change_nothing(
    shop: Shop, client: httpx.Client, stepwise: Any
) -> None:
    welcome(shop)
    shop.subscriber("anna@example.com")
    settle(shop, shop.deliverer())
    [issue] = shop.issues()
    other, _ = create_account(stepwise.db, "other", "UTC", stepwise.clock())
    signer: TokenSigner = stepwise.signer
    stranger = TokenSigner("another instance's secret")
    good = {p: signer.sign(p, shop.account_id, issue.id) for p in ("click", "open", "unsubscribe")}  # type: ignore[arg-type]
    routes = {"click": "/t/c/", "open": "/t/o/", "unsubscribe": "/t/u/"}

    bad: list[tuple[str, str]] = []
    for purpose, token in good.items():
        route = routes[purpose]
        raw_length = len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        bad += [(route, _flip(token, byte, byte % 8)) for byte in range(0, raw_length, 3)]  # header, id and tag
        bad += [
            (route, token[:-1]),
            (route, token[:-6]),
            (route, token[:12]),
            (route, token + "A"),
            (route, token[:-1] + ("A" if token[-1] != "A" else "B")),
            (route, stranger.sign(purpose, shop.account_id, issue.id)),  # type: ignore[arg-type]
            (route, signer.sign(purpose, other.id, issue.id)),  # type: ignore[arg-type]
            (route, signer.sign(purpose, shop.account_id, "f" * 32)),  # type: ignore[arg-type]
            (route, "x"),
            (route, "A" * 48),
        ]
    bad += [
        ("/t/c/", good["open"]),
        ("/t/o/", good["click"]),
        ("/t/u/", good["click"]),
        ("/t/c/", good["unsubscribe"]),
        ("/t/c/", signer.sign("click", shop.account_id, issue.id, 99)),  # no such link
    ]
    for route, token in bad:
        for method in ("GET", "POST") if route == "/t/u/" else ("GET",):
            response = client.request(method, route + token)
            assert response.status_code == 404, (route, token, method)
            assert "location" not in response.headers

    [after] = shop.issues()
    assert (after.clicked_at, after.opened_at, after.unsubscribed_at) == (None, None, None)
    assert shop.inbox() == []
    assert shop.status_of("anna@example.com") == "active"
    assert client.get(f"/t/o/{good['open']}").status_code == 200  # the genuine token still works
