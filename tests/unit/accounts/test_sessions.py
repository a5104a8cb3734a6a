"""RedisSession's bookkeeping and the factory's reads and writes against a real Redis."""

from __future__ import annotations

import hashlib
import json

import pytest
from pyramid import testing
from webob import Response

from warehouse.accounts.sessions import (
    COOKIE_NAME,
    SESSION_LIFETIME_SECONDS,
    RedisSession,
    RedisSessionFactory,
)


def key_of(session_id: str) -> str:
    return "session:" + hashlib.sha256(session_id.encode()).hexdigest()


class Request(testing.DummyRequest):
    def __init__(self, redis, cookies=None, scheme="http"):
        super().__init__(cookies=cookies or {})
        self.redis = redis
        self.scheme = scheme
        self.callbacks = []

    def add_response_callback(self, callback):
        self.callbacks.append(callback)

    def finish(self) -> Response:
        response = Response()
        for callback in self.callbacks:
            callback(self, response)
        return response


@pytest.fixture
def factory():
    return RedisSessionFactory()


def test_mutations_mark_the_session_for_saving():
    for mutate in (
        lambda s: s.__setitem__("a", 1),
        lambda s: s.update(a=1),
        lambda s: s.setdefault("a", 1),
        lambda s: s.changed(),
    ):
        session = RedisSession()
        assert not session.needs_saving
        mutate(session)
        assert session.needs_saving


def test_flash_queues():
    session = RedisSession()
    session.flash("one")
    session.flash("one", allow_duplicate=False)
    session.flash("bad", queue="error")
    assert session.peek_flash() == ["one"]
    assert session.pop_flash() == ["one"] and session.pop_flash() == []
    assert session.pop_flash("error") == ["bad"]


def test_an_empty_session_is_never_stored(redis_client, factory):
    request = Request(redis_client)
    session = factory(request)
    session.get("anything")
    response = request.finish()
    assert "Set-Cookie" not in response.headers
    assert redis_client.keys("session:*") == []


def test_saved_session_round_trips_with_cookie_flags(redis_client, factory):
    request = Request(redis_client)
    factory(request)["user"] = "alice"
    response = request.finish()
    cookie = response.headers["Set-Cookie"]
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert f"Max-Age={SESSION_LIFETIME_SECONDS}" in cookie
    stored = json.loads(redis_client.get(key_of(session_id)))
    assert stored["data"] == {"user": "alice"}
    assert 0 < redis_client.ttl(key_of(session_id)) <= SESSION_LIFETIME_SECONDS

    again = factory(Request(redis_client, {COOKIE_NAME: session_id}))
    assert dict(again) == {"user": "alice"} and not again.new


def test_secure_follows_the_scheme_unless_configured(redis_client):
    request = Request(redis_client, scheme="https")
    RedisSessionFactory()(request)["x"] = 1
    assert "secure" in request.finish().headers["Set-Cookie"].lower()
    request = Request(redis_client, scheme="http")
    RedisSessionFactory(cookie_secure=True)(request)["x"] = 1
    assert "secure" in request.finish().headers["Set-Cookie"].lower()


def test_rotate_moves_the_data_and_kills_the_old_id(redis_client, factory):
    first = Request(redis_client)
    factory(first)["x"] = 1
    old_id = first.finish().headers["Set-Cookie"].split(";")[0].split("=", 1)[1]

    second = Request(redis_client, {COOKIE_NAME: old_id})
    session = factory(second)
    session.rotate()
    new_id = second.finish().headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    assert new_id != old_id
    assert not redis_client.exists(key_of(old_id))
    assert json.loads(redis_client.get(key_of(new_id)))["data"] == {"x": 1}


def test_invalidate_deletes_and_expires_the_cookie(redis_client, factory):
    first = Request(redis_client)
    factory(first)["x"] = 1
    session_id = first.finish().headers["Set-Cookie"].split(";")[0].split("=", 1)[1]

    second = Request(redis_client, {COOKIE_NAME: session_id})
    factory(second).invalidate()
    response = second.finish()
    assert not redis_client.exists(key_of(session_id))
    assert "Max-Age=0" in response.headers["Set-Cookie"]


def test_unknown_or_junk_cookies_start_a_new_session(redis_client, factory):
    redis_client.set(key_of("junk"), b"not json")
    for cookie in ("unknown", "junk", "x" * 500):
        session = factory(Request(redis_client, {COOKIE_NAME: cookie}))
        assert session.new and dict(session) == {}
