"""context.ip is truncated before anything is published: /24 for IPv4, /48 for IPv6."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rapport_ingest.domain.privacy import truncate_ip


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("203.0.113.77", "203.0.113.0"),
        (" 10.1.2.3 ", "10.1.2.0"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::"),
        ("2001:0db8:abcd:ffff:ffff:ffff:ffff:ffff", "2001:db8:abcd::"),
        ("::ffff:203.0.113.77", "203.0.113.0"),
        ("::1", "::"),
    ],
)
def test_addresses_are_truncated(raw: str, stored: str) -> None:
    assert truncate_ip(raw) == stored


@pytest.mark.parametrize("raw", ["", "localhost", "999.1.1.1", "1.2.3", "2001:db8::g", "1.2.3.4/8"])
def test_anything_else_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        truncate_ip(raw)


@given(st.ip_addresses())
def test_the_stored_address_keeps_only_the_network(address: ipaddress._BaseAddress) -> None:
    stored = ipaddress.ip_address(truncate_ip(str(address)))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    assert stored == network.network_address
    assert stored in network
    host_bits = int(stored) & int(network.hostmask)
    assert host_bits == 0


@given(st.ip_addresses(v=4).map(str) | st.from_regex(r"\A[0-9]{1,4}(\.[0-9]{1,4}){3}\Z"))
def test_the_ipv4_fast_path_agrees_with_the_ipaddress_module(raw: str) -> None:
    try:
        expected = str(ipaddress.ip_network(f"{ipaddress.IPv4Address(raw)}/24", strict=False))
    except ValueError:
        with pytest.raises(ValueError, match="not an IP address"):
            truncate_ip(raw)
        return
    assert truncate_ip(raw) == expected.removesuffix("/24")
