"""The one way out: every outbound HTTP call (the cloud, partner webhooks) goes through a client built here.

The guard resolves the destination itself, refuses any address that is not public (private, loopback, link-local,
the cloud metadata address, shared and reserved ranges, IPv4 written in hex or as a mapped IPv6 address), and then
connects to the very address it checked, so a name cannot resolve to something else between check and connect (DNS
rebinding). Redirects are never followed: a 3xx is an answer the caller judges, not a hop the client takes.
Destinations an operator configured on purpose (the mock cloud on 127.0.0.1) are named in `trusted_hosts`.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpx

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "talent-island/0.1 (+https://talent-island.example)"


class BlockedDestination(httpx.TransportError):
    """The destination is not allowed; no connection was opened."""


# IPv6 forms that carry or reach an IPv4 address, or name a deprecated local scope, which Python's is_global may call
# global (so [::7f00:1] or [64:ff9b::a9fe:a9fe] would pass for a public host): IPv4-compatible (::a.b.c.d),
# IPv4-translated (::ffff:0:a.b.c.d), NAT64 (RFC 6052, RFC 8215), 6to4, Teredo and site-local. No webhook receiver
# needs one.
_TUNNELLED = tuple(
    ipaddress.ip_network(network)
    for network in (
        "::/96",
        "::ffff:0:0:0/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2002::/16",
        "2001::/32",
        "fec0::/10",
    )
)


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif any(address in network for network in _TUNNELLED):
            return False
    return address.is_global and not address.is_multicast


def not_public(host: str) -> str:
    # One answer whether the name does not resolve or resolves inside: a partner registering webhooks must not be
    # able to tell which internal names exist.
    return f"{host} does not resolve to public addresses only"


async def resolve_public(host: str, port: int) -> str:
    """The first address `host` resolves to, when every address it resolves to is public; else BlockedDestination."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:  # UnicodeError: a name IDNA cannot encode (a label over 63)
        raise BlockedDestination(not_public(host)) from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not addresses or not all(is_public_address(address) for address in addresses):
        raise BlockedDestination(not_public(host))
    return str(addresses[0])


class GuardedTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        trusted_hosts: Iterable[str] = (),
        allow_loopback: bool = False,
        schemes: Iterable[str] = ("https",),
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.trusted_hosts = {host.lower() for host in trusted_hosts}
        self.allow_loopback = allow_loopback
        self.schemes = set(schemes)
        self.inner = inner or httpx.AsyncHTTPTransport(retries=0)

    async def check(self, url: httpx.URL) -> str | None:
        """The address to connect to instead of the name (None: connect to the URL as it is)."""
        if url.scheme not in self.schemes:
            raise BlockedDestination(f"scheme {url.scheme!r} is not allowed")
        host = url.host.lower()
        if host in self.trusted_hosts:
            return None
        port = url.port or (443 if url.scheme == "https" else 80)
        if self.allow_loopback:  # the test suite's receivers on 127.0.0.1 (a test-only setting)
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as exc:
                raise BlockedDestination(not_public(host)) from exc
            if all(ipaddress.ip_address(info[4][0].split("%", 1)[0]).is_loopback for info in infos):
                return None
        return await resolve_public(host, port)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        address = await self.check(request.url)
        if address is not None:
            # Connect to the checked address; Host and TLS SNI still name the original host.
            request.extensions = {**request.extensions, "sni_hostname": request.url.host}
            request.url = request.url.copy_with(host=address)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def guarded_client(
    *,
    base_url: str = "",
    trusted_hosts: Iterable[str] = (),
    allow_loopback: bool = False,
    schemes: Iterable[str] = ("https",),
    timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An httpx client that never follows redirects and reaches only public (or explicitly trusted) addresses.

    `transport` replaces the network (the in-process mock cloud); it is then the only thing this client talks to.
    """
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport
        or GuardedTransport(trusted_hosts=trusted_hosts, allow_loopback=allow_loopback, schemes=schemes),
        follow_redirects=False,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        trust_env=False,  # no proxy or .netrc picked up from the environment
    )
