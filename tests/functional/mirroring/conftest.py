"""The app with the mirroring packages included, and an XML-RPC client over webtest."""

from __future__ import annotations

import xmlrpc.client

import pytest
import webtest

from warehouse.config import configure, wsgi_app

MIRRORING_PACKAGES = ("warehouse.xmlrpc", "warehouse.changes", "warehouse.rss")


def build_app(settings, engine, redis_client, **registry_extras) -> webtest.TestApp:
    config = configure(
        settings, **{"db.engine": engine, "redis.client": redis_client, **registry_extras}
    )
    for package in MIRRORING_PACKAGES:  # Pyramid includes each only once
        config.include(package)
    return webtest.TestApp(wsgi_app(config))


@pytest.fixture
def webapp(settings, clean_database, redis_client) -> webtest.TestApp:
    return build_app(settings, clean_database, redis_client)


class XmlRpc:
    """Calls methods through the WSGI app the way xmlrpc.client would over HTTP."""

    def __init__(self, app: webtest.TestApp, path: str = "/pypi"):
        self.app = app
        self.path = path

    def post(self, body: bytes, **kwargs):
        return self.app.post(self.path, params=body, headers={"Content-Type": "text/xml"}, **kwargs)

    def raw(self, method: str, *params):
        """The parsed response, or the Fault it carried (returned, not raised)."""
        body = xmlrpc.client.dumps(params, method, allow_none=True).encode()
        response = self.post(body)
        assert response.status_int == 200
        assert response.content_type == "text/xml"
        try:
            (result,), _ = xmlrpc.client.loads(response.body, use_builtin_types=True)
        except xmlrpc.client.Fault as fault:
            return fault
        return result

    def __getattr__(self, method: str):
        def call(*params):
            result = self.raw(method, *params)
            if isinstance(result, xmlrpc.client.Fault):
                raise result
            return result

        return call


@pytest.fixture
def rpc(webapp) -> XmlRpc:
    return XmlRpc(webapp)
