"""The call_url action against a real local HTTP server, on SQLite and PostgreSQL (SPEC §3)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from stepwise.delivery.smtp import SmtpTransport
from stepwise.delivery.webhooks import UrlCaller
from tests.integration.delivery.helpers import Shop, deliver, settle
from tests.integration.delivery.servers import Canary, HttpTarget, SmtpServer
from tests.support.clock import FakeClock
from tests.support.drive import advance


def hook(shop: Shop, *actions: dict[str, Any], key: str = "hooks") -> None:
    shop.sequence(key, [{"when": [{"event": "subscriber_added"}], "do": list(actions)}])


def test_get_replaces_email_with_the_url_encoded_address_and_renders_templates(
    shop: Shop, http_target: HttpTarget
) -> None:
    hook(shop, {"action": "call_url", "url": http_target.base + "/hook?email={EMAIL}&city={{ data.city }}"})
    shop.subscriber("anna+news@example.com", {"city": "Kazan"})

    settle(shop, shop.deliverer())

    [request] = http_target.requests
    assert (request.method, request.path) == ("GET", "/hook?email=anna%2Bnews%40example.com&city=Kazan")
    assert request.headers["Host"] == f"127.0.0.1:{http_target.port}"
    [called] = shop.timeline("url_")
    assert (called["kind"], called["status"], called["method"]) == ("url_called", 200, "GET")
    assert called["response"] == "ok" and shop.outbox() == []


def test_post_sends_the_templated_json_body_and_headers(shop: Shop, http_target: HttpTarget) -> None:
    hook(
        shop,
        {
            "action": "call_url",
            "method": "POST",
            "url": http_target.base + "/orders",
            "body": {"email": "{{ email }}", "plan": "{{ data.custom.plan }}", "n": 3, "tags": ["{{ data.city }}"]},
            "headers": {"X-Signature": "abc-{{ data.custom.plan }}", "X-Who": "{EMAIL}"},
        },
    )
    shop.subscriber("anna@example.com", {"city": "Kazan", "custom": {"plan": "pro"}})

    settle(shop, shop.deliverer())

    [request] = http_target.requests
    assert request.method == "POST"
    assert json.loads(request.body) == {"email": "anna@example.com", "plan": "pro", "n": 3, "tags": ["Kazan"]}
    assert request.headers["Content-Type"] == "application/json"
    assert (request.headers["X-Signature"], request.headers["X-Who"]) == ("abc-pro", "anna@example.com")


def test_other_4xx_fail_at_once(shop: Shop, clock: FakeClock, http_target: HttpTarget) -> None:
    hook(shop, {"action": "call_url", "url": http_target.base + "/status/404"})
    shop.subscriber("anna@example.com")
    deliverer = shop.deliverer()

    settle(shop, deliverer)
    clock.advance(hours=3)
    deliver(deliverer)

    assert len(http_target.requests) == 1
    [failed] = shop.timeline("url_")
    assert failed["kind"] == "url_failed" and "HTTP 404" in failed["reason"]
    assert shop.outbox() == []


def test_5xx_and_429_are_retried_after_1_5_30_and_120_minutes_then_fail(
    shop: Shop, clock: FakeClock, http_target: HttpTarget
) -> None:
    hook(shop, {"action": "call_url", "url": http_target.base + "/status/503"})
    hook(shop, {"action": "call_url", "url": http_target.base + "/status/429"}, key="limited")
    shop.subscriber("anna@example.com")
    deliverer = shop.deliverer()
    settle(shop, deliverer)
    assert http_target.paths() == ["/status/503", "/status/429"] or sorted(http_target.paths()) == [
        "/status/429",
        "/status/503",
    ]

    for minutes in (1, 5, 30, 120):
        clock.advance(minutes=minutes, seconds=-1)
        deliver(deliverer)
        assert len(http_target.requests) == 2 * (1 + [1, 5, 30, 120].index(minutes))  # not yet
        clock.advance(seconds=1)
        deliver(deliverer)
    assert len(http_target.requests) == 10  # the first call and four retries, each

    entries = shop.timeline("url_")
    assert [e["retry_in_s"] for e in entries if e["kind"] == "url_retry"][::2] == [60, 300, 1800, 7200]
    assert [e["kind"] for e in entries].count("url_failed") == 2
    assert shop.outbox() == []


def test_a_hanging_target_is_abandoned_at_the_deadline_while_other_deliveries_go_on(
    shop: Shop, clock: FakeClock, http_target: HttpTarget, smtp: SmtpServer
) -> None:
    hook(shop, {"action": "call_url", "url": http_target.base + "/{{ data.path }}"})
    shop.draft("welcome")
    shop.sequence(
        "mail", [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]
    )
    shop.subscriber("slow@example.com", {"path": "hang"})
    shop.subscriber("drip@example.com", {"path": "drip"})
    shop.subscriber("fast@example.com", {"path": "fast"})
    advance(shop.stepwise)
    deliverer = shop.deliverer(SmtpTransport.from_url(smtp.url()), urls=UrlCaller(allow_private=True, deadline=1.0))

    async def run() -> tuple[int, int]:
        await deliverer.run_once()
        while len(shop.issues(status="sent")) < 3 or "/fast" not in http_target.paths():
            await deliverer.run_once()
        # Everything fast is done while the two slow calls are still in progress: nobody waited for them.
        running = deliverer.running
        await deliverer.drain()  # returns only because the deadline ends the calls (the target never answers)
        left = deliverer.running
        await deliverer.close()
        return running, left

    running, left = asyncio.run(run())
    assert (running, left) == (2, 0)  # the hanging and the dripping call were in progress, then abandoned
    assert not http_target.release.is_set()  # the target had not recovered: the deadline ended them
    retries = [e for e in shop.timeline("url_") if e["kind"] == "url_retry"]
    assert sorted(e["url"].rsplit("/", 1)[1] for e in retries) == ["drip", "hang"]
    assert all("within 1s" in e["error"] and e["retry_in_s"] == 60 for e in retries)

    http_target.release.set()  # the target recovers
    clock.advance(minutes=1)
    deliver(deliverer)
    assert [e["kind"] for e in shop.timeline("url_")].count("url_called") == 3


def test_a_url_call_holds_back_later_deliveries_of_its_run(
    shop: Shop, http_target: HttpTarget, smtp: SmtpServer
) -> None:
    shop.draft("welcome")
    hook(
        shop,
        {"action": "call_url", "url": http_target.base + "/hang"},
        {"action": "send_email", "draft": "welcome"},
    )
    shop.subscriber("anna@example.com")
    advance(shop.stepwise)
    deliverer = shop.deliverer(SmtpTransport.from_url(smtp.url()))

    async def run() -> None:
        await deliverer.run_once()
        for _ in range(5):
            await deliverer.run_once()
        assert smtp.recorder.received == []  # the email waits for the call before it
        http_target.release.set()
        while await deliverer.run_once():
            pass
        await deliverer.close()

    asyncio.run(run())
    assert len(smtp.recorder.received) == 1
    assert [e["kind"] for e in shop.timeline()][-2:] == ["url_called", "email_sent"]


def test_a_template_error_or_an_injected_header_fails_the_call_without_retry(
    shop: Shop, http_target: HttpTarget
) -> None:
    hook(shop, {"action": "call_url", "url": http_target.base + "/x/{{ data.missing.call() }}"})
    hook(
        shop,
        {"action": "call_url", "url": http_target.base + "/y", "headers": {"X-Name": "{{ data.name }}"}},
        key="headers",
    )
    shop.subscriber("anna@example.com", {"name": "Anna\r\nX-Evil: 1"})

    settle(shop, shop.deliverer())

    failed = shop.timeline("url_")
    assert [e["kind"] for e in failed] == ["url_failed", "url_failed"]
    assert "cannot build the request" in failed[0]["reason"]
    assert http_target.requests == []


def test_a_loopback_target_is_refused_when_private_urls_are_not_allowed(shop: Shop, canary: Canary) -> None:
    hook(shop, {"action": "call_url", "url": f"http://localhost:{canary.port}/hook?e={{EMAIL}}"})
    shop.subscriber("anna@example.com")

    settle(shop, shop.deliverer(urls=UrlCaller()))

    [failed] = shop.timeline("url_")
    assert failed["kind"] == "url_failed" and "not public" in failed["reason"]
    assert canary.hits == []
