"""Delivery guarantees: the sent fact survives a database outage, leases fence, slow servers slow only themselves."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from stepwise.delivery.message import Outgoing
from stepwise.delivery.smtp import SmtpTransport
from stepwise.delivery.transports import Accepted
from tests.integration.delivery.helpers import Shop, deliver
from tests.integration.delivery.servers import HttpTarget, SmtpRecorder, SmtpServer, smtp_server
from tests.support.clock import FakeClock
from tests.support.databases import admin_url
from tests.support.drive import advance

WELCOME = [{"when": [{"event": "subscriber_added"}], "do": [{"action": "send_email", "draft": "welcome"}]}]


class Outage:
    """Closes a PostgreSQL database to every connection for a while, then opens it again."""

    def __init__(self, database_url: str) -> None:
        self.name = database_url.rsplit("/", 1)[1]
        self.admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
        self.over = threading.Event()

    def begin(self, seconds: float) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": self.name},
            )
        threading.Timer(seconds, self.end).start()

    def end(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))
        self.over.set()


@pytest.fixture
def outage(database_url: str) -> Iterator[Outage]:
    assert database_url.startswith("postgresql"), "a database outage is a PostgreSQL matter"
    control = Outage(database_url)
    yield control
    control.end()
    control.admin.dispose()


# PostgreSQL only: SQLite is a file in the same process, it has no outage to survive.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_sent_fact_is_written_after_a_database_outage(
    shop: Shop, smtp: SmtpServer, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    shop.draft("welcome")
    shop.sequence("welcome", WELCOME)
    shop.subscriber("anna@example.com")
    advance(shop.stepwise)
    # The database goes away while the server is accepting the message, before the fact is written.
    smtp.recorder.on_data = lambda: outage.begin(1.5)

    with caplog.at_level(logging.ERROR, logger="stepwise.delivery"):
        deliver(shop.deliverer(SmtpTransport.from_url(smtp.url())))

    assert outage.over.is_set()
    assert "recording an accepted message failed; retrying" in caplog.text  # held back until written
    assert len(smtp.recorder.received) == 1
    [issue] = shop.issues()
    assert issue.status == "sent" and shop.outbox() == []
    assert [e["kind"] for e in shop.timeline("email_")] == ["email_sent"]


class DiesAfterRecordingAcceptance:
    """An SMTP transport whose process dies right after the server's 250 has been recorded."""

    name = "smtp"

    def __init__(self, inner: SmtpTransport) -> None:
        self.inner = inner

    async def send(self, message: Outgoing, accepted: Accepted | None = None) -> None:
        async def then_die() -> None:
            assert accepted is not None
            await accepted()
            await asyncio.Event().wait()  # nothing after this point runs: the process is gone

        await self.inner.send(message, then_die)

    async def close(self) -> None:
        await self.inner.close()


def test_a_message_accepted_before_its_worker_died_is_recorded_and_not_sent_again(
    shop: Shop, clock: FakeClock, smtp: SmtpServer
) -> None:
    shop.draft("welcome")
    shop.sequence("welcome", WELCOME)
    shop.subscriber("anna@example.com")
    advance(shop.stepwise)

    async def die_after_the_250() -> None:
        dying = shop.deliverer(DiesAfterRecordingAcceptance(SmtpTransport.from_url(smtp.url())))
        await dying.run_once()
        while shop.outbox()[0].accepted_at is None:
            await asyncio.sleep(0.02)
        await dying.close()  # its connections go; asyncio.run cancels the stuck delivery, nothing more is written

    asyncio.run(die_after_the_250())
    [row] = shop.outbox()
    assert len(smtp.recorder.received) == 1 and row.lease_token is not None
    clock.advance(minutes=2)  # the dead worker's lease ends

    with smtp_server() as other:
        deliver(shop.deliverer(SmtpTransport.from_url(other.url())))
        assert other.recorder.received == []  # recorded as sent, not sent again

    [issue] = shop.issues()
    assert issue.status == "sent" and issue.sent_at == row.accepted_at and issue.subject == "Hello"
    assert shop.outbox() == []
    assert [(e["kind"], e.get("recovered")) for e in shop.timeline("email_")] == [("email_sent", True)]
    [run] = shop.runs()
    assert run.status == "completed"


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_holder(shop: Shop, clock: FakeClock) -> None:
    shop.draft("welcome")
    shop.sequence("welcome", WELCOME)
    shop.subscriber("anna@example.com")
    advance(shop.stepwise)
    with smtp_server(SmtpRecorder(data_delay=1.0)) as slow, smtp_server() as fast:
        stale = shop.deliverer(SmtpTransport.from_url(slow.url()))
        fresh = shop.deliverer(SmtpTransport.from_url(fast.url()))

        async def run() -> None:
            await stale.run_once()  # leased, and stuck at the slow server
            assert stale.running == 1
            clock.advance(minutes=6)  # the lease ends without being renewed (the worker hangs)
            await asyncio.to_thread(deliver, fresh)  # another worker takes the row and delivers it
            await stale.drain()  # the stale worker finally hears back and tries to record
            await stale.close()

        asyncio.run(run())
        assert len(fast.recorder.received) == 1 and len(slow.recorder.received) == 1

    [issue] = shop.issues()
    assert issue.status == "sent"
    assert [e["kind"] for e in shop.timeline("email_")] == ["email_sent"]  # recorded once, by the holder


def test_a_slow_smtp_server_does_not_hold_up_url_calls(shop: Shop, http_target: HttpTarget) -> None:
    shop.draft("welcome")
    shop.sequence("welcome", WELCOME)
    shop.sequence(
        "hooks", [{"when": [{"event": "subscriber_added"}], "do": [{"action": "call_url", "url": http_target.base}]}]
    )
    for name in ("anna", "boris", "vera"):
        shop.subscriber(f"{name}@example.com")
    advance(shop.stepwise)

    with smtp_server(SmtpRecorder(data_delay=1.0)) as slow:
        deliverer = shop.deliverer(SmtpTransport.from_url(slow.url()))

        async def run() -> int:
            while len(shop.timeline("url_called")) < 3:
                await deliverer.run_once()
            mailed = len(slow.recorder.received)  # the URL calls are done: how many emails the server had taken
            await deliverer.drain()
            await deliverer.close()
            return mailed

        mailed_before_calls_done = asyncio.run(run())
        # Each email takes the server a second; the calls did not wait for them to finish.
        assert mailed_before_calls_done < 3, "URL calls waited for the SMTP server"
        assert len(slow.recorder.received) == 3
    assert {i.status for i in shop.issues()} == {"sent"}
