"""POSTing webhook messages over kept-alive, pinned HTTP/1.1 connections (S29).

Each endpoint origin (scheme, host, port) is resolved and checked by the SSRF guard (guard.py) once,
then again after RECHECK; connections go to the pinned address (TLS with the host name for SNI and
certificate checks) and are reused while the server keeps them open. Every exchange has one overall
deadline (connect, write and read together), so a server that drip-feeds its reply is cut off.
Redirects are not followed: a 3xx is a reply like any other non-2xx.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from stepwise.delivery.guard import (
    AddressPolicy,
    IPAddress,
    Refused,
    Resolver,
    Target,
    parse_target,
    pin,
    system_resolve,
)
from stepwise.delivery.transports import DeliveryError

RECHECK = 60.0  # seconds an origin's resolved address is trusted
_MAX_HEAD = 64 * 1024
_MAX_BODY = 256 * 1024
_IDLE_PER_ORIGIN = 8


@dataclass(frozen=True, slots=True)
class HookReply:
    """A server's reply: its status code and the start of its body."""

    status: int
    snippet: str


@dataclass(slots=True)
class _Origin:
    address: IPAddress
    checked_at: float
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)


class HookClient:
    """Sends POST requests with an overall deadline, reusing pinned connections per origin."""

    def __init__(
        self, *, allow_private: bool = False, deadline: float = 10.0, resolve: Resolver = system_resolve
    ) -> None:
        self.policy = AddressPolicy(allow_private=allow_private)
        self.deadline = deadline
        self.resolve = resolve
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._tls = ssl.create_default_context()
        self._targets: dict[str, tuple[Target, bytes]] = {}  # URL -> parsed, and the request's fixed head

    def _target(self, url: str) -> tuple[Target, bytes]:
        found = self._targets.get(url)
        if found is None:
            target = parse_target(url)
            if len(self._targets) > 10_000:
                self._targets.clear()
            found = self._targets[url] = (target, _head(target))
        return found

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> HookReply:
        """POST `body`; raise DeliveryError (permanent when the URL is refused by the guard)."""
        try:
            target, head = self._target(url)
            async with asyncio.timeout(self.deadline):
                return await self._exchange(target, head, headers, body)
        except Refused as exc:
            raise DeliveryError(f"refused: {exc}", permanent=True) from exc
        except TimeoutError as exc:
            raise DeliveryError(f"no reply within {self.deadline:g} s", permanent=False) from exc
        except (OSError, ValueError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False) from exc

    async def _origin(self, target: Target) -> _Origin:
        key = (target.scheme, target.host, target.port)
        origin = self._origins.get(key)
        now = time.monotonic()
        if origin is None or now - origin.checked_at > RECHECK:
            address = await pin(target, self.policy, self.resolve)
            if origin is None or origin.address != address:
                if origin is not None:
                    _close_all(origin)
                origin = _Origin(address, now)
                self._origins[key] = origin
            origin.checked_at = now
        return origin

    async def _exchange(self, target: Target, head: bytes, headers: Mapping[str, str], body: bytes) -> HookReply:
        origin = await self._origin(target)
        request = _request(head, headers, body)
        reused = bool(origin.idle)
        reader, writer = origin.idle.pop() if reused else await self._connect(target, origin.address)
        try:
            writer.write(request)
            status, keep, text = await _read_reply(reader)
        except (OSError, asyncio.IncompleteReadError):
            writer.close()
            if not reused:
                raise
            # A kept-alive connection the server closed meanwhile: once more on a fresh one.
            reader, writer = await self._connect(target, origin.address)
            writer.write(request)
            status, keep, text = await _read_reply(reader)
        except BaseException:
            writer.close()
            raise
        if keep and len(origin.idle) < _IDLE_PER_ORIGIN:
            origin.idle.append((reader, writer))
        else:
            writer.close()
        return HookReply(status, text)

    async def _connect(self, target: Target, address: IPAddress) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if target.scheme == "https":
            return await asyncio.open_connection(str(address), target.port, ssl=self._tls, server_hostname=target.host)
        return await asyncio.open_connection(str(address), target.port)

    async def close(self) -> None:
        """Close every idle connection."""
        for origin in self._origins.values():
            _close_all(origin)
        self._origins.clear()


def _close_all(origin: _Origin) -> None:
    for _reader, writer in origin.idle:
        writer.close()
    origin.idle.clear()


def _head(target: Target) -> bytes:
    """The part of every request to this URL that does not change."""
    path = target.url.raw_path.decode("ascii") or "/"
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {target.host_header}",
        "User-Agent: stepwise-webhooks",
        "Content-Type: application/json",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _request(head: bytes, headers: Mapping[str, str], body: bytes) -> bytes:
    more = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return b"%sContent-Length: %d\r\n%s\r\n%s" % (head, len(body), more.encode("ascii"), body)


async def _read_reply(reader: asyncio.StreamReader) -> tuple[int, bool, str]:
    """Read one reply: (status, whether the connection may be reused, the start of the body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > _MAX_HEAD:
        raise ValueError("the reply's head is too long")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP reply: {lines[0][:80]!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            fields[name.strip().lower()] = value.strip()
    keep = parts[0] == "HTTP/1.1" and fields.get("connection", "").lower() != "close"
    if "chunked" in fields.get("transfer-encoding", "").lower():
        data = await _read_chunked(reader)
    elif "content-length" in fields:
        length = int(fields["content-length"])
        if length > _MAX_BODY:
            raise ValueError("the reply's body is too long")
        data = await reader.readexactly(length)
    else:
        data, keep = await reader.read(_MAX_BODY), False
    return int(parts[1]), keep, data[:500].decode("utf-8", "replace")


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    data = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers are expected
            return data
        if len(data) + size > _MAX_BODY:
            raise ValueError("the reply's body is too long")
        data += await reader.readexactly(size)
        await reader.readexactly(2)
