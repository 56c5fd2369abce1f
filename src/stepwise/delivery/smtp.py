"""The SMTP transport: a small pool of reused aiosmtplib connections, a send rate, a deadline (SPEC §6.2).

`STEPWISE_SMTP_URL` is `smtp://user:pass@host:port` (add `?starttls=1` to require STARTTLS) or
`smtps://…` (TLS from the first byte). Optional query parameters: `pool` (connections, default 8),
`timeout` (overall seconds per message, default 30), `helo` (the EHLO name), `verify=0` (accept
any certificate; for test servers only), `cafile` (a CA bundle to trust), `serial=0` (see below).

Replies map to DeliveryError: 4xx and network trouble are temporary (the outbox retries them with
backoff); 5xx is permanent; 5xx to RCPT also marks the recipient bounced.

Messages travel side by side on the pooled connections up to the end of their data; the final dot that
hands a message over, and the caller's record that the server accepted it, happen one message at a
time. So a crash leaves at most one message accepted but unrecorded (SPEC §12). A server that takes
longer than HANDOVER_WAIT to answer one dot does not hold up the others: they go on, and that message
is recorded when its answer comes (a crash meanwhile could repeat it too). The cost is one server
round trip plus one small database write per message in sequence: well over 1,000 messages per
second to a local relay, but a distant server with a slow answer caps the rate; `serial=0` lets the
dots overlap (faster to distant servers; a crash may then repeat up to `pool` messages).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import time
from dataclasses import dataclass

import aiosmtplib

from stepwise.delivery.message import Outgoing
from stepwise.delivery.transports import Accepted, DeliveryError
from stepwise.domain.smtp_config import InvalidSmtpUrl, SmtpConfig, parse_url

__all__ = [
    "HANDOVER_WAIT",
    "InvalidSmtpUrl",
    "RateLimiter",
    "SmtpConfig",
    "SmtpReplyError",
    "SmtpTransport",
    "parse_url",
]

log = logging.getLogger("stepwise.delivery.smtp")
_LINE_BREAK = re.compile(rb"\r\n|\n|\r")
_LEADING_DOT = re.compile(rb"(?m)^\.")
HANDOVER_WAIT = 1.0  # seconds one message may hold the handover while its server thinks


class RateLimiter:
    """Spaces calls to `rate` per second with a small burst (GCRA); shared by the tasks of one loop."""

    def __init__(self, rate: float, burst: int | None = None) -> None:
        self.interval = 1.0 / rate
        self.burst = burst if burst is not None else max(1, int(rate / 20))
        self._tat = 0.0  # the theoretical arrival time of the next call

    def reserve(self) -> float:
        """Reserve the next slot; return how long the caller must wait for it."""
        now = time.monotonic()
        tat = max(self._tat, now)
        self._tat = tat + self.interval
        return max(0.0, tat - (self.burst - 1) * self.interval - now)

    async def wait(self) -> None:
        """Sleep until this call's slot comes."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    sent: int = 0
    idle_since: float = 0.0


class _Pool:
    """Idle connections and a cap on open ones, bound to one event loop."""

    def __init__(self, size: int) -> None:
        self.slots = asyncio.Semaphore(size)
        self.handover = asyncio.Lock()  # one final dot (and the record of its acceptance) at a time
        self.waiting = 0  # messages whose data is out and whose final dot waits for the handover
        self.idle: list[_Connection] = []
        self.loop = asyncio.get_running_loop()

    def take(self, idle_seconds: float) -> _Connection | None:
        """Return a live idle connection (dropping stale ones), or None to open a new one."""
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if conn.client.is_connected and now - conn.idle_since < idle_seconds:
                return conn
            _drop(conn)
        return None

    def give_back(self, conn: _Connection) -> None:
        """Keep a connection for the next message."""
        conn.idle_since = time.monotonic()
        self.idle.append(conn)


def _drop(conn: _Connection) -> None:
    """Close a connection without talking to the server (it may be gone or mid-transaction)."""
    try:
        conn.client.close()
    except Exception:  # closing a dead transport must not fail a delivery
        log.debug("closing an SMTP connection failed", exc_info=True)


class SmtpReplyError(DeliveryError):
    """The server refused a step of the transaction; `reusable` tells whether the connection is still good."""

    def __init__(self, message: str, *, permanent: bool, bounce: bool, reusable: bool) -> None:
        super().__init__(message, permanent=permanent, bounce=bounce)
        self.reusable = reusable


