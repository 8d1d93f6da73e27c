"""The SSRF guard: webhook targets must not reach into the service's own network.

A subscription URL is checked when it is created and again before every
delivery, on the addresses its host resolves to at that moment (a name that
resolved to a public address yesterday may resolve to 127.0.0.1 today).
Private, loopback, link-local, multicast, reserved and unspecified addresses
are refused unless the operator allows them: all of them
(``LANGNGHE_WEBHOOK_ALLOW_PRIVATE``) or chosen networks
(``LANGNGHE_WEBHOOK_ALLOWED_NETWORKS``, e.g. ``127.0.0.0/8`` in tests).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]


class UnsafeTarget(ValueError):
    """The URL is not a target the service may call."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the host resolves to (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def mask_credentials(url: str) -> str:
    """The URL with any ``user:password@`` replaced by ``***@``, for logs and API answers.

    The credentials stay in the stored subscription (httpx sends them as Basic auth).
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def parse_networks(text: str) -> tuple[IpNetwork, ...]:
    """Comma-separated CIDRs, e.g. ``127.0.0.0/8,::1/128``; raises ValueError on a bad one."""
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


# Python counts these as global, but each can reach an internal host: 6to4 embeds an IPv4
# address a relay may forward to, and site-local is the deprecated IPv6 private range.
_TUNNELLED_OR_SITE_LOCAL = (
    ipaddress.ip_network("2002::/16"),
    ipaddress.ip_network("fec0::/10"),
)


def is_internal(address: IpAddress) -> bool:
    """Whether an address points into a private or special-purpose network."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_internal(address.ipv4_mapped)
        if address.teredo is not None or any(address in n for n in _TUNNELLED_OR_SITE_LOCAL):
            return True
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


@dataclass(frozen=True)
class TargetGuard:
    """The operator's rule for webhook targets."""

    allow_private: bool = False
    allowed_networks: Sequence[IpNetwork] = ()
    resolver: Resolver = field(default=resolve_host)

    def check_address(self, address: IpAddress) -> None:
        """Raise UnsafeTarget if the address may not be called."""
        if self.allow_private or not is_internal(address):
            return
        if any(address in net for net in self.allowed_networks if net.version == address.version):
            return
        raise UnsafeTarget(
            f"{address} is a private, loopback or link-local address; "
            "set LANGNGHE_WEBHOOK_ALLOWED_NETWORKS or LANGNGHE_WEBHOOK_ALLOW_PRIVATE to allow it"
        )

    def check_url(self, url: str) -> list[str]:
        """Check the URL's host and every address it resolves to now; return the addresses."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UnsafeTarget("the URL must be an absolute http(s) URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise UnsafeTarget("the URL's port is not valid") from exc
        return self.check_host(parts.hostname, port)

    def check_host(self, host: str, port: int) -> list[str]:
        """Check a host (a name or an address) as check_url does; return its addresses."""
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addresses = [
                    ipaddress.ip_address(a.split("%")[0]) for a in self.resolver(host, port)
                ]
            except (OSError, UnicodeError) as exc:
                raise UnsafeTarget(f"the host {host!r} does not resolve") from exc
        if not addresses:
            raise UnsafeTarget(f"the host {host!r} does not resolve")
        for address in addresses:
            self.check_address(address)
        return [str(a) for a in addresses]


def guard_for(allow_private: bool, allowed_networks: str) -> TargetGuard:
    """The guard the settings describe (``LANGNGHE_WEBHOOK_*``)."""
    return TargetGuard(
        allow_private=allow_private, allowed_networks=parse_networks(allowed_networks)
    )
