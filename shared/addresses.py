"""Client addresses as per-address limits count them.

An IPv4 address is one client. An IPv6 client usually holds a whole /64 (one home, one phone:
SLAAC and privacy addresses rotate inside it), so a limit per IPv6 address would be a limit per
2^64 addresses: IPv6 clients are counted by their /64. Redis keys hold a digest, not the address.
"""

from __future__ import annotations

import hashlib
import ipaddress

from starlette.requests import Request

IPV6_PREFIX = 64


def address_group(address: str) -> str:
    """The group ``address`` is counted in: itself (IPv4, or not an IP), else its IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


def address_digest(request: Request) -> str:
    """24 hex digits of the SHA-256 of the request's client address group (for Redis keys)."""
    address = request.client.host if request.client else "unknown"
    return hashlib.sha256(address_group(address).encode()).hexdigest()[:24]
