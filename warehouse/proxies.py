"""Which client a request came from, when the CDN stands between the clients and the apps.

Behind Varnish every request reaches the apps from Varnish's address, so per-IP rate limits
would count every client as one, and events would name the CDN. A request whose peer is a
trusted proxy (``WAREHOUSE_TRUSTED_PROXIES``) is therefore from the client the proxies name
in ``X-Forwarded-For``: each proxy appends the address it heard from, so the client is the
rightmost address that is not itself a trusted proxy (what a client wrote there itself is to
the left, and is never believed). ``X-Forwarded-For`` from any other peer is ignored.

The tween rewrites ``REMOTE_ADDR``, so everything that reads ``request.remote_addr`` sees the
client, and keeps the proxy's own address in ``environ[PROXIED_BY]``: /metrics refuses what
came through the CDN, whatever client address it names.
"""

from __future__ import annotations

import ipaddress

from pyramid.tweens import INGRESS

from warehouse.settings import parse_networks

PROXIED_BY = "warehouse.proxied_by"


def includeme(config) -> None:
    config.add_tween("warehouse.proxies.forwarded_client_tween_factory", under=INGRESS)


def _within(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def forwarded_client(peer: str, forwarded_for: str, trusted) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy naming another."""
    if not trusted or not forwarded_for or not _within(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                # Garbage where a proxy writes an address: there is no client we can name.
                return peer
    # Proxies all the way: the leftmost is as near to the client as we can tell.
    return hops[0] if hops else peer


def forwarded_client_tween_factory(handler, registry):
    trusted = parse_networks(registry.settings["warehouse"].trusted_proxies)

    def forwarded_client_tween(request):
        environ = request.environ
        peer = environ.get("REMOTE_ADDR", "")
        forwarded_for = environ.get("HTTP_X_FORWARDED_FOR", "")
        if trusted and forwarded_for and _within(peer, trusted):
            environ[PROXIED_BY] = peer
            environ["REMOTE_ADDR"] = forwarded_client(peer, forwarded_for, trusted)
        return handler(request)

    return forwarded_client_tween
