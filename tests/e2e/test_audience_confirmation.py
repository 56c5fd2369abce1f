"""Double opt-in end to end (SPEC §5): form post -> confirmation email -> link -> active -> welcome email.

The live app runs its worker; the email travels through a real SMTP server on loopback (aiosmtpd)
or, in the capture variant, is read back from the archive through the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from stepwise.config import Settings
from tests.e2e.conftest import Api
from tests.integration.delivery.servers import SmtpServer, smtp_server
from tests.support.waiting import eventually

BASE = "http://stepwise.test"
CONFIRM_LINK = re.compile(r'href="(http://stepwise\.test/t/confirm/[A-Za-z0-9_-]+)"')


def sequence(event: dict[str, str], draft: str) -> dict[str, object]:
    return {
        "name": draft,
        "status": "active",
        "steps": [{"variants": [{"when": [event], "do": [{"action": "send_email", "draft": draft}]}]}],
    }


@pytest.fixture(params=["smtp", "capture"])
def sink(request: pytest.FixtureRequest) -> Iterator[SmtpServer | None]:
    if request.param == "capture":
        yield None
        return
    with smtp_server() as server:
        yield server


@pytest.fixture
def settings(database_url: str, sink: SmtpServer | None) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret",
        base_url=BASE,
        poll_interval=0.02,
        smtp_url=sink.url() if sink else None,
    )


def sent(api: Api, **filters: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = api.client.get("/issues", params={"status": "sent", **filters}).json()["items"]
    return items


def confirmation_html(api: Api, sink: SmtpServer | None) -> tuple[str, str]:
    """Wait for the confirmation email; return its subject and HTML as the recipient got them."""
    if sink is not None:
        eventually(lambda: sink.recorder.received, timeout=10)
        message = sink.recorder.received[0]
        assert message.recipients == ["Ann@x.com"]
        return str(message.message["Subject"]), message.part("html")
    issue = eventually(lambda: [i for i in sent(api) if i["group"] == "confirmation"], timeout=10)[0]
    body = api.client.get(f"/issues/{issue['id']}/message").json()
    return body["subject"], body["html"]


def test_form_submit_confirm_by_link_and_welcome(api: Api, sink: SmtpServer | None) -> None:
    welcome = {
        "subject": "Welcome aboard",
        "html": "<p>Hello {{ data.base.firstName }}</p>",
        "from_email": "hi@shop.example",
    }
    api.client.put("/drafts/welcome", json=welcome).raise_for_status()
    api.client.put("/drafts/noted", json={**welcome, "subject": "We got your form"}).raise_for_status()
    api.client.put("/lists/news", json={"name": "News"}).raise_for_status()
    form = {
        "title": "The Weekly",
        "fields": ["base.firstName"],
        "lists": ["news"],
        "success_url": "https://example.com/ok",
    }
    api.client.put("/forms/newsletter", json=form).raise_for_status()
    started = {"event": "subscription_confirmed"}
    api.client.put("/sequences/welcome", json=sequence(started, "welcome")).raise_for_status()
    on_submit = {"event": "form_submitted", "form": "newsletter"}
    api.client.put("/sequences/on-submit", json=sequence(on_submit, "noted")).raise_for_status()

    with httpx.Client(base_url=api.server.base_url, timeout=10, follow_redirects=False) as site:
        posted = site.post("/f/shop/newsletter", data={"email": "Ann@x.com", "base.firstName": "Ann"})
        assert posted.status_code == 200 and "Check your inbox" in posted.text
        runs = eventually(lambda: api.client.get("/subscribers/ann@x.com/runs").json()["items"], timeout=10)
        assert [r["sequence"] for r in runs] == ["on-submit"]  # started at submit, before any confirmation
        subject, html = confirmation_html(api, sink)
        assert subject == "Confirm your subscription to The Weekly"
        link = CONFIRM_LINK.search(html)
        assert link is not None, html
        assert api.client.get("/subscribers/ann@x.com").json()["status"] == "unconfirmed"

        path = urlsplit(link.group(1)).path
        clicked = site.get(path)
        assert clicked.status_code == 303
        assert clicked.headers["location"] == "https://example.com/ok"
        assert site.get(path).status_code == 303  # a second click is harmless

    assert api.client.get("/subscribers/ann@x.com").json()["status"] == "active"
    welcomed = eventually(lambda: sent(api, sequence="welcome"), timeout=10)
    assert [i["subject"] for i in welcomed] == ["Welcome aboard"]
    if sink is not None:
        eventually(lambda: len(sink.recorder.received) == 2, timeout=10)
        assert sink.recorder.received[1].message["Subject"] == "Welcome aboard"
        assert "Hello Ann" in sink.recorder.received[1].part("html")
    noted = api.client.get("/issues", params={"sequence": "on-submit"}).json()["items"]
    assert [(i["status"], i["reason"]) for i in noted] == [("skipped", "subscriber_unconfirmed")]  # S12
    runs = api.client.get("/subscribers/ann@x.com/runs").json()["items"]
    assert sorted(r["sequence"] for r in runs) == ["on-submit", "welcome"]
