"""Webhook deliveries per second to a local receiver (SPEC §21: at least 2,000 per second).

`webhooks_per_second` plants messages of one endpoint for distinct subscribers (so the outbox's
per-subscriber order does not serialise them), then times the real webhook loop (claim, read bodies,
sign, POST over a kept-alive pinned connection, write `accepted_at` after each 2xx, record) until
the outbox is empty. The receiver is a minimal HTTP/1.1 server in its own process, replying 200 to
everything, as a fast receiver would.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select

from stepwise.bench.child_server import child_server, free_port


@contextmanager
def hook_receiver() -> Iterator[str]:
    """Run the minimal receiver in a child process; yield its base URL."""
    port = free_port()
    serve = f"from stepwise.bench.webhook_throughput import _serve_receiver as s; s({port})"
    with child_server([sys.executable, "-c", serve], port, "webhook receiver"):
        yield f"http://127.0.0.1:{port}"


def _serve_receiver(port: int) -> None:
    """Answer every request `200 ok`, keeping connections alive."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(session, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def _plant(database_url: str, receiver: str, count: int) -> None:
    from stepwise.bootstrap import build as build_app
    from stepwise.config import Settings
    from stepwise.ids import new_id
    from stepwise.services import webhooks
    from stepwise.services.accounts import create_account
    from stepwise.storage import webhooks as webhook_store

    app = build_app(Settings(database_url=database_url))
    try:
        now = app.clock()
        account, _ = create_account(app.db, "hooks", "UTC", now)
        webhooks.put(app.db, app.secret, account.id, "bench", receiver + "/in", ["email.sent"], None, now)
        with app.db.read() as conn:
            [endpoint] = webhook_store.of_account(conn, account.id)
        at_us = int(now.timestamp() * 1_000_000)
        for start in range(0, count, 5000):
            with app.db.write() as conn:
                webhook_store.queue(
                    conn,
                    [
                        webhook_store.NewMessage(
                            account.id,
                            endpoint.id,
                            n + 1,
                            f"msg_{new_id()}",
                            "email.sent",
                            f'{{"bench":true,"n":{n}}}',
                            at_us,
                        )
                        for n in range(start, min(count, start + 5000))
                    ],
                )
    finally:
        app.close()


async def _drain(database_url: str, batch_size: int) -> float:
    from stepwise.bootstrap import build as build_app
    from stepwise.config import Settings
    from stepwise.delivery.hook_client import HookClient
    from stepwise.services.webhook_delivery import DatabaseWebhookStore
    from stepwise.worker.runner import tune_interpreter
    from stepwise.worker.webhooks import WebhookDeliverer

    app = build_app(Settings(database_url=database_url, allow_private_urls=True), migrate=False)
    tune_interpreter()
    loop = WebhookDeliverer(
        DatabaseWebhookStore(app.db, app.secret), HookClient(allow_private=True), app.clock, batch_size=batch_size
    )
    cpu = time.process_time()
    try:
        while await loop.run_once():
            pass
    finally:
        await loop.close()
        app.close()
    return time.process_time() - cpu


def webhooks_per_second(
    database_url: str, receiver: str, *, count: int = 10_000, batch_size: int = 500
) -> dict[str, Any]:
    """Plant `count` messages and time one webhook loop until every one is delivered."""
    from stepwise.bootstrap import build as build_app
    from stepwise.config import Settings
    from stepwise.storage import schema_webhooks as tw

    _plant(database_url, receiver, count)
    started = time.perf_counter()
    cpu = asyncio.run(_drain(database_url, batch_size))
    seconds = time.perf_counter() - started
    app = build_app(Settings(database_url=database_url), migrate=False)
    try:
        with app.db.read() as conn:
            stmt = select(func.count()).where(tw.webhook_messages.c.status == "delivered")
            delivered = int(conn.execute(stmt).scalar_one())
    finally:
        app.close()
    return {
        "messages": count,
        "delivered": delivered,
        "seconds": round(seconds, 3),
        "webhooks_per_s": round(delivered / seconds, 1),
        "client_cpu_ms_per_webhook": round(cpu * 1000 / max(delivered, 1), 3),
        "batch_size": batch_size,
    }
