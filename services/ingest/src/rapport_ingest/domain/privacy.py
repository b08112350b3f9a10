"""What ingest does to personal data before anything is published."""

from __future__ import annotations

import ipaddress
import re

# Truncation rather than hashing: a hash of a 32-bit IPv4 space is reversed by enumerating it,
# while a /24 (IPv4) or /48 (IPv6) network still says roughly where a visitor was and no more.
IPV4_PREFIX = 24
IPV6_PREFIX = 48

# Canonical dotted-quad IPv4, the common case, without the cost of the ipaddress module
# (which refuses the same inputs this refuses: leading zeros, values over 255).
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"({_OCTET}\.{_OCTET}\.{_OCTET})\.{_OCTET}")


def truncate_ip(raw: str) -> str:
    """`203.0.113.77` → `203.0.113.0`; `2001:db8:abcd:12::1` → `2001:db8:abcd::`.

    An IPv4 address written as IPv6 (`::ffff:203.0.113.77`) is truncated as IPv4. Raises
    ValueError for anything that is not an IP address.
    """
    plain = _IPV4.fullmatch(raw.strip())
    if plain is not None:
        return plain.group(1) + ".0"
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        raise ValueError("not an IP address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return str(network.network_address)
