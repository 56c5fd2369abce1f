"""Emails per second handed to a local SMTP server (SPEC §12: at least 1,000 per second).

`emails_per_second` plants queued issues and their outbox rows on an empty database, then times
the real delivery loop (claim, render, track, build MIME, send over SMTP, record) until the outbox
is empty. `transport_per_second` times the SMTP transport alone. Without an SMTP URL both start
an aiosmtpd sink (`python -m aiosmtpd`, a test dependency) in a separate process, so that the
server does not share this process's interpreter.

    python -m stepwise.bench.email_throughput --count 5000 [--database postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from stepwise.bench.child_server import child_server, free_port
from stepwise.delivery.message import Outgoing, build
from stepwise.delivery.smtp import SmtpTransport

UNLIMITED = 1e9  # emails per second: no rate limit while measuring


@contextmanager
def smtp_sink(kind: str = "aiosmtpd") -> Iterator[str]:
    """Run an SMTP sink in a child process (aiosmtpd, or the minimal one); yield its smtp:// URL."""
    port = free_port()
    if kind == "aiosmtpd":
        command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"]
    else:
        serve = f"from stepwise.bench.email_throughput import _serve_minimal_sink as s; s({port})"
        command = [sys.executable, "-c", serve]
    with child_server(command, port, f"{kind} sink (is aiosmtpd installed?)"):
        yield f"smtp://127.0.0.1:{port}"


