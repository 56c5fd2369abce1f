"""call_url never reaches loopback, private or link-local addresses unless allowed (SPEC §12, security).

A canary listens on one port on every local address (IPv4 and IPv6); every URL of the matrix
aims at that port in some disguise. With the flag off, no connection may reach it.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

import pytest

from stepwise.delivery.guard import IPAddress, is_public, system_resolve
from stepwise.delivery.transports import DeliveryError
from stepwise.delivery.webhooks import UrlCaller, UrlRequest
from tests.integration.delivery.servers import Canary, HttpTarget

EXEMPT = ipaddress.ip_network("127.0.0.2/32")  # the one local address the tests may use as "public"


class FakeDns:
    """Answers for invented names and asks the system resolver for the rest (localhost), counting lookups."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        if host not in self.answers:
            return await system_resolve(host, port)
        replies = self.answers[host]
        reply = replies[min(self.lookups.count(host) - 1, len(replies) - 1)]
        return [ipaddress.ip_address(a) for a in reply]


@pytest.fixture
def redirector() -> Iterator[HttpTarget]:
    target = HttpTarget("127.0.0.2").start()
    yield target
    target.stop()


def matrix(port: int, redirector: str) -> list[str]:
    def via(url: str) -> str:
        return f"{redirector}/redirect?to={url}"

    return [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://LOCALHOST:{port}/",
        f"http://localhost.:{port}/",
        f"http://[::1]:{port}/",
        f"http://[0:0:0:0:0:0:0:1]:{port}/",
        f"http://2130706433:{port}/",  # decimal
        f"http://0x7f000001:{port}/",  # hex
        f"http://0x7f.0.0.1:{port}/",
        f"http://0177.0.0.1:{port}/",  # octal
        f"http://017700000001:{port}/",
        f"http://127.1:{port}/",  # short
        f"http://127.0.1:{port}/",
        f"http://0:{port}/",
        f"http://0.0.0.0:{port}/",
        f"http://[::]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",  # IPv4-mapped
        f"http://[::ffff:7f00:1]:{port}/",
        f"http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/",
        f"http://[::127.0.0.1]:{port}/",  # IPv4-compatible
        f"http://[64:ff9b::127.0.0.1]:{port}/",  # NAT64
        f"http://[2002:7f00:1::]:{port}/",  # 6to4
        f"http://127.0.0.1.:{port}/",
        f"http://127.000.000.001:{port}/",
        f"http://%31%32%37.0.0.1:{port}/",
        f"http://user:pw@127.0.0.1:{port}/",
        f"https://127.0.0.1:{port}/",
        f"http://[fe80::1%25lo]:{port}/",
        f"http://loopback.test:{port}/",  # a name resolving to loopback
        f"http://mixed.test:{port}/",  # a public and a loopback address in one answer
        f"http://six.test:{port}/",  # a name resolving to ::1
        f"http://mapped.test:{port}/",  # ... to ::ffff:127.0.0.1
        f"http://127.0.0.1:{port}@loopback.test:{port}/",  # userinfo that looks like a host
        f"http://10.0.0.1:{port}/",
        f"http://172.16.0.1:{port}/",
        f"http://192.168.1.1:{port}/",
        f"http://169.254.169.254:{port}/",  # cloud metadata
        f"http://100.64.0.1:{port}/",  # CGNAT
        f"http://[fd00::1]:{port}/",  # unique local
        f"http://[fe80::1]:{port}/",  # link-local
        f"http://[::ffff:a9fe:a9fe]:{port}/",  # metadata, IPv4-mapped
        f"http://224.0.0.1:{port}/",
        f"ftp://127.0.0.1:{port}/",
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{port}/",
        via(f"http://127.0.0.1:{port}/"),  # a redirect to loopback
        via(f"http://localhost:{port}/"),
        via(f"http://[::1]:{port}/"),
        via(f"http://2130706433:{port}/"),
        via(f"http://loopback.test:{port}/"),
        via("file:///etc/passwd"),
        f"http://rebind.test:{redirector.rsplit(':', 1)[1]}/redirect?to=http://rebind.test:{port}/",
    ]


def call(caller: UrlCaller, url: str) -> DeliveryError | None:
    async def run() -> None:
        await caller.call(UrlRequest("GET", url))

    try:
        asyncio.run(run())
    except DeliveryError as exc:
        return exc
    return None


def test_no_url_form_reaches_a_loopback_canary_when_private_urls_are_not_allowed(
    canary: Canary, redirector: HttpTarget
) -> None:
    dns = FakeDns(
        {
            "loopback.test": [["127.0.0.1"]],
            "mixed.test": [["93.184.216.34", "127.0.0.1"]],
            "six.test": [["::1"]],
            "mapped.test": [["::ffff:127.0.0.1"]],
            "rebind.test": [["127.0.0.2"], ["127.0.0.1"]],  # public first, loopback on the next lookup
        }
    )
    caller = UrlCaller(deadline=3, exempt=[EXEMPT], resolver=dns)
    urls = matrix(canary.port, redirector.base)
    assert len(urls) >= 30

    outcomes = {url: call(caller, url) for url in urls}

    assert canary.hits == []
    for url, error in outcomes.items():
        assert error is not None, url
        if "gaierror" in str(error):
            continue  # a name this machine cannot resolve (e.g. "localhost."): no connection either
        assert error.permanent, (url, str(error))
        assert "refused" in str(error) or "invalid URL" in str(error), (url, str(error))
    assert len([p for p in redirector.paths() if p.startswith("/redirect")]) == 7  # each redirect was asked once
    assert dns.lookups.count("rebind.test") == 2  # once per hop: the first answer was pinned for its hop


def test_the_flag_lets_loopback_through_and_the_canary_notices(canary: Canary) -> None:
    error = call(UrlCaller(allow_private=True, deadline=2), f"http://127.0.0.1:{canary.port}/")
    assert error is not None and not error.permanent  # the canary hangs up: a network error
    assert len(canary.hits) == 1


def test_a_name_is_resolved_once_and_the_connection_goes_to_that_address(http_target: HttpTarget) -> None:
    exempt = ipaddress.ip_network("127.0.0.1/32")
    dns = FakeDns({"api.partner.test": [["127.0.0.1"], ["10.9.9.9"]]})
    caller = UrlCaller(deadline=3, exempt=[exempt], resolver=dns)

    assert call(caller, f"http://api.partner.test:{http_target.port}/hook?x=1") is None

    assert dns.lookups == ["api.partner.test"]
    [request] = http_target.requests
    assert request.headers["Host"] == f"api.partner.test:{http_target.port}"
    assert request.path == "/hook?x=1"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("100.64.0.1", False),
        ("169.254.0.1", False),
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("fd12::1", False),
        ("fe80::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("64:ff9b::a00:1", False),
        ("2002:a00:1::", False),
        ("ff02::1", False),
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public
