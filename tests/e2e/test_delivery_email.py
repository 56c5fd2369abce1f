"""Real email end to end: the app over HTTP, its worker, and an SMTP server on loopback (SPEC §6).

The subscriber reads the message the SMTP server received, loads its pixel, clicks its link and
unsubscribes through the List-Unsubscribe one-click POST, all against the live app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from stepwise.config import Settings
from tests.e2e.conftest import Api
from tests.integration.delivery.servers import Received, SmtpServer, smtp_server
from tests.support.waiting import eventually

BASE = "http://stepwise.test"
OFFER = "https://shop.example/offer?utm_source=mail&id=7"
SEQUENCE = {
    "name": "Welcome",
    "status": "active",
    "steps": [
        {"variants": [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]},
        {
            "variants": [
                {
                    "when": [{"event": "link_clicked", "draft": "welcome", "url": "https://shop.example/offer*"}],
                    "do": [{"action": "send_email", "draft": "thanks"}],
                },
                {"when": [{"event": "custom", "name": "nudge"}], "do": [{"action": "send_email", "draft": "later"}]},
            ]
        },
    ],
}


@pytest.fixture
def sink() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def settings(database_url: str, sink: SmtpServer) -> Settings:
    """The standard test settings, with the SMTP transport pointed at the sink."""
    return Settings(
        database_url=database_url,
        secret_key="test-secret",
        base_url=BASE,
        poll_interval=0.02,
        smtp_url=sink.url(),
    )


def draft(subject: str, html: str, text: str | None = None) -> dict[str, object]:
    return {"subject": subject, "html": html, "text": text, "from_email": "news@shop.example", "from_name": "Shop"}


def mail_to(sink: SmtpServer, address: str, count: int = 1) -> list[Received]:
    return eventually(lambda: len(sink.recorder.by_recipient(address)) >= count and sink.recorder.by_recipient(address))


def on_server(api: Api, url: str) -> str:
    """The links point at STEPWISE_BASE_URL; ask the live server the same path."""
    assert url.startswith(BASE + "/t/"), url
    return api.server.base_url + url[len(BASE) :]


def test_a_subscriber_reads_opens_clicks_and_unsubscribes(api: Api, sink: SmtpServer) -> None:
    drafts = {
        "welcome": draft(
            "Hi {{ data.base.firstName }}",
            f'<p>Hello [% anketa.base.firstName %]!</p><p><a href="{OFFER.replace("&", "&amp;")}">Our offer</a></p>',
            "Hello {{ data.base.firstName }}, see " + OFFER,
        ),
        "thanks": draft("Thanks, [% anketa.base.firstName %]", "<p>Thanks for looking</p>"),
        "later": draft("Later", "<p>Later</p>"),
    }
    for key, body in drafts.items():
        assert api.client.put(f"/drafts/{key}", json=body).status_code == 201
    assert api.client.put("/sequences/welcome", json=SEQUENCE).status_code == 201
    for name, first in (("anna", "Anna"), ("boris", "Boris")):
        created = api.client.post(
            "/subscribers", json={"email": f"{name}@example.com", "data": {"base": {"firstName": first}}}
        )
        assert created.status_code == 201

    [welcome] = mail_to(sink, "anna@example.com")
    message = welcome.message
    assert message["Subject"] == "Hi Anna"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "<welcome.shop.stepwise.test>"
    html, text = welcome.part("html"), welcome.part("plain")
    assert "Hello Anna!" in html and text.startswith("Hello Anna, see http://stepwise.test/t/c/")
    [click] = re.findall(r'href="(http://stepwise\.test/t/c/[^"]+)"', html)
    [pixel] = re.findall(r'src="(http://stepwise\.test/t/o/[^"]+)"', html)

    # The server's 250 comes first; the issue is recorded as sent a moment later.
    def sent_issue() -> dict[str, str] | None:
        items = api.client.get("/issues", params={"email": "anna@example.com"}).json()["items"]
        return items[0] if items and items[0]["status"] == "sent" else None

    issue = eventually(sent_issue)
    assert message["Message-ID"] == issue["message_id"] == f"<{issue['id']}@stepwise.test>"

    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        opened = browser.get(on_server(api, pixel))
        assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
        clicked = browser.get(on_server(api, click))
        assert clicked.status_code == 302 and clicked.headers["location"] == OFFER

        [thanks] = mail_to(sink, "anna@example.com", 2)[1:]
        assert thanks.message["Subject"] == "Thanks, Anna"
        seen = api.client.get(f"/issues/{issue['id']}").json()
        assert seen["opened_at"] and seen["clicked_at"] and seen["status"] == "sent"

        [to_boris] = mail_to(sink, "boris@example.com")
        unsubscribe = to_boris.message["List-Unsubscribe"].strip().strip("<>")
        page = browser.get(on_server(api, unsubscribe))
        assert page.status_code == 200 and "Unsubscribe" in page.text
        assert api.client.get("/subscribers/boris@example.com").json()["status"] == "active"
        one_click = browser.post(
            on_server(api, unsubscribe),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert one_click.status_code == 200
    assert api.client.get("/subscribers/boris@example.com").json()["status"] == "unsubscribed"

    accepted = api.client.post("/events", json={"type": "custom", "name": "nudge", "email": "boris@example.com"})
    assert accepted.status_code == 202

    def later() -> list[dict[str, object]]:
        items = api.client.get("/issues", params={"email": "boris@example.com", "draft": "later"}).json()["items"]
        return list(items)

    [skipped] = eventually(later)
    assert (skipped["status"], skipped["reason"]) == ("skipped", "subscriber_unsubscribed")
    assert len(sink.recorder.by_recipient("boris@example.com")) == 1

    stats = api.client.get("/issues/stats", params={"draft": "welcome"}).json()["drafts"][0]
    assert (stats["sent"], stats["opened"], stats["clicked"], stats["unsubscribed"]) == (2, 1, 1, 1)
