"""HTTP serving with limits: slow or idle clients cannot hold the server (SPEC §12, issue "Hardening").

uvicorn's HTTP/1.1 protocol (h11) keeps a connection that sends a partial request header forever,
so a thousand such connections exhaust the file limit. `GuardedH11Protocol` adds, per connection:

- a **header deadline**: the request line and headers must arrive within `header_timeout` seconds of
  the first byte (or of the connection, or of the previous response); otherwise 408 and close;
- a **body deadline**: while a request body is being read, some of it must arrive every
  `body_timeout` seconds (the gap between reads, as in common web servers); otherwise 408 and close;
- a **connection cap** below the process's file limit: at the cap, the connection that has waited
  longest without a request in progress (a partial header or an idle keep-alive) is closed to make
  room; if every connection has a request in progress, the new one gets a 503 and is closed.

`RequestLimit` caps the requests in progress (503 with Retry-After beyond it), and uvicorn's own
keep-alive timeout closes idle connections between requests. `create_app` assembles the whole
application: the API, the public pages and the UI.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from stepwise.api.app import API_PREFIX, create_api, install_catch_all, install_operations
from stepwise.api.errors import error_response
from stepwise.api.limits import BodyLimit
from stepwise.config import Settings
from stepwise.public import forms as public_forms
from stepwise.public import tracking
from stepwise.services.context import Context
from stepwise.web import install_ui


def create_app(stepwise: Context) -> FastAPI:
    """Build the ASGI application for one Stepwise instance: API, health and metrics, public pages, UI."""
    app = create_api(stepwise)
    app.include_router(tracking.router)
    app.include_router(public_forms.router)
    install_operations(app, stepwise)
    install_catch_all(app)
    install_ui(app, stepwise)
    settings = stepwise.settings
    app.add_middleware(
        BodyLimit,
        default=settings.max_body_bytes,
        uploads=settings.max_upload_bytes,
        upload_prefixes=(f"{API_PREFIX}/imports", "/ui/imports"),
    )
    return app


# File descriptors kept free for the database, the worker, logs and the listening socket.
FD_RESERVE = 128


@dataclass(frozen=True)
class HttpLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: int = 5
    max_connections: int = 1000
    max_requests: int = 200

    @classmethod
    def of(cls, settings: Settings) -> HttpLimits:
        return cls(
            header_timeout=settings.header_timeout,
            body_timeout=settings.body_timeout,
            keep_alive_timeout=settings.keep_alive_timeout,
            max_connections=settings.max_connections,
            max_requests=settings.max_requests,
        )

    def backlog(self) -> int:
        """Connections accepted in one burst (before any is looked at): bounded so a burst cannot hit the file limit."""
        return max(64, min(2048, _file_limit() // 8))

    def connection_cap(self) -> int:
        """The configured cap, lowered to fit the process's open-file limit with room for one burst."""
        return max(16, min(self.max_connections, _file_limit() - FD_RESERVE - self.backlog()))


def _file_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else int(soft)


def _raw_response(status: int, reason: str, code: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        f"connection: close\r\n{extra}\r\n"
    )
    return head.encode("ascii") + body


TIMEOUT_408 = _raw_response(
    408, "Request Timeout", "request_timeout", "the request did not arrive in time; the connection is closed"
)
BUSY_503 = _raw_response(
    503,
    "Service Unavailable",
    "too_many_connections",
    "the server has too many connections; retry shortly",
    "retry-after: 1\r\n",
)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines and a connection cap."""

    limits: ClassVar[HttpLimits] = HttpLimits()
    cap: ClassVar[int] = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline: asyncio.TimerHandle | None = None
        self.waiting_since = time.monotonic()
        self.body_seen = 0

    @classmethod
    def configured(cls, limits: HttpLimits) -> type[GuardedH11Protocol]:
        """A protocol class bound to these limits (uvicorn instantiates it per connection)."""
        return type("GuardedH11Protocol", (cls,), {"limits": limits, "cap": limits.connection_cap()})

    # -- connection life --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        crowded = len(self.connections) >= self.cap
        super().connection_made(transport)
        if crowded and not self._make_room():
            transport.write(BUSY_503)
            transport.close()
            return
        self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def in_progress(self) -> bool:
        """True while a request's headers have arrived and its response is not complete."""
        return self.cycle is not None and not self.cycle.response_complete

    def _make_room(self) -> bool:
        """Close the connection that has waited longest without a request in progress."""
        idle = [c for c in self.connections if c is not self and isinstance(c, GuardedH11Protocol)]
        idle = [c for c in idle if not c.in_progress() and not c.transport.is_closing()]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.waiting_since)
        oldest._disarm()
        oldest.transport.close()
        return True

    # -- deadlines --------------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self.deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _expired(self) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        if self.in_progress() and self.flow.read_paused:  # we stopped reading: the application is behind
            self._arm(self.limits.body_timeout)
            return
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.disconnected = True
            self.transport.write(TIMEOUT_408)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        waiting = not self.in_progress()
        before = self.cycle
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self.cycle is not before and self.in_progress():  # headers complete: a request started
            self.body_seen = 0
            self._after_headers()
        elif self.in_progress():  # more of a body
            self._after_headers()
        elif waiting and self.deadline is None:  # first bytes of a request after an idle keep-alive
            self.waiting_since = time.monotonic()
            self._arm(self.limits.header_timeout)

    def _after_headers(self) -> None:
        if self.cycle.more_body and self.conn.their_state is h11.SEND_BODY:
            self._arm(self.limits.body_timeout)  # each read restarts the body deadline
        else:
            self._disarm()  # the whole request is in; the application takes its time

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.waiting_since = time.monotonic()
        self._disarm()  # uvicorn's keep-alive timer now limits the idle time


class RequestLimit:
    """ASGI middleware: at most `limit` requests in progress; beyond it a 503 with Retry-After."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            response = error_response(
                503,
                "overloaded",
                "the server is handling too many requests; retry shortly",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


def server_config(app: ASGIApp, *, host: str, port: int, limits: HttpLimits, **options: Any) -> uvicorn.Config:
    """uvicorn settings with the guarded protocol and the limits applied."""
    return uvicorn.Config(
        RequestLimit(app, limit=limits.max_requests),
        host=host,
        port=port,
        http=GuardedH11Protocol.configured(limits),
        timeout_keep_alive=limits.keep_alive_timeout,
        backlog=limits.backlog(),
        **options,
    )
