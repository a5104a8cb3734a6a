"""PyPI's XML-RPC API at ``/pypi`` and ``/RPC2``: what bandersnatch 6 and older tools use."""

from __future__ import annotations


def includeme(config) -> None:
    from warehouse.xmlrpc.views import method_not_allowed, xmlrpc_view

    registry = config.registry
    settings = registry.settings["warehouse"]
    # Per client IP; tests may pre-seed "xmlrpc.ratelimit" in the registry.
    registry.setdefault("xmlrpc.ratelimit", settings.xmlrpc_ratelimit)
    # xmlrpc.client posts to the URL as given: accept /pypi with or without the slash.
    config.add_route("xmlrpc.pypi", "/pypi{slash:/?}")
    config.add_route("xmlrpc.rpc2", "/RPC2")
    for route in ("xmlrpc.pypi", "xmlrpc.rpc2"):
        config.add_view(xmlrpc_view, route_name=route, request_method="POST", require_csrf=False)
        config.add_view(method_not_allowed, route_name=route)
