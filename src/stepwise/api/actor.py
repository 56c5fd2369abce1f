"""A pure ASGI middleware that opens the audit log's actor box for each request (services/audit.py).

It runs in the request's own task, so the box it sets is seen by the endpoint and by every
dependency, including the sync ones FastAPI runs in worker threads (they share the box object).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from stepwise.services.audit import actor_scope


class ActorScope:
    """Wrap the application: one actor box per HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with actor_scope():
            await self.app(scope, receive, send)
