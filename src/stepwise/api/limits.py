"""Request body size limits (SPEC §12).

Ordinary requests are read into memory only up to the limit; a larger body gets 413 before the
application sees it. Upload paths stream (their handlers count what they read) and are checked
against the larger upload limit by Content-Length.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stepwise.api.errors import error_response


class BodyLimit:
    def __init__(self, app: ASGIApp, *, default: int, uploads: int, upload_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.default = default
        self.uploads = uploads
        self.upload_prefixes = upload_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        upload = scope.get("path", "").startswith(self.upload_prefixes)
        limit = self.uploads if upload else self.default
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(limit, scope, receive, send)
                return
        if upload:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._refuse(limit, scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "too_large", f"the request body is larger than {limit} bytes")
        await response(scope, receive, send)