def _serve_minimal_sink(port: int) -> None:
    """Speak just enough SMTP to accept every message (a sink faster than aiosmtpd)."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        in_data = False
        while line := await reader.readline():
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    writer.write(b"250 OK\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                in_data = True
                writer.write(b"354 go on\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 OK\r\n")
        writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(session, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def _message(n: int) -> Outgoing:
    return build(
        issue_id=f"{n:032x}",
        sender_email="bench@example.com",
        sender_name="Bench",
        reply_to=None,
        recipient=f"user{n}@bench.example",
        subject=f"Hello user {n}",
        html="<p>Hello!</p>" * 20,
        text="Hello!\n" * 20,
        unsubscribe_url=f"http://127.0.0.1:8000/t/u/{n}",
        list_id="<bench.bench.127.0.0.1>",
        base_url="http://127.0.0.1:8000",
        date=datetime.now(UTC),
    )


async def transport_per_second(smtp_url: str, *, count: int = 5000, pool: int = 8) -> dict[str, Any]:
    """Time `count` prebuilt messages through the SMTP transport alone."""
    transport = SmtpTransport.from_url(smtp_url + ("&" if "?" in smtp_url else "?") + f"pool={pool}", rate=UNLIMITED)
    messages = [_message(n) for n in range(count)]
    slots = asyncio.Semaphore(pool * 2)

    async def send(message: Outgoing) -> None:
        async with slots:
            await transport.send(message)

    started, cpu = time.perf_counter(), time.process_time()
    try:
        await asyncio.gather(*(send(m) for m in messages))
    finally:
        await transport.close()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "emails": count,
        "seconds": round(seconds, 3),
        "emails_per_second": round(count / seconds, 1),
        "client_cpu_ms_per_email": round(cpu * 1000 / count, 3),
    }


async def emails_per_second(
    database_url: str,
    smtp_url: str,
    *,
    count: int = 5000,
    batch_size: int = 500,
    concurrency: int = 16,
    pool: int = 8,
    workers: int = 1,
    policy: bool = False,
) -> dict[str, Any]:
    """Plant `count` queued emails and time the delivery loop until all are recorded as sent.

    With `workers` > 1, that many processes drain the same outbox (the scale-out setup of SPEC §10);
    the clock starts when all of them are ready. With `policy`, the account has two frequency caps
    and a send window in force (SPEC §21), generous enough that every email goes: the figure is
    the cost of checking them; 20 segments are in force too (SPEC §21), whose activity ones each
    send moves.
    """
    from stepwise.bootstrap import build as build_app
    from stepwise.config import Settings

    app = build_app(Settings(database_url=database_url, send_rate=UNLIMITED))
    try:
        _plant(app, count, policy=policy)
    finally:
        app.close()
    options = (database_url, smtp_url, batch_size, concurrency, pool)
    if workers == 1:
        started = time.perf_counter()
        finished, cpu = await _drain(*options)
        seconds = finished - started
    else:
        seconds, cpu = await asyncio.to_thread(_drain_in_processes, workers, options)
    app = build_app(Settings(database_url=database_url), migrate=False)
    try:
        sent = _count_sent(app)
    finally:
        app.close()
    return {
        "emails": count,
        "sent": sent,
        "seconds": round(seconds, 3),
        "emails_per_second": round(sent / seconds, 1),
        "client_cpu_ms_per_email": round(cpu * 1000 / max(sent, 1), 3),
        "database": "postgresql" if database_url.startswith("postgres") else "sqlite",
        "workers": workers,
        "batch_size": batch_size,
        "concurrency": concurrency,
        "smtp_connections_per_worker": pool,
        "policy": policy,
    }


async def _drain(database_url: str, smtp_url: str, batch_size: int, concurrency: int, pool: int) -> tuple[float, float]:
    """Run one delivery loop until the outbox is empty; return (perf_counter at the end, CPU seconds)."""
    from stepwise.bootstrap import build as build_app
    from stepwise.config import Settings
    from stepwise.services.delivery_store import DatabaseDeliveryStore
    from stepwise.worker.delivery import Deliverer
    from stepwise.worker.runner import tune_interpreter

    settings = Settings(database_url=database_url, send_rate=UNLIMITED)
    app = build_app(settings, migrate=False)
    tune_interpreter()  # as a worker process does
    transport = SmtpTransport.from_url(smtp_url + ("&" if "?" in smtp_url else "?") + f"pool={pool}", rate=UNLIMITED)
    deliverer = Deliverer(
        DatabaseDeliveryStore(app.db),
        transport,
        app.signer,
        settings.base_url,
        app.clock,
        batch_size=batch_size,
        concurrency=concurrency,
    )
    cpu = time.process_time()
    try:
        while await deliverer.run_once():
            pass
        await deliverer.drain()
    finally:
        await deliverer.close()
        app.close()
    return time.perf_counter(), time.process_time() - cpu


def _drain_in_processes(workers: int, options: tuple[Any, ...]) -> tuple[float, float]:
    """Drain the outbox with several processes started together; return (wall seconds, total CPU seconds)."""
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Barrier(workers + 1), context.Event(), context.Queue()
    processes = [context.Process(target=_worker_process, args=(options, ready, go, results)) for _ in range(workers)]
    for process in processes:
        process.start()
    ready.wait(60)
    started = time.time()
    go.set()
    outcomes = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(10)
    return max(end for end, _ in outcomes) - started, sum(cpu for _, cpu in outcomes)


def _worker_process(options: tuple[Any, ...], ready: Any, go: Any, results: Any) -> None:
    ready.wait(60)
    go.wait(60)
    wall_offset = time.time() - time.perf_counter()  # report the end on the wall clock the parent shares
    end, cpu = asyncio.run(_drain(*options))
    results.put((end + wall_offset, cpu))


POLICY = {
    "caps": [{"emails": 1000, "per": "1d"}, {"emails": 5000, "per": "7d"}],
    "send_window": {"from": "00:00", "to": "23:59", "timezone": "subscriber"},
}


def _plant(app: Any, count: int, *, policy: bool = False) -> None:
    """Write an account, a draft with a link, `count` subscribers, queued issues and their outbox rows."""
    from stepwise.services import drafts as draft_service
    from stepwise.services.accounts import create_account
    from stepwise.services.drafts import DraftBody
    from stepwise.storage.bench_mail import plant_queued_emails
    from stepwise.storage.codec import to_us

    now = app.clock()
    account, _ = create_account(app.db, "bench", "UTC", now)
    draft_service.put(
        app.db,
        account.id,
        "welcome",
        DraftBody(
            subject="Welcome, {{ data.base.firstName }}",
            html='<p>Hello {{ data.base.firstName }}!</p><p><a href="https://example.com/offer">Offer</a></p>',
            from_email="bench@example.com",
            from_name="Bench",
        ),
        now,
    )
    if policy:
        from stepwise.bench.policy_workload import define_segments
        from stepwise.services import settings

        settings.put(app.db, account.id, settings.AccountSettings.model_validate(POLICY), now)
        define_segments(app, account.id)  # 20 segments in force: each send updates the activity ones
    with app.db.write() as conn:
        plant_queued_emails(conn, account.id, "welcome", {"base": {"firstName": "Anna"}}, count, to_us(now))


def _count_sent(app: Any) -> int:
    from stepwise.storage.bench_mail import count_sent

    with app.db.read() as conn:
        return count_sent(conn)


def main(argv: list[str] | None = None) -> None:
    """Print the delivery figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument(
        "--database", help="a PostgreSQL server URL: a scratch database is made there (default: SQLite)"
    )
    parser.add_argument("--smtp", help="an SMTP server to send to (default: a sink in a child process)")
    parser.add_argument("--sink", choices=["aiosmtpd", "minimal"], default="aiosmtpd", help="which sink to start")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pool", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="worker processes draining the outbox together")
    args = parser.parse_args(argv)
    from stepwise.bench.scratch import scratch_database

    with scratch_database(args.database) as database, _sink_or(args.smtp, args.sink) as smtp_url:
        loop = asyncio.run(
            emails_per_second(
                database,
                smtp_url,
                count=args.count,
                batch_size=args.batch_size,
                concurrency=args.concurrency,
                pool=args.pool,
                workers=args.workers,
            )
        )
        alone = asyncio.run(transport_per_second(smtp_url, count=args.count, pool=args.pool))
    print(json.dumps({"sink": args.smtp or args.sink, "delivery_loop": loop, "transport_only": alone}, indent=2))


@contextmanager
def _sink_or(url: str | None, kind: str) -> Iterator[str]:
    if url:
        yield url
        return
    with smtp_sink(kind) as started:
        yield started


if __name__ == "__main__":
    main()
