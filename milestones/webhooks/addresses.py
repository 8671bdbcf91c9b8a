"""Where a webhook may be sent: the URL rules and the SSRF guard.

In production a URL must be https and every address its host resolves to must be globally
routable (not loopback, private, link-local, multicast, reserved, shared or unspecified). The
check runs when an endpoint is saved and again before every attempt, because DNS can change
after creation; the attempt then connects to the very address that was checked (the URL is
rewritten to it, with the original Host header and TLS server name), so a second lookup cannot
swap in another address. Development allows any http(s) URL: receivers run on localhost there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT_SECONDS = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


class AddressRefused(Exception):
    """The URL may not be called; the message says why, for the endpoint's owner."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A checked URL and the address to connect to (None: let the client resolve, dev only)."""

    url: str
    host: str
    port: int
    address: str | None


async def system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


# Tests swap this for a fake resolver (no network, any answer they need).
resolve: Resolver = system_resolve


def url_problem(url: str, *, production: bool) -> str | None:
    """What is wrong with the URL's shape, or None."""
    if len(url) > MAX_URL_LENGTH:
        return f"The URL may be at most {MAX_URL_LENGTH} characters."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "The URL is not valid."
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "The URL must be an absolute http(s) URL."
    if production and parts.scheme != "https":
        return "The URL must use https."
    if parts.username is not None or parts.password is not None:
        return "The URL may not hold credentials; verify the signature instead."
    if parts.fragment:
        return "The URL may not have a fragment."
    if port == 0:
        return "The URL's port is not valid."
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        return "The URL may not contain spaces or control characters."
    return None


def _refused_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


async def check_destination(url: str, *, production: bool) -> Destination:
    """The URL checked (and, in production, resolved to an address it may reach)."""
    problem = url_problem(url, production=production)
    if problem is not None:
        raise AddressRefused(problem)
    parts = urlsplit(url)
    host = parts.hostname
    assert host is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not production:
        return Destination(url=url, host=host, port=port, address=None)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        candidates = [literal]
    else:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                answers = await resolve(host, port)
        except (OSError, TimeoutError) as error:
            raise AddressRefused(f"The host {host} could not be resolved.") from error
        candidates = [ipaddress.ip_address(answer.split("%", 1)[0]) for answer in answers]
    if not candidates:
        raise AddressRefused(f"The host {host} could not be resolved.")
    # One non-public answer is enough to refuse: a client could be handed any of them.
    if any(_refused_address(candidate) for candidate in candidates):
        raise AddressRefused(
            "The URL must point to a public address (not loopback, private, link-local or "
            "multicast)."
        )
    return Destination(url=url, host=host, port=port, address=str(candidates[0]))
