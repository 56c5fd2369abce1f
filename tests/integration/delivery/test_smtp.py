"""Emails through a real SMTP server (aiosmtpd on loopback), on SQLite and PostgreSQL (SPEC §6.2)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stepwise.delivery.message import UnsafeHeader, build
from stepwise.delivery.smtp import InvalidSmtpUrl, SmtpTransport, parse_url
from stepwise.delivery.transports import DeliveryError
from tests.integration.delivery.helpers import Shop, deliver, settle
from tests.integration.delivery.servers import (
    SmtpRecorder,
    SmtpServer,
    password_authenticator,
    self_signed_certificate,
    smtp_server,
)
from tests.support.clock import FakeClock

WELCOME = [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]


def test_a_personalised_email_arrives_with_the_list_headers(shop: Shop, smtp: SmtpServer) -> None:
    shop.draft(
        "welcome",
        subject="Hi {{ data.base.firstName }}!",
        html=(
            "<p>Hello [% anketa.base.firstName %] from {{ data.base.city }} ({{ email }}).</p>"
            '<p><a href="https://shop.example/offer?a=1&amp;b=2">Offer</a> '
            '<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
        ),
        text="Hi [% anketa.base.firstName %], see https://shop.example/offer?a=1&b=2.",
        from_name="Shop",
    )
    shop.sequence("welcome", WELCOME)
    shop.subscriber("anna@example.com", {"base": {"firstName": "Anna", "city": "Kazan"}})

    settle(shop, shop.deliverer(SmtpTransport.from_url(smtp.url())))

    [received] = smtp.recorder.received
    [issue] = shop.issues()
    message = received.message
    assert (received.sender, received.recipients) == ("news@shop.example", ["anna@example.com"])
    assert message["Subject"] == "Hi Anna!"
    assert message["From"] == "Shop <news@shop.example>"
    assert message["Message-ID"] == f"<{issue.id}@stepwise.test>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "<welcome.acme.stepwise.test>"
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://stepwise.test/t/u/") and unsubscribe.endswith(">")
    token = unsubscribe[len("<http://stepwise.test/t/u/") : -1]
    assert shop.stepwise.signer.verify("unsubscribe", token).subject == issue.id  # type: ignore[union-attr]

    html, text = received.part("html"), received.part("plain")
    assert "Hello Anna from Kazan (anna@example.com)." in html
    assert text.startswith("Hi Anna, see http://stepwise.test/t/c/")
    assert text.rstrip().endswith(".")  # the full stop stays outside the tracked URL
    assert "https://shop.example/offer" not in html + text
    assert html.count("http://stepwise.test/t/c/") == 1
    assert unsubscribe[1:-1] in html  # the unsubscribe link is not tracked
    assert "http://stepwise.test/t/o/" in html  # the open pixel

    assert issue.status == "sent" and issue.transport == "smtp"
    assert issue.message_id == message["Message-ID"]
    assert issue.links == '["https://shop.example/offer?a=1&b=2"]'
    assert "/t/o/" not in issue.html  # viewing the archive must not count as an open
    assert "http://stepwise.test/t/c/" in issue.html


def test_connections_are_reused_across_messages(shop: Shop, smtp: SmtpServer) -> None:
    shop.draft("welcome")
    shop.sequence("welcome", WELCOME)
    for n in range(30):
        shop.subscriber(f"user{n}@example.com")

    settle(shop, shop.deliverer(SmtpTransport.from_url(smtp.url(query="pool=2"))))

    received = smtp.recorder.received
    assert len(received) == 30
    assert len({r.session for r in received}) <= 2


def test_a_server_refusing_30_percent_with_451_gets_every_message_exactly_once(
    shop: Shop, clock: FakeClock, smtp: SmtpServer
) -> None:
    chance = random.Random(7)
    refused: list[str] = []

    def flaky(envelope: object) -> str | None:
        if chance.random() < 0.3:
            refused.append("x")
            return "451 4.3.0 Temporary trouble, try again"
        return None

    smtp.recorder.data_reply = flaky
    shop.draft("welcome")
    shop.sequence("welcome", WELCOME)
    addresses = [f"user{n}@example.com" for n in range(24)]
    for address in addresses:
        shop.subscriber(address)
    deliverer = shop.deliverer(SmtpTransport.from_url(smtp.url()))

    settle(shop, deliverer)
    for _ in range(30):
        if not shop.outbox():
            break
        clock.advance(hours=1)
        deliver(deliverer)

    ids = Counter(r.message["Message-ID"] for r in smtp.recorder.received)
    assert len(ids) == 24 and set(ids.values()) == {1}
    assert sorted(r.recipients[0] for r in smtp.recorder.received) == sorted(addresses)
    assert {i.status for i in shop.issues()} == {"sent"}
    assert refused, "the server should have refused some attempts"
    assert len(shop.timeline("email_retry")) == len(refused)


def test_a_retried_message_keeps_its_message_id(shop: Shop, clock: FakeClock, smtp: SmtpServer) -> None:
    seen: list[bytes] = []

    def once(envelope: object) -> str | None:
        seen.append(envelope.original_content)  # type: ignore[attr-defined]
        return "451 busy" if len(seen) == 1 else None

    smtp.recorder.data_reply = once
    shop.draft("welcome")
    shop.sequence("welcome", WELCOME)
    shop.subscriber("anna@example.com")
    deliverer = shop.deliverer(SmtpTransport.from_url(smtp.url()))
    settle(shop, deliverer)
    [issue] = shop.issues()
    assert issue.status == "queued" and "451" in issue.reason

    clock.advance(seconds=29)
    deliver(deliverer)
    assert len(seen) == 1  # the first retry waits 30 s
    clock.advance(seconds=1)
    deliver(deliverer)

    [received] = smtp.recorder.received
    assert received.message["Message-ID"] == f"<{issue.id}@stepwise.test>"
    assert f"<{issue.id}@stepwise.test>".encode() in seen[0]
    assert shop.issues()[0].status == "sent"


def test_550_on_rcpt_fails_the_issue_bounces_the_subscriber_and_is_not_retried(
    shop: Shop, clock: FakeClock, smtp: SmtpServer
) -> None:
    smtp.recorder.refuse_rcpt["ghost@example.com"] = "550 5.1.1 No such user"
    shop.draft("welcome")
    shop.draft("later")
    shop.sequence(
        "welcome",
        WELCOME,
        [{"when": [{"event": "time_passed", "after": "1d"}], "do": [{"action": "send_email", "draft": "later"}]}],
    )
    shop.subscriber("ghost@example.com")
    deliverer = shop.deliverer(SmtpTransport.from_url(smtp.url()))

    settle(shop, deliverer)
    clock.advance(days=2)
    settle(shop, deliverer)

    welcome, later = shop.issues()
    assert welcome.status == "failed" and "550" in welcome.reason
    assert shop.status_of("ghost@example.com") == "bounced"
    assert smtp.recorder.rcpts.count("ghost@example.com") == 1
    assert (later.status, later.reason) == ("skipped", "subscriber_bounced")
    assert smtp.recorder.received == []
    [failed] = shop.timeline("email_failed")
    assert failed["bounced"] is True


def test_a_5xx_after_data_fails_the_issue_without_bouncing(shop: Shop, smtp: SmtpServer) -> None:
    smtp.recorder.data_reply = lambda envelope: "554 5.7.1 Message rejected as spam"
    shop.draft("welcome")
    shop.sequence("welcome", WELCOME)
    shop.subscriber("anna@example.com")

    settle(shop, shop.deliverer(SmtpTransport.from_url(smtp.url())))

    [issue] = shop.issues()
    assert issue.status == "failed" and "554" in issue.reason
    assert shop.status_of("anna@example.com") == "active"
    assert shop.outbox() == []


def test_a_line_break_in_profile_data_cannot_add_a_header(shop: Shop, smtp: SmtpServer) -> None:
    shop.draft("welcome", subject="Hi {{ data.name }}")
    shop.sequence("welcome", WELCOME)
    shop.subscriber("anna@example.com", {"name": "Anna\r\nBcc: victim@evil.example"})

    settle(shop, shop.deliverer(SmtpTransport.from_url(smtp.url())))

    [received] = smtp.recorder.received
    assert received.message["Bcc"] is None
    assert received.recipients == ["anna@example.com"]
    assert received.message["Subject"] == "Hi Anna Bcc: victim@evil.example"


@pytest.mark.parametrize(
    "field",
    ["sender_email", "sender_name", "reply_to", "recipient", "subject", "unsubscribe_url", "list_id"],
)
@pytest.mark.parametrize("bad", ["\r", "\n", "\0"])
def test_cr_lf_and_nul_are_refused_in_every_header_value_and_address(field: str, bad: str) -> None:
    values = {
        "sender_email": "news@shop.example",
        "sender_name": "Shop",
        "reply_to": "help@shop.example",
        "recipient": "anna@example.com",
        "subject": "Hello",
        "unsubscribe_url": "http://stepwise.test/t/u/x",
        "list_id": "<l.acme.stepwise.test>",
    }
    values[field] = values[field][:3] + bad + "Bcc: x@evil.example"
    with pytest.raises(UnsafeHeader):
        build(
            issue_id="0" * 32,
            html="<p>x</p>",
            text="x",
            base_url="http://stepwise.test",
            date=datetime(2026, 1, 5, tzinfo=UTC),
            **values,  # type: ignore[arg-type]
        )


def test_long_non_ascii_subjects_and_international_domains_are_encoded_properly() -> None:
    message = build(
        issue_id="0" * 32,
        sender_email="news@shop.example",
        sender_name="Магазин, ООО",
        reply_to=None,
        recipient="anna@пример.рф",
        subject="Привет " * 30,
        html="<p>x</p>",
        text="x",
        unsubscribe_url="http://stepwise.test/t/u/x",
        list_id="<l.acme.stepwise.test>",
        base_url="http://stepwise.test",
        date=datetime(2026, 1, 5, tzinfo=UTC),
    )
    assert message.recipient == "anna@xn--e1afmkfd.xn--p1ai"
    assert all(len(line) <= 998 for line in message.raw.split(b"\n"))
    head = message.raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if line.startswith((b"Subject", b" =?")))
    parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
    assert parsed["Subject"].strip() == ("Привет " * 30).strip()
    assert parsed["From"].addresses[0].display_name == "Магазин, ООО"
    assert parsed["To"] == "anna@xn--e1afmkfd.xn--p1ai"


def test_one_message_at_a_time_is_between_the_servers_acceptance_and_its_record() -> None:
    """SPEC §12: a crash leaves at most one accepted message unrecorded, however many connections are busy."""
    with smtp_server() as server:
        transport = SmtpTransport.from_url(server.url(query="pool=4"))

        async def run() -> tuple[int, int, list[str], list[int]]:
            holding, release = asyncio.Event(), asyncio.Event()
            recorded: list[str] = []
            accepted_when_recorded: list[int] = []  # how many messages the server had accepted at each record

            def record(address: str) -> Callable[[], Awaitable[None]]:
                async def accepted() -> None:
                    if not recorded:  # the first record is slow (a database busy for a while)
                        holding.set()
                        await release.wait()
                    recorded.append(address)
                    accepted_when_recorded.append(len(server.recorder.received))

                return accepted

            first = asyncio.create_task(transport.send(_message("a0@example.com"), record("a0@example.com")))  # type: ignore[arg-type]
            await holding.wait()
            others = [
                asyncio.create_task(transport.send(_message(f"a{n}@example.com"), record(f"a{n}@example.com")))  # type: ignore[arg-type]
                for n in range(1, 4)
            ]
            while transport.waiting_to_hand_over < 3:  # the others have sent their data on their own connections
                await asyncio.sleep(0.01)
            while_held = len(server.recorder.received)
            release.set()
            await asyncio.gather(first, *others)
            await transport.close()
            return while_held, len(server.recorder.received), recorded, accepted_when_recorded

        while_held, received, recorded, accepted_when_recorded = asyncio.run(run())
        assert (while_held, received) == (1, 4)
        assert recorded == [r.recipients[0] for r in server.recorder.received]  # each recorded before the next went
        assert accepted_when_recorded == [1, 2, 3, 4]  # never more than one accepted message unrecorded


def test_a_message_the_server_is_slow_to_answer_holds_the_others_only_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stepwise.delivery.smtp.HANDOVER_WAIT", 0.2)
    with smtp_server(SmtpRecorder(slow={"slow@example.com": 3.0})) as server:
        transport = SmtpTransport.from_url(server.url(query="pool=4"))
        finished: list[str] = []

        async def send(address: str) -> None:
            await transport.send(_message(address))  # type: ignore[arg-type]
            finished.append(address)

        async def run() -> None:
            slow = asyncio.create_task(send("slow@example.com"))
            while not server.recorder.rcpts:
                await asyncio.sleep(0.01)
            await asyncio.gather(slow, *(send(f"a{n}@example.com") for n in range(3)))
            await transport.close()

        asyncio.run(run())
        received = [r.recipients[0] for r in server.recorder.received]
    # The slow one started first and finished last: the others went on their own connections meanwhile.
    assert finished[-1] == "slow@example.com" and sorted(finished[:-1]) == [f"a{n}@example.com" for n in range(3)]
    assert received[-1] == "slow@example.com" and len(received) == 4


def test_serial_handover_can_be_turned_off_in_the_url() -> None:
    assert parse_url("smtp://relay.example").serial
    assert not parse_url("smtp://relay.example?serial=0").serial
    with smtp_server() as server:
        _send(SmtpTransport.from_url(server.url(query="serial=0")), count=3)
        assert len(server.recorder.received) == 3


def _message(recipient: str = "anna@example.com") -> object:
    return build(
        issue_id="1" * 32,
        sender_email="news@shop.example",
        sender_name=None,
        reply_to=None,
        recipient=recipient,
        subject="Hello",
        html="<p>x</p>",
        text="x",
        unsubscribe_url="http://stepwise.test/t/u/x",
        list_id="<l.acme.stepwise.test>",
        base_url="http://stepwise.test",
        date=datetime(2026, 1, 5, tzinfo=UTC),
    )


def _send(transport: SmtpTransport, count: int = 1) -> None:
    async def run() -> None:
        try:
            for _ in range(count):
                await transport.send(_message())  # type: ignore[arg-type]
        finally:
            await transport.close()

    asyncio.run(run())


def test_starttls_and_authentication(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    with smtp_server(
        tls_context=server_tls,
        require_starttls=True,
        authenticator=password_authenticator("mailer", "s3cret/+"),
        auth_required=True,
    ) as server:
        _send(SmtpTransport.from_url(server.url(userinfo="mailer:s3cret%2F%2B", query=f"starttls=1&cafile={cert}")))
        assert len(server.recorder.received) == 1

        with pytest.raises(DeliveryError) as wrong:
            _send(SmtpTransport.from_url(server.url(userinfo="mailer:wrong", query=f"starttls=1&cafile={cert}")))
        assert not wrong.value.permanent  # a configuration problem must not burn the issue
        with pytest.raises(DeliveryError) as untrusted:
            _send(SmtpTransport.from_url(server.url(userinfo="mailer:s3cret%2F%2B", query="starttls=1")))
        assert not untrusted.value.permanent
        assert len(server.recorder.received) == 1


def test_smtps_connects_with_tls_from_the_first_byte(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    with smtp_server(ssl_context=server_tls) as server:
        _send(SmtpTransport.from_url(server.url("smtps", query=f"cafile={cert}")), count=3)
        assert len(server.recorder.received) == 3


def test_the_send_rate_is_honoured() -> None:
    with smtp_server() as server:
        transport = SmtpTransport.from_url(server.url(), rate=20)
        started = time.monotonic()
        _send(transport, count=10)
        assert time.monotonic() - started >= 0.4  # 10 messages at 20/s: nine gaps of 50 ms
        assert len(server.recorder.received) == 10


def test_a_slow_server_is_abandoned_at_the_deadline() -> None:
    with smtp_server(SmtpRecorder(data_delay=3)) as server:
        transport = SmtpTransport.from_url(server.url(query="timeout=0.5"))
        with pytest.raises(DeliveryError) as error:
            _send(transport)  # the server would accept after 3 s: an error means the deadline ended the wait
        assert not error.value.permanent and "0.5s" in str(error.value)


def test_an_unreachable_server_is_a_temporary_failure() -> None:
    with smtp_server() as server:
        url = server.url()
    with pytest.raises(DeliveryError) as error:
        _send(SmtpTransport.from_url(url))
    assert not error.value.permanent


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", ("mail.example", 25, None, None, False, False)),
        ("smtp://u%40x:p%3Aw@mail.example:2525?starttls=1", ("mail.example", 2525, "u@x", "p:w", False, True)),
        ("smtp://mail.example?starttls=1", ("mail.example", 587, None, None, False, True)),
        ("smtps://u:p@mail.example", ("mail.example", 465, "u", "p", True, False)),
    ],
)
def test_smtp_urls_are_read(url: str, expected: tuple[object, ...]) -> None:
    config = parse_url(url)
    assert (config.host, config.port, config.username, config.password, config.use_tls, config.starttls) == expected


@pytest.mark.parametrize(
    "url",
    ["http://mail.example", "smtp://", "smtps://mail.example?starttls=1", "smtp://m.example?bogus=1", "smtp://m:x"],
)
def test_bad_smtp_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidSmtpUrl):
        parse_url(url)


def test_leases_outlive_a_delivery_waiting_for_the_send_rate(shop: Shop, clock: FakeClock, smtp: SmtpServer) -> None:
    shop.draft("welcome")
    shop.sequence("welcome", WELCOME)
    shop.subscriber("anna@example.com")
    shop.subscriber("boris@example.com")
    from tests.support.drive import advance

    advance(shop.stepwise)
    # The second waits 0.5 s; each run_once records for up to two ticks, so both turns end before it is sent.
    deliverer = shop.deliverer(SmtpTransport.from_url(smtp.url(), rate=2), tick=0.05)

    async def run() -> list[int]:
        await deliverer.run_once()
        before = {row.id: row.available_at for row in shop.outbox()}
        clock.advance(minutes=4)  # past half the lease while a delivery is still queued
        await deliverer.run_once()
        after = {row.id: row.available_at for row in shop.outbox()}
        await deliverer.drain()
        await deliverer.close()
        return [after[key] - before[key] for key in before.keys() & after.keys()]

    grown = asyncio.run(run())
    assert grown and all(delta >= timedelta(minutes=4).total_seconds() * 1e6 for delta in grown)
    assert {i.status for i in shop.issues()} == {"sent"}


def test_a_connection_the_server_closed_while_idle_is_replaced_without_a_failure() -> None:
    from aiosmtpd.controller import Controller

    from tests.integration.delivery.servers import free_port

    recorder = SmtpRecorder()
    port = free_port()
    first = Controller(recorder, hostname="127.0.0.1", port=port)
    second = Controller(recorder, hostname="127.0.0.1", port=port)
    transport = SmtpTransport.from_url(f"smtp://127.0.0.1:{port}")

    async def run() -> None:
        await transport.send(_message())  # type: ignore[arg-type]
        await asyncio.to_thread(first.stop)  # the server goes away while the connection idles in the pool
        await asyncio.to_thread(second.start)
        await transport.send(_message())  # type: ignore[arg-type]
        await transport.close()

    first.start()
    try:
        asyncio.run(run())
    finally:
        second.stop()
    assert len(recorder.received) == 2
    assert len({r.session for r in recorder.received}) == 2
