"""The client behind the CDN (warehouse.proxies): believed only from a trusted proxy."""

import pytest

from warehouse.proxies import forwarded_client
from warehouse.settings import parse_networks

VARNISH = parse_networks("172.30.80.80, ::1")


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        # Varnish appends the address it heard from.
        ("172.30.80.80", "203.0.113.7", "203.0.113.7"),
        # What the client wrote itself is to the left, and is not believed.
        ("172.30.80.80", "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        # Anyone else's X-Forwarded-For is ignored.
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),
        ("172.30.80.81", "198.51.100.1", "172.30.80.81"),
        # Proxies in a chain are skipped; IPv6 too.
        ("::1", "2001:db8::5, 172.30.80.80", "2001:db8::5"),
        # Only proxies: the leftmost is the nearest we know.
        ("172.30.80.80", "::1", "::1"),
        # Garbage where the proxy writes an address: the proxy, not the garbage.
        ("172.30.80.80", "203.0.113.7, not-an-address", "172.30.80.80"),
        ("172.30.80.80", "", "172.30.80.80"),
    ],
)
def test_forwarded_client(peer, forwarded_for, client):
    assert forwarded_client(peer, forwarded_for, VARNISH) == client


def test_no_trusted_proxy_means_the_peer():
    assert forwarded_client("127.0.0.1", "203.0.113.7", ()) == "127.0.0.1"