class _Stale(Exception):
    """A reused connection turned out to be closed before the transaction began."""


class SmtpTransport:
    """Sends messages over SMTP through a pool of reused connections."""

    name = "smtp"

    def __init__(self, config: SmtpConfig, *, rate: float = 100.0) -> None:
        self.config = config
        self.limiter = RateLimiter(rate)
        self._pool: _Pool | None = None
        self._helo: str | None = config.helo
        self._tls_context = self._make_tls_context()

    @classmethod
    def from_url(cls, url: str, *, rate: float = 100.0) -> SmtpTransport:
        """Build the transport from STEPWISE_SMTP_URL."""
        return cls(parse_url(url), rate=rate)

    def _make_tls_context(self) -> ssl.SSLContext | None:
        if not (self.config.use_tls or self.config.starttls):
            return None
        context = ssl.create_default_context(cafile=self.config.cafile)
        if not self.config.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _pool_here(self) -> _Pool:
        # Connections belong to the loop that opened them; a new loop (a restarted worker) starts afresh.
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool.loop is not loop:
            if self._pool is not None:
                for conn in self._pool.idle:
                    _drop(conn)
            self._pool = _Pool(self.config.pool)
        return self._pool

    async def send(self, message: Outgoing, accepted: Accepted | None = None) -> None:
        """Hand one message to the server or raise DeliveryError; await `accepted` right after the server's 250."""
        if not message.raw:
            raise DeliveryError("the message has no MIME body", permanent=True)
        await self.limiter.wait()
        pool = self._pool_here()
        async with pool.slots:
            conn = pool.take(self.config.idle_seconds)
            reusable = False
            try:
                # The deadline covers connecting and the whole conversation, so a server that answers
                # one byte at a time cannot hold the delivery longer than `timeout`.
                async with asyncio.timeout(self.config.timeout) as deadline:
                    handover = _Handover(pool.handover if self.config.serial else None, deadline, accepted)
                    if conn is not None:
                        try:
                            await self._transaction(conn, message, handover, reused=True)
                        except _Stale:
                            _drop(conn)
                            conn = None
                    if conn is None:
                        conn = _Connection(await self._connect())
                        await self._transaction(conn, message, handover, reused=False)
                reusable = True
            except DeliveryError as exc:
                reusable = isinstance(exc, SmtpReplyError) and exc.reusable
                raise
            except TimeoutError as exc:
                message_ = f"the SMTP server did not finish within {self.config.timeout:g}s"
                raise DeliveryError(message_, permanent=False) from exc
            except aiosmtplib.SMTPResponseException as exc:  # connect, EHLO, STARTTLS or AUTH refused
                # Setup failures are the server's or the configuration's, never the recipient's: retry.
                raise DeliveryError(f"SMTP setup failed: {exc.code} {exc.message}", permanent=False) from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise DeliveryError(f"SMTP connection failed: {type(exc).__name__}: {exc}", permanent=False) from exc
            finally:
                if conn is not None:
                    if reusable and conn.client.is_connected and conn.sent < self.config.max_messages:
                        pool.give_back(conn)
                    else:
                        _drop(conn)

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._helo is None:
            self._helo = await asyncio.to_thread(socket.getfqdn)
        client = aiosmtplib.SMTP(
            hostname=self.config.host,
            port=self.config.port,
            username=self.config.username,
            password=self.config.password,
            use_tls=self.config.use_tls,
            start_tls=self.config.starttls,
            tls_context=self._tls_context,
            local_hostname=self._helo,
            timeout=self.config.timeout,
        )
        await client.connect()
        if client.is_ehlo_or_helo_needed:  # connect() greets only when STARTTLS or AUTH needed it
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()  # a server without ESMTP
        return client

    async def _transaction(self, conn: _Connection, message: Outgoing, handover: _Handover, *, reused: bool) -> None:
        client = conn.client
        utf8 = not (message.sender.isascii() and message.recipient.isascii())
        if utf8 and not client.supports_extension("smtputf8"):
            raise DeliveryError("the server does not accept non-ASCII addresses (SMTPUTF8)", permanent=True)
        options = ["SMTPUTF8"] if utf8 else []
        encoding = "utf-8" if utf8 else "ascii"
        # Commands are sent directly, without per-command timeouts: the caller's overall deadline
        # bounds the conversation, and message.build refused addresses with brackets, spaces or line breaks.
        try:
            reply = await client.execute_command(
                b"MAIL",
                b"FROM:<" + message.sender.encode(encoding) + b">",
                *(o.encode() for o in options),
                timeout=None,
            )
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
            if reused:
                raise _Stale from exc  # nothing was handed over yet: a fresh connection may try
            raise
        if reply.code != 250:
            await _reset(conn)
            raise _reply_error("MAIL FROM", reply, bounce=False, reusable=client.is_connected)
        reply = await client.execute_command(b"RCPT", b"TO:<" + message.recipient.encode(encoding) + b">", timeout=None)
        if reply.code not in (250, 251):
            await _reset(conn)
            raise _reply_error("RCPT TO", reply, bounce=reply.code >= 500, reusable=client.is_connected)
        reply = await client.execute_command(b"DATA", timeout=None)
        if reply.code != 354:
            await _reset(conn)
            raise _reply_error("DATA", reply, bounce=False, reusable=client.is_connected)
        if client.protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("the server closed the connection before the data")
        client.protocol.write(_data_block(message.raw))  # everything but the final dot: nothing is handed over yet
        await self._hand_over(conn, handover)

    async def _hand_over(self, conn: _Connection, handover: _Handover) -> None:
        """Send the final dot; on the 250, await the caller's record before the next message's dot."""
        client, lock = conn.client, handover.lock
        if lock is not None:
            pool = self._pool_here()
            pool.waiting += 1
            try:
                await lock.acquire()
            finally:
                pool.waiting -= 1
        try:
            reply_soon = asyncio.ensure_future(client.execute_command(b".", timeout=None))
            try:
                if lock is not None and not (await asyncio.wait({reply_soon}, timeout=HANDOVER_WAIT))[0]:
                    log.info("the SMTP server takes over %gs to answer a message; others go on", HANDOVER_WAIT)
                    lock.release()
                    lock = None
                reply = await reply_soon
            except BaseException:
                reply_soon.cancel()
                raise
            if reply.code != 250:
                # After a reply to the data the transaction is over and the connection is clean.
                raise _reply_error("DATA", reply, bounce=False, reusable=client.is_connected)
            conn.sent += 1
            # The message is out: its record must be written whatever the deadline, before the next dot.
            handover.deadline.reschedule(None)
            if handover.accepted is not None:
                await handover.accepted()
        finally:
            if lock is not None:
                lock.release()

    @property
    def waiting_to_hand_over(self) -> int:
        """How many messages have sent their data and wait for their turn to send the final dot."""
        pool = self._pool
        return pool.waiting if pool is not None else 0

    async def close(self) -> None:
        """Say QUIT on idle connections of this loop and forget them."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        same_loop = pool.loop is asyncio.get_running_loop()
        for conn in pool.idle:
            if same_loop and conn.client.is_connected:
                try:
                    await asyncio.wait_for(conn.client.quit(), 2)
                    continue
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    pass
            _drop(conn)


@dataclass(frozen=True, slots=True)
class _Handover:
    """What a transaction needs at its final dot: the transport's lock (None: not serial), deadline, record."""

    lock: asyncio.Lock | None
    deadline: asyncio.Timeout
    accepted: Accepted | None


def _data_block(raw: bytes) -> bytes:
    """The message as DATA carries it, without the final dot: CRLF line ends, leading dots doubled."""
    block = _LINE_BREAK.sub(b"\r\n", raw)
    if not block.endswith(b"\r\n"):
        block += b"\r\n"
    return _LEADING_DOT.sub(b"..", block)


async def _reset(conn: _Connection) -> None:
    """Abort the envelope with RSET so the connection can carry the next message; drop it if that fails."""
    if not conn.client.is_connected:
        return
    try:
        await conn.client.rset()
    except (aiosmtplib.SMTPException, OSError):
        _drop(conn)


def _reply_error(
    stage: str, reply: aiosmtplib.SMTPResponseException | aiosmtplib.SMTPResponse, *, bounce: bool, reusable: bool
) -> SmtpReplyError:
    permanent = reply.code >= 500
    return SmtpReplyError(
        f"{stage} refused: {reply.code} {reply.message}",
        permanent=permanent,
        bounce=permanent and bounce,
        # 421 means the server is closing the channel; any other reply leaves a usable connection.
        reusable=reusable and reply.code != 421,
    )
