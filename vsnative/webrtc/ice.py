"""ICE settings for every peer connection of the process: the ICE servers, and the host addresses
offered as candidates.

aiortc contacts Google's public STUN server when it is given no ICE servers, so we always pass the
configured list (empty by default: host candidates only). aioice offers every interface address except
loopback, which a single box reached at 127.0.0.1 (and the tests' loopback-only namespaces) need; when
host addresses are configured, exactly those are offered. aioice reads them from one module function,
so the choice is process-wide and made once, at start.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer


@dataclass(frozen=True)
class IceSettings:
    servers: tuple[str, ...] = ()  # stun:host:port or turn:host:port?transport=udp URLs
    username: str | None = None  # for TURN servers
    credential: str | None = field(default=None, repr=False)
    host_addresses: tuple[str, ...] = ()  # empty: every non-loopback interface address (aioice's default)

    def configuration(self) -> RTCConfiguration:
        servers = [RTCIceServer(url, self.username, self.credential) for url in self.servers]
        return RTCConfiguration(iceServers=servers)


def validate_address(value: str) -> str:
    """An IPv4 or IPv6 address (raises ValueError)."""
    return str(ipaddress.ip_address(value))


def offer_host_addresses(addresses: Sequence[str]) -> None:
    """Offer exactly these addresses as host candidates in every later peer connection of the process."""
    fixed = [validate_address(a) for a in addresses]

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (use_ipv6 if ":" in a else use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses
