"""The combined security policy: tokens on API paths, sessions on the website."""

from __future__ import annotations

import pytest
import webtest
from pyramid.response import Response

from tests.support.fixtures import basic_auth
from warehouse.accounts.security import AuthenticationFailed, is_api_request
from warehouse.config import configure, wsgi_app


@pytest.fixture
def app(settings, clean_database, redis_client):
    config = configure(settings, **{"db.engine": clean_database, "redis.client": redis_client})

    def whoami(request):
        try:
            identity = request.identity
        except AuthenticationFailed as exc:
            return Response(f"failed: {exc.reason}")
        if identity is None:
            return Response(f"anonymous user={request.user}")
        kind = "token" if identity.token is not None else "session"
        return Response(f"{kind} {identity.user.username} user={request.user.username}")

    for name, pattern in (("api", "/legacy/whoami"), ("site", "/whoami/")):
        config.add_route(name, pattern)
        config.add_view(whoami, route_name=name)
    return webtest.TestApp(wsgi_app(config))


def test_tokens_authenticate_on_api_paths(app, token):
    assert app.get("/legacy/whoami", headers=basic_auth("__token__", token)).text == (
        "token alice user=alice"
    )


def test_bad_credentials_on_api_paths_raise_authentication_failed(app, user):
    assert app.get("/legacy/whoami", headers=basic_auth("__token__", "pypi-bad")).text.startswith(
        "failed: Invalid API Token"
    )
    response = app.get("/legacy/whoami", headers=basic_auth("alice", "correct horse battery"))
    assert response.text.startswith("failed: Username/Password authentication is no longer")


def test_tokens_are_ignored_on_website_paths(app, token):
    # A browser's cached Basic credentials must neither log anyone in nor break a page.
    assert app.get("/whoami/", headers=basic_auth("__token__", token)).text == (
        "anonymous user=None"
    )
    assert app.get("/whoami/", headers=basic_auth("__token__", "junk")).text == (
        "anonymous user=None"
    )


def test_no_credentials_is_anonymous(app):
    assert app.get("/legacy/whoami").text == "anonymous user=None"
    assert app.get("/whoami/").text == "anonymous user=None"


@pytest.mark.parametrize(
    ("path", "api"),
    [
        ("/legacy/", True),
        ("/legacy", True),
        ("/pypi", True),
        ("/pypi/demo/json", True),
        ("/RPC2", True),
        ("/simple/demo/", True),
        ("/api/projects/demo/releases/1.0/yank", True),
        ("/account/login/", False),
        ("/manage/account/token/", False),
        ("/project/demo/", False),
        ("/", False),
    ],
)
def test_api_paths(path, api):
    class Request:
        path_info = path
        registry = {}

    assert is_api_request(Request) is api
