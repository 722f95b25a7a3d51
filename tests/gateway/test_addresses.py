"""Client addresses as the per-address limits count them."""

from __future__ import annotations

import pytest

from gateway.addresses import Networks, network_of


@pytest.mark.parametrize(("address", "prefix", "network"), [
    ("203.0.113.7", 64, "203.0.113.7"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"),
    ("2001:DB8:1:2::1", 64, "2001:db8:1:2::/64"),
    ("2001:db8:1:2ff::1", 56, "2001:db8:1:200::/56"),
    ("2001:db8::1", 128, "2001:db8::1"),
    ("fe80::1%eth0", 64, "fe80::/64"),
    ("::ffff:198.51.100.4", 64, "198.51.100.4"),
    ("testclient", 64, "testclient"),
    ("not:an:address", 64, "not:an:address"),
])
def test_ipv4_counts_whole_and_ipv6_by_its_network(address: str, prefix: int,
                                                   network: str) -> None:
    assert network_of(address, prefix) == network
    assert Networks(prefix).of(address) == network


def test_a_prefix_outside_ipv6_is_refused() -> None:
    with pytest.raises(ValueError):
        Networks(0)
    with pytest.raises(ValueError):
        Networks(129)
