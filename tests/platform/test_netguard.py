"""Outbound-URL safety: the address classifier (a pure function) and the URL checks built on it."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_address

import pytest

from linli.platform.netguard import (
    ForbiddenDestination,
    IPAddress,
    OutboundPolicy,
    check_url,
    classify,
    parse_ipv4_loose,
    parse_networks,
    pin,
    refusal,
)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("169.254.1.1", "link_local"),
        ("169.254.169.254", "metadata"),
        ("169.254.170.2", "metadata"),
        ("100.100.100.200", "metadata"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link_local"),
        ("fe80::1%eth0", "link_local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fd00:ec2::254", "metadata"),
        ("fec0::1", "private"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "reserved"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved"),  # Teredo
        ("100::1", "reserved"),
        ("5f00::1", "reserved"),  # outside global unicast 2000::/3
        # IPv4 inside IPv6: mapped, compatible, 6to4, NAT64
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "metadata"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.1", "loopback"),
        ("::10.0.0.1", "private"),
        ("::8.8.8.8", "reserved"),
        ("2002:7f00:1::1", "loopback"),
        ("2002:a9fe:a9fe::1", "metadata"),
        ("2002:c0a8:101::1", "private"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "metadata"),
        ("64:ff9b:1::1", "private"),
    ],
)
def test_forbidden_addresses(address: str, reason: str) -> None:
    assert classify(ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "203.0.114.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "2002:808:808::1",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses(address: str) -> None:
    assert classify(ip_address(address)) is None


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0xA9.0xFE.0xA9.0xFE", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("0", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1"),
    ],
)
def test_ipv4_in_every_spelling(spelling: str, address: str) -> None:
    assert parse_ipv4_loose(spelling) == ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "256.1.1.1", "08.0.0.1", "1.2.3.x", "4294967296", ""])
def test_names_are_not_ipv4(host: str) -> None:
    assert parse_ipv4_loose(host) is None


def test_the_allow_list_opens_networks_but_never_metadata() -> None:
    allow = parse_networks(" 127.0.0.1/32, 10.20.0.0/16 ,fd00::/8")
    assert refusal(ip_address("127.0.0.1"), allow) is None
    assert refusal(ip_address("::ffff:127.0.0.1"), allow) is None
    assert refusal(ip_address("10.20.3.4"), allow) is None
    assert refusal(ip_address("10.21.0.1"), allow) == "private"
    assert refusal(ip_address("fd12::1"), allow) is None
    assert refusal(ip_address("127.0.0.2"), allow) == "loopback"
    assert refusal(ip_address("169.254.169.254"), parse_networks("169.254.0.0/16")) == "metadata"
    assert refusal(ip_address("fd00:ec2::254"), allow) == "metadata"


def hosts(table: dict[str, Sequence[str]]) -> OutboundPolicy:
    async def resolve(host: str) -> Sequence[IPAddress]:
        if host not in table:
            raise OSError("no such host")
        return [ip_address(a) for a in table[host]]

    return OutboundPolicy(resolver=resolve)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:55432/",
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[fe80::1%25eth0]/",
        "http://internal.example/",
        "http://mixed.example/",
        "ftp://hooks.example/",
        "http://user@127.0.0.1/",
    ],
)
async def test_forbidden_urls_are_refused(url: str) -> None:
    policy = hosts({"internal.example": ["10.0.0.5"], "mixed.example": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(ForbiddenDestination):
        await check_url(url, policy)
    with pytest.raises(ForbiddenDestination):
        await pin(url, policy)


async def test_https_only_and_unresolvable_names() -> None:
    policy = hosts({"hooks.example": ["93.184.216.34"]})
    await check_url("http://hooks.example/x", policy)
    with pytest.raises(ForbiddenDestination, match="https"):
        await check_url("http://hooks.example/x", OutboundPolicy(https_only=True, resolver=policy.resolver))
    # A name that does not resolve yet may be registered; sending to it is refused.
    await check_url("https://later.example/", policy)
    with pytest.raises(ForbiddenDestination, match="does not resolve"):
        await pin("https://later.example/", policy)


async def test_pinning_connects_to_the_checked_address_with_the_original_host() -> None:
    target = await pin("https://hooks.example:8443/in?x=1", hosts({"hooks.example": ["93.184.216.34", "2606:2800::1"]}))
    assert str(target.url) == "https://93.184.216.34:8443/in?x=1"
    assert (target.host_header, target.server_name) == ("hooks.example:8443", "hooks.example")
    v6 = await pin("http://hooks.example/", hosts({"hooks.example": ["2606:2800::1"]}))
    assert str(v6.url) == "http://[2606:2800::1]/" and v6.host_header == "hooks.example"
