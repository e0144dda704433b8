"""Outbound-URL safety: where the platform may send requests on a tenant's behalf (webhooks).

A tenant-supplied URL must not reach the pod's own network: loopback, private and link-local ranges,
cloud metadata services, multicast, reserved space. The host is resolved once, every address is
classified, and the request then connects to the checked address (`PinnedTarget`), so a DNS answer that
changes between the check and the connection (rebinding) cannot redirect it. Operators can open
networks for on-premises integrations with an allow-list; metadata addresses stay closed regardless.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import httpx

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
# host -> its addresses; the default asks the system resolver, tests pass a hosts-like table.
Resolver = Callable[[str], Awaitable[Sequence[IPAddress]]]

# Instance metadata services hold credentials: never reachable, not even through the allow-list.
METADATA = tuple(
    ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, Huawei, OpenStack
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.0.23",  # Tencent Cloud
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
        "fd00:ec2::254",  # AWS over IPv6
    )
)


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ip_network(net), reason) for net, reason in rows)


# Checked in order, first match wins. Deliberately explicit rather than `ipaddress.is_global`, whose
# answers changed between Python releases.
FORBIDDEN_V4 = _table(
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "private"),  # carrier-grade NAT, cloud VPC internals
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link_local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "reserved"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),
    ("198.51.100.0/24", "reserved"),
    ("203.0.113.0/24", "reserved"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # includes the broadcast address
)
FORBIDDEN_V6 = _table(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "private"),  # local-use NAT64
    ("100::/64", "reserved"),
    ("2001::/23", "reserved"),  # IETF protocol assignments, Teredo (obfuscated IPv4 inside)
    ("2001:db8::/32", "reserved"),
    ("3fff::/20", "reserved"),
    ("fc00::/7", "private"),
    ("fe80::/10", "link_local"),
    ("fec0::/10", "private"),
    ("ff00::/8", "multicast"),
)
GLOBAL_UNICAST_V6 = ip_network("2000::/3")
NAT64 = ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ip_network("::/96")
SIX_TO_FOUR = ip_network("2002::/16")


class ForbiddenDestination(Exception):
    """The URL may not be used as an outbound destination; the message says why."""


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, where the network would deliver to it."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def classify(address: IPAddress) -> str | None:
    """Why `address` is not a public destination (`loopback`, `private`, `link_local`, `multicast`,
    `unspecified`, `reserved`, `metadata`), or None when it is one."""
    if isinstance(address, IPv6Address):
        address = IPv6Address(int(address))  # without a zone id (fe80::1%eth0)
        inner = embedded_ipv4(address)
        # The embedded IPv4 decides for mapped addresses; for the others a forbidden one suffices.
        if inner is not None and ((reason := classify(inner)) is not None or address.ipv4_mapped is not None):
            return reason
    if address in METADATA:
        return "metadata"
    for network, reason in FORBIDDEN_V4 if isinstance(address, IPv4Address) else FORBIDDEN_V6:
        if address in network:
            return reason
    if isinstance(address, IPv6Address) and address not in GLOBAL_UNICAST_V6 and address not in NAT64:
        return "reserved"
    return None


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """`LINLI_WEBHOOK_ALLOW_NETWORKS`: CIDRs (or single addresses) separated by commas."""
    return tuple(ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def refusal(address: IPAddress, allow: Sequence[IPNetwork] = ()) -> str | None:
    """`classify`, except that an allow-listed address passes (metadata services never do)."""
    reason = classify(address)
    if reason is None or reason == "metadata":
        return reason
    candidates = [address]
    if isinstance(address, IPv6Address) and (inner := embedded_ipv4(address)) is not None:
        candidates.append(inner)
    if any(c.version == n.version and c in n for c in candidates for n in allow):
        return None
    return reason


_NUMBER = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


def parse_ipv4_loose(host: str) -> IPv4Address | None:
    """An IPv4 address in any spelling a resolver or URL parser accepts (`2130706433`, `0x7f.1`,
    `0177.0.0.1`, `127.1`), or None if `host` is not one. These must be classified like dotted quads."""
    parts = host.removesuffix(".").split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMBER.match(p) for p in parts):
        return None
    try:
        numbers = [
            int(p[2:] or "0", 16) if p.lower().startswith("0x") else int(p, 8 if len(p) > 1 and p[0] == "0" else 10)
            for p in parts
        ]
    except ValueError:  # an octal spelling with 8 or 9 in it: not a number, so a (strange) name
        return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(head):
        value |= n << (8 * (3 - i))
    return IPv4Address(value)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names literally (IPv6 in brackets or not, any IPv4 spelling)."""
    try:
        return ip_address(host.strip("[]"))
    except ValueError:
        return parse_ipv4_loose(host)


async def system_resolver(host: str) -> Sequence[IPAddress]:
    # AI_ADDRCONFIG: only families this host can reach, since the first answer is the one connected to.
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, None, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG
    )
    return [ip_address(str(info[4][0]).split("%")[0]) for info in infos]


@dataclass(frozen=True)
class OutboundPolicy:
    allow: tuple[IPNetwork, ...] = ()  # networks opened although forbidden (on-premises integrations)
    https_only: bool = False
    resolver: Resolver = system_resolver


@dataclass(frozen=True)
class PinnedTarget:
    """Where to connect (the checked address) and what the server must see (the original host)."""

    url: httpx.URL  # the original URL with its host replaced by the checked address
    host_header: str
    server_name: str  # TLS SNI and certificate check


def _parse(url: str, policy: OutboundPolicy) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ForbiddenDestination(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise ForbiddenDestination("only http(s) URLs with a host")
    if policy.https_only and parsed.scheme != "https":
        raise ForbiddenDestination("only https URLs in production")
    return parsed


async def _checked_addresses(host: str, policy: OutboundPolicy) -> list[IPAddress]:
    literal = literal_address(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            addresses = list(await policy.resolver(host))
        except OSError as exc:
            raise ForbiddenDestination(f"{host} does not resolve") from exc
        if not addresses:
            raise ForbiddenDestination(f"{host} does not resolve")
    for address in addresses:
        if (reason := refusal(address, policy.allow)) is not None:
            raise ForbiddenDestination(f"{host} is a {reason.replace('_', '-')} address ({address})")
    return addresses


async def check_url(url: str, policy: OutboundPolicy) -> None:
    """At registration: refuse a URL whose host is, or resolves to, a forbidden address. A name that
    does not resolve yet passes here; every send checks again."""
    parsed = _parse(url, policy)
    try:
        await _checked_addresses(parsed.raw_host.decode("ascii"), policy)
    except ForbiddenDestination as exc:
        if not str(exc).endswith("does not resolve"):
            raise


async def pin(url: str, policy: OutboundPolicy) -> PinnedTarget:
    """At send time: resolve once, refuse if any address is forbidden, and pin the first one."""
    parsed = _parse(url, policy)
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded: what DNS, Host and SNI carry
    address = (await _checked_addresses(host, policy))[0]
    return PinnedTarget(
        url=parsed.copy_with(host=str(address)), host_header=parsed.netloc.decode("ascii"), server_name=host
    )
