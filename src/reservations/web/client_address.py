"""The client's address, believed from ``Forwarded`` / ``X-Forwarded-For`` only when the peer is
a trusted proxy (``RESERVATIONS_TRUSTED_PROXIES``).

Behind the office's reverse proxy every request comes from the proxy's address: keyed on the
socket, the booking rate limit would be one bucket for the whole site. Believed from anyone, the
headers would let a client pick its own bucket. So the address is taken from the right of the
forwarded chain, skipping the hops that are trusted proxies, and written into the ASGI scope's
``client`` (and the scheme into ``scheme``) before anything reads it: Litestar's rate limit, the
staff login's throttle and uvicorn's access log then all see the same address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from litestar.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_FORWARDED_FOR = re.compile(r'(?:^|[;,\s])for="?\[?([^\]";,\s]+)', re.IGNORECASE)
_FORWARDED_PROTO = re.compile(r'(?:^|[;,\s])proto="?(https?)', re.IGNORECASE)


def parse_networks(spec: Iterable[str]) -> tuple[Network, ...]:
    """``127.0.0.1``, ``10.0.0.0/8``, ``::1``: a SystemExit naming the bad entry otherwise."""
    networks = []
    for entry in spec:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise SystemExit(
                f"RESERVATIONS_TRUSTED_PROXIES: {entry!r} is not an IP address or network"
            ) from None
    return tuple(networks)


@lru_cache(maxsize=4096)  # every request asks it of its peer, mostly the same few
def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _forwarded_chain(headers: list[tuple[bytes, bytes]]) -> tuple[list[str], str | None]:
    """The addresses the proxies appended (client first) and the scheme the first one saw.
    ``Forwarded`` (RFC 7239) wins over ``X-Forwarded-For`` when both are sent."""
    forwarded = [v.decode("latin-1") for k, v in headers if k == b"forwarded"]
    if forwarded:
        joined = ",".join(forwarded)
        proto = _FORWARDED_PROTO.search(joined)
        return _strip_ports(_FORWARDED_FOR.findall(joined)), proto.group(
            1
        ).lower() if proto else None
    chain = [
        part.strip()
        for k, v in headers
        if k == b"x-forwarded-for"
        for part in v.decode("latin-1").split(",")
        if part.strip()
    ]
    protos = [v.decode("latin-1").strip().lower() for k, v in headers if k == b"x-forwarded-proto"]
    proto = protos[0].split(",")[0].strip() if protos else None
    return _strip_ports(chain), proto if proto in {"http", "https"} else None


def _strip_ports(addresses: list[str]) -> list[str]:
    """``203.0.113.9:4711`` is 203.0.113.9; IPv6 addresses keep their colons."""
    return [a.rsplit(":", 1)[0] if a.count(":") == 1 else a for a in addresses]


def client_address(
    peer: str, headers: list[tuple[bytes, bytes]], trusted: tuple[Network, ...]
) -> tuple[str, str | None]:
    """The client's address and the forwarded scheme (None: keep the socket's)."""
    if not _is_trusted(peer, trusted):
        return peer, None
    chain, proto = _forwarded_chain(headers)
    if not chain:
        return peer, None
    for hop in reversed(chain):
        if not _is_trusted(hop, trusted):
            return hop, proto
    return chain[0], proto  # every hop is a trusted proxy: the first one is the client


def believe_trusted_proxies(app: ASGIApp, trusted: tuple[Network, ...]) -> ASGIApp:
    """The ASGI scope's ``client`` and ``scheme`` as the trusted proxies saw them; changed in
    place, so the server's access log shows the same address as the application."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"} and scope.get("client"):
            peer, port = scope["client"]  # type: ignore[misc]
            address, proto = client_address(peer, list(scope["headers"]), trusted)
            if address != peer:
                mutable: Any = scope
                mutable["client"] = (address, port)
                if proto:
                    mutable["scheme"] = proto
        await app(scope, receive, send)

    return asgi
