"""The `call_url` action: build the request from the definition, call it safely (SPEC §3).

Every call has one overall deadline (default 10 s) covering DNS, connecting, redirects, sending
and reading: per-phase timeouts alone would let a server that drips a byte a second hold a call
forever. Addresses are checked and pinned by `guard`; redirects are followed by hand (at most
five) and every hop is checked again.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from stepwise import __version__
from stepwise.delivery.guard import (
    AddressPolicy,
    IPNetwork,
    Refused,
    Resolver,
    Target,
    parse_target,
    pin,
    system_resolve,
)
from stepwise.delivery.rendering import render_string
from stepwise.delivery.transports import DeliveryError

DEADLINE = 10.0  # seconds per call, everything included (SPEC §3)
MAX_REDIRECTS = 5
MAX_BODY = 1_000_000  # bytes of a rendered request body
SNIPPET = 300  # characters of the response kept for the timeline
_READ_LIMIT = 64 * 1024  # bytes of a response read at most; the rest is not waited for
_SKIPPED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "keep-alive"}
_REDIRECTS = {301, 302, 303, 307, 308}


class InvalidRequest(ValueError):
    """The action cannot become a request (bad URL or header after rendering)."""


@dataclass(frozen=True, slots=True)
class UrlRequest:
    """A rendered call: method, URL, headers and body bytes."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class UrlResponse:
    """The final answer of a call, as the timeline shows it."""

    status: int
    url: str  # the last URL requested (after redirects)
    elapsed_ms: int
    snippet: str


def build_request(action: dict[str, Any], context: dict[str, Any], email: str) -> UrlRequest:
    """Render a call_url action for one subscriber; raise RenderError or InvalidRequest.

    `{EMAIL}` becomes the URL-encoded address in the URL and the plain address in body and headers.
    """
    method = str(action.get("method") or "GET").upper()
    if method not in ("GET", "POST"):
        raise InvalidRequest(f"method {method!r} is not GET or POST")
    url = render_string(str(action["url"]), context, html=False).strip().replace("{EMAIL}", quote(email, safe=""))
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidRequest("the rendered URL contains whitespace or control characters")
    headers: dict[str, str] = {}
    for name, raw in (action.get("headers") or {}).items():
        value = render_string(str(raw), context, html=False).replace("{EMAIL}", email)
        if not name or any(ch in name for ch in ":\r\n\0 \t") or any(ch in value for ch in "\r\n\0"):
            raise InvalidRequest(f"header {name!r} has a bad name or value after rendering")
        if name.lower() not in _SKIPPED_HEADERS:
            headers[name] = value
    body: bytes | None = None
    if method == "POST" and action.get("body") is not None:
        body = orjson.dumps(_render_json(action["body"], context, email))
        if len(body) > MAX_BODY:
            raise InvalidRequest(f"the rendered body is larger than {MAX_BODY} bytes")
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    return UrlRequest(method=method, url=url, headers=headers, body=body)


def _render_json(value: Any, context: dict[str, Any], email: str) -> Any:
    """Render every string of a JSON value (keys stay as written)."""
    if isinstance(value, str):
        return render_string(value, context, html=False).replace("{EMAIL}", email)
    if isinstance(value, list):
        return [_render_json(item, context, email) for item in value]
    if isinstance(value, dict):
        return {key: _render_json(item, context, email) for key, item in value.items()}
    return value


class UrlCaller:
    """Calls URLs with the address guard, pinning, manual redirects and one overall deadline."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        deadline: float = DEADLINE,
        exempt: Sequence[IPNetwork] = (),
        resolver: Resolver | None = None,
        tls: ssl.SSLContext | None = None,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self.policy = AddressPolicy(allow_private=allow_private, exempt=tuple(exempt))
        self.deadline = deadline
        self.resolve = resolver or system_resolve
        # One context for every call: building one per client would load the CA bundle each time.
        self.tls = tls or ssl.create_default_context()
        self.max_redirects = max_redirects
        self.user_agent = f"Stepwise/{__version__} (call_url)"

    async def call(self, request: UrlRequest) -> UrlResponse:
        """Make the request; return the final response or raise DeliveryError (permanent or not)."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.deadline):
                response = await self._follow(request, started)
        except TimeoutError as exc:
            raise DeliveryError(f"no complete answer within {self.deadline:g}s", permanent=False) from exc
        except Refused as exc:
            raise DeliveryError(f"refused: {exc}", permanent=True) from exc
        except httpx.InvalidURL as exc:
            raise DeliveryError(f"invalid URL: {exc}", permanent=True) from exc
        except (httpx.TransportError, OSError) as exc:
            raise DeliveryError(f"network error: {type(exc).__name__}: {exc}", permanent=False) from exc
        status = response.status
        if 200 <= status < 300:
            return response
        detail = f"HTTP {status}" + (f": {response.snippet[:200]}" if response.snippet else "")
        # SPEC §3: 429 and 5xx are worth another try; any other answer will not change.
        raise DeliveryError(detail, permanent=not (status == 429 or status >= 500))

    async def _follow(self, request: UrlRequest, started: float) -> UrlResponse:
        method, url, body = request.method, httpx.URL(request.url), request.body
        headers = dict(request.headers)
        for _ in range(self.max_redirects + 1):
            target = parse_target(url)
            address = await pin(target, self.policy, self.resolve)
            status, location, snippet = await self._once(method, target, str(address), headers, body)
            if status in _REDIRECTS and location:
                url = url.join(location)
                if status == 303 or (status in (301, 302) and method == "POST"):
                    # What browsers do: the follow-up is a GET without the body.
                    method, body = "GET", None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                continue
            return UrlResponse(status, str(url), int((time.monotonic() - started) * 1000), snippet)
        raise Refused(f"more than {self.max_redirects} redirects")

    async def _once(
        self, method: str, target: Target, address: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, str | None, str]:
        pinned = target.url.copy_with(host=address)
        sent = {"User-Agent": self.user_agent, **headers, "Host": target.host_header}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" and target.literal is None else {}
        # trust_env=False: a proxy from the environment would bypass the address check and the pin.
        async with (
            httpx.AsyncClient(
                verify=self.tls,
                trust_env=False,
                follow_redirects=False,
                timeout=httpx.Timeout(self.deadline),
                limits=httpx.Limits(max_keepalive_connections=0),
            ) as client,
            client.stream(method, pinned, headers=sent, content=body, extensions=extensions) as response,
        ):
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= _READ_LIMIT:
                    break
            text = b"".join(chunks)[:_READ_LIMIT].decode("utf-8", "replace")
            return response.status_code, response.headers.get("location"), " ".join(text.split())[:SNIPPET]
