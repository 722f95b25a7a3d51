"""A client address as Sluis's per-address limits count it: an IPv4 address whole, an
IPv6 address by its network (a /64 by default: what one home or one phone is given)."""

from __future__ import annotations

import ipaddress

from gateway.common.memo import Memo

DEFAULT_IPV6_PREFIX = 64
# Distinct addresses remembered; past this the memo starts again (it only spares work).
_MEMO_LIMIT = 65_536


def network_of(address: str, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str:
    """IPv4 as it is ("203.0.113.7"); IPv6 as its network ("2001:db8:1:2::/64"), an
    IPv4-mapped one as its IPv4 address. Anything that is not an address is returned as
    it came (a test client's name, a socket path)."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.scope_id is not None:
        ip = ipaddress.IPv6Address(int(ip))
    if ipv6_prefix >= 128:
        return str(ip)
    shift = 128 - ipv6_prefix
    return f"{ipaddress.IPv6Address(int(ip) >> shift << shift)}/{ipv6_prefix}"


class Networks:
    """`network_of` with one prefix, remembered per address: the forwarded path asks it
    on every request."""

    def __init__(self, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> None:
        if not 1 <= ipv6_prefix <= 128:
            raise ValueError("an IPv6 prefix length is 1 to 128")
        self.ipv6_prefix = ipv6_prefix
        self._memo: Memo[str, str] = Memo(_MEMO_LIMIT)

    def of(self, address: str) -> str:
        if ":" not in address:
            return address  # IPv4: the common case, without the memo
        net = self._memo.get(address)
        if net is None:
            net = self._memo.put(address, network_of(address, self.ipv6_prefix))
        return net
