"""Where `call_url` may connect: public addresses only, resolved once and pinned (SPEC §12, security).

A URL is parsed strictly (http or https, a host, no numeric host in a non-standard spelling such
as `2130706433`, `0x7f.1` or `0177.0.0.1`), its host is resolved once, and every address of the
answer must be global: not loopback, private, link-local, CGNAT (100.64/10), unique-local,
multicast, reserved or unspecified, and IPv6 forms that embed an IPv4 address (mapped, 6to4,
Teredo, NAT64) are judged by the address they embed. The caller then connects to the address it
was given here, so a second DNS answer cannot point the connection elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

_NUMBER_LABEL = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")
_DOTTED_QUAD = re.compile(
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}"
)
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
# Not global even where the standard library's is_global says otherwise on some Python versions.
_NEVER = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "::/96",  # IPv4-compatible (deprecated)
        "100::/64",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)


class Refused(Exception):
    """The URL or an address it leads to is not allowed."""


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed http(s) URL: where to connect and what to say in Host and SNI."""

    url: httpx.URL
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    literal: IPAddress | None  # the host when it is an IP address

    @property
    def host_header(self) -> str:
        """The Host header: the host as written (brackets for IPv6), with the port unless it is the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_target(url: str | httpx.URL) -> Target:
    """Parse a URL for calling; raise Refused when it is not a plain http(s) URL with a usable host."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise Refused(f"invalid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise Refused(f"only http and https URLs can be called, not {parsed.scheme or 'a relative URL'!r}")
    host = parsed.raw_host.decode("ascii", "replace")
    if not host:
        raise Refused("the URL has no host")
    if "%" in host:
        raise Refused("IPv6 zone identifiers and percent-encoded hosts are not allowed")
    literal = _literal(host)
    if literal is None and _looks_numeric(host):
        raise Refused(f"the host {host!r} is a number in a non-standard form")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not 1 <= port <= 65535:
        raise Refused(f"port {port} is out of range")
    return Target(url=parsed, scheme=parsed.scheme, host=host, port=port, literal=literal)


def _literal(host: str) -> IPAddress | None:
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise Refused(f"bad IPv6 address {host!r}") from exc
    if _DOTTED_QUAD.fullmatch(host):
        return ipaddress.IPv4Address(host)
    return None


def _looks_numeric(host: str) -> bool:
    """Tell whether a resolver's inet_aton would read the host as an IPv4 address (127.1, 0x7f000001, ...)."""
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    return 1 <= len(labels) <= 4 and all(_NUMBER_LABEL.fullmatch(label) for label in labels)


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Return IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public(address: IPAddress) -> bool:
    """Tell whether an address is globally routable and unicast."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner:
            return all(is_public(v4) for v4 in inner)
    if any(address in net for net in _NEVER if net.version == address.version):
        return False
    return address.is_global and not address.is_multicast


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which resolved addresses may be contacted."""

    allow_private: bool = False  # STEPWISE_ALLOW_PRIVATE_URLS: any address (for local testing)
    exempt: Sequence[IPNetwork] = ()  # networks allowed although not public (an operator's choice)

    def check(self, address: IPAddress) -> None:
        """Raise Refused unless the address may be contacted."""
        if self.allow_private or is_public(address):
            return
        if any(address.version == net.version and address in net for net in self.exempt):
            return
        raise Refused(f"the address {address} is not public (loopback, private, link-local or reserved)")


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Resolve a host name with the system resolver (all address families)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


async def pin(target: Target, policy: AddressPolicy, resolve: Resolver) -> IPAddress:
    """Resolve the target once and return the address to connect to; raise Refused or OSError."""
    if target.literal is not None:
        policy.check(target.literal)
        return target.literal
    addresses = await resolve(target.host, target.port)
    if not addresses:
        raise OSError(f"{target.host} has no address")
    # Every address must pass, not just the first: an answer mixing public and private addresses is a trick.
    for address in addresses:
        policy.check(address)
    return addresses[0]
